"""What the contract checks share: a quantizer got the way ``from_pretrained`` gets it, a tiny model
prepared on the meta device, and whether a device named in a device map exists on this machine.

A missing backend or accelerator turns into a skip with its reason (the record says which checks
could not run); anything else a quantizer raises is left to fail the check.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from qconform.discovery.targets import Target
from qconform.inputs.configs import build
from qconform.specs.model import QuantizerSpec
from qconform.support import outcomes, trial
from qconform.support.outcomes import NOT_INSTALLED


def paths_for(spec: QuantizerSpec) -> list[str]:
    """The ways a config reaches ``get_hf_quantizer`` for this method: as an argument, from a checkpoint."""
    paths = []
    if spec.promises.capabilities.quantizes_on_the_fly and not spec.promises.requires_calibration:
        paths.append("argument")
    if spec.promises.capabilities.loads_prequantized:
        paths.append("checkpoint")
    return paths


def require_path(spec: QuantizerSpec, path: str) -> None:
    if path not in paths_for(spec):
        what = "quantize on the fly" if path == "argument" else "load pre-quantized checkpoints"
        pytest.skip(f"{spec.method} does not {what} (spec)")


def unavailable_reason(spec: QuantizerSpec, exc: BaseException) -> str | None:
    """Why ``exc`` is this machine's lack (a missing backend, no accelerator) rather than a defect."""
    missing = spec.missing_requirements()
    if missing and (isinstance(exc, ImportError) or _names_missing(str(exc), spec)):
        return outcomes.reason(NOT_INSTALLED, "; ".join(missing))
    if spec.promises.capabilities.needs_accelerator and not accelerator_here(spec):
        return f"{spec.method} needs an accelerator ({', '.join(spec.inputs.devices)}) and this machine has none: {exc}"
    if trial.classify(exc, spec).startswith(trial.NEEDS_NETWORK):
        # qconform runs offline: a quantizer that fetches code from the hub (a kernel repository) cannot run here
        return trial.classify(exc, spec)
    if trial.needs_trial(spec) and _raised_in_validation(exc):
        # as trial.validate does for loads: where the spec leaves on-the-fly quantization to be found out, a
        # validate_environment refusal for a package or the network (MXFP4 on the fly: triton and a hub kernel,
        # while its checkpoints load through the dequantize fallback with torch alone) is this machine's lack
        reason = trial.classify(exc, spec)
        if not reason.startswith(trial.NOT_SUPPORTED):
            return reason
    return None


def _raised_in_validation(exc: BaseException) -> bool:
    """Whether ``exc`` was raised inside a quantizer's ``validate_environment``."""
    frame = exc.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_name == "validate_environment":
            return True
        frame = frame.tb_next
    return False


def _names_missing(message: str, spec: QuantizerSpec) -> bool:
    text = message.lower()
    return any(
        r.missing_reason() is not None
        and (r.import_name.split(".")[0].lower() in text or r.distribution.lower() in text)
        for r in spec.requirements
    )


def accelerator_here(spec: QuantizerSpec) -> bool:
    import torch

    if "mps" in spec.inputs.devices and torch.backends.mps.is_available():
        return True
    return "cuda" in spec.inputs.devices and torch.cuda.is_available()


def skip_if_unavailable(spec: QuantizerSpec, exc: BaseException) -> None:
    reason = unavailable_reason(spec, exc)
    if reason:
        pytest.skip(reason)


def quantizer(target: Target, config: Any, pre_quantized: bool) -> Any:
    """``AutoHfQuantizer.from_config`` as ``get_hf_quantizer`` calls it, or a skip where the backend is missing."""
    from transformers.quantizers.auto import AutoHfQuantizer

    try:
        return AutoHfQuantizer.from_config(config, pre_quantized=pre_quantized)
    except Exception as exc:
        skip_if_unavailable(target.spec, exc)
        raise


def default_config(target: Target) -> Any:
    return build(target.spec.inputs.default_config, target.spec)


def validated_quantizer(target: Target, path: str, device_map: Any = None) -> tuple[Any, Any, Any]:
    """``get_hf_quantizer`` on the tiny llama config: (quantizer, model config, device map) for ``path``."""
    from transformers.quantizers.auto import get_hf_quantizer

    from qconform.inputs.tiny_models import tiny_config

    require_path(target.spec, path)
    config = default_config(target)
    model_config = tiny_config()
    argument = None
    if path == "argument":
        argument = config
    else:
        model_config.quantization_config = config.to_dict()
    try:
        return get_hf_quantizer(model_config, argument, copy.deepcopy(device_map), True, {})
    except Exception as exc:
        skip_if_unavailable(target.spec, exc)
        raise


def meta_model(arch: str = "llama", dtype: Any = None) -> Any:
    """The tiny model built on the meta device, as ``from_pretrained`` builds it before loading weights."""
    import torch
    from transformers import AutoModelForCausalLM

    from qconform.inputs.tiny_models import tiny_config

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(tiny_config(arch), dtype=dtype or torch.float32)


def prepared_model(
    target: Target, config: Any, pre_quantized: bool, device_map: Any = None, dtype: Any = None, arch: str = "llama"
):
    """(quantizer, meta model after ``preprocess_model``): the state ``from_pretrained`` sizes and places."""
    import torch

    hf_quantizer = quantizer(target, config, pre_quantized)
    try:
        hf_quantizer.validate_environment(device_map=device_map, weights_only=True)
        dtype = hf_quantizer.update_dtype(dtype or torch.float32)
        model = meta_model(arch, dtype=dtype)
        hf_quantizer.preprocess_model(model=model, dtype=dtype, device_map=device_map, checkpoint_files=None)
    except Exception as exc:
        skip_if_unavailable(target.spec, exc)
        raise
    return hf_quantizer, model


def device_exists(value: Any) -> bool:
    """Whether a device-map value names a place on this machine (``"disk"`` always does)."""
    import torch

    if isinstance(value, str) and value == "disk":
        return True
    try:
        device = torch.device(value) if not isinstance(value, int) else torch.device("cuda", value)
    except (RuntimeError, TypeError):
        return False
    if device.type in ("cpu", "meta"):
        return device.type == "cpu"
    module = getattr(torch, device.type, None)
    if device.type == "mps":
        return torch.backends.mps.is_available()
    if module is None or not hasattr(module, "is_available") or not module.is_available():
        return False
    index = device.index or 0
    return index < module.device_count()


def tensor_bytes(tensor: Any) -> int:
    """Bytes a tensor holds, looking inside wrapper subclasses (torchao, quanto) at their inner tensors."""
    from qconform.support.metrics import plain_tensors

    return sum(t.numel() * t.element_size() for t in plain_tensors({"": tensor}).values())


def footprint_bytes(model: Any) -> int:
    """Measured bytes of a loaded model: its state dict (with quantization state) and every buffer, once each."""
    seen: set[tuple[int, int]] = set()
    total = 0
    tensors = list(model.state_dict(keep_vars=True).values()) + [b for _, b in model.named_buffers()]
    import torch

    for tensor in tensors:
        if not isinstance(tensor, torch.Tensor):
            continue
        wrapped = hasattr(type(tensor), "__tensor_flatten__")
        key = (id(tensor), 0) if wrapped else (tensor.data_ptr(), tensor.numel())
        if key in seen:
            continue
        seen.add(key)
        total += tensor_bytes(tensor)
    return total
