"""After loading, the model does not say it is quantized (``is_quantized`` reset)."""

from __future__ import annotations

from tests.planted import PlantedBug
from tests.planted.bases_quantizers import CONTROL, ControlQuantizer, planted, spec

KEY = "planted-lifecycle-not-marked-quantized"


class ForgetsMark(ControlQuantizer):
    def _process_model_after_weight_loading(self, model, **kwargs):
        model.is_quantized = False  # the bug
        return model


SPECS = (spec(KEY, planted(KEY, ForgetsMark), __name__, "ForgetsMark"),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_postprocess_marks_model",),
    description="is_quantized not set",
    control=CONTROL,
    message=r"not marked as quantized by its method.*is_quantized",
)
