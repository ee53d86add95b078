"""AMD Quark checkpoints of the tiny models, written by amd-quark itself.

``LLMTemplate.get(model_type).get_config(scheme)`` builds Quark's own config for the architecture (its exclusions
included: the output embedding stays full precision), ``ModelQuantizer.quantize_model`` calibrates with a few of
qconform's token batches (no dataset, nothing fetched), ``freeze`` fixes the scales and ``export_safetensors``
writes the "quark" format with its ``quantization_config``, which ``QuarkHfQuantizer`` loads. The default scheme is
int4 weight-only in groups of 32 (no activation quantization: the tiny model's forward stays comparable). The
first use compiles Quark's C++ emulation kernels (about 10 minutes on 2 busy cores), cached afterwards by torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from qconform.support.quiet import quiet
from reference_quantizers.writers.cache import cached_checkpoint, package_versions

DEFAULT_SCHEME = "int4_wo_32"
TEMPLATES = {"llama": "llama", "opt": "opt"}  # qconform's tiny architectures -> Quark's LLM templates


def scheme_of(config: Any = None) -> str:
    """The Quark scheme to write: ``config["scheme"]`` where a dict names one, else ``DEFAULT_SCHEME``.

    A ``QuarkConfig`` cannot be built without a checkpoint's ``quantization_config`` (it parses one), so the
    suite's placeholder config carries no scheme and the default applies."""
    if isinstance(config, dict) and "scheme" in config:
        return str(config["scheme"])
    return DEFAULT_SCHEME


def write_with_quark(model: Any, arch: str, scheme: str, out: Path) -> None:
    """Quantize ``model`` with Quark's template config for ``arch`` and export it in Quark's safetensors format."""
    from quark.torch import LLMTemplate, ModelQuantizer, export_safetensors

    from qconform.inputs.tiny_models import sample_input_ids

    quantizer = ModelQuantizer(LLMTemplate.get(TEMPLATES[arch]).get_config(scheme=scheme))
    batches = [sample_input_ids(arch, seed=seed) for seed in range(2)]
    model = quantizer.quantize_model(model, torch.utils.data.DataLoader(batches, batch_size=None))
    model = quantizer.freeze(model)
    with torch.no_grad():
        export_safetensors(model, out)


def prequantized_checkpoint(
    method_key: str = "quark",
    arch: str = "llama",
    config: Any = None,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> Path:
    """The cached Quark checkpoint of the tiny ``arch`` (see module doc)."""
    if method_key != "quark":
        raise ValueError(f"the Quark writer writes 'quark' checkpoints, not {method_key!r}")
    if arch not in TEMPLATES:
        raise ValueError(f"no Quark template for the tiny {arch!r}; known: {sorted(TEMPLATES)}")
    scheme = scheme_of(config)

    def build(staging: Path) -> None:
        from transformers import AutoModelForCausalLM

        from qconform.inputs.tiny_models import tiny_checkpoint

        with quiet():
            model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint(arch, seed, dtype), dtype=dtype)
            write_with_quark(model.eval(), arch, scheme, staging)

    depends_on = {
        "method": method_key,
        "arch": arch,
        "seed": seed,
        "dtype": str(dtype),
        "scheme": scheme,
        "versions": package_versions("amd-quark"),
    }
    return cached_checkpoint(f"{method_key}-{arch}", depends_on, build)
