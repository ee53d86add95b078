"""Loaded with ``dequantize=True``, the model comes back plain but still names its quantizer and config."""

from __future__ import annotations

from tests.planted import PlantedBug
from tests.planted.bases_contract import ContractQuantizer, DequantizingConfig, dequantizing_spec, register

KEY = "planted-lifecycle-dequantize-fallback-keeps-marks"


class KeepsMarksConfig(DequantizingConfig):
    KEY = KEY


class KeepsMarksQuantizer(ContractQuantizer):
    def remove_quantization_config(self, model):
        model.is_quantized = False  # the bug: overridden to reset the flag only, hf_quantizer and the config stay


register(KEY, KeepsMarksConfig, KeepsMarksQuantizer)
SPECS = (dequantizing_spec(KEY, KeepsMarksConfig),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_postprocess_marks_model",),
    description="dequantize fallback keeps quantization marks",
    control=DequantizingConfig.KEY,
    message=r"loaded with dequantize=True still carries quantization marks.*hf_quantizer",
    bare=False,
    bare_reason="whether a checkpoint loads with dequantize=True is the spec's loading override: bare, the "
    "checkpoint is written by nobody and the quantizer is tried on the fly, where no fallback runs",
)
