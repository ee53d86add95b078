"""AutoRound checkpoints of the tiny models, written by the auto-round package itself.

``AutoRound(model, tokenizer, bits, group_size, sym, iters=0, disable_opt_rtn=True)`` is auto-round's zero-shot
path: plain round-to-nearest per group, no calibration data (``iters=0``: no SignRound tuning, so nothing is
fetched from a hub), then ``quantize_and_save(format="auto_round")``, the format ``AutoRoundQuantizer`` loads.
auto-round asks for a tokenizer even on this path (its model context checks before it knows no calibration is
needed), so the writer hands it a word-level tokenizer over the tiny model's vocabulary, built offline; it is
never used to encode anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from qconform.support.quiet import quiet
from reference_quantizers.writers.cache import cached_checkpoint, package_versions

FIELDS = ("bits", "group_size", "sym")


def fields_of(config: Any = None) -> dict[str, Any]:
    """The fields auto-round quantizes by, from an ``AutoRoundConfig``, a dict of one, or None (its defaults)."""
    from transformers import AutoRoundConfig

    if config is None:
        config = AutoRoundConfig()
    values = config if isinstance(config, dict) else config.to_dict()
    defaults = AutoRoundConfig().to_dict()
    return {name: values.get(name, defaults[name]) for name in FIELDS}


def offline_tokenizer(vocab_size: int) -> Any:
    """A word-level tokenizer whose tokens ``t0``..``t<n-1>`` are the model's ids (no files, no hub)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {f"t{i}": i for i in range(vocab_size)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="t0"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="t0", eos_token="t1")


def write_with_auto_round(model: Any, fields: dict[str, Any], out: Path) -> Path:
    """Quantize ``model`` with auto-round's round-to-nearest path and save it in its own format; returns the
    directory holding config.json (auto-round may add a subdirectory named after the scheme)."""
    from auto_round import AutoRound

    tokenizer = offline_tokenizer(model.config.vocab_size)
    rounder = AutoRound(model, tokenizer, iters=0, disable_opt_rtn=True, device_map="cpu", **fields)
    rounder.quantize_and_save(str(out), format="auto_round")
    return next(path.parent for path in sorted(out.rglob("config.json")))


def prequantized_checkpoint(
    method_key: str = "auto-round",
    arch: str = "llama",
    config: Any = None,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> Path:
    """The cached auto-round checkpoint of the tiny ``arch`` quantized with ``config``'s bits, group size, sym."""
    if method_key != "auto-round":
        raise ValueError(f"the auto-round writer writes 'auto-round' checkpoints, not {method_key!r}")
    fields = fields_of(config)

    def build(staging: Path) -> None:
        import shutil

        from qconform.inputs.tiny_models import tiny_model

        scratch = staging / ".auto-round"
        with quiet():
            written = write_with_auto_round(tiny_model(arch, seed, dtype), fields, scratch)
        for item in written.iterdir():
            shutil.move(str(item), staging / item.name)
        shutil.rmtree(scratch, ignore_errors=True)

    depends_on = {
        "method": method_key,
        "arch": arch,
        "seed": seed,
        "dtype": str(dtype),
        "config": fields,
        "versions": package_versions("auto-round"),
    }
    return cached_checkpoint(f"{method_key}-{arch}", depends_on, build)
