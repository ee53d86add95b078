"""Writing a checkpoint once: a directory named by a hash of everything it depends on, renamed into place."""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

#: bump when a writer changes what it writes, so that stale cached checkpoints are not reused
WRITER_VERSION = 1


def package_versions(*distributions: str) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in ("torch", "transformers", *distributions):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def cached_checkpoint(name: str, depends_on: dict[str, Any], build: Callable[[Path], None]) -> Path:
    """``cache_dir()/prequantized/<name>-<hash>``, built by ``build(staging_dir)`` the first time.

    Safe across processes (xdist workers): each builds in its own staging directory and renames it into
    place; a loser of the race discards its copy, which is identical.
    """
    from qconform.inputs.tiny_models import cache_dir

    blob = json.dumps({"writer": WRITER_VERSION, **depends_on}, sort_keys=True, default=str)
    target = cache_dir() / "prequantized" / f"{name}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        build(staging)
        (staging / "qconform-writer.json").write_text(blob + "\n")
        with contextlib.suppress(OSError):
            staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def set_quantization_config(checkpoint: Path, quantization_config: dict[str, Any]) -> None:
    """Replace the ``quantization_config`` of a saved checkpoint's config.json."""
    path = Path(checkpoint) / "config.json"
    saved = json.loads(path.read_text())
    saved["quantization_config"] = quantization_config
    path.write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n")


def retarget(checkpoint: Path, quantization_config: dict[str, Any], out: Path) -> Path:
    """A copy of ``checkpoint`` in ``out`` whose config.json names another quantization_config (same tensors):
    how a twin's checkpoint is handed to the real quantizer and the other way round."""
    out = Path(out)
    shutil.copytree(checkpoint, out, dirs_exist_ok=True)
    set_quantization_config(out, quantization_config)
    return out


def config_object(cls_name: str, config: Any = None) -> Any:
    """transformers' ``cls_name`` config for ``config``: None gives its defaults, a dict its fields (the
    ``quant_method`` it writes itself aside), an object is returned as it is."""
    import transformers

    cls = getattr(transformers, cls_name)
    if config is None:
        return cls()
    if isinstance(config, dict):
        return cls(**{k: v for k, v in config.items() if k != "quant_method"})
    return config


def set_dtype(checkpoint: Path, dtype: Any) -> None:
    """Name ``dtype`` in a saved config.json: a model written from float32 weights whose tensors are ``dtype``
    loads in what config.json names when ``from_pretrained`` gets no dtype."""
    path = Path(checkpoint) / "config.json"
    saved = json.loads(path.read_text())
    saved["dtype"] = str(dtype).removeprefix("torch.")
    path.write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n")


def state_dict_checkpoint(
    method_key: str,
    arch: str,
    fields: dict[str, Any],
    quantize: Callable[[Any], tuple[dict[str, Any], dict[str, Any]]],
    *,
    seed: int,
    dtype: Any,
    model_dtype: Any = None,
    depends_on: dict[str, Any] | None = None,
) -> Path:
    """The cached checkpoint of the tiny ``arch`` whose state dict ``quantize(model)`` writes.

    ``quantize`` returns (state dict, quantization_config fields learnt while quantizing, e.g. SpQR's shapes);
    the saved config holds ``fields`` and those. The model is built in ``model_dtype`` (default: ``dtype``);
    where the two differ, config.json names ``dtype``, the dtype of the saved tensors.
    """
    from qconform.inputs.tiny_models import tiny_model
    from qconform.support.quiet import quiet

    built_in = dtype if model_dtype is None else model_dtype

    def build(staging: Path) -> None:
        with quiet():
            model = tiny_model(arch, seed, built_in)
            state, learnt = quantize(model)
            model.save_pretrained(staging, state_dict=state)
        set_quantization_config(staging, {**fields, **learnt})
        if built_in != dtype:
            set_dtype(staging, dtype)

    key = {"method": method_key, "arch": arch, "seed": seed, "dtype": str(dtype), "model_dtype": str(built_in)}
    return cached_checkpoint(f"{method_key}-{arch}", {**key, "config": fields, **(depends_on or {})}, build)
