"""Deviations that transformers' shared code gives several methods at once (imported by the spec modules)."""

from __future__ import annotations

from qconform.spec import KnownDeviation

MERGE_MUTATES_CHECKPOINT_OBJECT = KnownDeviation(
    check="test_merge_leaves_inputs_unchanged",
    params="object",
    reason="when the checkpoint's quantization config is already an object, merge_quantization_configs writes "
    "the argument's loading attributes into it and returns it, instead of a new config (from_pretrained "
    "deep-copies its config first, so only direct callers of the merge see it)",
    evidence="transformers/quantizers/auto.py:271-273 (setattr(quantization_config, attr, val) on the input)",
)
