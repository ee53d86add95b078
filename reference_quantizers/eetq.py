"""Twin of eetq (``EetqConfig``): int8 weights, one symmetric scale per output channel, weight-only.

The checkpoint is transformers' ``EetqLinear`` (``integrations/eetq.py``): ``weight`` int8 of shape
``(in, out)`` and ``weight_scales`` float16 of shape ``(out,)``. The int8 bytes are in the order
EETQ's ``quant_weights`` leaves them for its CUTLASS kernel on sm75 to sm89 (see
``numerics.int8_channel``), so a twin-written checkpoint holds the same bytes as one EETQ writes on
such a GPU. The real backend cannot run here (transformers fetches it with ``kernels`` from the Hub
at run time, and it needs CUDA), so the twin is checked against the documented format instead.
"""

from __future__ import annotations

from typing import Any

import torch

from reference_quantizers.base import Layout, ReferenceConfig, ReferenceLinear, ReferenceQuantizer, register_twin
from reference_quantizers.formats import int8_channel


class RefEetqConfig(ReferenceConfig):
    KEY = "ref-eetq"

    def __init__(self, weights: str = "int8", modules_to_not_convert: list[str] | None = None, **kwargs: Any) -> None:
        self.weights = weights
        super().__init__(modules_to_not_convert=modules_to_not_convert, **kwargs)

    def post_init(self) -> None:
        if self.weights != "int8":
            raise ValueError(f"weights must be 'int8', got {self.weights!r}")


class RefEetqLinear(ReferenceLinear):
    element_size = 1.0

    @classmethod
    def layout(cls, config: RefEetqConfig, out_features: int, in_features: int) -> Layout:
        return {"weight": ((in_features, out_features), torch.int8), "weight_scales": ((out_features,), torch.float16)}

    @classmethod
    def quantize(cls, weight: torch.Tensor, config: RefEetqConfig) -> dict[str, torch.Tensor]:
        codes, scale = int8_channel.quantize(weight)
        return {"weight": int8_channel.to_cutlass_layout(codes), "weight_scales": scale.to(torch.float16)}

    def dequantize(self) -> torch.Tensor:
        return int8_channel.dequantize(int8_channel.from_cutlass_layout(self.weight), self.weight_scales)

    @classmethod
    def unsupported(cls, shape: tuple[int, int], dtype: torch.dtype, config: RefEetqConfig) -> str | None:
        return int8_channel.unsupported_shape(shape)


class RefEetqQuantizer(ReferenceQuantizer):
    linear_class = RefEetqLinear


register_twin(RefEetqConfig, RefEetqQuantizer)
