"""Calibration inside from_pretrained stores every scale 10% too large (codes right, values off)."""

from __future__ import annotations

import torch

from tests.planted import PlantedBug
from tests.planted.bugs._calibration import TextGptqQuantizer, text_gptq_spec

KEY = "planted-calibration-scales-off"


class ScalesOffQuantizer(TextGptqQuantizer):
    def stored_after(self, stored: dict[str, dict[str, torch.Tensor]]) -> dict[str, dict[str, torch.Tensor]]:
        return {name: {**tensors, "scales": tensors["scales"] * 1.1} for name, tensors in stored.items()}  # the bug


SPECS = (text_gptq_spec(KEY, ScalesOffQuantizer, __name__, "ScalesOffQuantizer"),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_calibration_matches_twin",),
    description="calibration stores scales 10% off",
    control=None,  # the text GPTQ control stands beside calibration_skips_layer
    message=r"calibrated weights are further from full precision than",
    bare=False,
    bare_reason="the scales are off only against the reference twin the spec names (an oracle); the error stays "
    "within the method's own bound",
)
