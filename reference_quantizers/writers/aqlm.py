"""AQLM checkpoints of the tiny models, written by the twin's learner.

"ref-aqlm": the twin quantizes the tiny model on the fly and saves it. "aqlm": the same tensors, with
the real ``AqlmConfig`` in config.json, listing the Linears left in full precision the way AQLM
checkpoints list them (``"<module>.weight"`` in ``linear_weights_not_to_quantize``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from qconform.support.quiet import quiet
from reference_quantizers.aqlm import RefAqlmConfig
from reference_quantizers.writers.cache import cached_checkpoint, package_versions, set_quantization_config

REAL_FIELDS = ("in_group_size", "out_group_size", "num_codebooks", "nbits_per_codebook")


def twin_config(config: Any = None, method_key: str = "ref-aqlm") -> RefAqlmConfig:
    """The twin config for ``config``: an ``AqlmConfig``, a ``RefAqlmConfig``, a dict of either, or None (the
    default of ``method_key``: ``AqlmConfig()`` for "aqlm", ``RefAqlmConfig()`` for "ref-aqlm")."""
    if isinstance(config, RefAqlmConfig):
        return config
    if isinstance(config, dict) and config.get("quant_method") == RefAqlmConfig.KEY:
        return RefAqlmConfig(**config)
    if config is None and method_key == "ref-aqlm":
        return RefAqlmConfig()
    from transformers import AqlmConfig

    real = AqlmConfig() if config is None else AqlmConfig(**config) if isinstance(config, dict) else config
    return RefAqlmConfig.from_real(real)


def real_config(twin: RefAqlmConfig, full_precision_weights: list[str]) -> dict[str, Any]:
    """``AqlmConfig``'s dict for a checkpoint whose listed weights stayed in full precision."""
    skipped = sorted(set(twin.linear_weights_not_to_quantize) | set(full_precision_weights))
    fields = {name: getattr(twin, name) for name in REAL_FIELDS}
    return {**fields, "linear_weights_not_to_quantize": skipped, "quant_method": "aqlm"}


def prequantized_checkpoint(
    method_key: str = "ref-aqlm",
    arch: str = "llama",
    config: Any = None,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> Path:
    """The cached AQLM checkpoint of the tiny ``arch`` for ``method_key`` ("aqlm" or "ref-aqlm")."""
    if method_key not in ("aqlm", "ref-aqlm"):
        raise ValueError(f"the AQLM writer writes 'aqlm' and 'ref-aqlm' checkpoints, not {method_key!r}")
    twin = twin_config(config, method_key)

    def build(staging: Path) -> None:
        from transformers import AutoModelForCausalLM

        from qconform.inputs.tiny_models import tiny_checkpoint

        with quiet():
            model = AutoModelForCausalLM.from_pretrained(
                tiny_checkpoint(arch, seed, dtype), quantization_config=twin, dtype=dtype, device_map="cpu"
            )
            model.save_pretrained(staging)
        if method_key == "aqlm":
            kept = [f"{name}.weight" for name, module in model.named_modules() if type(module) is nn.Linear]
            set_quantization_config(staging, real_config(twin, kept))

    depends_on = {
        "method": method_key,
        "arch": arch,
        "seed": seed,
        "dtype": str(dtype),
        "config": twin.to_dict(),
        "versions": package_versions("aqlm"),
    }
    return cached_checkpoint(f"{method_key}-{arch}", depends_on, build)
