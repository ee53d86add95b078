"""Twin of AWQ (``awq``): activation-aware scaled, grouped asymmetric int4 in AutoAWQ's GEMM layout.

Checkpoint tensors per quantized Linear (as AutoAWQ and gptqmodel store them): ``qweight`` int32
(in, out / 8), ``qzeros`` int32 (in / group, out / 8), ``scales`` fp16 (in / group, out), eight 4-bit
codes per word in the order ``[0, 2, 4, 6, 1, 3, 5, 7]``. The AWQ scales themselves are not stored:
they are folded into the norms and Linears before each quantized group.

Like transformers' ``AwqQuantizer``, the twin only loads pre-quantized checkpoints
(``requires_calibration``); ``reference_quantizers.calibration.writers.write_awq_checkpoint`` makes them.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from reference_quantizers.base import (
    Layout,
    ReferenceConfig,
    ReferenceLinear,
    ReferenceQuantizer,
    register_twin,
    replace_linears,
)
from reference_quantizers.formats import awq as awq_numerics


class RefAwqConfig(ReferenceConfig):
    KEY = "ref-awq"
    REAL_FIELDS: ClassVar[tuple[str, ...]] = ("bits", "group_size", "zero_point", "modules_to_not_convert")

    def __init__(
        self,
        bits: int = 4,
        group_size: int = 128,
        zero_point: bool = True,
        version: str = "gemm",
        n_grid: int = 20,
        duo_scaling: bool = False,
        dataset: list[list[int]] | None = None,
        modules_to_not_convert: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.bits = bits
        self.group_size = group_size
        self.zero_point = zero_point
        self.version = str(kwargs.pop("format", None) or version).lower()
        self.n_grid = n_grid
        self.duo_scaling = duo_scaling
        self.dataset = dataset
        super().__init__(modules_to_not_convert=modules_to_not_convert, **kwargs)

    @classmethod
    def from_real(cls, config: Any) -> RefAwqConfig:
        fields = config.to_dict()
        return cls(**{name: fields[name] for name in (*cls.REAL_FIELDS, "version") if name in fields})

    def to_real_dict(self) -> dict[str, Any]:
        """The ``quantization_config`` of a real ``awq`` checkpoint holding these tensors."""
        from transformers import AwqConfig

        return AwqConfig(**{name: getattr(self, name) for name in self.REAL_FIELDS}, version=self.version).to_dict()

    def post_init(self) -> None:
        if self.bits != 4:
            raise ValueError(f"bits must be 4 (the GEMM layout packs eight 4-bit codes per word), got {self.bits!r}")
        if not isinstance(self.group_size, int) or (self.group_size != -1 and self.group_size <= 0):
            raise ValueError(f"group_size must be -1 or a positive integer, got {self.group_size!r}")
        if self.zero_point is not True:
            raise ValueError(f"zero_point must be True (the GEMM layout stores zero points), got {self.zero_point!r}")
        if self.version != "gemm":
            raise ValueError(f"version must be 'gemm', got {self.version!r}")
        if not isinstance(self.n_grid, int) or self.n_grid < 1:
            raise ValueError(f"n_grid must be a positive integer, got {self.n_grid!r}")

    def groups(self, in_features: int) -> int:
        return in_features // awq_numerics.group_width(self.group_size, in_features)

    def calibration_batches(self, vocab_size: int) -> list[torch.Tensor]:
        from reference_quantizers.calibration.data import Calibration

        if self.dataset is None:
            return Calibration().batches(vocab_size)
        return [torch.tensor([row], dtype=torch.long) for row in self.dataset]


class RefAwqLinear(ReferenceLinear):
    element_size = 0.5 + 2.5 / 128  # int4 codes, fp16 scales and packed zeros per group of 128

    @classmethod
    def layout(cls, config: RefAwqConfig, out_features: int, in_features: int) -> Layout:
        groups = config.groups(in_features)
        return {
            "qweight": ((in_features, out_features // 8), torch.int32),
            "qzeros": ((groups, out_features // 8), torch.int32),
            "scales": ((groups, out_features), torch.float16),
        }

    @classmethod
    def quantize(cls, weight: torch.Tensor, config: RefAwqConfig) -> dict[str, torch.Tensor]:
        """Round-to-nearest with AWQ's zero points: what AWQ stores once its scales are folded (here, none)."""
        return awq_numerics.quantize_gemm(weight, config.group_size, config.bits)

    def dequantize(self) -> torch.Tensor:
        return awq_numerics.dequantize_gemm(self.stored(), self.config.group_size)

    @classmethod
    def unsupported(cls, shape: tuple[int, int], dtype: torch.dtype, config: RefAwqConfig) -> str | None:
        out_features, in_features = shape
        if out_features % 8:
            return f"the GEMM layout packs 8 output columns per word: out_features must be a multiple of 8, got {shape}"
        width = awq_numerics.group_width(config.group_size, in_features)
        if in_features % width:
            return f"in_features must be a multiple of group_size {width}, got {shape}"
        return None


class RefAwqQuantizer(ReferenceQuantizer):
    linear_class = RefAwqLinear
    requires_calibration = True  # as transformers' AwqQuantizer: loads pre-quantized checkpoints only

    @property
    def quantized_element_size(self) -> float:
        group = 128 if self.quantization_config.group_size == -1 else self.quantization_config.group_size
        return 0.5 + 2.5 / group

    def _process_model_before_weight_loading(self, model: Any, **kwargs: Any) -> Any:
        # AwqQuantizer always adds the default skips (the output embedding), even to a given list
        self.modules_to_not_convert = self.get_modules_to_not_convert(
            model, self.quantization_config.modules_to_not_convert, model._keep_in_fp32_modules, add_default_skips=True
        )
        replace_linears(model, self, self.modules_to_not_convert)
        return model


register_twin(RefAwqConfig, RefAwqQuantizer)
