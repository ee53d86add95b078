"""Fixtures the checks share; registered as a plugin only for qconform runs.

``target`` and ``device`` are parametrized by the session (see ``qconform.session.collection``); these build
on them.
"""

from __future__ import annotations

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
