"""The Linear's own dequantize() forgets the tile scales (its forward, a kernel path, keeps them): model.dequantize()
gives a plain model holding the raw FP8 codes."""

from __future__ import annotations

import torch

from reference_quantizers.formats import fp8
from tests.planted import PlantedBug
from tests.planted.bases_quantizers import CONTROL, ControlLinear, ControlQuantizer, planted, spec

KEY = "planted-lifecycle-linear-dequantize-forgets-scales"


class ForgetfulLinear(ControlLinear):
    def dequantize(self) -> torch.Tensor:
        return self.weight.to(torch.float32)  # the bug: the codes, without their scales

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = fp8.dequantize_blockwise(self.weight, self.weight_scale_inv, tuple(self.config.weight_block_size))
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return torch.nn.functional.linear(x, weight.to(x.dtype), bias)


class ForgetfulQuantizer(ControlQuantizer):
    linear_class = ForgetfulLinear


SPECS = (spec(KEY, planted(KEY, ForgetfulQuantizer), __name__, "ForgetfulQuantizer"),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_dequantize_matches_quantized",),
    description="the Linear's dequantize() forgets the scales",
    control=CONTROL,
    message=r"dequantized logits differ from quantized ones",
)
