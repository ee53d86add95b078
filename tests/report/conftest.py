"""Run documents for the report tests: small hand-made ones (each field chosen) and one real run."""

from __future__ import annotations

import copy
import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, shared_dir

CPU = {
    "python": "3.11.7",
    "implementation": "cpython",
    "platform": "Linux-x86_64",
    "machine": "x86_64",
    "hostname": "host",
    "cpu": "Some CPU",
    "cpu_count": 2,
    "torch_cuda": None,
    "accelerators": [],
    "packages": {"torch": "2.13.0+cpu", "transformers": "5.23.0", "bitsandbytes": "0.50.2", "amd-quark": None},
}
H100 = {
    **CPU,
    "cpu": "Other CPU",
    "torch_cuda": "12.8",
    "accelerators": [{"index": 0, "name": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0", "memory_gib": 79.2}],
    "packages": {**CPU["packages"], "torch": "2.11.0+cu128", "transformers": "5.17.0"},
}


@pytest.fixture(autouse=True)
def _no_step_summary(monkeypatch):
    """Tests run ``qconform report`` in-process: keep them off a real CI job summary."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def record(target: str | None = "alpha", check: str = "test_a", outcome: str = "passed", **fields: Any) -> dict:
    family = fields.pop("family", "config")
    params = fields.pop("params", {})
    device = fields.pop("device", None)
    suffix = f"[{target}]" if target else ""
    base = {
        "nodeid": f"test_{family}.py::{check}{suffix}",
        "target": target,
        "origin": "transformers" if target else None,
        "check": check,
        "family": family,
        "params": params,
        "device": device,
        "outcome": outcome,
        "reason": None,
        "message": None,
        "duration_s": 0.01,
        "measured": {},
        "counterexample": None,
        "reproduce": None,
    }
    if outcome in ("failed", "error", "crashed", "timeout", "broken"):
        base.update(
            message=f"{check} broke",
            counterexample=f"Falsifying example: {check}(target={target!r})",
            reproduce=f"pytest --quantizer={target} -k '{check}[{target}]'",
        )
    if outcome == "skipped":
        base["reason"] = "a backend is missing"
    if outcome == "xfailed":
        base["reason"] = "known deviation: documented upstream"
    base.update(fields)
    return base


def run_doc(records: list[dict], environment: dict | None = None, finished: str = "2026-01-01T00:00:10+00:00") -> dict:
    return {
        "schema": "qconform.run",
        "version": 1,
        "run": {
            "started": "2026-01-01T00:00:00+00:00",
            "finished": finished,
            "duration_s": 10.0,
            "argv": ["pytest", "--quantizer=all"],
            "profile": "quick",
            "quantizers": sorted({r["target"] for r in records if r["target"]}),
            "devices": ["cpu"],
            "workers": None,
            "plugins": [],
            "exitstatus": 0,
            "qconform_version": "0.1.0",
        },
        "environment": copy.deepcopy(environment or CPU),
        "records": records,
    }


def write(path: Path, doc: Any) -> Path:
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc, indent=1), encoding="utf-8")
    return path


PAYLOAD = "<script>window.__pwned = 1</script>"
ATTR_PAYLOAD = '"><img src=x onerror="window.__pwned = 2">'


def malicious_doc() -> dict:
    """Every text field a run can carry, holding markup that would run or restyle the page if not escaped."""
    env = copy.deepcopy(H100)
    env["accelerators"][0]["name"] = f"GPU{ATTR_PAYLOAD}"
    env["python"] = PAYLOAD
    env["packages"][PAYLOAD] = f"1{ATTR_PAYLOAD}"
    records = [
        record(
            PAYLOAD,
            f"test_x{ATTR_PAYLOAD}",
            "failed",
            family=f"fam{ATTR_PAYLOAD}",
            params={"id": f"p{ATTR_PAYLOAD}"},
            device=PAYLOAD,
            message=f"</pre>{PAYLOAD}|x|[link](javascript:alert(1))",
            counterexample=f"</details><iframe src=javascript:alert(1)></iframe>{PAYLOAD}",
            reproduce=f"pytest -k '{ATTR_PAYLOAD}'; {PAYLOAD}",
            reason=f"*bold* _em_ `code` | cell {PAYLOAD}",
            measured={f"<b>err</b>/../../evil{ATTR_PAYLOAD}": 0.5, "rel_error": 0.25},
        ),
        record(f"m{ATTR_PAYLOAD}", "test_y", "skipped", reason=f"why {PAYLOAD}", family="numerics"),
    ]
    doc = run_doc(records, env)
    doc["run"]["argv"] = ["pytest", PAYLOAD]
    return doc


@pytest.fixture(scope="session")
def real_run() -> Path:
    """A real qconform run (real pytest session, real transformers configs): passes, failures, skips.

    Made once per test session, shared by xdist workers (a lock file guards it); tests only read it.
    """
    work = shared_dir() / "report-real-run"
    work.mkdir(exist_ok=True)
    path = work / "cpu.json"
    with open(work / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            _make_real_run(work, path)
    return path


def _make_real_run(work: Path, path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        "--quantizer=planted-config-from-dict-drops-field,eetq,report-missing-backend",
        "--qconform-plugin=tests.planted.bugs.config_from_dict_drops_field",
        "--qconform-plugin=tests.report.missing_backend",
        "-k",
        "test_config",  # the config family: seconds, and it has a real failure, passes and skips
        f"--qconform-report={path}",
    ]
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"PYTHONPATH": str(REPO)}
    done = subprocess.run(command, cwd=work, capture_output=True, text=True, env=env, timeout=300)
    assert path.exists(), done.stdout[-3000:] + done.stderr[-3000:]
