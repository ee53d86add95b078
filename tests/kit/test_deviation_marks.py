"""Known deviations become xfail marks; several that meet on one variant become one mark (pytest obeys only the
first), so no deviation's exception escapes as a failure."""

from __future__ import annotations

import pytest

from qconform.discovery.targets import Target
from qconform.session.collection import deviation_marks
from qconform.specs.model import KnownDeviation, minimal_spec

FLOAT32 = KnownDeviation("test_x", "float32 refused on cuda", "run A", params="cuda", raises=(NotImplementedError,))
TIED = KnownDeviation("test_x", "no weight on opt", "run B", params="opt", raises=(AttributeError,))
ANY = KnownDeviation("test_x", "anything on opt", "run C", params="opt", strict=False)


def _target(*deviations: KnownDeviation) -> Target:
    spec = minimal_spec("m", dict).replace(known_deviations=deviations)
    return Target("m", object, dict, "plugin", spec)  # type: ignore[arg-type]


def test_deviations_meeting_on_a_variant_become_one_mark_with_every_exception():
    marks = deviation_marks(_target(FLOAT32, TIED), "test_x", "m-cuda-opt")
    assert len(marks) == 1
    kwargs = marks[0].kwargs
    assert kwargs["raises"] == (NotImplementedError, AttributeError) and kwargs["strict"] is True
    assert "float32 refused on cuda" in kwargs["reason"] and "no weight on opt" in kwargs["reason"]


def test_one_deviation_pinning_no_exception_accepts_any_and_one_lenient_makes_the_mark_lenient():
    (mark,) = deviation_marks(_target(FLOAT32, ANY), "test_x", "m-cuda-opt")
    assert "raises" not in mark.kwargs and mark.kwargs["strict"] is False


@pytest.mark.parametrize(("param_id", "count"), [("m-cuda-llama", 1), ("m-cpu-llama", 0)])
def test_only_deviations_of_the_variant_apply(param_id, count):
    assert len(deviation_marks(_target(FLOAT32, TIED), "test_x", param_id)) == count
