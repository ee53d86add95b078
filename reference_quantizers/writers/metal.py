"""Metal (MLX affine) checkpoints of the tiny models, written with transformers' own Metal quantizer function.

No package outside transformers writes this format offline (mlx runs on Apple silicon only), and transformers
carries the format's quantizer itself: ``integrations/metal_quantization._affine_quantize_tensor`` (per group of
``group_size`` inputs: ``scales = (max - min) / (2^bits - 1)``, ``qbiases = min``, codes packed into uint32, first
code in the low bits). The writer stores, for each Linear the quantizer converts (its own
``get_modules_to_not_convert`` on the same config), ``weight`` (packed uint32), ``scales`` and ``qbiases``, the
names ``MetalLinear`` holds. On a machine without MPS transformers loads such a checkpoint dequantized
(``MetalDequantize``), which is the path this checkpoint exercises on the CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from reference_quantizers.writers.cache import config_object, package_versions, state_dict_checkpoint


def metal_config(config: Any = None) -> Any:
    """A ``MetalConfig`` for ``config`` (None: its defaults; a dict: its fields)."""
    return config_object("MetalConfig", config)


def quantized_state_dict(model: nn.Module, config: Any) -> dict[str, torch.Tensor]:
    """``model``'s state dict with each converted Linear's weight replaced by Metal's (weight, scales, qbiases)."""
    from transformers.integrations.metal_quantization import _affine_quantize_tensor
    from transformers.quantizers.quantizer_metal import MetalHfQuantizer
    from transformers.quantizers.quantizers_utils import should_convert_module

    quantizer = MetalHfQuantizer(config)
    skip = quantizer.get_modules_to_not_convert(model, config.modules_to_not_convert, model._keep_in_fp32_modules)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    for name, module in model.named_modules():
        if type(module) is not nn.Linear or not should_convert_module(name, skip):
            continue
        packed, scales, qbiases = _affine_quantize_tensor(module.weight.detach(), config.group_size, config.bits)
        state[f"{name}.weight"] = packed
        state[f"{name}.scales"] = scales.to(module.weight.dtype)
        state[f"{name}.qbiases"] = qbiases.to(module.weight.dtype)
    return state


def prequantized_checkpoint(
    method_key: str = "metal",
    arch: str = "llama",
    config: Any = None,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> Path:
    """The cached Metal checkpoint of the tiny ``arch`` under ``config``'s bits and group size."""
    if method_key != "metal":
        raise ValueError(f"the Metal writer writes 'metal' checkpoints, not {method_key!r}")
    loaded = metal_config(config)
    fields = {**loaded.to_dict(), "dequantize": False}  # a loading attribute, not part of the checkpoint

    return state_dict_checkpoint(
        method_key,
        arch,
        fields,
        lambda model: (quantized_state_dict(model, loaded), {}),
        seed=seed,
        dtype=dtype,
        depends_on={"versions": package_versions()},
    )
