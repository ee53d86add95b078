"""qconform list and run, as a user calls them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

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
    assert "amd-quark missing" in quark


def test_run_writes_a_report_under_reports_and_prints_a_summary(tmp_path):
    done = qconform("run", "--quantizer=eetq", "--", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    reports = list((tmp_path / "reports" / "runs").glob("run-*.json"))
    assert len(reports) == 1
    doc = json.loads(reports[0].read_text())
    assert {r["target"] for r in doc["records"]} == {"eetq"}
    summary = done.stdout[done.stdout.index("quantizer  passed") :]
    passed = sum(r["outcome"] == "passed" for r in doc["records"])
    assert summary.splitlines()[2].split()[:2] == ["eetq", str(passed)]
    assert doc["run"]["workers"] == 1  # crash isolation is on by default
