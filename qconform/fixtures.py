"""Fixtures the checks share; registered as a plugin only for qconform runs.

``target`` and ``device`` are parametrized by the session (see ``qconform.collection``); these build
on them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from qconform.report.records import MEASURED, json_safe
from qconform.spec import QuantizerSpec
from qconform.targets import Target

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
