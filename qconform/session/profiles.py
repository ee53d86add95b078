"""Hypothesis settings profiles: quick for local work, ci for CI (default when CI=true), thorough."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, Phase, settings

PROFILES = ("quick", "ci", "thorough")
_SUPPRESSED = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]


def use_cache_home() -> None:
    """Hypothesis' own files (its ``.hypothesis`` folder) go to qconform's cache, not to whatever directory
    a run starts from: the profiles derandomize, so no example database is kept at all."""
    from hypothesis.configuration import set_hypothesis_home_dir

    from qconform.support.cache_home import cache_home

    set_hypothesis_home_dir(str(cache_home() / "hypothesis"))


def register_profiles() -> None:
    common = {
        "deadline": None,
        "print_blob": True,
        "derandomize": True,
        "suppress_health_check": _SUPPRESSED,
    }
    settings.register_profile("qconform-quick", max_examples=8, **common)
    settings.register_profile("qconform-ci", max_examples=25, **common)
    settings.register_profile("qconform-thorough", max_examples=200, **common)


def choose_profile(explicit: str | None) -> str:
    if explicit:
        if explicit not in PROFILES:
            raise ValueError(f"unknown profile {explicit!r}; choose one of {', '.join(PROFILES)}")
        return explicit
    return "ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "quick"


def load(profile: str) -> None:
    use_cache_home()
    register_profiles()
    settings.load_profile(f"qconform-{profile}")


@contextlib.contextmanager
def without_shrinking(test: Any) -> Iterator[None]:
    """Run a hypothesis ``test`` without its shrink (and explain) phase, for checks of a known deviation.

    A declared deviation is expected to fail, and its declaration holds the explanation and the evidence:
    shrinking its failure to the smallest example cost 92 of the 212 check-seconds of a whole CPU run. The record
    keeps the first failing example instead. A test that is not a hypothesis test runs as it is."""
    inner = getattr(test, "_hypothesis_internal_use_settings", None)
    if inner is None:
        yield
        return
    phases = tuple(p for p in inner.phases if p not in (Phase.shrink, Phase.explain))
    test._hypothesis_internal_use_settings = settings(inner, phases=phases)
    try:
        yield
    finally:
        test._hypothesis_internal_use_settings = inner
