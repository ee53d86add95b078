"""qconform report end to end on a real run: outputs complete and consistent, inputs only read."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qconform.cli import main
from qconform.report.schema import REPORT_SCHEMA, REPORT_VERSION
from tests.conftest import REPO
from tests.report.conftest import H100, record, run_doc, write


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_report_of_a_real_run_and_a_second_machine(real_run, tmp_path):
    gpu = write(tmp_path / "gpu.json", run_doc([record("eetq", "test_round_trip_idempotent")], H100))
    before = {p: (_digest(p), p.stat().st_mtime_ns) for p in (real_run, gpu)}
    out = tmp_path / "out"
    assert main(["report", str(real_run), str(gpu), "--out", str(out)]) == 0
    assert {p: (_digest(p), p.stat().st_mtime_ns) for p in (real_run, gpu)} == before  # inputs only read
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.json", "report.md"]
    assert not list(out.rglob(".*.tmp"))  # atomic writes leave no temporaries

    doc = json.loads((out / "report.json").read_text())
    assert (doc["schema"], doc["version"]) == (REPORT_SCHEMA, REPORT_VERSION)
    real = json.loads(real_run.read_text())
    assert len(doc["records"]) == len(real["records"]) + 1
    assert [c["name"] for c in doc["columns"]] == ["cpu x86_64", "NVIDIA H100 80GB HBM3 sm_90"]
    assert [s["file"] for s in doc["sources"]] == ["cpu.json", "gpu.json"]
    # every record is counted once in the hardware matrix, and once in its column's compatibility matrix
    for column in ("cpu x86_64", "NVIDIA H100 80GB HBM3 sm_90"):
        in_column = [r for r in doc["records"] if r["column"] == column]
        hardware = sum(sum(row[column]["counts"].values()) for row in doc["hardware"].values())
        compat = sum(sum(c["counts"].values()) for row in doc["compatibility"][column].values() for c in row.values())
        assert hardware == compat == len(in_column)
    planted = doc["hardware"]["planted-config-from-dict-drops-field"]["cpu x86_64"]
    assert planted["state"] == "partly" and planted["counts"]["failed"] >= 1
    missing = doc["compatibility"]["cpu x86_64"]["report-missing-backend"]["config"]
    assert missing["state"] == "not_installed" and "qconform_never_installed_backend" in missing["reasons"][0]
    assert doc["hardware"]["report-missing-backend"]["NVIDIA H100 80GB HBM3 sm_90"]["state"] == "not_run"


def test_an_output_that_is_an_input_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    run = write(out / "report.json", run_doc([record()]))
    before = run.read_bytes()
    assert main(["report", str(run), "--out", str(out)]) == 2
    assert f"{out / 'report.json'}: is one of the input run files; choose another --out" in capsys.readouterr().err
    assert run.read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["report.json"]


def test_the_console_script_and_help(tmp_path):
    run = write(tmp_path / "r.json", run_doc([record()]))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("GITHUB_STEP_SUMMARY", None)
    qconform = [sys.executable, "-m", "qconform.cli"]
    done = subprocess.run([*qconform, "report", str(run)], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "reports" / "report.html").exists()  # the default folder
    helped = subprocess.run([*qconform, "report", "--help"], capture_output=True, text=True, env=env)
    assert "--diff OLD.json NEW.json" in helped.stdout and "--out DIR" in helped.stdout


def _documented_command() -> str:
    text = (REPO / "reports" / "README.md").read_text()
    return re.search(r"```bash\n(qconform report [^\n]*)\n```", text).group(1)


def test_committed_reports_are_regenerated_by_the_documented_command(tmp_path, monkeypatch):
    """reports/ holds what the documented command makes of reports/runs/ (Markdown and merged JSON)."""
    runs = sorted((REPO / "reports" / "runs").glob("*.json"))
    if not runs:
        pytest.skip("no committed run files under reports/runs/")
    command = _documented_command()
    words = command.split()
    assert words[:3] == ["qconform", "report", "reports/runs/*.json"] and "--out" in words
    shutil.copytree(REPO / "reports" / "runs", tmp_path / "reports" / "runs")
    runs_here = [str(p.relative_to(tmp_path)) for p in sorted((tmp_path / "reports" / "runs").glob("*.json"))]
    compared = ["reports/report.md", "reports/report.json"]
    if "--readme" in words:  # the README's hardware matrix block is then regenerated too
        readme = words[words.index("--readme") + 1]
        shutil.copy(REPO / readme, tmp_path / readme)
        compared.append(readme)
    monkeypatch.chdir(tmp_path)
    assert main(["report", *runs_here, *words[3:]]) == 0
    for name in compared:
        fresh, committed = tmp_path / name, REPO / name
        assert fresh.read_text() == committed.read_text(), f"{name} is stale: run `{command}`"


def test_readme_block_between_markers_gets_the_hardware_matrix(tmp_path, capsys):
    run = str(write(tmp_path / "r.json", run_doc([record("alpha"), record("beta", outcome="skipped")])))
    readme = tmp_path / "README.md"
    readme.write_text(
        "# Title\n\nintro\n\n<!-- qconform:hardware-matrix -->\nold table\n<!-- /qconform:hardware-matrix -->\n\nrest\n"
    )
    assert main(["report", run, "--out", str(tmp_path / "out"), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("# Title\n\nintro\n\n<!-- qconform:hardware-matrix -->\n✅ every check")
    assert text.endswith("<!-- /qconform:hardware-matrix -->\n\nrest\n")
    assert "old table" not in text
    assert "| alpha | transformers | ✅ 1/1 |" in text and "1. a backend is missing" in text
    again = main(["report", run, "--out", str(tmp_path / "out"), "--readme", str(readme)])
    assert again == 0 and readme.read_text() == text  # idempotent

    plain = tmp_path / "PLAIN.md"
    plain.write_text("no markers\n")
    capsys.readouterr()
    assert main(["report", run, "--out", str(tmp_path / "other"), "--readme", str(plain)]) == 2
    assert f"{plain}: needs one line <!-- qconform:hardware-matrix -->" in capsys.readouterr().err
    assert plain.read_text() == "no markers\n" and not (tmp_path / "other").exists()
