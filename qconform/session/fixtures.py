"""Fixtures the checks share; registered as a plugin only for qconform runs.

``target`` and ``device`` are parametrized by the session (see ``qconform.session.collection``); these build
on them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from qconform.discovery.targets import Target
from qconform.report.records import MEASURED, json_safe
from qconform.specs.model import QuantizerSpec
from qconform.support import outcomes
from qconform.support.outcomes import NOT_SUPPORTED

Measure = Callable[..., None]


@pytest.fixture
def qconform_session(request: pytest.FixtureRequest) -> Any:
    """This run's ``QconformSession``: its discovery, plugins and devices (checks read it, never a global)."""
    return request.config.pluginmanager.get_plugin("qconform-session")


@pytest.fixture
def spec(target: Target) -> QuantizerSpec:
    return target.spec


@pytest.fixture
def measure(request: pytest.FixtureRequest) -> Measure:
    """Record measured values on this check's record: ``measure(rel_error=0.01, ...)``.

    Values land in the report even when the check then fails, which is when they matter most.
    """

    def record(**values: Any) -> None:
        request.node.user_properties.append((MEASURED, json_safe(values)))

    return record


@pytest.fixture
def accelerator(request: pytest.FixtureRequest, target: Target) -> str:
    """The run's accelerator that this target runs on (checks that compare it with the
    CPU, or two of its devices with one, skip with the reason where there is none)."""
    session = request.config.pluginmanager.get_plugin("qconform-session")
    found = [d for d in session.devices if d != "cpu"]
    if not found:
        outcomes.skip(NOT_SUPPORTED, "no accelerator among this run's devices (--qconform-device)")
    kind = found[0].split(":")[0]
    if kind not in target.spec.inputs.devices:
        outcomes.skip(
            NOT_SUPPORTED, f"{target.key} runs on {', '.join(target.spec.inputs.devices)} only (spec devices)"
        )
    return found[0]


@pytest.fixture
def worst(request: pytest.FixtureRequest):
    """``worst(name=value, ...)``: keep the largest value of each figure over hypothesis' examples and
    record them on this check (one record, updated in place, so a failing run keeps its figures)."""
    largest: dict[str, float] = {}
    record: dict[str, Any] = {}
    request.node.user_properties.append((MEASURED, record))

    def update(**values: float) -> None:
        for name, value in values.items():
            if name not in largest or _greater(value, largest[name]):
                largest[name] = value
        examples = record.get("examples", 0) + 1
        record.clear()
        record.update(json_safe(largest), examples=examples)

    return update


def _greater(a: float, b: float) -> bool:
    return (math.isnan(a) and not math.isnan(b)) or a > b


class Dispatch(dict):
    """Every target of this run's dispatch by key (a short repr: hypothesis prints it on failure)."""

    def __repr__(self) -> str:
        return f"Dispatch({len(self)} targets)"


@pytest.fixture
def all_targets(qconform_session: Any) -> Dispatch:
    """To find a method's twin (or a twin's real method) among this run's targets."""
    return Dispatch(qconform_session.discovery.targets)
