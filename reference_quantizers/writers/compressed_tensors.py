"""compressed-tensors checkpoints of the tiny models.

"compressed-tensors": written by compressed-tensors itself, the way llm-compressor writes them:
``apply_quantization_config``, each weight's scale and zero point from its min and max
(``calculate_qparams``, as llm-compressor's min-max observer feeds it), ``ModelCompressor.compress_model``,
``save_pretrained`` and ``update_config``. Independent of the twin: what the twin must load.
"ref-compressed-tensors": the twin quantizes the tiny model on the fly and saves it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from qconform.support.quiet import quiet
from reference_quantizers.compressed_tensors import RefCompressedTensorsConfig
from reference_quantizers.writers.cache import cached_checkpoint, package_versions

METHODS = ("compressed-tensors", "ref-compressed-tensors")


def twin_config(config: Any = None) -> RefCompressedTensorsConfig:
    """The twin config for ``config``: None (defaults), a ``CompressedTensorsConfig``, the twin's, or a dict."""
    if config is None:
        return RefCompressedTensorsConfig()
    if isinstance(config, RefCompressedTensorsConfig):
        return config
    if isinstance(config, dict):
        return RefCompressedTensorsConfig(**config)
    return RefCompressedTensorsConfig.from_real(config)


def real_config(config: Any = None) -> dict[str, Any]:
    """compressed-tensors' ``quantization_config`` dict for ``config`` (not parsed by the twin)."""
    if config is None or isinstance(config, RefCompressedTensorsConfig):
        return twin_config(config).to_compressed_tensors()
    fields = dict(config) if isinstance(config, dict) else config.to_dict()
    return {k: v for k, v in fields.items() if k not in ("dequantize", "use_optimized_inference", "run_compressed")}


def write_with_compressed_tensors(model: Any, quantization_config: dict[str, Any], out: Path) -> None:
    """Quantize, compress and save ``model`` with compressed-tensors' own machinery."""
    from compressed_tensors.compressors import ModelCompressor
    from compressed_tensors.quantization import QuantizationConfig, QuantizationStatus, apply_quantization_config
    from compressed_tensors.quantization.utils import calculate_qparams

    from qconform.backends.compressed_tensors import observe_min_max

    parsed = QuantizationConfig.model_validate(quantization_config)
    apply_quantization_config(model, parsed, show_progress=False)
    for module in model.modules():
        scheme = getattr(module, "quantization_scheme", None)
        if scheme is None or scheme.weights is None:
            continue
        scale, zero_point = calculate_qparams(*observe_min_max(module.weight.data, scheme.weights), scheme.weights)
        module.weight_scale.data.copy_(scale)
        if hasattr(module, "weight_zero_point"):
            module.weight_zero_point.data.copy_(zero_point)
        module.quantization_status = QuantizationStatus.FROZEN
    compressor = ModelCompressor.from_pretrained_model(model, quantization_format=parsed.format)
    compressor.compress_model(model)
    model.save_pretrained(out)
    compressor.update_config(out)


def prequantized_checkpoint(
    method_key: str = "ref-compressed-tensors",
    arch: str = "llama",
    config: Any = None,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> Path:
    """The cached compressed-tensors checkpoint of the tiny ``arch`` for ``method_key`` (see module doc)."""
    if method_key not in METHODS:
        raise ValueError(f"the compressed-tensors writer writes {METHODS}, not {method_key!r}")
    fields = real_config(config) if method_key == "compressed-tensors" else twin_config(config).to_dict()

    def build(staging: Path) -> None:
        from transformers import AutoModelForCausalLM

        from qconform.inputs.tiny_models import tiny_checkpoint, tiny_model

        with quiet():
            if method_key == "compressed-tensors":
                write_with_compressed_tensors(tiny_model(arch, seed, dtype), fields, staging)
                return
            twin = RefCompressedTensorsConfig(**fields)
            model = AutoModelForCausalLM.from_pretrained(
                tiny_checkpoint(arch, seed, dtype), quantization_config=twin, dtype=dtype, device_map="cpu"
            )
            model.save_pretrained(staging)

    depends_on = {
        "method": method_key,
        "arch": arch,
        "seed": seed,
        "dtype": str(dtype),
        "config": fields,
        "versions": package_versions("compressed-tensors"),
    }
    return cached_checkpoint(f"{method_key}-{arch}", depends_on, build)
