"""AMD Quark: pre-quantized checkpoints; the config itself needs the quark package (``quantizer_quark.py``)."""

from __future__ import annotations

import json
from pathlib import Path

from qconform.specs.model import Capabilities, Inputs, Promises, QuantizerSpec, Requirement, load_object

WRITER = "reference_quantizers.writers.quark:prequantized_checkpoint"


def _default():
    """The ``QuarkConfig`` of a Quark export: ``QuarkConfig`` parses a checkpoint's ``quantization_config`` (it has
    no defaults of its own), so the default is the one amd-quark wrote for the tiny llama (by name, through the
    spec's checkpoint writer)."""
    from transformers.utils.quantization_config import QuarkConfig

    checkpoint = Path(load_object(WRITER)("quark", "llama", None))
    return QuarkConfig(**json.loads((checkpoint / "config.json").read_text())["quantization_config"])


def _one_config():
    from hypothesis import strategies as st

    return st.builds(_default)


SPECS = (
    QuantizerSpec(
        method="quark",
        requirements=(Requirement("quark", "amd-quark", "0.12", "pip install 'amd-quark>=0.12'"),),
        inputs=Inputs(
            default_config=_default,
            # QuarkConfig(**kwargs) reads kwargs["quant_method"] and the export's nested dicts: nothing to infer
            # around (inferred configs raised KeyError: 'quant_method' in every config and merge check)
            configs=lambda: _one_config(),
            checkpoint_writer=WRITER,
        ),
        promises=Promises(
            capabilities=Capabilities(quantizes_on_the_fly=False, serializable=False),
            requires_calibration=True,
        ),
        notes="checkpoints written by amd-quark itself (LLMTemplate int4 weight-only groups of 32, ModelQuantizer, "
        "export_safetensors); the default config is the quantization_config that export wrote",
    ),
)
