"""The forward rounds each tile scale to a power of two (a UE8M0 kernel's habit) though the checkpoint stores float
scales: the Linear disagrees with a matmul with its own dequantized weight."""

from __future__ import annotations

import torch

from reference_quantizers.formats import fp8
from tests.planted import PlantedBug
from tests.planted.bases_quantizers import CONTROL, ControlLinear, ControlQuantizer, planted, spec

KEY = "planted-numerics-forward-rounds-scales"


class PowerOfTwoLinear(ControlLinear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scales = torch.exp2(torch.round(torch.log2(self.weight_scale_inv.float())))  # the bug
        weight = fp8.dequantize_blockwise(self.weight, scales, tuple(self.config.weight_block_size))
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return torch.nn.functional.linear(x, weight.to(x.dtype), bias)


class PowerOfTwoQuantizer(ControlQuantizer):
    linear_class = PowerOfTwoLinear


SPECS = (spec(KEY, planted(KEY, PowerOfTwoQuantizer), __name__, "PowerOfTwoQuantizer"),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_linear_forward_matches_dequantized_matmul",),
    description="forward rounds the scales its dequantize() keeps",
    control=CONTROL,
    message=r"the quantized forward disagrees with the dequantized weight.*from the dequantized matmul",
)
