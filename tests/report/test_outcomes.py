"""How a check's pytest reports become a record's outcome, known deviations above all (strict or not)."""

from __future__ import annotations

import pytest

from qconform.report.records import outcome_of


def _report(when: str, outcome: str, longrepr=None, wasxfail: str | None = None) -> pytest.TestReport:
    report = pytest.TestReport("test_x.py::test_check[t]", ("test_x.py", 0, "test_check"), {}, outcome, longrepr, when)
    if wasxfail is not None:
        report.wasxfail = wasxfail
    return report


def _phases(call: pytest.TestReport) -> dict[str, pytest.TestReport]:
    return {"setup": _report("setup", "passed"), "call": call, "teardown": _report("teardown", "passed")}


def test_a_deviation_that_shows_is_xfailed():
    call = _report("call", "skipped", ("f", 1, "reason"), wasxfail="known deviation: zeros become NaN")
    assert outcome_of(_phases(call)) == ("xfailed", "known deviation: zeros become NaN")


def test_a_strict_deviation_that_no_longer_shows_is_a_failure():
    call = _report("call", "failed", "[XPASS(strict)] known deviation: zeros become NaN")
    outcome, reason = outcome_of(_phases(call))
    assert outcome == "failed" and reason.startswith("known deviation no longer happens")


def test_a_non_strict_deviation_not_drawn_in_this_run_passes_and_says_so():
    call = _report("call", "passed", wasxfail="known deviation: float16 scales underflow")
    outcome, reason = outcome_of(_phases(call))
    assert outcome == "passed"
    assert reason == "known deviation did not show with this run's inputs: known deviation: float16 scales underflow"


def test_an_xfailed_record_keeps_what_the_check_raised():
    from qconform.report.records import build_record

    def check():
        raise AssertionError("zeros become NaN: 32/128 rows")

    try:
        check()
    except AssertionError:
        longrepr = pytest.ExceptionInfo.from_current().getrepr()
    call = _report("call", "skipped", longrepr, wasxfail="known deviation: zeros become NaN")
    record = build_record("test_x.py::test_check[t]", _phases(call))
    assert record["outcome"] == "xfailed" and "32/128 rows" in record["message"]
    declared_only = _report("call", "skipped", ("f", 1, "reason"), wasxfail="known deviation")
    assert build_record("test_x.py::test_check[t]", _phases(declared_only))["message"] is None
