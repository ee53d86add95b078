"""Calibration inside from_pretrained quantizes nothing: the model loads in full precision, and nothing says so."""

from __future__ import annotations

from typing import Any

from tests.planted import PlantedBug
from tests.planted.bugs._calibration import TextGptqQuantizer, text_gptq_spec

KEY = "planted-calibration-does-nothing"


class DoesNothingQuantizer(TextGptqQuantizer):
    def layers_to_calibrate(self, model: Any) -> list[str]:
        return []  # the bug: texts and tokenizer accepted, no layer calibrated


SPECS = (text_gptq_spec(KEY, DoesNothingQuantizer, __name__, "DoesNothingQuantizer"),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_calibration_quantizes_while_loading", "test_calibration_matches_twin"),
    description="calibration quantizes nothing",
    control=None,  # the text GPTQ control stands beside calibration_skips_layer (tests/checks/test_calibration_check.py
    # runs it through both checks)
    message=r"quantized no Linear|left in full precision Linears",
    bare=False,
    bare_reason="the calibration path (the config's dataset and tokenizer fields) is known only from the spec's "
    "calibration_fields",
)
