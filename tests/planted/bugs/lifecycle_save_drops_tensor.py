"""save_pretrained drops one layer's scales: the reloaded model computes with uninitialised ones."""

from __future__ import annotations

from tests.planted import PlantedBug
from tests.planted.bases_quantizers import CONTROL, ControlQuantizer, planted, spec

KEY = "planted-lifecycle-save-drops-tensor"


class DropsScale(ControlQuantizer):
    def get_state_dict_and_metadata(self, model):
        state = model.state_dict()
        dropped = sorted(k for k in state if k.endswith("weight_scale_inv"))[0]
        return {k: v for k, v in state.items() if k != dropped}, {}  # the bug


SPECS = (spec(KEY, planted(KEY, DropsScale), __name__, "DropsScale"),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_save_reload_bit_identical",),
    description="save drops a tensor",
    control=CONTROL,
    message=r"reloaded \w+ model gives different logits",
)
