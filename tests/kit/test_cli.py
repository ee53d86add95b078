"""qconform list and run, as a user calls them."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from transformers.quantizers.auto import AUTO_QUANTIZER_MAPPING

from tests.conftest import REPO


def qconform(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "qconform.cli", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=600
    )


def test_list_shows_every_dispatch_key_with_backend_versions(tmp_path):
    done = qconform("list", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["quantizer", "origin", "config", "backend", "packages", "check", "families"]
    listed = {line.split()[0] for line in lines[2:]}
    builtin = {k for k, cls in AUTO_QUANTIZER_MAPPING.items() if cls.__module__.startswith("transformers.")}
    assert builtin <= listed
    quark = next(line for line in lines if line.startswith("quark "))
    installed = importlib.metadata.version("amd-quark") if importlib.util.find_spec("quark") else "missing"
    assert f"amd-quark {installed}" in quark  # the backend column reads what is installed here


def test_run_writes_its_report_in_the_working_directory_and_prints_a_summary(tmp_path):
    """Never into reports/runs/ (the committed runs): a run then a test of the committed reports both pass."""
    done = qconform("run", "--quantizer=eetq", "--", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    reports = list((tmp_path / "qconform-runs").glob("run-*.json"))
    assert len(reports) == 1 and not (tmp_path / "reports").exists()
    assert f"report: {Path('qconform-runs') / reports[0].name}" in done.stdout
    doc = json.loads(reports[0].read_text())
    assert {r["target"] for r in doc["records"]} == {"eetq"}
    summary = done.stdout[done.stdout.index("quantizer  passed") :]
    passed = sum(r["outcome"] == "passed" for r in doc["records"])
    assert summary.splitlines()[2].split()[:2] == ["eetq", str(passed)]
    assert doc["run"]["workers"] == 1  # crash isolation is on by default
