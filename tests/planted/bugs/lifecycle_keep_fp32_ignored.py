"""``_keep_in_fp32_modules`` is ignored: those modules get quantized."""

from __future__ import annotations

from reference_quantizers.base import replace_linears
from tests.planted import PlantedBug
from tests.planted.bases_quantizers import CONTROL, ControlQuantizer, planted, spec

KEY = "planted-lifecycle-keep-fp32-ignored"


class IgnoresKeepFp32(ControlQuantizer):
    def _process_model_before_weight_loading(self, model, **kwargs):
        listed = self.quantization_config.modules_to_not_convert
        replace_linears(model, self, self.get_modules_to_not_convert(model, listed, None))  # the bug: None
        return model


SPECS = (spec(KEY, planted(KEY, IgnoresKeepFp32), __name__, "IgnoresKeepFp32"),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_keep_in_fp32_modules_stay_full_precision",),
    description="_keep_in_fp32_modules quantized",
    control=CONTROL,
    message=r"_keep_in_fp32_modules=.* not honoured",
)
