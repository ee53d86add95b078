"""The format claims one byte per weight (quantized_element_size, param_element_size) but stores its FP8 codes as
bfloat16: device maps and memory estimates count half the bytes the loaded model holds."""

from __future__ import annotations

from typing import Any

import torch

from tests.planted import PlantedBug
from tests.planted.bases_quantizers import CONTROL, ControlLinear, ControlQuantizer, planted, spec

KEY = "planted-contract-element-size-claims-one-stores-two"


class WideLinear(ControlLinear):
    element_size = 1.0  # the claim

    @classmethod
    def layout(cls, config: Any, out_features: int, in_features: int) -> dict:
        layout = super().layout(config, out_features, in_features)
        return {**layout, "weight": (layout["weight"][0], torch.bfloat16)}  # the bug: two bytes stored

    @classmethod
    def quantize(cls, weight: torch.Tensor, config: Any) -> dict[str, torch.Tensor]:
        stored = super().quantize(weight, config)
        return {**stored, "weight": stored["weight"].to(torch.bfloat16)}  # E4M3 values are exact in bfloat16


class WideQuantizer(ControlQuantizer):
    linear_class = WideLinear


SPECS = (spec(KEY, planted(KEY, WideQuantizer), __name__, "WideQuantizer"),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_memory_estimate_matches_footprint",),
    description="claims one byte per element, stores two",
    control=CONTROL,
    message=r"memory estimate from param_element_size is off from the loaded model's bytes",
)
