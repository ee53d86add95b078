"""Gemma-format checkpoints of the tiny models (``quant_method: gemma``), written from the format's definition.

No package writes this format offline (Google's own exporter is not published), so the writer follows what
transformers' ``integrations/gemma_quant.py`` reads: a ``QuantizedLinear`` per converted Linear holding signed
integer codes (int8 as is; int4 two per byte, low nibble first, stored as code + 8; int2 four per byte, stored as
code + 2) and a float32 per-output-channel ``weight_scale``, so that ``weight = code * weight_scale``. Which
Linears are converted and with how many bits is decided by transformers' own ``replace_with_quant_layers`` and
the quantizer's ``get_modules_to_not_convert`` on the same config, never re-derived here. Activation scales are
left at 0 (uncalibrated: ``apply_srq`` is then a no-op), as a weight-only checkpoint has them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from qconform.support.quiet import quiet
from reference_quantizers.writers.cache import cached_checkpoint, package_versions, set_quantization_config


def gemma_config(config: Any = None) -> Any:
    """A ``GemmaQuantizationConfig`` for ``config`` (None: its defaults; a dict: its fields)."""
    from transformers.utils.quantization_config import GemmaQuantizationConfig

    if config is None:
        return GemmaQuantizationConfig()
    if isinstance(config, dict):
        fields = {k: v for k, v in config.items() if k != "quant_method"}
        return GemmaQuantizationConfig(**fields)
    return config


def quantize_rows(weight: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-output-channel codes in [-2^(bits-1), 2^(bits-1) - 1] and float32 scales of shape (out, 1)."""
    top = 2 ** (bits - 1) - 1
    w = weight.detach().float()
    absmax = w.abs().amax(dim=1, keepdim=True)
    scale = torch.where(absmax > 0, absmax / max(top, 1), torch.ones_like(absmax))
    codes = torch.clamp(torch.round(w / scale), -(top + 1), top).to(torch.int8)
    return codes, scale


def pack(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """The storage ``QuantizedLinear`` unpacks: int8 as is, int4/int2 offset to unsigned and packed low bits first."""
    if bits == 8:
        return codes
    per_byte = 8 // bits
    width = codes.shape[-1]
    padded = (width + per_byte - 1) // per_byte * per_byte
    unsigned = (codes.to(torch.int16) + 2 ** (bits - 1)).to(torch.uint8)
    unsigned = nn.functional.pad(unsigned, (0, padded - width)).reshape(*codes.shape[:-1], -1, per_byte)
    packed = torch.zeros(unsigned.shape[:-1], dtype=torch.uint8)
    for i in range(per_byte):
        packed |= unsigned[..., i] << (bits * i)
    return packed


def quantize_model(model: nn.Module, config: Any) -> nn.Module:
    """``model`` with transformers' Gemma layers in place of the Linears its quantizer converts, filled with codes
    and scales of the original weights."""
    from transformers.integrations.gemma_quant import QuantizedEmbedding, QuantizedLinear, replace_with_quant_layers
    from transformers.quantizers.quantizer_gemma import GemmaQuantizer

    originals = dict(model.named_modules())
    quantizer = GemmaQuantizer(config)
    skip = quantizer.get_modules_to_not_convert(model, config.modules_to_not_convert, model._keep_in_fp32_modules)
    replace_with_quant_layers(model, quantization_config=config, modules_to_not_convert=skip)
    for name, module in model.named_modules():
        if isinstance(module, QuantizedLinear):
            original = originals[name]
            codes, scale = quantize_rows(original.weight, module.num_bits)
            module.weight = nn.Parameter(pack(codes, module.num_bits), requires_grad=False)
            module.weight_scale.data.copy_(scale)
            if original.bias is not None:
                module.bias = nn.Parameter(original.bias.detach().clone(), requires_grad=False)
        elif isinstance(module, QuantizedEmbedding):
            codes, scale = quantize_rows(originals[name].weight, module.num_bits)
            module.embedding_quantized = nn.Parameter(pack(codes, module.num_bits), requires_grad=False)
            module.embedding_scale.data.copy_(scale)
    return model


def prequantized_checkpoint(
    method_key: str = "gemma",
    arch: str = "llama",
    config: Any = None,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> Path:
    """The cached Gemma-format checkpoint of the tiny ``arch`` under ``config`` (see module doc)."""
    if method_key != "gemma":
        raise ValueError(f"the Gemma writer writes 'gemma' checkpoints, not {method_key!r}")
    fields = gemma_config(config).to_dict()

    def build(staging: Path) -> None:
        from qconform.inputs.tiny_models import tiny_model

        with quiet():
            model = quantize_model(tiny_model(arch, seed, dtype), gemma_config(fields))
            model.save_pretrained(staging)
        set_quantization_config(staging, fields)

    depends_on = {
        "method": method_key,
        "arch": arch,
        "seed": seed,
        "dtype": str(dtype),
        "config": fields,
        "versions": package_versions(),
    }
    return cached_checkpoint(f"{method_key}-{arch}", depends_on, build)
