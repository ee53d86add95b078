"""The output embedding is quantized by default (the default skips are dropped)."""

from __future__ import annotations

from reference_quantizers.base import replace_linears
from tests.planted import PlantedBug
from tests.planted.bases_quantizers import CONTROL, ControlQuantizer, planted, spec

KEY = "planted-lifecycle-output-embedding-quantized"


class QuantizesHead(ControlQuantizer):
    def _process_model_before_weight_loading(self, model, **kwargs):
        listed = self.quantization_config.modules_to_not_convert or []  # the bug: [] drops lm_head's default skip
        replace_linears(model, self, self.get_modules_to_not_convert(model, listed, model._keep_in_fp32_modules))
        return model


SPECS = (spec(KEY, planted(KEY, QuantizesHead), __name__, "QuantizesHead"),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_output_embedding_stays_full_precision",),
    description="output embedding quantized by default",
    control=CONTROL,
    message=r"the output embedding '\S+' is \w+, not full precision",
)
