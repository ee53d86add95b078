"""The skip list is ignored: modules the user listed in modules_to_not_convert get quantized anyway.

This module also declares the specs of the correct controls that every lifecycle and numerics bug
is compared with (a spec may come from one plugin module only).
"""

from __future__ import annotations

from reference_quantizers.base import replace_linears
from tests.planted import PlantedBug
from tests.planted.bases_quantizers import CONTROL, ControlQuantizer, planted, spec

KEY = "planted-lifecycle-skip-list-ignored"


class IgnoresSkipList(ControlQuantizer):
    def _process_model_before_weight_loading(self, model, **kwargs):
        skip = self.get_modules_to_not_convert(model, None, model._keep_in_fp32_modules)  # the bug: list dropped
        replace_linears(model, self, skip)
        return model


SPECS = (spec(KEY, planted(KEY, IgnoresSkipList), __name__, "IgnoresSkipList"),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_skip_list_respected",),
    description="modules_to_not_convert ignored",
    control=CONTROL,
    message=r"modules_to_not_convert=.*the wrong modules were quantized",
)
