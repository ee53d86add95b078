"""A GPTQ that calibrates on texts inside from_pretrained, as transformers' GPTQ does, built on the GPTQ twin.

The config takes ``dataset`` (texts) and ``tokenizer`` like ``GPTQConfig``; the quantizer tokenizes each text as
optimum does (``tokenizer(text, return_tensors="pt")``) and runs the twin's sequential GPTQ on those ids. The
correct one is the control beside the calibration bugs: fed the same texts, it must agree with ``ref-gptq`` fed
their ids. Not a bug module itself (the leading underscore keeps it out of the catalogue).
"""

from __future__ import annotations

from typing import Any

import torch

from qconform.specs.gptq import rel_error_gptq
from qconform.specs.model import Capabilities, Inputs, Oracles, Promises, QuantizerSpec, Tolerances
from reference_quantizers.base import register_twin
from reference_quantizers.calibration.gptq import quantize_model
from reference_quantizers.calibration.install import install
from reference_quantizers.gptq import RefGptqConfig, RefGptqLinear, RefGptqQuantizer

CONTROL = "planted-control-text-gptq"
CALIBRATION_FIELDS = ("dataset", "tokenizer")


class TextGptqConfig(RefGptqConfig):
    """The twin's config, with GPTQConfig's ``dataset`` of texts and ``tokenizer`` instead of token ids."""

    KEY = CONTROL

    def __init__(self, dataset: list[str] | None = None, tokenizer: Any = None, **kwargs: Any) -> None:
        self.tokenizer = tokenizer
        super().__init__(dataset=dataset, **kwargs)

    def post_init(self) -> None:
        texts, self.dataset = self.dataset, None
        try:
            super().post_init()
        finally:
            self.dataset = texts
        if texts is not None and not (isinstance(texts, list) and all(isinstance(t, str) and t for t in texts)):
            raise ValueError("dataset must be None or a list of non-empty texts")

    def calibration_batches(self, vocab_size: int) -> list[torch.Tensor]:
        if not self.dataset or self.tokenizer is None:
            raise ValueError("calibrating needs a dataset of texts and a tokenizer")
        return [self.tokenizer(text, return_tensors="pt")["input_ids"] for text in self.dataset]

    def to_dict(self) -> dict[str, Any]:
        fields = super().to_dict()
        fields.pop("tokenizer", None)  # an object, not JSON: optimum drops it from the saved config as well
        return fields


class TextGptqQuantizer(RefGptqQuantizer):
    """Calibrates every Linear of the decoder blocks on the config's texts; subclasses plant one fault."""

    def layers_to_calibrate(self, model: Any) -> list[str]:
        return sorted(self._targets(model))

    def stored_after(self, stored: dict[str, dict[str, torch.Tensor]]) -> dict[str, dict[str, torch.Tensor]]:
        return stored

    def _process_model_after_weight_loading(self, model: Any, **kwargs: Any) -> Any:
        if self.pre_quantized:
            return model
        config = self.quantization_config
        names = self.layers_to_calibrate(model)
        stored = quantize_model(model, config, config.calibration_batches(model.config.vocab_size), names)
        install(model, RefGptqLinear, config, names, self.stored_after(stored))
        config.tokenizer = None
        return model


def config_class(key: str) -> type[TextGptqConfig]:
    return type(f"Config_{key.replace('-', '_')}", (TextGptqConfig,), {"KEY": key})


def text_gptq_spec(key: str, quantizer: type[TextGptqQuantizer], module: str, name: str) -> QuantizerSpec:
    """Register ``quantizer`` under ``key`` and describe it as the real GPTQ's spec does its calibration path."""
    config = config_class(key)
    register_twin(config, quantizer)
    return QuantizerSpec(
        method=key,
        inputs=Inputs(default_config=config, calibration_fields=CALIBRATION_FIELDS),
        promises=Promises(
            capabilities=Capabilities(quantizes_on_the_fly=True, dequantizable=True),
            tolerances=Tolerances(rel_error=rel_error_gptq),
        ),
        oracles=Oracles(reference_twin="ref-gptq", codec="reference_quantizers.gptq:RefGptqQuantizer.codec"),
        notes=f"planted ({module}.{name}): GPTQ calibrated on texts inside from_pretrained, on the GPTQ twin",
    )
