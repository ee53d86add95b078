"""Loading tiny models through a target, and reading back what its quantizer did to them.

A target's model comes through transformers' own ``from_pretrained``: with a ``quantization_config``
on a full-precision tiny checkpoint when the method quantizes on the fly, otherwise from the
pre-quantized tiny checkpoint that the spec's ``checkpoint_writer`` produces. Which Linear modules
ended up quantized is read from the modules themselves, never from the method's name.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from qconform.inputs.tiny_models import (
    expert_weights,
    hostile_checkpoint,
    sample_input_ids,
    tiny_checkpoint,
    tiny_config,
    tiny_model,
)
from qconform.specs.model import QuantizerSpec, load_object
from qconform.support import trial
from qconform.support.quiet import quiet

ARCHITECTURES = ("llama", "opt")  # untied without biases; tied embeddings with biases
# modules each tiny architecture marks ``_keep_in_fp32_modules`` in the variant built for that check
KEEP_IN_FP32 = {"llama": ("o_proj",), "opt": ("fc2",), "gpt_oss": ("o_proj",)}

# what a Linear of the tiny model became (see ``state_of``)
FULL, QUANTIZED, MISSING = "full precision", "quantized", "missing"
HALF = "converted but holding a full-precision weight"
FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def model_class(arch: str, keep_in_fp32: Sequence[str] = ()) -> type:
    """The architecture's causal-LM class; with ``keep_in_fp32``, a subclass declaring those modules."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING

    base = MODEL_FOR_CAUSAL_LM_MAPPING[type(tiny_config(arch))]
    if not keep_in_fp32:
        return base
    return type(f"KeepFp32{base.__name__}", (base,), {"_keep_in_fp32_modules": list(keep_in_fp32)})


def first_arch(spec: QuantizerSpec) -> str:
    """The tiny architecture a check that builds one model runs on: the first the spec names (``llama`` by
    default; ``gpt_oss`` for MXFP4, whose checkpoints of any other architecture hold nothing quantized)."""
    return spec.inputs.architectures[0]


def on_the_fly(spec: QuantizerSpec) -> bool:
    """Whether from_pretrained quantizes a full-precision checkpoint for this method (no calibration).

    A spec naming a ``checkpoint_writer`` loads through it even where the method can quantize on the fly
    (GPTQ): that path needs a calibration dataset and a tokenizer, and checks/test_calibration.py exercises it."""
    if spec.inputs.checkpoint_writer is not None:
        return False
    return spec.promises.capabilities.quantizes_on_the_fly and not spec.promises.requires_calibration


def checkpoint_for(spec: QuantizerSpec, config: Any, arch: str, hostile: bool = False) -> tuple[Path, bool]:
    """(checkpoint, pre_quantized): the full-precision tiny checkpoint (``hostile``: with planted rows, see
    ``tiny_models.HOSTILE_ROWS``), or the spec's pre-quantized one."""
    if on_the_fly(spec):
        return (hostile_checkpoint(arch) if hostile else tiny_checkpoint(arch)), False
    if hostile:
        pytest.skip(
            f"{spec.method} loads pre-quantized checkpoints; its checkpoint_writer (method, arch, config) writes "
            "from the plain tiny model and cannot take the hostile one"
        )
    if spec.inputs.checkpoint_writer is None:
        pytest.skip(
            f"{spec.method} needs a pre-quantized (or calibrated) checkpoint and its spec names no checkpoint_writer"
        )
    writer = load_object(spec.inputs.checkpoint_writer)
    return Path(writer(spec.method, arch, config)), True


def quantization_kwargs(spec: QuantizerSpec, config: Any, device: str, pre_quantized: bool) -> dict[str, Any]:
    """What ``from_pretrained`` gets besides the path: the config when it quantizes on the fly; for a
    pre-quantized checkpoint, the spec's loading overrides for this device kind (merged into the
    checkpoint's config by transformers), or nothing."""
    if not pre_quantized:
        return {"quantization_config": config}
    overrides = spec.inputs.loading_overrides.get(str(device).split(":")[0])
    if not overrides:
        return {}
    loading = copy.deepcopy(config)
    for name, value in overrides.items():
        setattr(loading, name, value)
    return {"quantization_config": loading}


def file_kwargs(path: Path) -> dict[str, Any]:
    """What ``from_pretrained`` needs to find the weights of a directory besides its path: the name of its one
    ``*.gguf`` file as ``gguf_file`` (a GGUF checkpoint loads only so: quantizers/auto.py get_hf_quantizer), else
    nothing."""
    found = sorted(Path(path).glob("*.gguf"))
    if len(found) > 1:
        raise ValueError(f"{path} holds several GGUF files, which one to load is ambiguous: {[f.name for f in found]}")
    return {"gguf_file": found[0].name} if found else {}


