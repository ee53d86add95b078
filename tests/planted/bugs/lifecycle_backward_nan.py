"""The quantized Linear's backward gives NaN gradients (its forward is right)."""

from __future__ import annotations

import torch

from tests.planted import PlantedBug
from tests.planted.bases_quantizers import CONTROL, ControlLinear, ControlQuantizer, planted, spec

KEY = "planted-lifecycle-backward-nan"


class _NanGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * float("nan")  # the bug


class NanGradLinear(ControlLinear):
    def forward(self, x):
        return super().forward(_NanGradient.apply(x))


class NanGradQuantizer(ControlQuantizer):
    linear_class = NanGradLinear


SPECS = (spec(KEY, planted(KEY, NanGradQuantizer), __name__, "NanGradQuantizer"),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_backward_gives_finite_gradients",),
    description="backward gives NaN",
    control=CONTROL,
    message=r"backward gave non-finite gradients|the loss is not finite|no finite, non-zero gradient",
)
