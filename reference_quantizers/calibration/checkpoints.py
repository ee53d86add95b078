"""Cached pre-quantized tiny checkpoints, so that checks can ``from_pretrained`` methods that need calibration.

``prequantized_checkpoint("gptq", "llama", GPTQConfig(bits=4))`` returns a directory with a tiny
Llama quantized by the GPTQ twin and the real ``quantization_config`` (``quant_method: gptq``);
``"ref-gptq"`` gives the same tensors under the twin's key. Checkpoints are written once under
``qconform.inputs.tiny_models.cache_dir() / "prequantized"`` and reused; the cache key covers the method,
architecture, config, calibration, library versions and the source of the numerics that wrote them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from reference_quantizers.calibration.data import Calibration

METHODS = ("gptq", "ref-gptq", "awq", "ref-awq")


def _family(method_key: str) -> tuple[type, Callable[..., Path]]:
    from reference_quantizers.calibration import writers

    if method_key in ("gptq", "ref-gptq"):
        from reference_quantizers.gptq import RefGptqConfig

        return RefGptqConfig, writers.write_gptq_checkpoint
    if method_key in ("awq", "ref-awq"):
        from reference_quantizers.awq import RefAwqConfig

        return RefAwqConfig, writers.write_awq_checkpoint
    raise ValueError(f"no pre-quantized checkpoint writer for {method_key!r}; known: {list(METHODS)}")


def _sources_digest() -> str:
    """Digest of the code that decides the checkpoint's bytes, so that a change of it invalidates the cache."""
    import reference_quantizers.calibration as calibration
    import reference_quantizers.formats as numerics

    digest = hashlib.sha256()
    for package in (numerics, calibration):
        for path in sorted(Path(package.__file__).parent.glob("*.py")):
            digest.update(path.read_bytes())
    for name in ("gptq.py", "awq.py"):
        digest.update((Path(numerics.__file__).parent.parent / name).read_bytes())
    return digest.hexdigest()


def prequantized_checkpoint(
    method_key: str, arch: str = "llama", config: Any | None = None, *, calibration: Calibration | None = None
) -> Path:
    """A tiny ``arch`` checkpoint pre-quantized by the twin of ``method_key`` ("gptq", "ref-gptq", "awq", "ref-awq").

    ``config``: the real config (``GPTQConfig`` / ``AwqConfig``), the twin's, or None for the default.
    The checkpoint carries ``quant_method`` ``method_key``. Safe across processes (atomic rename).
    """
    import transformers

    from qconform.inputs.tiny_models import cache_dir, tiny_checkpoint

    config_class, write = _family(method_key)
    if config is None:
        twin = config_class()
    else:
        twin = config if isinstance(config, config_class) else config_class.from_real(config)
    calibration = calibration or Calibration()
    source = tiny_checkpoint(arch)
    fields = {k: v for k, v in twin.to_dict().items() if k != "dataset"}
    versions = [transformers.__version__, torch.__version__, _sources_digest()]
    blob = json.dumps(
        [method_key, source.name, fields, calibration.key(), *versions],
        sort_keys=True,
        default=str,
    )
    target = cache_dir() / "prequantized" / f"{method_key}-{arch}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        write(source, staging, twin, calibration, real=not method_key.startswith("ref-"))
        with contextlib.suppress(OSError):  # another process won the race: its copy is identical
            staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
