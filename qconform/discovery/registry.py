"""The registry of specs: the data modules of ``qconform.specs``, the ``qconform.specs`` entry points, plugins.

A spec module exposes ``SPECS``, a tuple of ``QuantizerSpec``. An entry point may name such a module,
a spec, a sequence of specs, or a callable returning either; loading it may also register a quantizer
with transformers (that is how third-party quantizers and the reference twins enter the dispatch).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import pkgutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from qconform.specs.model import QuantizerSpec

ENTRY_POINT_GROUP = "qconform.specs"


@dataclass
class SpecRegistry:
    specs: dict[str, QuantizerSpec] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)  # source -> error text

    def add(self, spec: QuantizerSpec, source: str) -> None:
        if spec.method in self.specs and self.sources[spec.method] != source:
            raise ValueError(
                f"spec for {spec.method!r} from {source} clashes with the one from {self.sources[spec.method]}"
            )
        self.specs[spec.method] = spec
        self.sources[spec.method] = source


def specs_from(obj: Any) -> list[QuantizerSpec]:
    """Normalise what a spec module or entry point offers into a list of specs."""
    if isinstance(obj, ModuleType):
        obj = getattr(obj, "SPECS", ())
    if callable(obj) and not isinstance(obj, QuantizerSpec):
        obj = obj()
    if isinstance(obj, QuantizerSpec):
        return [obj]
    specs = list(obj) if isinstance(obj, Iterable) else []
    bad = [s for s in specs if not isinstance(s, QuantizerSpec)]
    if bad:
        raise TypeError(f"expected QuantizerSpec objects, got {bad!r}")
    return specs


def builtin_modules() -> list[str]:
    """The family modules of ``qconform.specs`` (``model`` holds the spec classes, ``_*`` shared helpers)."""
    import qconform.specs as package

    return sorted(
        f"{package.__name__}.{info.name}"
        for info in pkgutil.iter_modules(package.__path__)
        if not info.name.startswith("_") and info.name != "model"
    )


def load_registry(extra_modules: Iterable[str] = ()) -> SpecRegistry:
    """Built-in specs, then entry points, then modules named by the user (``--qconform-plugin``)."""
    registry = SpecRegistry()
    for name in builtin_modules():
        for spec in specs_from(importlib.import_module(name)):
            registry.add(spec, name)
    for entry in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        source = f"entry point {entry.name} ({entry.value})"
        try:
            loaded = specs_from(entry.load())
        except Exception as exc:  # a broken plugin is an outcome to report, not a crash of the run
            registry.broken[source] = f"{type(exc).__name__}: {exc}"
            continue
        for spec in loaded:
            registry.add(spec, source)
    for module_name in extra_modules:
        source = f"plugin module {module_name}"
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            registry.broken[source] = f"{type(exc).__name__}: {exc}"
            continue
        if hasattr(module, "SPECS"):
            for spec in specs_from(module):
                registry.add(spec, source)
    return registry
