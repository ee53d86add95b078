"""Values under half their block's peak are flushed to zero: far outside the format's error bound."""

from __future__ import annotations

import torch

from tests.planted import PlantedBug
from tests.planted.bases_quantizers import CONTROL, ControlLinear, ControlQuantizer, planted, spec

KEY = "planted-numerics-flushes-small-values"


class FlushingLinear(ControlLinear):
    @classmethod
    def quantize(cls, weight, config):
        peak = weight.abs().amax(dim=1, keepdim=True)
        flushed = torch.where(weight.abs() < peak / 2, torch.zeros_like(weight), weight)  # the bug
        return super().quantize(flushed, config)


class FlushingQuantizer(ControlQuantizer):
    linear_class = FlushingLinear


SPECS = (spec(KEY, planted(KEY, FlushingQuantizer), __name__, "FlushingQuantizer"),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_error_within_bound", "test_model_weights_error_within_bound"),
    description="error far above the declared bound",
    control=CONTROL,
    message=(
        r"quantize-dequantize error exceeds the spec's bound|"
        r"dequantized weights exceed the relative error bound"
    ),
    bare_misses=("test_error_within_bound",),
    bare_reason="test_error_within_bound quantizes through the spec's codec: bare there is none",
)