def load(
    spec: QuantizerSpec,
    config: Any,
    device: str,
    arch: str = "llama",
    dtype: torch.dtype | None = None,
    keep_in_fp32: Sequence[str] = (),
    hostile: bool = False,
) -> Any:
    """A tiny model of ``arch`` quantized by the target under ``config``, on ``device`` (``hostile``: the
    checkpoint with planted rows)."""
    path, pre_quantized = checkpoint_for(spec, config, arch, hostile)
    kwargs: dict[str, Any] = {"device_map": {"": device}}
    if dtype is not None:
        kwargs["dtype"] = dtype
    kwargs.update(quantization_kwargs(spec, config, device, pre_quantized))
    kwargs.update(file_kwargs(path))
    trial.validate(spec, kwargs.get("quantization_config"), device, path)  # a refusal of a bare quantizer: a skip
    with quiet():
        return model_class(arch, keep_in_fp32).from_pretrained(path, **kwargs).eval()


def reload(path: Path, device: str) -> Any:
    """What ``from_pretrained`` gives back for a saved quantized model (its config.json says how)."""
    from transformers import AutoModelForCausalLM

    with quiet():
        return AutoModelForCausalLM.from_pretrained(path, device_map={"": device}, **file_kwargs(path)).eval()


def full_precision(arch: str, device: str, dtype: torch.dtype | None = None, hostile: bool = False) -> Any:
    """The same tiny model without quantization, loaded the same way (the reference for drift)."""
    kwargs: dict[str, Any] = {"device_map": {"": device}}
    if dtype is not None:
        kwargs["dtype"] = dtype
    with quiet():
        path = hostile_checkpoint(arch) if hostile else tiny_checkpoint(arch)
        return model_class(arch).from_pretrained(path, **kwargs).eval()


@functools.cache
def reference_logits(arch: str, device: str) -> torch.Tensor:
    """The full-precision model's logits (computed once per process)."""
    return logits(full_precision(arch, device), arch)


def logits(model: Any, arch: str, seed: int = 0) -> torch.Tensor:
    """Logits for a fixed batch of token ids, as float32 on the CPU."""
    ids = sample_input_ids(arch, seed=seed).to(model.device)
    with torch.no_grad():
        return model(ids).logits.float().cpu()


@functools.cache
def linear_names(arch: str) -> tuple[str, ...]:
    """The candidates for quantization in the full-precision tiny model: its Linear modules, and its 3-D expert
    weights by parameter name (gpt-oss' ``model.layers.0.mlp.experts.gate_up_proj``: MoE quantizers convert
    those, not Linears; ``state_of`` reads both)."""
    model = tiny_model(arch)
    linears = [name for name, module in model.named_modules() if type(module) is nn.Linear]
    return (*linears, *expert_weights(model))


def output_embedding_name(arch: str) -> str:
    model = tiny_model(arch)
    head = model.get_output_embeddings()
    return next(name for name, module in model.named_modules() if module is head)


def _plain_weight(module: nn.Module) -> bool:
    weight = getattr(module, "weight", None)
    return isinstance(weight, torch.Tensor) and type(weight) in (torch.Tensor, nn.Parameter) and weight.dtype in FLOATS


def _own_class(module: nn.Module) -> bool:
    """Whether the module is the architecture's own (defined in its ``transformers.models`` modeling file), not a
    quantizer's replacement (``transformers.integrations``, a backend's package)."""
    return type(module).__module__.startswith("transformers.models.")


def _expert_state(model: nn.Module, name: str) -> str:
    """The state of the expert weight ``name`` (``<experts module>.<parameter>``): FULL in the architecture's own
    experts module as a plain floating tensor, HALF as one in a replacement module, QUANTIZED otherwise (packed
    codes, a kernel's tensor object), MISSING where the module or attribute is gone."""
    parent, _, attr = name.rpartition(".")
    try:
        module = model.get_submodule(parent)
    except AttributeError:
        return MISSING
    tensor = getattr(module, attr, None)
    if tensor is None:
        return MISSING
    plain = type(tensor) in (torch.Tensor, nn.Parameter) and tensor.dtype in FLOATS
    if plain:
        return FULL if _own_class(module) else HALF
    return QUANTIZED


def state_of(model: nn.Module, name: str) -> str:
    """FULL: a plain nn.Linear with a floating weight; QUANTIZED: replaced or holding a quantized weight;
    HALF: a replacement module that still holds a plain floating weight (a conversion left half done).
    ``name`` may also be an expert weight (see ``linear_names``), judged the same way (``_expert_state``)."""
    try:
        module = model.get_submodule(name)
    except AttributeError:
        return _expert_state(model, name)
    plain = _plain_weight(module)
    if type(module) is nn.Linear and plain:
        return FULL
    return HALF if plain else QUANTIZED


def states(model: nn.Module, arch: str) -> dict[str, str]:
    return {name: state_of(model, name) for name in linear_names(arch)}


def skipped_by(name: str, patterns: Sequence[str]) -> bool:
    """Whether a skip list names this module, with transformers' matching rules (prefix at a module
    boundary, regex at a boundary, or suffix)."""
    from transformers.quantizers.quantizers_utils import should_convert_module

    return not should_convert_module(name, list(patterns))


def trainable_parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    """Parameters a training step updates: those requiring grad, in a trainable float dtype (not FP8 codes)."""
    return {n: p for n, p in model.named_parameters() if p.requires_grad and p.dtype in FLOATS}
