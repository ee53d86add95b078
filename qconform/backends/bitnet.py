"""BitNet through transformers' own functions (``integrations/bitnet.py``): its backend is transformers itself.

transformers loads BitNet checkpoints but never writes one; its only ternarization is ``WeightQuant``
(the online ``AutoBitLinear`` path), which returns the fake-quantized weight ``W_q / s`` and keeps the
scale ``s = 1 / absmean`` to itself. The codec takes the ternary values from ``WeightQuant``, restates
its one-line scale to store as ``weight_scale`` (``BitLinear`` divides by it; offline ``AutoBitLinear``
multiplies by it, so there it is the absmean), and packs with ``pack_weights``; it reads back with
``unpack_weights``. Those functions are ``torch.compile``-decorated; the codec runs them eagerly
(compiling on a CPU takes tens of seconds per shape, and the integer packing is the same either way).
"""

from __future__ import annotations

from typing import Any

import torch


def _multiplies(config: Any) -> bool:
    """AutoBitLinear (offline) multiplies its output by weight_scale (the absmean); BitLinear divides by it."""
    return getattr(config, "linear_class", "bitlinear") == "autobitlinear"


class BitNetCodec:
    def quantize(self, weight: torch.Tensor, config: Any) -> dict[str, torch.Tensor]:
        from transformers.integrations.bitnet import WeightQuant, pack_weights

        with torch._dynamo.config.patch(disable=True), torch.no_grad():
            ternary = torch.sign(WeightQuant.apply(weight)).to(torch.int8)
            packed = pack_weights(ternary.clone())
        absmean = weight.float().abs().mean().clamp_(min=1e-5)  # WeightQuant.forward's scale is 1 / absmean
        scale = absmean if _multiplies(config) else 1.0 / absmean
        return {"weight": packed, "weight_scale": scale.reshape(1).to(weight.dtype)}

    def dequantize(
        self, stored: dict[str, torch.Tensor], config: Any, shape: tuple[int, int], dtype: torch.dtype
    ) -> torch.Tensor:
        from transformers.integrations.bitnet import unpack_weights

        with torch._dynamo.config.patch(disable=True):
            ternary = unpack_weights(stored["weight"], dtype=torch.float32)
        scale = stored["weight_scale"].to(torch.float32)
        return (ternary * scale if _multiplies(config) else ternary / scale).to(dtype)

    def unsupported(self, shape: tuple[int, int], dtype: torch.dtype, config: Any, device: str) -> str | None:
        if getattr(config, "linear_class", None) == "autobitlinear" and config.quantization_mode == "online":
            return "online AutoBitLinear stores full-precision weights and ternarizes them in its forward"
        if shape[0] % 4:
            return f"BitLinear holds out_features // 4 packed rows: {shape[0]} rows is not a multiple of 4"
        if dtype == torch.float16 and not _multiplies(config):
            return "weight_scale (1 / absmean) is kept in the model's dtype: float16 overflows it for absmean < 1.5e-5"
        return None
