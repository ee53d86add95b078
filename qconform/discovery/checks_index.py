"""Which check functions exist and what they declare, read without running pytest."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

import pytest


@cache
def check_functions() -> dict[str, dict[str, list[pytest.Mark]]]:
    """{family: {check name: markers}} for every ``test_*`` function of ``qconform.checks``."""
    import qconform.checks as package

    index: dict[str, dict[str, list[pytest.Mark]]] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not info.name.startswith("test_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        module_marks = list(getattr(module, "pytestmark", []))
        checks = {}
        for name, function in vars(module).items():
            if name.startswith("test_") and callable(function):
                marks = module_marks + list(getattr(function, "pytestmark", []))
                if "target" in _argnames(function):
                    checks[name] = marks
        if checks:
            index[info.name.removeprefix("test_")] = checks
    return index


def _argnames(function) -> tuple[str, ...]:
    import inspect

    inner = getattr(function, "hypothesis", None)
    function = getattr(inner, "inner_test", function)
    return tuple(inspect.signature(function).parameters)
