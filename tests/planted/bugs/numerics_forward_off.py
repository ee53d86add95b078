"""The Linear's forward scales its weight by 1.1: it disagrees with a matmul with its own dequantized weight."""

from __future__ import annotations

import torch

from tests.planted import PlantedBug
from tests.planted.bases_quantizers import CONTROL, ControlLinear, ControlQuantizer, planted, spec

KEY = "planted-numerics-forward-off"


class OffLinear(ControlLinear):
    def forward(self, x):
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return torch.nn.functional.linear(x, (self.dequantize() * 1.1).to(x.dtype), bias)  # the bug


class OffQuantizer(ControlQuantizer):
    linear_class = OffLinear


SPECS = (spec(KEY, planted(KEY, OffQuantizer), __name__, "OffQuantizer"),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_linear_forward_matches_dequantized_matmul",),
    description="forward disagrees with the dequantized matmul",
    control=CONTROL,
    message=r"the quantized forward disagrees with the dequantized weight",
)
