"""Device maps and memory: where a quantizer lets ``from_pretrained`` put modules, and how much room it asks for.

``update_device_map(None)`` must name devices this machine has, an explicit map must come back as the
user wrote it, ``adjust_max_memory`` may only lower budgets, ``update_dtype`` must hand back a floating
dtype the method supports, ``param_element_size`` must agree with the spec's bytes per quantized
element, the estimate built from it must match the bytes of a loaded tiny model, and
``device_map="auto"`` must keep every device within its ``max_memory``.

Without a GPU, budgets are checked on simulated accelerators (indices 0 and 1, which accelerate
accepts with a warning) beside ``"cpu"``, with ``"disk"`` taking the rest: the placement logic,
``adjust_max_memory`` and the element sizes are exercised, but not what only a real device adds
(free memory read from the driver, memory reserved but unused by torch's allocator, a quantizer's
own device checks at validation). The ``cuda`` variant, where CUDA exists, uses the real devices;
the memory footprint is then measured on the GPU.
"""

from __future__ import annotations

import copy
from collections import defaultdict

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from qconform.inputs.strategies import device_maps, max_memory, places, raw_max_memory
from qconform.support.assertions import expect, fail
from qconform.support.contract import (
    default_config,
    device_exists,
    footprint_bytes,
    paths_for,
    prepared_model,
    quantizer,
    skip_if_unavailable,
    validated_quantizer,
)

DTYPES = ("float16", "bfloat16", "float32")


def _main_path(target) -> str:
    paths = paths_for(target.spec)
    if not paths:
        pytest.skip(f"{target.key} neither quantizes on the fly nor loads checkpoints (spec)")
    return paths[0]


def _plain_quantizer(target):
    return quantizer(target, default_config(target), pre_quantized=_main_path(target) == "checkpoint")


@pytest.mark.parametrize("path", ("argument", "checkpoint"))
def test_default_device_map_exists_here(target, path):
    _, _, device_map = validated_quantizer(target, path, None)
    if device_map is None or device_map in ("auto", "balanced", "balanced_low_0", "sequential"):
        return
    values = list(device_map.values()) if isinstance(device_map, dict) else [device_map]
    absent = [repr(v) for v in values if not device_exists(v)]
    expect(not absent, "update_device_map(None) names devices this machine does not have", [f"{device_map!r}", *absent])


@given(data=st.data())
def test_explicit_device_map_unchanged(target, data):
    hf_quantizer = _plain_quantizer(target)
    device_map = data.draw(device_maps(where=places(2)), label="device_map")
    given_map = copy.deepcopy(device_map)
    try:
        returned = hf_quantizer.update_device_map(given_map)
    except (ValueError, RuntimeError, NotImplementedError) as exc:
        event(f"refused: {type(exc).__name__}")
        return
    expect(
        given_map == device_map,
        "update_device_map changed the user's dict in place",
        [f"{device_map!r} -> {given_map!r}"],
    )
    expect(
        returned == device_map,
        "update_device_map did not return the user's device map",
        [f"{device_map!r} -> {returned!r}"],
    )


@given(budgets=raw_max_memory())
def test_adjust_max_memory_never_raises_a_budget(target, budgets):
    hf_quantizer = _plain_quantizer(target)
    given_budgets = dict(budgets)
    adjusted = hf_quantizer.adjust_max_memory(given_budgets)
    lines = []
    if given_budgets != budgets:
        lines.append(f"the argument was changed in place: {budgets!r} -> {given_budgets!r}")
    if set(adjusted) != set(budgets):
        lines.append(f"keys {sorted(map(str, budgets))} -> {sorted(map(str, adjusted))}")
    for key in set(adjusted) & set(budgets):
        value = adjusted[key]
        if not isinstance(value, (int, float)) or value > budgets[key] or value < 0:
            lines.append(f"{key!r}: {budgets[key]!r} -> {value!r}")
    expect(not lines, "adjust_max_memory must keep every device and never raise a budget", lines)


def test_update_dtype_supported(target):
    import torch

    hf_quantizer = _plain_quantizer(target)
    supported = target.spec.inputs.dtypes
    lines = []
    for name in DTYPES:
        try:
            result = hf_quantizer.update_dtype(getattr(torch, name))
        except (ValueError, TypeError) as exc:
            if name in supported:
                lines.append(f"{name}: refused ({type(exc).__name__}: {exc}) although the spec supports it")
            continue
        if not isinstance(result, torch.dtype) or not result.is_floating_point:
            lines.append(f"{name} -> {result!r}: not a floating torch.dtype")
        elif str(result).removeprefix("torch.") not in supported:
            lines.append(f"{name} -> {result}: not among the supported {list(supported)}")
    expect(not lines, "update_dtype must hand back a floating dtype the method supports", lines)


