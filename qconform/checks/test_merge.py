"""Merging and dispatch: what ``from_pretrained`` does with a checkpoint's config and the user's config.

``AutoHfQuantizer.merge_quantization_configs(checkpoint, argument)`` must give the checkpoint's class,
its non-loading attributes and the argument's loading attributes, without touching either input,
and the same result for a config.json dict as for the equivalent object; a config of another class
is refused. The dispatch must pick this target's quantizer for this target's configs, and
``get_hf_quantizer`` must set ``pre_quantized``, ``config.quantization_config`` and the device map.
"""

from __future__ import annotations

import copy
import logging
import warnings
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qconform.inputs.configs import draw_config
from qconform.support.assertions import expect, fail
from qconform.support.compare import differences, json_round_trip
from qconform.support.contract import quantizer, require_path, validated_quantizer

FORMS = ("dict", "object")


def merge(checkpoint: Any, argument: Any) -> Any:
    from transformers.quantizers.auto import AutoHfQuantizer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return AutoHfQuantizer.merge_quantization_configs(checkpoint, argument)


def as_saved(config: Any) -> dict[str, Any]:
    """The config as ``config.json`` holds it."""
    return json_round_trip(config.to_dict())


def checkpoint_side(config: Any, form: str) -> Any:
    """The checkpoint's config as ``get_hf_quantizer`` may find it: its config.json dict, or the object itself."""
    return as_saved(config) if form == "dict" else copy.deepcopy(config)


def snapshot(value: Any) -> Any:
    """Everything an input holds: a dict as is, an object's attributes (``to_dict`` may leave some out)."""
    if isinstance(value, dict):
        return copy.deepcopy(value)
    return {key: json_round_trip_safe(item) for key, item in sorted(vars(value).items())}


def without(d: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in keys}


def loading_differences(merged: Any, argument: Any, names: tuple[str, ...]) -> list[str]:
    lines = []
    for name in names:
        want, got = getattr(argument, name, "<absent>"), getattr(merged, name, "<absent>")
        if json_round_trip_safe(want) != json_round_trip_safe(got):
            lines.append(f"{name}: argument has {want!r}, merged config has {got!r}")
    return lines


def json_round_trip_safe(value: Any) -> Any:
    try:
        return json_round_trip(value)
    except (TypeError, ValueError):
        return repr(value)


@given(data=st.data())
def test_merge_keeps_checkpoint_class(target, data):
    checkpoint = as_saved(draw_config(data, target.spec, "checkpoint config"))
    argument = draw_config(data, target.spec, "argument config")
    merged = merge(checkpoint, argument)
    expect(
        type(merged) is target.config_class,
        "merge_quantization_configs does not give the checkpoint's config class",
        [f"expected {target.config_class.__name__}, got {type(merged).__name__}"],
    )


@pytest.mark.parametrize("form", FORMS)
@given(data=st.data())
def test_merge_takes_loading_attributes_from_argument(target, form, data):
    loading = target.spec.promises.loading_attributes
    checkpoint = checkpoint_side(draw_config(data, target.spec, "checkpoint config"), form)
    argument = draw_config(data, target.spec, "argument config")
    expected_rest = without(
        as_saved(checkpoint) if form == "object" else as_saved(merge(copy.deepcopy(checkpoint), None)), loading
    )
    merged = merge(copy.deepcopy(checkpoint), argument)
    lines = loading_differences(merged, argument, loading)
    lines += [f"non-loading {line}" for line in differences(expected_rest, without(as_saved(merged), loading))]
    expect(
        not lines,
        "merged config: loading attributes must come from the argument, the rest from the checkpoint "
        f"(loading attributes per spec: {list(loading) or 'none'})",
        lines,
    )


@pytest.mark.parametrize("form", FORMS)
@given(data=st.data())
def test_merge_leaves_inputs_unchanged(target, form, data):
    checkpoint = checkpoint_side(draw_config(data, target.spec, "checkpoint config"), form)
    argument = draw_config(data, target.spec, "argument config")
    before_checkpoint, before_argument = snapshot(checkpoint), snapshot(argument)
    merge(checkpoint, argument)
    lines = [f"checkpoint {form}: {line}" for line in differences(before_checkpoint, snapshot(checkpoint))]
    lines += [f"argument: {line}" for line in differences(before_argument, snapshot(argument))]
    expect(not lines, "merge_quantization_configs changed one of its inputs", lines)


@given(data=st.data())
def test_merge_is_idempotent(target, data):
    checkpoint = as_saved(draw_config(data, target.spec, "checkpoint config"))
    argument = draw_config(data, target.spec, "argument config")
    once = merge(copy.deepcopy(checkpoint), copy.deepcopy(argument))
    twice = merge(as_saved(once), copy.deepcopy(argument))
    lines = differences(as_saved(once), as_saved(twice))
    lines += loading_differences(twice, once, target.spec.promises.loading_attributes)
    expect(type(once) is type(twice), "a second merge changed the class", [f"{type(once)} -> {type(twice)}"])
    expect(not lines, "merging the merged (saved) config again with the same argument changed it", lines)


