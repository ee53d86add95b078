"""The configs a check drew, kept for its record so that ``qconform repro`` can write exactly the failing example.

Each ``draw_config`` / ``draw_built`` notes the config it drew under its label ("config", "checkpoint config",
...) in the sink of the running check (``collecting``, opened by the session's hooks around each check's call).
Hypothesis runs the failing example last, so what the sink holds when the check ends is that example. A config
is noted as its class and its constructor arguments in a tagged JSON form (``encode``; ``decode`` inverts it):
tuples, enums, dtypes and non-finite floats keep their type, since a config that turns a tuple into a list is
itself a finding. Arguments with no such form (an object of the backend's own) are noted as unrecorded, with why.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import math
from collections.abc import Iterator
from typing import Any

from qconform.specs.model import load_object

_SINK: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("qconform_inputs", default=None)
# the hypothesis example (its ``st.data()`` object) whose draws the sink holds: a draw of another one starts afresh
_EXAMPLE: contextvars.ContextVar[Any] = contextvars.ContextVar("qconform_example", default=None)


class Unrecordable(TypeError):
    """A value with no tagged JSON form."""


@contextlib.contextmanager
def collecting() -> Iterator[dict[str, Any]]:
    """A fresh sink for one check's call: what its draws note lands in the yielded dict."""
    sink: dict[str, Any] = {}
    token, example = _SINK.set(sink), _EXAMPLE.set(None)
    try:
        yield sink
    finally:
        _SINK.reset(token)
        _EXAMPLE.reset(example)


def class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def note_config(label: str, config: Any, arguments: dict[str, Any], example: Any = None) -> None:
    """Note the config drawn under ``label`` and the arguments it was built with (no-op outside a check). The first
    draw of another ``example`` (hypothesis' data object) clears what earlier examples noted, so the sink never
    mixes one example's labels with another's."""
    sink = _SINK.get()
    if sink is None:
        return
    if example is not None and _EXAMPLE.get() is not example:
        sink.clear()
        _EXAMPLE.set(example)
    entry: dict[str, Any] = {"class": class_path(type(config))}
    try:
        entry["kwargs"] = encode(arguments)
    except Unrecordable as exc:
        entry["unrecorded"] = str(exc)
    sink[label] = entry


def encode(value: Any) -> Any:
    """``value`` as JSON with tags for what JSON would change: tuples, enums, dtypes, NaN and infinities."""
    import torch

    if isinstance(value, enum.Enum):  # first: a str or int enum (QuantizationMethod) is one of those too
        return {"__enum__": class_path(type(value)), "name": value.name}
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float:
        return value if math.isfinite(value) else {"__float__": str(value)}
    if isinstance(value, torch.dtype):
        return {"__dtype__": str(value).removeprefix("torch.")}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) and not k.startswith("__") for k in value):
            raise Unrecordable(f"a dict with keys JSON cannot hold: {sorted(map(repr, value))[:3]}")
        return {k: encode(v) for k, v in value.items()}
    raise Unrecordable(f"a {type(value).__module__}.{type(value).__qualname__} has no JSON form")


def decode(value: Any) -> Any:
    """What ``encode`` was given (its enums and dtypes imported again)."""
    import torch

    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__float__" in value:
        return float(value["__float__"])
    if "__enum__" in value:
        cls = load_object(value["__enum__"])
        if not (isinstance(cls, type) and issubclass(cls, enum.Enum)):
            raise Unrecordable(f"{value['__enum__']} is not an enum")
        return cls[value["name"]]
    if "__dtype__" in value:
        return getattr(torch, value["__dtype__"])
    if "__tuple__" in value:
        return tuple(decode(v) for v in value["__tuple__"])
    return {k: decode(v) for k, v in value.items()}
