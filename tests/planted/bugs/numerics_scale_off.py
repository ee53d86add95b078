"""The stored block scales are 1% too large: close to the weight, not the format's exact values."""

from __future__ import annotations

from tests.planted import PlantedBug
from tests.planted.bases_quantizers import CONTROL, ControlLinear, ControlQuantizer, codec_only, nudge, planted, spec

KEY = "planted-numerics-scale-off"


class ScaleOffLinear(ControlLinear):
    @classmethod
    def quantize(cls, weight, config):
        stored = super().quantize(weight, config)
        return {**stored, "weight_scale_inv": nudge(stored["weight_scale_inv"], 1.01)}  # the bug


class ScaleOffQuantizer(ControlQuantizer):
    linear_class = ScaleOffLinear


SPECS = (spec(KEY, planted(KEY, ScaleOffQuantizer), __name__, "ScaleOffQuantizer", **codec_only()),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_codec_matches_twin",),
    description="a scale off by a small factor",
    control=CONTROL,
    message=r"and its twin \S+ disagree",
    bare=False,
    bare_reason="the scale is off only against the reference twin the spec names (an oracle)",
)
