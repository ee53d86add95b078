"""The pytest plugin from the outside: options, errors, and staying out of other suites' way."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def test_unknown_method_is_a_usage_error_with_suggestions(run_qconform):
    run = run_qconform("--quantizer=bitsandbytes_4bits", report=False)
    assert run.returncode == 4, run.output
    assert "unknown quantizer 'bitsandbytes_4bits' (did you mean: bitsandbytes_4bit" in run.output
    assert "known quantizers: " in run.output and "gptq" in run.output


def test_unknown_profile_and_device_are_usage_errors(run_qconform):
    assert run_qconform("--quantizer=fp8", "--qconform-profile=fast", report=False).returncode == 4
    assert run_qconform("--quantizer=fp8", "--qconform-device=tpu", report=False).returncode == 4


def test_without_quantizer_the_plugin_stays_out_of_the_way(run_qconform, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "test_other.py").write_text("def test_other():\n    assert True\n")
    run = run_qconform("-q", report=False)
    assert run.returncode == 0, run.output
    assert "1 passed" in run.output
    assert "qconform" not in run.output


def test_runs_from_an_empty_directory_and_records_every_check(run_qconform):
    run = run_qconform("--quantizer=fp8,eetq", "-q")  # both skip their model checks here: seconds, not minutes
    assert run.report is not None, run.output
    targets = {r["target"] for r in run.report["records"]}
    assert targets == {"fp8", "eetq"}
    checks = {r["check"] for r in run.records(target="fp8")}
    assert {"test_round_trip_same_class_and_dict", "test_round_trip_idempotent"} <= checks
    families = {r["family"] for r in run.report["records"]}
    assert {"config", "merge", "environment", "device_map", "lifecycle", "numerics"} <= families


def test_repeated_and_comma_separated_values_combine(run_qconform):
    run = run_qconform("--quantizer=fp8,eetq", "--quantizer=eetq", "--quantizer=hqq", "--collect-only")
    assert run.report is not None
    header = [line for line in run.output.splitlines() if line.startswith("qconform: 3 quantizer")]
    assert header == ["qconform: 3 quantizer(s): eetq, fp8, hqq"], run.output[:2000]


def test_profile_defaults_to_ci_under_ci(run_qconform):
    run = run_qconform("--quantizer=eetq", "-q", "-k", "test_config", env={"CI": "true"})
    assert run.report["run"]["profile"] == "ci"
    assert run_qconform("--quantizer=eetq", "-q", "-k", "test_config").report["run"]["profile"] == "quick"


def test_plugin_module_registers_a_third_party_quantizer(run_qconform, tmp_path):
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "my_quantizer.py").write_text(PLUGIN)
    run = run_qconform(
        "--quantizer=my-method", "--qconform-plugin=my_quantizer", "-q", env={"PYTHONPATH": f"{tmp_path / 'work'}"}
    )
    records = run.records(target="my-method")
    assert records and all(r["origin"] == "plugin" for r in records), run.output[-2000:]
    assert {r["outcome"] for r in records} <= {"passed", "skipped"}, json.dumps(records, indent=1)[:3000]
    assert {r["check"] for r in records if r["outcome"] == "passed"} >= {"test_round_trip_same_class_and_dict"}


def test_broken_plugin_module_is_recorded_as_broken(run_qconform, tmp_path):
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "bad_plugin.py").write_text("raise RuntimeError('boom at import')\n")
    run = run_qconform(
        "--quantizer=fp8", "--qconform-plugin=bad_plugin", "-q", env={"PYTHONPATH": f"{tmp_path / 'work'}"}
    )
    broken = run.records(outcome="broken")
    assert len(broken) == 1, run.output[-2000:]
    assert "boom at import" in broken[0]["message"]
    assert run.returncode == 1
    assert run.records(target="fp8")  # the rest of the run went on


PLUGIN = """
from transformers.quantizers import HfQuantizer
from transformers.quantizers.auto import register_quantization_config, register_quantizer
from transformers.utils.quantization_config import QuantizationConfigMixin


@register_quantization_config("my-method")
class MyConfig(QuantizationConfigMixin):
    def __init__(self, bits=4, **kwargs):
        if not isinstance(bits, int) or isinstance(bits, bool):
            raise TypeError(f"bits must be an int, got {bits!r}")
        self.quant_method = "my-method"
        self.bits = bits


@register_quantizer("my-method")
class MyQuantizer(HfQuantizer):
    def is_serializable(self):
        return True

    @property
    def is_trainable(self):
        return False
"""


FREEZE_PROBE = """
import gc, sys
{before}
import pytest
frozen = gc.get_freeze_count()
pytest.main(["--quantizer=bitsandbytes_8bit", "-p", "no:cacheprovider", "-q", "-k", "test_to_dict_is_json"])
print("FROZEN", gc.get_freeze_count() - frozen)
"""


@pytest.mark.parametrize(("before", "freezes"), [("", True), ("import torch", False)])
def test_only_a_process_started_for_the_run_freezes_its_imports(tmp_path, before, freezes):
    """gc.freeze (qconform.session.process) is for a process of the run's own; a suite that runs pytest in-process
    after importing torch keeps its garbage collector as it was."""
    code = FREEZE_PROBE.format(before=before)
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    counts = [int(line.split()[1]) for line in done.stdout.splitlines() if line.startswith("FROZEN ")]
    assert counts, done.stdout[-2000:] + done.stderr[-2000:]
    assert (counts[0] > 0) is freezes


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["alone", "xdist"])
def test_what_packages_print_on_import_is_kept_in_the_run_file_not_shown(run_qconform, workers):
    run = run_qconform(
        "--quantizer=bitsandbytes_8bit",
        "--qconform-plugin=tests.kit.noisy_plugin",
        "-k",
        "test_to_dict_is_json",
        *workers,
    )
    assert run.returncode == 0, run.output[-3000:]
    for noise in ("PLANTED IMPORT BANNER", "Failed to load", "_pytree.py"):  # the planted banner, torchao's words
        assert noise not in run.output, run.output[-3000:]
    kept = run.report["run"]["import_output"]
    assert sum("PLANTED IMPORT BANNER" in line for line in kept) == 3, kept
