"""The skip list protects only modules named in full: a suffix ("q_proj") or a parent ("model.layers.1") the user
listed in modules_to_not_convert is quantized anyway."""

from __future__ import annotations

from typing import Any

from torch import nn

from reference_quantizers.base import replace_linears
from tests.planted import PlantedBug
from tests.planted.bases_quantizers import CONTROL, ControlQuantizer, planted, spec

KEY = "planted-lifecycle-skip-list-exact-names-only"


class ExactNamesOnly(ControlQuantizer):
    def _process_model_before_weight_loading(self, model: Any, **kwargs: Any) -> Any:
        listed = self.quantization_config.modules_to_not_convert
        linears = {name for name, module in model.named_modules() if isinstance(module, nn.Linear)}
        exact = None if listed is None else [name for name in listed if name in linears]  # the bug: no pattern
        skip = self.get_modules_to_not_convert(model, exact, model._keep_in_fp32_modules)
        tied = {k.removesuffix(".weight") for pair in model.all_tied_weights_keys.items() for k in pair}
        self.modules_to_not_convert = sorted(set(skip) | tied)
        replace_linears(model, self, self.modules_to_not_convert)
        return model


SPECS = (spec(KEY, planted(KEY, ExactNamesOnly), __name__, "ExactNamesOnly"),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_skip_list_respected",),
    description="modules_to_not_convert matched by full name only",
    control=CONTROL,
    message=r"modules_to_not_convert=.*the wrong modules were quantized.*expected full",
)