def test_param_element_size(target, measure):
    spec = target.spec
    config = default_config(target)
    hf_quantizer, model = prepared_model(target, config, pre_quantized=_main_path(target) == "checkpoint")
    expected_size = spec.element_size(config)
    lines = []
    declared = getattr(hf_quantizer, "quantized_element_size", None)
    if (
        hasattr(type(hf_quantizer), "quantized_element_size")
        and expected_size is not None
        and declared != expected_size
    ):
        lines.append(f"quantized_element_size is {declared!r}, the spec says {expected_size!r} bytes")
    quantized = 0
    try:
        for name, param in model.named_parameters():
            needs = hf_quantizer.param_needs_quantization(model, name)
            quantized += bool(needs)
            size = hf_quantizer.param_element_size(model, name, param)
            want = expected_size if needs else param.element_size()
            if want is not None and size != want:
                what = "needs quantization" if needs else "is left as it is"
                lines.append(f"{name} ({what}, {param.dtype}): {size!r} bytes per element, expected {want!r}")
    except Exception as exc:
        skip_if_unavailable(spec, exc)
        raise
    measure(params_needing_quantization=quantized, expected_element_size=expected_size)
    expect(not lines, "param_element_size disagrees with the bytes per quantized element", lines)


@pytest.mark.qconform_requires("quantizes_on_the_fly")
@pytest.mark.qconform_backend
def test_memory_estimate_matches_footprint(target, device, measure):
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.integrations.accelerate import compute_module_sizes

    from qconform.inputs.tiny_models import tiny_checkpoint

    spec = target.spec
    if "argument" not in paths_for(spec):
        pytest.skip(f"{target.key} does not quantize on the fly (spec)")
    config = default_config(target)
    hf_quantizer, model = prepared_model(target, copy.deepcopy(config), pre_quantized=False)
    estimate = compute_module_sizes(model, hf_quantizer)[0][""]
    try:
        loaded = AutoModelForCausalLM.from_pretrained(
            tiny_checkpoint(), quantization_config=copy.deepcopy(config), device_map=device, dtype=torch.float32
        )
    except Exception as exc:
        skip_if_unavailable(spec, exc)
        pytest.skip(f"the tiny model does not load with {target.key} here, so no footprint to compare: {exc}")
    measured = footprint_bytes(loaded)
    rel = abs(estimate - measured) / measured
    measure(estimate_bytes=int(estimate), measured_bytes=int(measured), rel_diff=round(rel, 4))
    bound = spec.promises.tolerances.memory_rel
    expect(
        rel <= bound,
        "the memory estimate from param_element_size is off from the loaded model's bytes",
        [f"estimate {estimate:.0f} B, measured {measured} B: {rel:.3f} apart, above {bound}"],
    )


@pytest.mark.qconform_backend
@given(data=st.data())
def test_auto_device_map_within_budgets(target, device, data):
    import torch
    from transformers.integrations.accelerate import _get_device_map, compute_module_sizes, expand_device_map

    spec = target.spec
    config = copy.deepcopy(default_config(target))
    if spec.promises.offload_rule is not None and spec.promises.offload_rule.unless:
        setattr(config, spec.promises.offload_rule.unless, True)  # offload is what the budgets ask for
    pre_quantized = _main_path(target) == "checkpoint"
    hf_quantizer, model = prepared_model(target, config, pre_quantized, device_map="auto")
    total = int(compute_module_sizes(model, hf_quantizer)[0][""])
    accelerators = tuple(range(torch.cuda.device_count())) if device == "cuda" else (0, 1)
    budgets = data.draw(max_memory((*accelerators, "cpu"), total), label="max_memory")
    try:
        placed_map = _get_device_map(model, "auto", copy.deepcopy(budgets), hf_quantizer)
    except ValueError as exc:
        event(f"validate_environment refused the inferred map: {exc}"[:120])
        return
    params = dict(model.named_parameters())
    placement = expand_device_map(placed_map, list(params))
    placed: dict[object, float] = defaultdict(float)
    for name, param in params.items():
        needs = hf_quantizer.param_needs_quantization(model, name)
        size = spec.element_size(config) if needs else None
        size = size if size is not None else hf_quantizer.param_element_size(model, name, param)
        placed[placement[name]] += param.numel() * size
    over = [
        f"{dev!r}: {used:.0f} B placed, budget {budgets[dev]} B"
        for dev, used in placed.items()
        if dev in budgets and used > budgets[dev]
    ]
    if over:
        fail("device_map='auto' placed more on a device than its max_memory", [f"map {placed_map!r}", *over])
