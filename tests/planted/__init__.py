"""The planted-bug catalogue: quantizers with one contract broken, each to be caught by its check.

Every module in ``tests/planted/bugs/`` is a qconform plugin module: importing it registers its
quantizer (and config) under a ``planted-...`` key, it declares ``SPECS`` for that key, and it says
which checks must catch it, and with which message, in ``PLANTED``. ``tests.planted.bare`` registers each
quantizer a second time with no spec. ``test_catalogue.py`` runs qconform once over all of them and checks
that each bug is caught by each check named, with its spec and bare, and that the correct controls pass.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from dataclasses import dataclass


@dataclass(frozen=True)
class PlantedBug:
    """One planted bug: the checks that must fail on it, and how their failure must read.

    ``message`` is a regular expression searched in the failed record's message (and reason): a failure
    that does not name the planted fault is not a catch. Every bug also runs bare, registered under
    ``bare_key(key)`` with no spec, and must be caught the same way there, unless ``bare`` is False (no
    check can) or the check is in ``bare_misses``: then ``bare_reason`` says why only what a spec declares
    (an invalid value, a required package, an oracle, a promise the quantizer contradicts) reveals it.
    """

    key: str  # the dispatch key the bug module registers
    catches: tuple[str, ...]  # check names that must fail on it
    description: str
    control: str | None = None  # a correct key registered beside it that must pass the same checks
    message: str = ""  # regex the intended failure's message must match (searched, case-insensitive)
    bare: bool = True  # whether a run with no spec must catch it too
    bare_misses: tuple[str, ...] = ()  # checks of ``catches`` that cannot catch it bare
    bare_reason: str = ""  # why not, when bare is False or bare_misses names a check

    def __post_init__(self) -> None:
        if (not self.bare or self.bare_misses) and not self.bare_reason:
            raise ValueError(f"{self.key}: a bug exempt from the bare run must say why (bare_reason)")
        if set(self.bare_misses) - set(self.catches):
            raise ValueError(f"{self.key}: bare_misses names checks that are not in catches")

    @property
    def bare_checks(self) -> tuple[str, ...]:
        """The checks that must catch it bare."""
        return tuple(c for c in self.catches if c not in self.bare_misses) if self.bare else ()


BARE_SUFFIX = "-bare"


def bare_key(key: str) -> str:
    """The key a bug's quantizer is registered under a second time, with no spec."""
    return key + BARE_SUFFIX


def bug_modules() -> list[str]:
    """Every planted bug's module; ``QCONFORM_PLANTED=a,b`` keeps those whose name contains a or b (a GPU
    machine runs only the bugs that need one)."""
    from tests.planted import bugs

    only = [part for part in os.environ.get("QCONFORM_PLANTED", "").split(",") if part]
    return sorted(
        f"{bugs.__name__}.{info.name}"
        for info in pkgutil.iter_modules(bugs.__path__)
        if not info.name.startswith("_") and (not only or any(part in info.name for part in only))
    )


def catalogue() -> dict[str, PlantedBug]:
    """{module name: PlantedBug}; importing the modules registers their quantizers in this process."""
    return {name: importlib.import_module(name).PLANTED for name in bug_modules()}
