"""example-int8's format one weight at a time: a ``qconform.WeightCodec`` (a protocol: no qconform import needed).

qconform's numerics checks drive it with drawn weights (outliers, zero rows, tiny and huge magnitudes) and
compare what it dequantizes with the full-precision weight and with what a loaded model holds."""

from __future__ import annotations

from typing import Any

import torch

from example_int8 import quantize


class Int8Codec:
    def quantize(self, weight: torch.Tensor, config: Any) -> dict[str, torch.Tensor]:
        """What a checkpoint stores for one Linear's weight, named as in its state dict."""
        codes, scale = quantize(weight)
        return {"weight": codes, "weight_scale": scale}

    def dequantize(
        self, stored: dict[str, torch.Tensor], config: Any, shape: tuple[int, int], dtype: torch.dtype
    ) -> torch.Tensor:
        """What ``Int8Linear.forward`` computes with."""
        return (stored["weight"].to(torch.float32) * stored["weight_scale"]).to(dtype).reshape(shape)

    def unsupported(self, shape: tuple[int, int], dtype: torch.dtype, config: Any, device: str) -> str | None:
        return None  # per-channel scales take any shape, dtype and device
