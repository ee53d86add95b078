"""Hypothesis settings of a run: a known deviation's check runs without shrinking, and only while it runs."""

from __future__ import annotations

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from qconform.session.profiles import without_shrinking

CALLS: list[int] = []


@settings(database=None, derandomize=True, max_examples=50)
@given(st.integers(min_value=0, max_value=10**6))
def fails_above_a_thousand(x: int) -> None:
    CALLS.append(x)
    assert x < 1000


def _calls_until_it_fails() -> list[int]:
    CALLS.clear()
    with pytest.raises(AssertionError):
        fails_above_a_thousand()
    return list(CALLS)


def test_a_known_deviation_is_not_shrunk_and_the_settings_come_back():
    shrunk = _calls_until_it_fails()
    with without_shrinking(fails_above_a_thousand):
        first = _calls_until_it_fails()
    again = _calls_until_it_fails()
    assert shrunk[-1] == 1000 and again == shrunk  # shrinking finds the boundary, before and after
    assert first[-1] > 1000 and len(first) < len(shrunk)  # the first failing example, kept as drawn
    assert Phase.shrink in fails_above_a_thousand._hypothesis_internal_use_settings.phases


def test_a_plain_function_runs_as_it_is():
    with without_shrinking(len):
        assert len([1, 2]) == 2
