"""AMD Quark: pre-quantized checkpoints; the config itself needs the quark package (``quantizer_quark.py``)."""

from __future__ import annotations

import json
from pathlib import Path

from qconform.specs.model import (
    Capabilities,
    Inputs,
    KnownDeviation,
    Promises,
    QuantizerSpec,
    Requirement,
    load_object,
)

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


# QuarkConfig keeps amd-quark's own objects in its dict: every check that serialises it meets them
NOT_JSON_CHECKS = (
    "test_to_dict_is_json",
    "test_round_trip_same_class_and_dict",
    "test_round_trip_keeps_types",
    "test_round_trip_idempotent",
    "test_to_json_string_parses",
    "test_merge_keeps_checkpoint_class",
    "test_merge_takes_loading_attributes_from_argument",
    "test_merge_leaves_inputs_unchanged[quark-dict]",
    "test_merge_is_idempotent",
    "test_merge_dict_and_object_agree",
    "test_merge_refuses_another_class",
    "test_supports_quant_method",
    "test_dispatch_follows_config",
)
CONFIG_NOT_JSON = tuple(
    KnownDeviation(
        check=check.split("[")[0],
        params="dict" if "[" in check else None,  # the object form never goes through JSON
        reason="QuarkConfig built from an amd-quark export keeps quark's JsonExporterConfig object in what "
        "to_dict() returns, so the dict is not JSON: config.json cannot hold it and every round trip or merge "
        "through JSON fails",
        evidence="qconform CPU run 2026-12-06 (transformers 5.25, amd-quark 0.13): TypeError: Object of type "
        "JsonExporterConfig is not JSON serializable (config = the quantization_config amd-quark's "
        "export_safetensors wrote for the tiny llama)",
    )
    for check in NOT_JSON_CHECKS
)


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
        known_deviations=CONFIG_NOT_JSON,
        notes="checkpoints written by amd-quark itself (LLMTemplate int4 weight-only groups of 32, ModelQuantizer, "
        "export_safetensors); the default config is the quantization_config that export wrote",
    ),
)
