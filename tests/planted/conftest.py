"""Runs qconform once over the whole planted-bug catalogue, with specs and bare, shared by every xdist worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock

from tests.conftest import REPO, shared_dir
from tests.planted import PlantedBug, bare_key, bug_modules, catalogue
from tests.planted.judge import rows, table

BARE_PLUGIN = "tests.planted.bare"  # registers every bug and control again under its bare key, with no spec


def selection(bugs: dict[str, PlantedBug]) -> dict[str, set[str]]:
    """{key: the checks it must run}: each bug and its bare twin the checks planted for it; each control, and its
    bare twin, the checks of the bugs it stands beside (a bare control only those its bugs must fail bare)."""
    chosen: dict[str, set[str]] = {}
    for bug in bugs.values():
        chosen.setdefault(bug.key, set()).update(bug.catches)
        chosen.setdefault(bare_key(bug.key), set()).update(bug.bare_checks)
        if bug.control:
            chosen.setdefault(bug.control, set()).update(bug.catches)
            chosen.setdefault(bare_key(bug.control), set()).update(bug.bare_checks)
    return {key: checks for key, checks in chosen.items() if checks}


def keyword(chosen: dict[str, set[str]]) -> str:
    """A ``-k`` expression that runs each key's checks only (a test id holds its target's key; a key that is a
    prefix of another runs its checks there too, which costs a little and changes no verdict)."""
    by_checks: dict[tuple[str, ...], list[str]] = {}
    for key, checks in sorted(chosen.items()):
        by_checks.setdefault(tuple(sorted(checks)), []).append(key)
    return " or ".join(f"(({' or '.join(keys)}) and ({' or '.join(checks)}))" for checks, keys in by_checks.items())


def _run_catalogue(bugs: dict[str, PlantedBug], report: Path) -> dict:
    chosen = selection(bugs)
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
        keyword(chosen),
        *(f"--quantizer={k}" for k in sorted(chosen)),
        *(f"--qconform-plugin={m}" for m in ["tests.planted.controls", *bug_modules(), BARE_PLUGIN]),
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


def print_score(terminalreporter) -> None:
    """Called by the top-level conftest at the end of a session that ran the catalogue: the table of catches."""
    report = shared_dir() / "planted-catalogue.json"
    if not report.exists():
        return
    records, bugs = json.loads(report.read_text())["records"], catalogue()
    scored = rows(records, bugs)
    with_spec = sum(s.caught for _, _, s, _ in scored)
    bare = sum(b.caught for _, _, _, b in scored)
    exempt = sum(b.status == "exempt" for _, _, _, b in scored)
    terminalreporter.write_sep(
        "-", f"planted-bug catalogue: {len(scored)} catches; with spec {with_spec}, bare {bare}, bare-exempt {exempt}"
    )
    for line in table(records, bugs):
        terminalreporter.write_line(line)
