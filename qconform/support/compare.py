"""Structural comparison of config dictionaries, phrased for failure messages."""

from __future__ import annotations

import json
from typing import Any


def type_name(value: Any) -> str:
    return type(value).__name__


def differences(before: Any, after: Any, path: str = "") -> list[str]:
    """Every place where ``after`` differs from ``before`` in value or in type, as readable lines."""
    where = path or "<root>"
    if isinstance(before, dict) and isinstance(after, dict):
        lines = []
        for key in sorted(set(before) | set(after), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in after:
                lines.append(f"{sub}: lost (was {before[key]!r})")
            elif key not in before:
                lines.append(f"{sub}: appeared ({after[key]!r})")
            else:
                lines.extend(differences(before[key], after[key], sub))
        return lines
    if isinstance(before, list | tuple) and isinstance(after, list | tuple) and type(before) is type(after):
        if len(before) != len(after):
            return [f"{where}: length {len(before)} -> {len(after)} ({before!r} -> {after!r})"]
        return [line for i, (b, a) in enumerate(zip(before, after)) for line in differences(b, a, f"{where}[{i}]")]
    if type(before) is not type(after) and not (_same_str_kind(before, after)):
        return [f"{where}: type {type_name(before)} -> {type_name(after)} ({before!r} -> {after!r})"]
    if before != after and not (_both_nan(before, after)):
        return [f"{where}: {before!r} -> {after!r}"]
    return []


def _same_str_kind(a: Any, b: Any) -> bool:
    """A str-valued enum (transformers' QuantizationMethod) and its plain string are the same JSON value."""
    return isinstance(a, str) and isinstance(b, str)


def _both_nan(a: Any, b: Any) -> bool:
    return isinstance(a, float) and isinstance(b, float) and a != a and b != b


def json_round_trip(value: Any) -> Any:
    """What a value becomes after strict JSON text (no NaN, no fallbacks)."""
    return json.loads(json.dumps(value, allow_nan=False))
