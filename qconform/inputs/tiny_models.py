"""Tiny offline models built from configs with fixed seeds, and their checkpoints cached on disk.

Nothing is fetched from a hub. Sizes are small but keep the shapes quantizers care about: every
Linear's input width is a multiple of 128 (GPTQ/AWQ groups, FP8 128x128 blocks), one architecture
ties its output embedding to the input embedding and has biases, the other does not.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def _llama() -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=256,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        tie_word_embeddings=False,
    )


def _opt() -> Any:
    from transformers import OPTConfig

    return OPTConfig(
        vocab_size=256,
        hidden_size=128,
        ffn_dim=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=64,
        word_embed_proj_dim=128,
        tie_word_embeddings=True,
        enable_bias=True,
    )


ARCHITECTURES: dict[str, Callable[[], Any]] = {"llama": _llama, "opt": _opt}


def tiny_config(arch: str = "llama") -> Any:
    try:
        return ARCHITECTURES[arch]()
    except KeyError:
        raise ValueError(f"unknown tiny architecture {arch!r}; known: {sorted(ARCHITECTURES)}") from None


def tiny_model(arch: str = "llama", seed: int = 0, dtype: torch.dtype = torch.float32) -> Any:
    """A randomly initialised causal LM, the same for the same (arch, seed, dtype)."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(tiny_config(arch), dtype=dtype)
    return model.eval()


def cache_dir() -> Path:
    root = os.environ.get("QCONFORM_CACHE") or Path.home() / ".cache" / "qconform"
    return Path(root)


def _checkpoint_key(arch: str, seed: int, dtype: torch.dtype) -> str:
    import transformers

    config = tiny_config(arch).to_dict()
    blob = json.dumps([config, seed, str(dtype), transformers.__version__, torch.__version__], sort_keys=True)
    return f"{arch}-{str(dtype).removeprefix('torch.')}-s{seed}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def tiny_checkpoint(arch: str = "llama", seed: int = 0, dtype: torch.dtype = torch.float32) -> Path:
    """A saved full-precision checkpoint of ``tiny_model``, written once and reused (safe across processes)."""
    target = cache_dir() / "checkpoints" / _checkpoint_key(arch, seed, dtype)
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        tiny_model(arch, seed, dtype).save_pretrained(staging)
        with contextlib.suppress(OSError):  # another process won the race: its copy is identical
            staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def sample_input_ids(arch: str = "llama", batch: int = 2, length: int = 8, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    vocab = tiny_config(arch).vocab_size
    return torch.randint(0, vocab, (batch, length), generator=generator)
