"""A crash, an abort, a hang or an import failure of one quantizer is recorded, and the run goes on."""

from __future__ import annotations

import pytest

FAULTS = "--qconform-plugin=tests.faults.quantizers"


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory):
    """One run over every faulty quantizer beside a healthy one, with two workers and a 4 s limit."""
    from tests.conftest import run_in

    return run_in(
        tmp_path_factory.mktemp("faults"),
        "-n",
        "2",
        "--qconform-timeout=4",
        "-k",
        "test_to_dict_is_json",
        "--quantizer=fault-segfault,fault-abort,fault-hang,fault-hang-in-c,eetq",
        FAULTS,
        "--qconform-plugin=tests.faults.broken_at_import",
    )


def _only(run, target):
    records = run.records(target=target, check="test_to_dict_is_json")
    assert len(records) == 1, run.output[-4000:]
    return records[0]


@pytest.mark.parametrize(
    ("target", "signal_text"), [("fault-segfault", "Segmentation fault"), ("fault-abort", "Aborted")]
)
def test_fatal_signal_is_recorded_as_crashed_with_its_traceback(faulty_run, target, signal_text):
    record = _only(faulty_run, target)
    assert record["outcome"] == "crashed"
    assert signal_text in record["message"]
    assert "tests/faults/quantizers.py" in record["message"]  # the faulting frame is named


@pytest.mark.parametrize("target", ["fault-hang", "fault-hang-in-c"])
def test_hang_is_recorded_as_timeout_with_stacks(faulty_run, target):
    record = _only(faulty_run, target)
    assert record["outcome"] == "timeout"
    assert "ran past the per-check limit of 4 s" in record["message"]
    assert "quantizers.py" in record["message"]


def test_broken_plugin_is_recorded_and_the_rest_of_the_run_completes(faulty_run):
    broken = faulty_run.records(outcome="broken")
    assert len(broken) == 1 and "qconform_dependency_that_does_not_exist" in broken[0]["message"]
    assert _only(faulty_run, "eetq")["outcome"] == "passed"
    assert faulty_run.returncode == 1


def test_python_hang_is_interrupted_without_xdist(run_qconform):
    run = run_qconform("--qconform-timeout=2", "-k", "test_to_dict_is_json", "--quantizer=fault-hang", FAULTS)
    [record] = run.records(target="fault-hang")
    assert record["outcome"] == "timeout", record
    assert "timed out after 2 s" in record["reason"]