@given(data=st.data())
def test_merge_dict_and_object_agree(target, data):
    config = draw_config(data, target.spec, "checkpoint config")
    argument = draw_config(data, target.spec, "argument config")
    from_dict = merge(checkpoint_side(config, "dict"), copy.deepcopy(argument))
    from_object = merge(checkpoint_side(config, "object"), copy.deepcopy(argument))
    expect(
        type(from_dict) is type(from_object),
        "a config.json dict and the equivalent object merge into different classes",
        [f"dict -> {type(from_dict).__name__}, object -> {type(from_object).__name__}"],
    )
    lines = differences(as_saved(from_dict), as_saved(from_object))
    lines += loading_differences(from_object, from_dict, target.spec.promises.loading_attributes)
    expect(not lines, "a config.json dict and the equivalent object merge differently", lines)


def foreign_configs() -> list[Any]:
    """Configs of other methods, built without any backend."""
    import transformers.utils.quantization_config as qc

    return [qc.EetqConfig(), qc.AqlmConfig(), qc.SpQRConfig(), qc.BitNetQuantConfig(), qc.VptqConfig()]


@given(data=st.data())
def test_merge_refuses_another_class(target, data):
    config = draw_config(data, target.spec, "checkpoint config")
    silent = []
    for other in (c for c in foreign_configs() if type(c) is not type(config)):
        for checkpoint, argument in ((as_saved(config), other), (as_saved(other), config)):
            try:
                merge(checkpoint, copy.deepcopy(argument))
            except ValueError:
                continue
            silent.append(f"{type(argument).__name__} argument on a {checkpoint.get('quant_method')} checkpoint")
    if silent:
        fail("merging configs of two classes must raise ValueError; these merged silently", silent)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@given(data=st.data())
def test_supports_quant_method(target, data):
    from transformers.quantizers.auto import AutoHfQuantizer

    saved = as_saved(draw_config(data, target.spec))
    expect(
        AutoHfQuantizer.supports_quant_method(copy.deepcopy(saved)) is True,
        f"supports_quant_method is not True for a saved {target.key} config",
        [f"quant_method={saved.get('quant_method')!r}"],
    )
    unknown = {"quant_method": f"{target.key}-qconform-unregistered"}
    handler = _Records()
    logger = logging.getLogger("transformers.quantizers.auto")
    logger.addHandler(handler)
    try:
        supported = AutoHfQuantizer.supports_quant_method(unknown)
    finally:
        logger.removeHandler(handler)
    expect(supported is False, "supports_quant_method is not False for an unregistered method", [repr(unknown)])
    expect(
        any(unknown["quant_method"] in m for m in handler.messages),
        "supports_quant_method gave no warning naming the unregistered method",
        handler.messages,
    )


@given(data=st.data())
def test_dispatch_follows_config(target, data):
    config = draw_config(data, target.spec)
    for what, given_config in (("object", config), ("config.json dict", as_saved(config))):
        built = quantizer(target, copy.deepcopy(given_config), pre_quantized=True)
        expect(
            type(built) is target.quantizer_class,
            f"AutoHfQuantizer.from_config dispatches a {target.key} config ({what}) to another quantizer",
            [f"expected {target.quantizer_class.__name__}, got {type(built).__name__}"],
        )


@pytest.mark.parametrize("path", ("argument", "checkpoint"))
def test_get_hf_quantizer_on_tiny_model(target, path):
    require_path(target.spec, path)
    hf_quantizer, model_config, device_map = validated_quantizer(target, path)
    lines = []
    if type(hf_quantizer) is not target.quantizer_class:
        lines.append(f"quantizer is {type(hf_quantizer).__name__}, not {target.quantizer_class.__name__}")
    wanted = path == "checkpoint"
    if bool(hf_quantizer.pre_quantized) is not wanted:
        lines.append(f"pre_quantized is {hf_quantizer.pre_quantized!r} for a config from the {path}")
    stored = getattr(model_config, "quantization_config", None)
    if not isinstance(stored, target.config_class):
        lines.append(f"config.quantization_config is {type(stored).__name__}, not {target.config_class.__name__}")
    if stored is not hf_quantizer.quantization_config:
        lines.append("config.quantization_config is not the quantizer's quantization_config")
    again = hf_quantizer.update_device_map(None)
    if device_map != again:
        lines.append(f"returned device map {device_map!r} is not update_device_map(None) = {again!r}")
    expect(not lines, f"get_hf_quantizer on the tiny llama config ({path} path) breaks what it documents", lines)
