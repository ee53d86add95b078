"""Pre-quantized checkpoints written by the twins, loadable by the real quantizers and by the twins.

A writer loads the full-precision model, calibrates and quantizes it with the twin, and saves it.
``real=True`` writes the real method's ``quantization_config`` (``quant_method`` "gptq" / "awq") next
to the same tensors, so that transformers' own quantizer and backend load it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from reference_quantizers.calibration.data import Calibration


def _token_lists(calibration: Calibration | list[torch.Tensor], vocab_size: int) -> list[list[int]]:
    batches = calibration.batches(vocab_size) if isinstance(calibration, Calibration) else calibration
    return [row.tolist() for batch in batches for row in batch.reshape(-1, batch.shape[-1])]


def _save(model: Any, out_dir: str | Path, real_config: dict[str, Any] | None) -> Path:
    out = Path(out_dir)
    model.save_pretrained(out)
    if real_config is not None:
        path = out / "config.json"
        saved = json.loads(path.read_text())
        saved["quantization_config"] = real_config
        path.write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n")
    return out


def write_gptq_checkpoint(
    model_dir: str | Path,
    out_dir: str | Path,
    config: Any,
    calibration: Calibration | list[torch.Tensor] | None = None,
    *,
    real: bool = True,
) -> Path:
    """GPTQ-quantize the model in ``model_dir`` with the twin and save it to ``out_dir``.

    ``config``: a ``GPTQConfig`` or ``RefGptqConfig``; ``calibration``: a ``Calibration`` or token-id
    batches (default ``Calibration()``). ``real``: write ``quant_method: gptq`` (loads through
    ``GptqHfQuantizer``) instead of ``ref-gptq``.
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    from reference_quantizers.gptq import RefGptqConfig

    twin = config if isinstance(config, RefGptqConfig) else RefGptqConfig.from_real(config)
    vocab = AutoConfig.from_pretrained(model_dir).vocab_size
    if calibration is not None or twin.dataset is None:
        twin = RefGptqConfig(**{**twin.to_dict(), "dataset": _token_lists(calibration or Calibration(), vocab)})
    model = AutoModelForCausalLM.from_pretrained(model_dir, quantization_config=twin, device_map="cpu")
    return _save(model, out_dir, twin.to_real_dict() if real else None)


def write_awq_checkpoint(
    model_dir: str | Path,
    out_dir: str | Path,
    config: Any,
    calibration: Calibration | list[torch.Tensor] | None = None,
    *,
    real: bool = True,
) -> Path:
    """AWQ-quantize the model in ``model_dir`` with the twin (scale search, folding, int4 GEMM) and save it.

    ``config``: an ``AwqConfig`` or ``RefAwqConfig``. ``real``: write ``quant_method: awq`` (loads
    through ``AwqQuantizer`` and gptqmodel) instead of ``ref-awq``.
    """
    from transformers import AutoModelForCausalLM
    from transformers.quantizers.base import HfQuantizer

    from reference_quantizers.awq import RefAwqConfig, RefAwqLinear
    from reference_quantizers.calibration.awq import quantize_model
    from reference_quantizers.calibration.install import install

    twin = config if isinstance(config, RefAwqConfig) else RefAwqConfig.from_real(config)
    model = AutoModelForCausalLM.from_pretrained(model_dir, device_map="cpu")
    batches = calibration.batches(model.config.vocab_size) if isinstance(calibration, Calibration) else calibration
    batches = batches or twin.calibration_batches(model.config.vocab_size)
    twin = RefAwqConfig(**{**twin.to_dict(), "dataset": _token_lists(batches, model.config.vocab_size)})
    skip = HfQuantizer.get_modules_to_not_convert(
        model, twin.modules_to_not_convert, model._keep_in_fp32_modules, add_default_skips=True
    )
    stored = quantize_model(model, twin, batches, skip)
    install(model, RefAwqLinear, twin, list(stored), stored)
    model.config.quantization_config = twin
    return _save(model, out_dir, twin.to_real_dict() if real else None)
