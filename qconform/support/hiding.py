"""Hiding a package from this process, faithfully: transformers' own availability checks see it missing.

transformers decides availability with ``importlib.util.find_spec`` and ``importlib.metadata``, and caches the
answers (``lru_cache``) once asked. A package is hidden by wrapping every finder on ``sys.meta_path`` so that
none of them finds it or its distribution: ``find_spec`` returns None, ``import`` raises ModuleNotFoundError
from importlib itself, ``metadata.version`` raises PackageNotFoundError. Install the wrapper before anything
asked about the package: in a fresh process, or in a fork of a snapshot that never asked
(``qconform.support.fork_server``).
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterable
from typing import Any


def normalise_distribution(name: str) -> str:
    """PEP 503 normalisation, so that ``optimum-quanto``, ``optimum_quanto`` and ``Optimum.Quanto`` match."""
    return re.sub(r"[-_.]+", "-", name).lower()


class _HidingFinder:
    """Wraps one meta path finder: it finds neither the hidden modules nor the hidden distributions."""

    def __init__(self, inner: Any, modules: frozenset[str], distributions: frozenset[str]) -> None:
        self._inner = inner
        self._modules = modules
        self._distributions = distributions

    def _hidden(self, fullname: str) -> bool:
        return any(fullname == m or fullname.startswith(m + ".") for m in self._modules)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if self._hidden(fullname):
            return None
        find = getattr(self._inner, "find_spec", None)
        return find(fullname, path, target) if find is not None else None

    def find_distributions(self, context: Any = None) -> Any:
        find = getattr(self._inner, "find_distributions", None)
        if find is None:
            return iter(())
        found = find(context) if context is not None else find()
        return (d for d in found if normalise_distribution(d.metadata["Name"] or "") not in self._distributions)

    def invalidate_caches(self) -> None:
        invalidate = getattr(self._inner, "invalidate_caches", None)
        if invalidate is not None:
            invalidate()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def hide_packages(modules: Iterable[str], distributions: Iterable[str] = ()) -> None:
    """Make this process's import machinery refuse ``modules`` (and submodules) and ``distributions``.

    Call it before anything imports them (or transformers, which caches what it finds). Raises if a
    hidden module is already imported, since hiding it then would not be faithful.
    """
    hidden = frozenset(modules)
    loaded = sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in hidden))
    if loaded:
        raise RuntimeError(f"cannot hide modules that are already imported: {loaded}")
    dists = frozenset(normalise_distribution(d) for d in distributions)
    sys.meta_path[:] = [_HidingFinder(finder, hidden, dists) for finder in sys.meta_path]

    importlib.invalidate_caches()
