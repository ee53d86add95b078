"""After loading, one quantized layer is moved to the first GPU whatever the device map says.

Only a machine with two CUDA devices can show this bug, so it names its check only there.
"""

from __future__ import annotations

import torch

from tests.planted import PlantedBug
from tests.planted.bases_quantizers import CONTROL, ControlLinear, ControlQuantizer, planted, spec

KEY = "planted-multi-gpu-layer-on-wrong-device"


class MovesOneLayer(ControlQuantizer):
    def _process_model_after_weight_loading(self, model, **kwargs):
        quantized = [m for m in model.modules() if isinstance(m, ControlLinear)]
        if quantized and torch.cuda.is_available():
            quantized[-1].to("cuda:0")  # the bug: placement ignores the device map
        return model


SPECS = (spec(KEY, planted(KEY, MovesOneLayer), __name__, "MovesOneLayer"),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_split_over_two_gpus_matches_one",) if torch.cuda.device_count() >= 2 else (),
    description="a layer placed off its device map (two CUDA devices only)",
    control=CONTROL,
    message=r"modules do not sit where the device map puts them",
)
