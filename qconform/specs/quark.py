"""AMD Quark: pre-quantized checkpoints; the config itself needs the quark package (``quantizer_quark.py``)."""

from __future__ import annotations

from qconform.specs.model import Capabilities, Inputs, Promises, QuantizerSpec, Requirement


def _default():
    from transformers.utils.quantization_config import QuarkConfig

    return QuarkConfig()


SPECS = (
    QuantizerSpec(
        method="quark",
        requirements=(Requirement("quark", "amd-quark", "0.12", "pip install 'amd-quark>=0.12'"),),
        inputs=Inputs(
            default_config=_default,
        ),
        promises=Promises(
            capabilities=Capabilities(quantizes_on_the_fly=False, serializable=False),
            requires_calibration=True,
        ),
        notes="the default config is QuarkConfig() as a placeholder: with quark installed it needs a checkpoint's "
        "quantization_config (quant_method, export, ...), which no offline fixture provides yet",
    ),
)
