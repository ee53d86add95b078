"""A per-row FP8 quantizer whose scale divides by the row's peak: an all-zero row becomes NaN (0 x inf).

The bug lives in the quantizer's own Linear, reached through ``from_pretrained`` only: its spec names no
codec, so no codec-level check can see it; the hostile tiny checkpoints' zero rows must. The control is the
same format with the guard (a zero row keeps scale 1), registered beside it.
"""

from __future__ import annotations

import torch

from reference_quantizers.base import Layout
from reference_quantizers.formats import fp8
from tests.planted import PlantedBug
from tests.planted.bases_quantizers import ControlLinear, ControlQuantizer, planted, spec

KEY = "planted-hostile-zero-row-nan-scale"
CONTROL_KEY = "planted-control-hostile-row-fp8"


class RowFp8Linear(ControlLinear):
    """E4M3 codes with one float32 scale per output row (the control: a zero row keeps scale 1)."""

    @classmethod
    def layout(cls, config, out_features: int, in_features: int) -> Layout:
        return {
            "weight": ((out_features, in_features), fp8.FP8),
            "weight_scale_inv": ((out_features, 1), torch.float32),
        }

    @classmethod
    def scale(cls, peak: torch.Tensor) -> torch.Tensor:
        return torch.where(peak > 0, fp8.FP8_MAX / torch.where(peak > 0, peak, 1.0), 1.0)

    @classmethod
    def quantize(cls, weight: torch.Tensor, config) -> dict[str, torch.Tensor]:
        w = weight.float()
        scale = cls.scale(w.abs().amax(dim=1, keepdim=True))
        codes = (w * scale).clamp(-fp8.FP8_MAX, fp8.FP8_MAX).to(fp8.FP8)
        return {"weight": codes, "weight_scale_inv": 1.0 / scale}

    def dequantize(self) -> torch.Tensor:
        return self.weight.float() * self.weight_scale_inv


class UnguardedRowFp8Linear(RowFp8Linear):
    @classmethod
    def scale(cls, peak: torch.Tensor) -> torch.Tensor:
        return fp8.FP8_MAX / peak  # the bug: a zero row's scale is inf, its codes 0 x inf = NaN


class RowFp8Quantizer(ControlQuantizer):
    linear_class = RowFp8Linear


class UnguardedRowFp8Quantizer(ControlQuantizer):
    linear_class = UnguardedRowFp8Linear


def _spec(key: str, config: type, quantizer: str):
    """No codec: the bug must be found through the model path."""
    return spec(key, config, __name__, quantizer, codec=None, reference_twin=None)


SPECS = (
    _spec(KEY, planted(KEY, UnguardedRowFp8Quantizer), "UnguardedRowFp8Quantizer"),
    _spec(CONTROL_KEY, planted(CONTROL_KEY, RowFp8Quantizer), "RowFp8Quantizer"),
)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_hostile_rows_give_finite_outputs", "test_zero_rows_stay_zero"),
    description="per-row scale divides by a zero row's peak: NaN weights through the model path",
    control=CONTROL_KEY,
    message=r"finite hostile weights .* give NaN or inf|planted zeros do not stay zero",
)
