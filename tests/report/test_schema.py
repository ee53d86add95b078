"""Bad run files: each error names the file and the field, every bad file is reported, exit status 2."""

from __future__ import annotations

import json

import pytest

from qconform.cli import main
from qconform.report.merge import load_run, load_runs
from qconform.report.schema import SchemaError, validate_run
from tests.report.conftest import record, run_doc, write


def _bad(mutate) -> dict:
    doc = run_doc([record()])
    mutate(doc)
    return doc


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda d: d.update(schema="other.thing"), "field 'schema' must be 'qconform.run', got 'other.thing'"),
        (lambda d: d.update(version=2), "schema version 2 is not supported (this qconform reads 1)"),
        (lambda d: d.update(version=True), "schema version True is not supported"),
        (lambda d: d.pop("run"), "lacks the field 'run'"),
        (lambda d: d.update(run=[]), "run must be an object, got list"),
        (lambda d: d["run"].pop("finished"), "run lacks the field 'finished'"),
        (lambda d: d.pop("environment"), "lacks the field 'environment'"),
        (lambda d: d.update(environment="x"), "field 'environment' must be an object"),
        (lambda d: d["environment"].pop("packages"), "field 'environment.packages' must be an object"),
        (lambda d: d["environment"]["packages"].update(torch=2), "environment.packages.torch must be a version string"),
        (lambda d: d["environment"].update(python=3.11), "environment.python must be str, got float"),
        (
            lambda d: d["environment"].update(accelerators=[{"name": "GPU"}]),
            "environment.accelerators[0] lacks the field 'compute_capability'",
        ),
        (lambda d: d["records"][0].pop("target"), "records[0] lacks the field 'target'"),
        (lambda d: d["records"][0].update(measured=[1]), "records[0].measured must be dict, got list"),
        (lambda d: d["records"][0].update(duration_s=True), "records[0].duration_s must be int or float, got bool"),
        (lambda d: d["records"][0].update(outcome="exploded"), "records[0].outcome 'exploded' is not one of"),
        (lambda d: d.update(records={}), "field 'records' must be a list"),
    ],
)
def test_schema_errors_name_the_file_and_the_field(tmp_path, mutate, error):
    path = write(tmp_path / "bad.json", _bad(mutate))
    with pytest.raises(SchemaError) as info:
        load_run(path)
    assert str(info.value).startswith(f"{path}: ")
    assert error in str(info.value)


def test_a_valid_run_passes_and_optional_environment_fields_may_be_absent():
    validate_run(run_doc([record()]), "ok.json")
    doc = run_doc([record()])
    doc["environment"] = {"packages": {}}  # older and hand-made files
    validate_run(doc, "ok.json")


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("{not json", "not JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
        ("", "not JSON: Expecting value at line 1 column 1"),
        ("[1, 2]", "a run file must be a JSON object, got list"),
        (b"\xff\xfe{}", "not JSON: not UTF-8 text"),
    ],
)
def test_files_that_are_not_run_json(tmp_path, content, error):
    path = tmp_path / "x.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(SchemaError, match=r"^" + str(path).replace(".", r"\.") + ": ") as info:
        load_run(path)
    assert error in str(info.value)


def test_every_bad_file_is_named_not_only_the_first(tmp_path):
    good = write(tmp_path / "good.json", run_doc([record()]))
    one = write(tmp_path / "one.json", "nope")
    two = write(tmp_path / "two.json", _bad(lambda d: d.update(version=9)))
    with pytest.raises(SchemaError) as info:
        load_runs([good, one, two, tmp_path / "missing.json"])
    lines = str(info.value).splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == [str(one), str(two), str(tmp_path / "missing.json")]
    assert "cannot read: No such file or directory" in lines[2]


def test_cli_exits_2_with_file_and_field_and_writes_nothing(tmp_path, capsys):
    good = write(tmp_path / "good.json", run_doc([record()]))
    bad = write(tmp_path / "bad.json", _bad(lambda d: d["records"][0].pop("outcome")))
    out = tmp_path / "out"
    assert main(["report", str(good), str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"qconform report: error: {bad}: records[0] lacks the field 'outcome'" in err
    assert not out.exists()
    assert json.loads(good.read_text()) == run_doc([record()])  # input untouched


def test_cli_without_runs_or_diff_is_a_usage_error(capsys):
    assert main(["report"]) == 2
    assert "give run files to merge, or --diff OLD.json NEW.json" in capsys.readouterr().err
