"""dequantize() forgets the block scales: the plain model holds the raw FP8 codes."""

from __future__ import annotations

import torch
from torch import nn

from tests.planted import PlantedBug
from tests.planted.bases_quantizers import CONTROL, ControlQuantizer, planted, spec

KEY = "planted-lifecycle-dequantize-wrong"


class ForgetsScales(ControlQuantizer):
    def _dequantize(self, model, dtype=None):
        for name, module in list(model.named_modules()):
            if isinstance(module, self.linear_class):
                linear = nn.Linear(module.in_features, module.out_features, bias=module.bias is not None)
                linear.weight = nn.Parameter(module.weight.to(torch.float32), requires_grad=False)  # the bug
                if module.bias is not None:
                    linear.bias = nn.Parameter(module.bias.detach())
                model.set_submodule(name, linear)
        return model


SPECS = (spec(KEY, planted(KEY, ForgetsScales), __name__, "ForgetsScales"),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_dequantize_matches_quantized",),
    description="dequantize wrong",
    control=CONTROL,
    message=r"dequantized logits differ from quantized ones",
)
