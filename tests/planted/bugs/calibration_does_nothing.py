"""Calibration inside from_pretrained quantizes nothing: the model loads in full precision, and nothing says so."""

from __future__ import annotations

from typing import Any

from tests.planted import PlantedBug
from tests.planted.bugs._calibration import CONTROL, TextGptqQuantizer, text_gptq_spec

KEY = "planted-calibration-does-nothing"


class DoesNothingQuantizer(TextGptqQuantizer):
    def layers_to_calibrate(self, model: Any) -> list[str]:
        return []  # the bug: texts and tokenizer accepted, no layer calibrated


SPECS = (text_gptq_spec(KEY, DoesNothingQuantizer, __name__, "DoesNothingQuantizer"),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_calibration_quantizes_while_loading", "test_calibration_matches_twin"),
    description="calibration quantizes nothing",
    control=CONTROL,
    message=r"quantized no Linear|left in full precision Linears",
    bare_misses=("test_calibration_matches_twin",),
    bare_reason="which Linears calibration must quantize is known only from the reference twin the spec names (an "
    "oracle); bare, the probed calibration path (a config taking dataset and tokenizer) shows it quantized none",
)
