"""The third-party path: the example package installs, and qconform finds and checks its quantizer."""

from __future__ import annotations

import shutil
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
    passed = {r["check"] for r in records if r["outcome"] == "passed"}
    families = {r["family"] for r in records if r["outcome"] == "passed"}
    assert {"config", "lifecycle", "numerics", "capabilities"} <= families
    assert "test_error_within_bound" in passed  # through the codec its spec names (a qconform.WeightCodec)


def test_bare_example_without_its_spec_passes(tmp_path):
    """Step 0 for an author: the module that registers the quantizer, no spec. What the quantizer says about
    itself decides which checks run; none fails, and the lifecycle runs on a tiny model quantized on the fly."""
    # the package alone: an install of the example elsewhere leaves egg-info beside it, whose entry point
    # would bring the spec back
    bare = tmp_path / "bare"
    shutil.copytree(EXAMPLE / "example_int8", bare / "example_int8", ignore=shutil.ignore_patterns("__pycache__"))
    run = run_in(
        tmp_path,
        "--quantizer=example-int8",
        "--qconform-plugin=example_int8",
        "-q",
        env={"PYTHONPATH": f"{REPO}:{bare}"},
    )
    records = run.records(target="example-int8")
    assert records, run.output[-3000:]
    failed = [(r["nodeid"], r["outcome"], r["message"]) for r in records if r["outcome"] not in ("passed", "skipped")]
    assert not failed, failed
    passed = {r["check"] for r in records if r["outcome"] == "passed"}
    ran = {"test_save_reload_bit_identical", "test_skip_list_respected", "test_logits_drift_vs_full_precision"}
    assert ran <= passed
    agreement = [r for r in records if r["check"] == "test_declared_capabilities_agree_with_the_quantizer"]
    assert [r["outcome"] for r in agreement] == ["skipped"] and "no spec" in agreement[0]["reason"]


def test_without_the_package_the_key_is_unknown(tmp_path):
    run = run_in(tmp_path, "--quantizer=example-int8", report=False)
    assert run.returncode == 4
    assert "unknown quantizer 'example-int8'" in run.output
