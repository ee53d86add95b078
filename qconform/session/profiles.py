"""Hypothesis settings profiles: quick for local work, ci for CI (default when CI=true), thorough."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

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
