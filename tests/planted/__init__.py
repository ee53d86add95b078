"""The planted-bug catalogue: quantizers with one contract broken, each to be caught by its check.

Every module in ``tests/planted/bugs/`` is a qconform plugin module: importing it registers its
quantizer (and config) under a ``planted-...`` key, it declares ``SPECS`` for that key, and it says
which checks must catch it in ``PLANTED``. ``test_catalogue.py`` runs qconform once over all of
them and checks that each bug is caught by each check named, and that the correct controls pass.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from dataclasses import dataclass


@dataclass(frozen=True)
class PlantedBug:
    key: str  # the dispatch key the bug module registers
    catches: tuple[str, ...]  # check names that must fail on it
    description: str
    control: str | None = None  # a correct key registered beside it that must pass the same checks


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
