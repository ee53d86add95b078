"""Pre-quantized tiny checkpoints for the methods transformers loads pre-quantized only: AQLM, compressed-tensors,
AutoRound, AMD Quark, Gemma, Metal.

``prequantized_checkpoint(method_key, arch, config)`` returns the directory of a tiny model (``qconform``'s
tiny llama or opt) quantized under ``config`` and saved, written once and cached under
``qconform.inputs.tiny_models.cache_dir()``. Keys: "aqlm" and "ref-aqlm" (``writers.aqlm``), "compressed-tensors"
and "ref-compressed-tensors" (``writers.compressed_tensors``), "auto-round" and "quark" (written by auto-round and
amd-quark themselves), "gemma" and "metal" (written from the format transformers reads, with transformers' own
layers or quantizer function: no package writes them offline), "mxfp4" (the tiny gpt-oss' experts, written in
the layout transformers' dequantizer reads, ``writers.mxfp4``). Specs name these functions as their
``checkpoint_writer``. GPTQ and AWQ checkpoints are written in ``reference_quantizers.calibration``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import torch

WRITERS = {
    "aqlm": "reference_quantizers.writers.aqlm",
    "ref-aqlm": "reference_quantizers.writers.aqlm",
    "compressed-tensors": "reference_quantizers.writers.compressed_tensors",
    "ref-compressed-tensors": "reference_quantizers.writers.compressed_tensors",
    "auto-round": "reference_quantizers.writers.auto_round",
    "quark": "reference_quantizers.writers.quark",
    "gemma": "reference_quantizers.writers.gemma",
    "metal": "reference_quantizers.writers.metal",
    "mxfp4": "reference_quantizers.writers.mxfp4",
}


def prequantized_checkpoint(
    method_key: str, arch: str = "llama", config: Any = None, *, seed: int = 0, dtype: torch.dtype = torch.float32
) -> Path:
    """The cached pre-quantized checkpoint of ``method_key`` for the tiny ``arch`` (``config`` None: default)."""
    if method_key not in WRITERS:
        raise ValueError(f"no checkpoint writer for {method_key!r}; known: {sorted(WRITERS)}")
    module = importlib.import_module(WRITERS[method_key])
    return module.prequantized_checkpoint(method_key, arch, config, seed=seed, dtype=dtype)
