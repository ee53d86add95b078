"""Runs qconform once over the whole planted-bug catalogue, shared by every xdist worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock

from tests.conftest import REPO, shared_dir
from tests.planted import PlantedBug, bug_modules, catalogue


def _run_catalogue(bugs: dict[str, PlantedBug], report: Path) -> dict:
    keys = sorted({b.key for b in bugs.values()} | {b.control for b in bugs.values() if b.control})
    checks = sorted({c for b in bugs.values() for c in b.catches})
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        "--no-header",
        f"--qconform-report={report}",
        "--qconform-profile=quick",
        "-n",  # the catalogue loads dozens of tiny models: two workers halve its time while the tests wait on it
        "2",
        "-k",
        " or ".join(checks),
        *(f"--quantizer={k}" for k in keys),
        *(f"--qconform-plugin={m}" for m in ["tests.planted.controls", *bug_modules()]),
    ]
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"PYTHONPATH": str(REPO)}
    done = subprocess.run(command, cwd=report.parent, capture_output=True, text=True, env=env, timeout=1200)
    if not report.exists():
        raise RuntimeError(f"the catalogue run wrote no report:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return json.loads(report.read_text())


@pytest.fixture(scope="session")
def catalogue_run() -> dict:
    """The report of one qconform run over every planted bug and control (computed once per session)."""
    report = shared_dir() / "planted-catalogue.json"
    with FileLock(str(report) + ".lock"):
        if not report.exists():
            _run_catalogue(catalogue(), report)
        return json.loads(report.read_text())


def score(run: dict, bugs: dict[str, PlantedBug]) -> list[tuple[str, str, str]]:
    """(bug key, check, outcome) for every check that must catch a bug."""
    rows = []
    for bug in bugs.values():
        for check in bug.catches:
            outcomes = [r["outcome"] for r in run["records"] if r["target"] == bug.key and r["check"] == check]
            rows.append((bug.key, check, ",".join(sorted(set(outcomes))) or "not run"))
    return rows


def print_score(terminalreporter) -> None:
    """Called by the top-level conftest at the end of a session that ran the catalogue."""
    report = shared_dir() / "planted-catalogue.json"
    if not report.exists():
        return
    rows = score(json.loads(report.read_text()), catalogue())
    caught = sum(1 for _, _, outcome in rows if outcome == "failed")
    terminalreporter.write_sep("-", f"planted-bug catalogue: caught {caught} / planted {len(rows)}")
    for key, check, outcome in rows:
        terminalreporter.write_line(f"{'caught' if outcome == 'failed' else 'MISSED':7s} {key:45s} {check} ({outcome})")
