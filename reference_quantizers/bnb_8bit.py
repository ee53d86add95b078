"""Twin of bitsandbytes 8-bit (``bitsandbytes_8bit``): LLM.int8() weights and mixed-precision matmul.

Checkpoints are bitsandbytes' own (``Linear8bitLt._save_to_state_dict``): ``weight`` (int8, the
weight's shape), ``SCB`` (float32 absmax per output row) and ``weight_format`` (a uint8 scalar, 0 for
row-major, the only layout bitsandbytes still reads). They are attribute names, so checkpoints load
by name both ways with transformers' ``Bnb8BitHfQuantizer``.

The forward is LLM.int8() with ``llm_int8_threshold``, as bitsandbytes runs it for inference; the
numerics are in ``reference_quantizers.formats.llm_int8``.
"""

from __future__ import annotations

from typing import Any

import torch

from reference_quantizers.base import (
    Layout,
    ReferenceConfig,
    ReferenceLinear,
    ReferenceQuantizer,
    register_twin,
)
from reference_quantizers.formats import llm_int8


class RefBnb8bitConfig(ReferenceConfig):
    KEY = "ref-bitsandbytes_8bit"

    def __init__(
        self,
        llm_int8_threshold: float = 6.0,
        llm_int8_has_fp16_weight: bool = False,
        modules_to_not_convert: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.llm_int8_threshold = llm_int8_threshold
        self.llm_int8_has_fp16_weight = llm_int8_has_fp16_weight
        super().__init__(modules_to_not_convert=modules_to_not_convert, **kwargs)

    def post_init(self) -> None:
        threshold = self.llm_int8_threshold
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not threshold >= 0:
            raise ValueError(f"llm_int8_threshold must be a number >= 0, got {threshold!r}")
        if self.llm_int8_has_fp16_weight is not False:
            raise ValueError(
                "llm_int8_has_fp16_weight must be False: the twin stores int8 weights "
                f"(bitsandbytes keeps float16 weights and re-quantizes each forward when True), "
                f"got {self.llm_int8_has_fp16_weight!r}"
            )

    @classmethod
    def from_real(cls, config: Any) -> RefBnb8bitConfig:
        """From a ``BitsAndBytesConfig(load_in_8bit=True, ...)``."""
        return cls(
            llm_int8_threshold=config.llm_int8_threshold,
            llm_int8_has_fp16_weight=config.llm_int8_has_fp16_weight,
            modules_to_not_convert=config.llm_int8_skip_modules,
        )

    def to_real(self) -> Any:
        from transformers import BitsAndBytesConfig

        return BitsAndBytesConfig(
            load_in_8bit=True,
            llm_int8_threshold=float(self.llm_int8_threshold),
            llm_int8_skip_modules=self.modules_to_not_convert,
        )


class RefBnb8bitLinear(ReferenceLinear):
    element_size = 1.0  # plus 4 bytes of SCB per row

    @classmethod
    def layout(cls, config: RefBnb8bitConfig, out_features: int, in_features: int) -> Layout:
        return {
            "weight": ((out_features, in_features), torch.int8),
            "SCB": ((out_features,), torch.float32),
            "weight_format": ((), torch.uint8),
        }

    @classmethod
    def unsupported(cls, shape: tuple[int, int], dtype: torch.dtype, config: RefBnb8bitConfig) -> str | None:
        if not dtype.is_floating_point:
            return f"LLM.int8() quantizes floating-point weights, not {dtype}"
        return None

    @classmethod
    def quantize(cls, weight: torch.Tensor, config: RefBnb8bitConfig) -> dict[str, torch.Tensor]:
        quantized, absmax = llm_int8.quantize_rowwise(weight)
        return {
            "weight": quantized,
            "SCB": absmax,
            "weight_format": torch.zeros((), dtype=torch.uint8, device=weight.device),  # 0: row-major
        }

    def dequantize(self) -> torch.Tensor:
        return llm_int8.dequantize_rowwise(self.weight, self.SCB)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        bias = None if self.bias is None else self.bias.to(x.dtype)
        out = llm_int8.mixed_matmul(flat, self.weight, self.SCB, float(self.config.llm_int8_threshold), bias)
        return out.reshape(*x.shape[:-1], self.out_features)


class RefBnb8bitQuantizer(ReferenceQuantizer):
    linear_class = RefBnb8bitLinear


register_twin(RefBnb8bitConfig, RefBnb8bitQuantizer)
