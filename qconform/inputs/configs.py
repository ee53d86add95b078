"""Getting configs for a target: drawn from the spec's strategy, else inferred from the config class.

Checks that must know what a config was built with (the round trip keeps every argument) draw ``Built`` pairs:
the arguments and the config. Inferred configs carry the drawn arguments; a spec's strategy gives config objects,
whose arguments are read back from the constructor's parameters (``stored_arguments``).
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import strategies as st

from qconform.inputs.inferred import inferred_pairs, parameters
from qconform.inputs.recorded import note_config
from qconform.specs.model import QuantizerSpec


def build(factory: Any, spec: QuantizerSpec) -> Any:
    """Call a config factory; a missing backend is a skip with its reason, anything else an error."""
    try:
        return factory()
    except ImportError as exc:
        missing = spec.missing_requirements()
        pytest.skip(f"config needs a missing package: {exc}" + (f" ({'; '.join(missing)})" if missing else ""))


@dataclass(frozen=True)
class Built:
    """A config and the arguments it was built with (``inferred``: drawn; otherwise read back from it)."""

    arguments: dict[str, Any]
    config: Any
    inferred: bool


def stored_arguments(config: Any) -> dict[str, Any]:
    """The constructor's arguments as the config stored them: each parameter of ``type(config).__init__`` that
    the config holds as an attribute of the same name (copied, so later mutation of the config does not show)."""
    held = {}
    for param in parameters(type(config)):
        value = getattr(config, param.name, inspect.Parameter.empty)
        if value is not inspect.Parameter.empty:
            held[param.name] = copy.deepcopy(value)
    return held


def built_strategy(spec: QuantizerSpec) -> st.SearchStrategy[Built]:
    """The spec's valid configs with their stored arguments, or configs inferred from the class of the spec's
    default config (``qconform.inputs.inferred``), drawn around that default's values."""
    strategy = spec.inputs.configs()
    if strategy is not None:
        return strategy.map(lambda config: Built(stored_arguments(config), config, inferred=False))
    base = build(spec.inputs.default_config, spec)
    cls = type(base)

    def pair(drawn: tuple[dict[str, Any], Any]) -> Built:
        return Built(drawn[0], drawn[1], inferred=True)

    return inferred_pairs(cls, base).map(pair)


def config_strategy(spec: QuantizerSpec) -> st.SearchStrategy[Any]:
    """The spec's valid configs, or configs inferred from the config class (its default config's class)."""
    strategy = spec.inputs.configs()
    if strategy is not None:
        return strategy
    return built_strategy(spec).map(lambda built: built.config)


def draw_config(data: st.DataObject, spec: QuantizerSpec, label: str = "config") -> Any:
    """A config drawn under ``label``, noted with its stored arguments for the check's record (``recorded``)."""
    config = data.draw(config_strategy(spec), label=label)
    note_config(label, config, stored_arguments(config), example=data)
    return config


def draw_built(data: st.DataObject, spec: QuantizerSpec, label: str = "config") -> Built:
    """A config and its arguments drawn under ``label``, noted for the check's record (``recorded``)."""
    built = data.draw(built_strategy(spec), label=label)
    arguments = built.arguments if built.inferred else stored_arguments(built.config)
    note_config(label, built.config, arguments, example=data)
    return built


def plain(value: Any) -> Any:
    """A stored value in comparable form: enums by value, dtypes by name, tuples and sets as lists, nested
    configs by their ``to_dict`` (a tuple turning into a list is test_round_trip_keeps_types' business)."""
    import enum

    import torch

    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, torch.dtype):
        return str(value).removeprefix("torch.")
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((plain(v) for v in value), key=repr)
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return plain(value.to_dict())
    return value


def argument_changes(arguments: dict[str, Any], config: Any, ignore: tuple[str, ...] = ()) -> list[str]:
    """Each argument (name -> the value the constructor stored) that ``config`` no longer holds, or holds with
    another value, as "name: before -> after" lines."""
    lines = []
    for name, before in arguments.items():
        if name in ignore:
            continue
        after = getattr(config, name, inspect.Parameter.empty)
        if after is inspect.Parameter.empty:
            lines.append(f"{name}: lost (was {before!r})")
        elif (b := plain(before)) != (a := plain(after)) and not (b != b and a != a):
            lines.append(f"{name}: {before!r} -> {after!r}")
    return lines


def unsaved_loading_attributes(spec: QuantizerSpec, config: Any) -> tuple[str, ...]:
    """The spec's loading attributes that ``to_dict`` does not write: load-time choices, not checkpoint content.
    ``merge_quantization_configs`` takes them from ``from_pretrained``'s argument at every load
    (transformers/quantizers/auto.py, LOADING_ATTRIBUTES_CONFIG_TYPES: "loading attributes ... will be overwritten
    with the one you passed"), so Mxfp4Config and MetalConfig leave ``dequantize`` out of to_dict, and
    CompressedTensorsConfig ``use_optimized_inference``; one that to_dict writes must survive like any other."""
    written = config.to_dict()
    return tuple(name for name in spec.promises.loading_attributes if name not in written)


def round_trip(config: Any) -> Any:
    """to_dict -> JSON text -> AutoQuantizationConfig.from_dict, as transformers reads config.json."""
    import json

    from transformers.quantizers.auto import AutoQuantizationConfig

    text = json.dumps(config.to_dict(), allow_nan=False)
    return AutoQuantizationConfig.from_dict(copy.deepcopy(json.loads(text)))
