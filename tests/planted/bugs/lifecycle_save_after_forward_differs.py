"""The first forward "finalizes" the stored scales (rounds them to bfloat16 for a kernel) and computes with a
private copy from then on: the model stays deterministic, but saving after a forward writes another checkpoint."""

from __future__ import annotations

import torch

from reference_quantizers.formats import fp8
from tests.planted import PlantedBug
from tests.planted.bases_quantizers import CONTROL, ControlLinear, ControlQuantizer, planted, spec

KEY = "planted-lifecycle-save-after-forward-differs"


class FinalizingLinear(ControlLinear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if getattr(self, "_scales", None) is None:
            self._scales = self.weight_scale_inv.detach().clone()
            self.weight_scale_inv.data.copy_(self.weight_scale_inv.to(torch.bfloat16))  # the bug: state rewritten
        weight = fp8.dequantize_blockwise(self.weight, self._scales, tuple(self.config.weight_block_size))
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return torch.nn.functional.linear(x, weight.to(x.dtype), bias)


class FinalizingQuantizer(ControlQuantizer):
    linear_class = FinalizingLinear


SPECS = (spec(KEY, planted(KEY, FinalizingQuantizer), __name__, "FinalizingQuantizer"),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_save_reload_bit_identical",),
    description="saving after the first forward writes another checkpoint",
    control=CONTROL,
    message=r"reloaded \w+ model gives different logits",
)
