"""Shared fixtures for the kit's own tests: running qconform in a fresh pytest process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

TESTS_DIR = Path(__file__).parent
REPO = TESTS_DIR.parent
_SHARED = "QCONFORM_TESTS_SHARED_DIR"


def shared_dir() -> Path:
    """A directory shared by the controller and its xdist workers for this session only."""
    return Path(os.environ[_SHARED])


def pytest_configure(config: pytest.Config) -> None:
    # Set before xdist starts its workers, which inherit the environment.
    if not hasattr(config, "workerinput"):
        import tempfile

        os.environ[_SHARED] = tempfile.mkdtemp(prefix="qconform-tests-")


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):
        from tests.planted.conftest import print_score

        print_score(terminalreporter)


@dataclass
class QconformRun:
    returncode: int
    stdout: str
    stderr: str
    report: dict[str, Any] | None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def records(self, **where: Any) -> list[dict[str, Any]]:
        assert self.report is not None, self.output[-3000:]
        return [r for r in self.report["records"] if all(r.get(k) == v for k, v in where.items())]


def run_in(
    tmp_path: Path, *args: str, report: bool = True, timeout: float = 600, env: dict[str, str] | None = None
) -> QconformRun:
    """Run ``pytest <args>`` in an empty directory under ``tmp_path`` in a new process."""
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    report_path = tmp_path / "report.json"
    report_path.unlink(missing_ok=True)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    if report:
        command.append(f"--qconform-report={report_path}")
    # CI changes the default profile; the isolation directory belongs to the outer run
    environment = {k: v for k, v in os.environ.items() if k not in ("CI", "QCONFORM_ISOLATION_DIR")}
    environment.update({"PYTHONPATH": str(REPO), **(env or {})})
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=environment)
    doc = json.loads(report_path.read_text()) if report and report_path.exists() else None
    return QconformRun(done.returncode, done.stdout, done.stderr, doc)


@pytest.fixture
def run_qconform(tmp_path: Path):
    """Run ``pytest <args>`` in an empty directory in a new process; return its output and JSON report."""

    def run(*args: str, **kwargs: Any) -> QconformRun:
        return run_in(tmp_path, *args, **kwargs)

    return run
