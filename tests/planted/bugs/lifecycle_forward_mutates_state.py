"""Each forward rescales the stored scales in place: the same input gives other logits the next time."""

from __future__ import annotations

from tests.planted import PlantedBug
from tests.planted.bases_quantizers import CONTROL, ControlLinear, ControlQuantizer, planted, spec

KEY = "planted-lifecycle-forward-mutates-state"


class DriftingLinear(ControlLinear):
    def forward(self, x):
        y = super().forward(x)
        self.weight_scale_inv.data.mul_(1 + 2**-10)  # the bug: state changes on every call
        return y


class DriftingQuantizer(ControlQuantizer):
    linear_class = DriftingLinear


SPECS = (spec(KEY, planted(KEY, DriftingQuantizer), __name__, "DriftingQuantizer"),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_forward_runs_deterministically",),
    description="forward not deterministic (mutates its state)",
    control=CONTROL,
    message=r"a second forward on the same input gave different logits",
)
