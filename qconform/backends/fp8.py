"""FineGrainedFP8 through transformers' own functions (its backend is transformers itself)."""

from __future__ import annotations

from typing import Any

import torch


class FineGrainedFp8Codec:
    def _quantize_op(self, config: Any) -> Any:
        from transformers.integrations.finegrained_fp8 import Fp8Quantize

        class _Quantizer:  # Fp8Quantize reads only these two attributes of its quantizer
            quantization_config = config

        return Fp8Quantize(_Quantizer())

    def _dequantize_op(self, config: Any) -> Any:
        from transformers.integrations.finegrained_fp8 import Fp8Dequantize

        class _Quantizer:
            quantization_config = config

        return Fp8Dequantize(_Quantizer())

    def quantize(self, weight: torch.Tensor, config: Any) -> dict[str, torch.Tensor]:
        stored = self._quantize_op(config)._quantize_one("weight", weight)
        return {k.removeprefix("."): v for k, v in stored.items()}

    def dequantize(
        self, stored: dict[str, torch.Tensor], config: Any, shape: tuple[int, int], dtype: torch.dtype
    ) -> torch.Tensor:
        try:
            from transformers.integrations.finegrained_fp8 import _dequantize_fp8_weight
        except ImportError:  # transformers < 5.23: the loader's own dequantization op
            dequantize_one = self._dequantize_op(config)._dequantize_one
            return dequantize_one(stored["weight"], stored["weight_scale_inv"], torch.float32).to(dtype)

        block = list(config.weight_block_size) if config.weight_block_size else None
        return _dequantize_fp8_weight(stored["weight"], stored["weight_scale_inv"], block, torch.float32).to(dtype)

    def unsupported(self, shape: tuple[int, int], dtype: torch.dtype, config: Any, device: str) -> str | None:
        block = config.weight_block_size
        if block and (shape[0] % block[0] or shape[1] % block[1]):
            return (
                f"transformers' Fp8Quantize leaves weights whose shape {shape} is not a multiple of {block} unquantized"
            )
        return None
