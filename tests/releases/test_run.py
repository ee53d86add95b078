"""``qconform matrix``: usage errors, unknown releases recorded and skipped, and one real run where possible."""

from __future__ import annotations

import json

import pytest

from qconform.cli import main
from qconform.releases.environments import cache_root, spec_for
from qconform.releases.plan import Environment
from qconform.releases.run import SuiteOptions, run_matrix


def test_an_unreadable_release_is_a_usage_error(capsys):
    assert main(["matrix", "--transformers", "5.17.x", "--dry-run"]) == 2
    assert "'5.17.x' is not a version" in capsys.readouterr().err


def test_an_unknown_release_is_recorded_and_the_others_go_on(tmp_path):
    unknown = Environment((("transformers", "5.99.0"),), ("transformers 5.99.0 is not served by the package index",))
    lines: list[str] = []
    results = run_matrix([unknown, unknown], tmp_path, SuiteOptions(), say=lines.append)
    assert [r.status for r in results] == ["unknown_release", "unknown_release"]
    assert lines[0] == "[1/2] transformers 5.99.0: skipped: transformers 5.99.0 is not served by the package index"
    summary = json.loads((tmp_path / "matrix" / "summary.json").read_text())
    assert summary["schema"] == "qconform.matrix"
    assert [e["status"] for e in summary["environments"]] == ["unknown_release", "unknown_release"]
    assert summary["environments"][0]["message"].startswith("transformers 5.99.0 is not served")


def test_one_cached_environment_runs_the_suite(tmp_path):
    """The real thing, on a few seconds of checks, in an environment a matrix run left in the cache."""
    import transformers

    environment = Environment((("transformers", transformers.__version__),))
    if not (cache_root() / spec_for(environment.pins()).key() / "qconform-env.json").is_file():
        pytest.skip(f"no cached environment for transformers {transformers.__version__} (run qconform matrix once)")
    options = SuiteOptions(quantizers=["ref-bitnet"], pytest_args=["-k", "test_config"], workers="0")
    lines: list[str] = []
    (result,) = run_matrix([environment], tmp_path, options, say=lines.append)
    assert result.status == "ran" and result.env_reused, lines
    doc = json.loads((tmp_path / result.run_file).read_text())
    assert doc["environment"]["packages"]["transformers"] == transformers.__version__
    assert result.counts.get("passed", 0) > 0 and set(result.counts) <= {"passed", "skipped", "xfailed"}
    assert lines[-1].endswith(f"({result.suite_seconds:.0f} s)") and "passed" in lines[-1]


def test_a_run_of_collection_errors_alone_is_not_counted_as_run():
    from qconform.releases.run import checks_ran
    from tests.report.conftest import record

    collection_error = record(None, "gw0", "error", message="Different tests were collected between gw1 and gw0")
    assert not checks_ran([collection_error])
    assert not checks_ran([record("a", "test_a", "error")])  # an error in setup is not a check that ran
    assert checks_ran([collection_error, record("a", "test_a", "skipped")])
