"""The third-party path: the example package installs, and qconform finds and checks its quantizer."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO, run_in

EXAMPLE = REPO / "examples" / "third_party_quantizer"


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory):
    """pip-install the example (no dependencies: they are ours already) into a directory of its own."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(EXAMPLE),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return target


def test_installed_example_is_found_through_its_entry_point_and_passes(installed_example, tmp_path):
    run = run_in(tmp_path, "--quantizer=example-int8", "-q", env={"PYTHONPATH": f"{REPO}:{installed_example}"})
    records = run.records(target="example-int8")
    assert records, run.output[-3000:]
    assert {r["origin"] for r in records} == {"plugin"}
    failed = [r for r in records if r["outcome"] not in ("passed", "skipped")]
    assert not failed, failed
    families = {r["family"] for r in records if r["outcome"] == "passed"}
    assert {"config", "lifecycle"} <= families


def test_without_the_package_the_key_is_unknown(tmp_path):
    run = run_in(tmp_path, "--quantizer=example-int8", report=False)
    assert run.returncode == 4
    assert "unknown quantizer 'example-int8'" in run.output
