"""Post-processing rescales the final norm: every Linear is right, the logits drift far from full precision."""

from __future__ import annotations

import torch

from tests.planted import PlantedBug
from tests.planted.bases_quantizers import CONTROL, ControlQuantizer, planted, spec

KEY = "planted-numerics-logits-drift"


class RescalesNorm(ControlQuantizer):
    def _process_model_after_weight_loading(self, model, **kwargs):
        norms = [m for n, m in model.named_modules() if n.endswith("norm") and hasattr(m, "weight")]
        with torch.no_grad():
            norms[-1].weight.mul_(1.5)  # the bug
        return model


SPECS = (spec(KEY, planted(KEY, RescalesNorm), __name__, "RescalesNorm"),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_logits_drift_vs_full_precision",),
    description="end-to-end logits drift",
    control=CONTROL,
    message=r"logits drift \S+ from full precision exceeds",
)
