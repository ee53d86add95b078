"""save_pretrained writes the scales in bfloat16: the reloaded model is close, not identical."""

from __future__ import annotations

import torch

from tests.planted import PlantedBug
from tests.planted.bases_quantizers import CONTROL, ControlQuantizer, planted, spec

KEY = "planted-lifecycle-reload-not-bit-identical"


class RoundsScales(ControlQuantizer):
    def get_state_dict_and_metadata(self, model):
        state = model.state_dict()
        for k in state:
            if k.endswith("weight_scale_inv"):
                state[k] = state[k].to(torch.bfloat16).to(torch.float32)  # the bug: lossy on the way out
        return state, {}


SPECS = (spec(KEY, planted(KEY, RoundsScales), __name__, "RoundsScales"),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_save_reload_bit_identical",),
    description="reload not bit-identical",
    control=CONTROL,
    message=r"reloaded \w+ model gives different logits",
)
