"""Python values written as source text, with the imports that text needs.

A generated script rebuilds its configs from literal constructor arguments, so every value must be written
as something a reader can see and edit: plain JSON-like values, ``torch`` dtypes, enums by value, and the
dataclass configs of a backend package (torchao's ``Int8WeightOnlyConfig(...)``) as constructor calls.
Anything else is refused with the type named, never written as an opaque ``repr``.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass, field
from typing import Any


class Unwritable(ValueError):
    """A value that has no literal form a standalone script could rebuild."""


@dataclass
class Source:
    """Python source for one value, and the ``from module import name`` lines it needs."""

    text: str
    imports: set[tuple[str, str]] = field(default_factory=set)


def write(value: Any, allowed_packages: tuple[str, ...] = ()) -> Source:
    """``value`` as source; dataclass instances only from ``allowed_packages`` (top-level import names)."""
    imports: set[tuple[str, str]] = set()
    text = _write(value, allowed_packages, imports)
    return Source(text, imports)


def _write(value: Any, allowed: tuple[str, ...], imports: set[tuple[str, str]]) -> str:
    if isinstance(value, enum.Enum):  # first: a str-valued enum is a str too
        return _write(value.value, allowed, imports)
    if value is None or isinstance(value, bool | int | str):
        return repr(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else f"float({str(value)!r})"
    if isinstance(value, list):
        return "[" + ", ".join(_write(v, allowed, imports) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(_write(v, allowed, imports) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, dict):
        items = (f"{_write(k, allowed, imports)}: {_write(v, allowed, imports)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if _is_dtype(value):
        return str(value)  # "torch.float16": the script imports torch
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _write_dataclass(value, allowed, imports)
    raise Unwritable(f"a {type(value).__module__}.{type(value).__qualname__} has no literal form")


def _is_dtype(value: Any) -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency of qconform
        return False
    return isinstance(value, torch.dtype)


def _write_dataclass(value: Any, allowed: tuple[str, ...], imports: set[tuple[str, str]]) -> str:
    cls = type(value)
    package = cls.__module__.split(".")[0]
    if package not in allowed:
        raise Unwritable(f"{cls.__module__}.{cls.__qualname__} is not from a package the script may import")
    arguments = []
    for f in dataclasses.fields(value):
        if not f.init:
            continue
        current = getattr(value, f.name)
        if _is_default(f, current):
            continue
        arguments.append(f"{f.name}={_write(current, allowed, imports)}")
    imports.add((_public_module(cls), cls.__name__))
    return f"{cls.__name__}({', '.join(arguments)})"


def _is_default(f: dataclasses.Field, current: Any) -> bool:
    if f.default is not dataclasses.MISSING:
        default = f.default
    elif f.default_factory is not dataclasses.MISSING:
        default = f.default_factory()
    else:
        return False
    try:
        return bool(type(default) is type(current) and default == current)
    except Exception:  # a value whose == is not a bool (a tensor): write it out
        return False


def _public_module(cls: type) -> str:
    """The shortest parent module of ``cls``'s module that exports it (``torchao.quantization``, not its file)."""
    import importlib

    parts = cls.__module__.split(".")
    for end in range(1, len(parts) + 1):
        name = ".".join(parts[:end])
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if getattr(module, cls.__name__, None) is cls:
            return name
    return cls.__module__


def import_lines(imports: set[tuple[str, str]]) -> list[str]:
    """``from module import a, b`` lines, sorted, one per module."""
    by_module: dict[str, set[str]] = {}
    for module, name in imports:
        by_module.setdefault(module, set()).add(name)
    return [f"from {module} import {', '.join(sorted(names))}" for module, names in sorted(by_module.items())]
