"""Twin of FineGrainedFP8 (``fp8``): E4M3 weights in ``weight_block_size`` tiles with ``weight_scale_inv``.

The checkpoint names, shapes and dtypes are FineGrainedFP8's, so a twin-written checkpoint loads
through transformers' own ``FineGrainedFP8HfQuantizer`` and the other way round. The forward is the
one ``FP8Linear`` runs on CUDA (``activation_scheme="dynamic"``): activations quantized to FP8 per
token and ``weight_block_size[1]`` channels, then the block-scaled matmul. (On CPU transformers
dequantizes FP8 checkpoints instead and runs a plain matmul.)
"""

from __future__ import annotations

from typing import Any

import torch

from reference_quantizers.base import Layout, ReferenceConfig, ReferenceLinear, ReferenceQuantizer, register_twin
from reference_quantizers.formats import fp8

# weight_scale_inv: float32, or a power of two stored as its exponent byte (DeepSeek-V4-style UE8M0)
SCALE_DTYPES = {"float": torch.float32, "ue8m0": torch.float8_e8m0fnu}


class RefFp8Config(ReferenceConfig):
    KEY = "ref-fp8"

    def __init__(
        self,
        weight_block_size: tuple[int, int] | list[int] = (128, 128),
        activation_scheme: str = "dynamic",
        scale_fmt: str = "float",
        modules_to_not_convert: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.weight_block_size = list(weight_block_size)
        self.activation_scheme = activation_scheme
        self.scale_fmt = scale_fmt
        super().__init__(modules_to_not_convert=modules_to_not_convert, **kwargs)

    def post_init(self) -> None:
        block = self.weight_block_size
        if len(block) != 2 or not all(isinstance(b, int) and b > 0 for b in block):
            raise ValueError(f"weight_block_size must be two positive integers, got {block!r}")
        if self.activation_scheme != "dynamic":
            raise ValueError(f"activation_scheme must be 'dynamic', got {self.activation_scheme!r}")
        if not isinstance(self.scale_fmt, str) or self.scale_fmt not in SCALE_DTYPES:
            raise ValueError(f"scale_fmt must be one of {sorted(SCALE_DTYPES)}, got {self.scale_fmt!r}")


class RefFp8Linear(ReferenceLinear):
    element_size = 1.0

    @classmethod
    def layout(cls, config: RefFp8Config, out_features: int, in_features: int) -> Layout:
        tiles = fp8.tile_grid((out_features, in_features), tuple(config.weight_block_size))
        scale_dtype = SCALE_DTYPES[config.scale_fmt]
        return {"weight": ((out_features, in_features), fp8.FP8), "weight_scale_inv": (tiles, scale_dtype)}

    @classmethod
    def quantize(cls, weight: torch.Tensor, config: RefFp8Config) -> dict[str, torch.Tensor]:
        block, ue8m0 = tuple(config.weight_block_size), config.scale_fmt == "ue8m0"
        quantized, scale_inv = fp8.quantize_blockwise(weight, block, power_of_two=ue8m0)
        return {"weight": quantized, "weight_scale_inv": scale_inv.to(SCALE_DTYPES[config.scale_fmt])}

    def dequantize(self) -> torch.Tensor:
        return fp8.dequantize_blockwise(self.weight, self.weight_scale_inv, tuple(self.config.weight_block_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        block = tuple(self.config.weight_block_size)
        return fp8.block_fp8_linear(x, self.weight, self.weight_scale_inv, block, self.bias)


class RefFp8Quantizer(ReferenceQuantizer):
    linear_class = RefFp8Linear


register_twin(RefFp8Config, RefFp8Quantizer)
