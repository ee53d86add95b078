"""Calibration inside from_pretrained silently leaves one Linear of the decoder blocks in full precision."""

from __future__ import annotations

from typing import Any

from tests.planted import PlantedBug
from tests.planted.bugs._calibration import CONTROL, TextGptqQuantizer, text_gptq_spec

KEY = "planted-calibration-skips-layer"


class SkipsLayerQuantizer(TextGptqQuantizer):
    def layers_to_calibrate(self, model: Any) -> list[str]:
        return super().layers_to_calibrate(model)[:-1]  # the bug: the last layer is never calibrated


SPECS = (
    text_gptq_spec(KEY, SkipsLayerQuantizer, __name__, "SkipsLayerQuantizer"),
    text_gptq_spec(CONTROL, TextGptqQuantizer, __name__, "TextGptqQuantizer"),
)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_calibration_matches_twin",),
    description="calibration skips a layer",
    control=CONTROL,
    message=r"left in full precision Linears its twin \S+ quantized",
    bare=False,
    bare_reason="which Linears calibration must quantize is known only from the reference twin the spec names "
    "(an oracle), and the calibration path itself only from the spec's calibration_fields",
)
