"""Tiny offline models built from configs with fixed seeds, and their checkpoints cached on disk.

Nothing is fetched from a hub. Sizes are small but keep the shapes quantizers care about: every
Linear's input width is a multiple of 128 (GPTQ/AWQ groups, FP8 128x128 blocks), one architecture
ties its output embedding to the input embedding and has biases, the other does not. A third, gpt-oss,
is a mixture of experts whose experts are 3-D parameters rather than Linears (``expert_weights``): the
only modules MXFP4 converts.
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

from qconform.support.cache_home import cache_home


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


def _gpt_oss() -> Any:
    """gpt-oss with 4 experts, 2 per token. The experts' reduction widths (hidden 128 for gate_up_proj,
    intermediate 128 for down_proj) are multiples of MXFP4's blocks of 32 and of 128; attention has sinks and
    alternates a sliding window of 4 (shorter than ``sample_input_ids``' 8 tokens, so it masks) with full layers.
    gpt-oss has no sdpa path: it runs eager on the CPU. Default rope: the hub config's yarn scaling needs
    positions the tiny model does not have."""
    from transformers import GptOssConfig

    return GptOssConfig(
        vocab_size=256,
        hidden_size=128,
        intermediate_size=128,
        num_hidden_layers=2,
        num_local_experts=4,
        num_experts_per_tok=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32,
        sliding_window=4,
        max_position_embeddings=64,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        tie_word_embeddings=False,
    )


ARCHITECTURES: dict[str, Callable[[], Any]] = {"llama": _llama, "opt": _opt, "gpt_oss": _gpt_oss}


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
    return cache_home()


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


def expert_weights(model: torch.nn.Module) -> dict[str, tuple[torch.Tensor, bool]]:
    """The 3-D expert weights of a mixture-of-experts model, by parameter name, with whether they are stored
    [experts, in, out] (``True``: the experts module's ``is_transposed``, gpt-oss) or [experts, out, in].

    MoE quantizers convert these, not Linears (MXFP4: ``Mxfp4GptOssExperts`` replaces gpt-oss' experts). An
    experts module is one transformers' ``use_experts_implementation`` built (it sets ``is_transposed``); its
    weights are its floating 3-D parameters, the ``*_bias`` ones aside."""
    found: dict[str, tuple[torch.Tensor, bool]] = {}
    for name, module in model.named_modules():
        transposed = getattr(module, "is_transposed", None)
        if not isinstance(transposed, bool):
            continue
        for param_name, param in module.named_parameters(recurse=False):
            if param.ndim == 3 and param.is_floating_point() and not param_name.endswith("_bias"):
                found[f"{name}.{param_name}"] = (param, transposed)
    return found


def expert_matrices(weight: torch.Tensor, transposed: bool) -> torch.Tensor:
    """Views of a 3-D expert weight as [experts, out, in]: each expert as a Linear weight would hold it."""
    return weight.transpose(1, 2) if transposed else weight


def sample_input_ids(arch: str = "llama", batch: int = 2, length: int = 8, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    vocab = tiny_config(arch).vocab_size
    return torch.randint(0, vocab, (batch, length), generator=generator)


# --- hostile checkpoints ----------------------------------------------------------------------
# Rows planted in every Linear weight of the hostile tiny models (the output embedding aside), as data:
# (row, kind, value). Ordinary rows keep the seeded random init (std 0.02). What each one provokes:
#   zero_row        the whole row 0: a per-row or per-group scale of max|row| = 0 divides by zero
#   zero_block      rows 1-2, columns [in/2, in): whole groups of 32 and 64 (and 128 where in >= 256)
#   zero_group      row 3, columns [32, 64): one group of 32 inside an ordinary row
#   constant        row 4, every element 0.05: max - min = 0, an asymmetric (min-max) scale divides by zero
#   subnormal       row 6, the ordinary row times 1e-4 (|x| < 6.1e-5: float16's subnormal range); a format
#                   with one scale per tensor or tile may flush it (see the per-row bound of the checks)
# and, in the last decoder layer only (EXTREME_LAYER: the first keeps an ordinary dynamic range, so a per-tensor
# format's rows are held to the bound there):
#   outlier         row 5, ordinary but column 7 set to 10.0 (500 standard deviations): clipping searches
#   near_fp16_max   row 7, ordinary but +60000 and -60000 in the dead columns (below): max - min overflows
#                   float16, so a min-max scale computed in float16 is infinite. Planted only in Linears fed
#                   by a norm, whose dead columns always see an exact zero input: the unquantized model stays
#                   finite in float16 (0 x 60000 = 0), a quantizer that makes the weight infinite or NaN
#                   gives NaN (0 x inf)
# and ZERO_TILE: rows [64, 128) x columns [64, 128) zero where a Linear has 128 rows or more (a whole tile of
# 2-D block formats up to 64 x 64).
HOSTILE_ROWS: tuple[tuple[int, str, float], ...] = (
    (0, "zero_row", 0.0),
    (1, "zero_block", 0.0),
    (2, "zero_block", 0.0),
    (3, "zero_group", 0.0),
    (4, "constant", 0.05),
    (5, "outlier", 10.0),
    (6, "subnormal", 1e-4),
    (7, "near_fp16_max", 60000.0),
)
EXTREME_KINDS = ("outlier", "near_fp16_max")
EXTREME_LAYER = 1
ZERO_TILE = (slice(64, 128), slice(64, 128))
OUTLIER_COLUMN = 7
ZERO_GROUP = slice(32, 64)
# hidden channels every norm zeroes (weight and bias): no Linear fed by a norm ever sees them
DEAD_CHANNELS = (126, 127)
# the Linears each architecture feeds from a norm (their input columns DEAD_CHANNELS are always zero)
NORM_FED = {
    "llama": ("q_proj", "k_proj", "v_proj", "gate_proj", "up_proj"),
    "opt": ("q_proj", "k_proj", "v_proj", "fc1"),
    "gpt_oss": ("q_proj", "k_proj", "v_proj", "gate_up_proj"),  # gate_up_proj: each expert's, as a Linear sees it
}


def planted_kinds(arch: str, name: str) -> tuple[str, ...]:
    """The HOSTILE_ROWS kinds planted in the Linear ``name`` of a hostile ``arch`` model (or in every expert of
    the 3-D expert weight ``name``)."""
    extreme = f".layers.{EXTREME_LAYER}." in f".{name}"
    fed = name.rsplit(".", 1)[-1] in NORM_FED[arch]
    return tuple(
        kind
        for _, kind, _ in HOSTILE_ROWS
        if kind not in EXTREME_KINDS or (extreme and (kind != "near_fp16_max" or fed))
    )


def zero_mask(shape: tuple[int, int]) -> torch.Tensor:
    """Where a hostile Linear weight of this shape holds planted zeros (rows, blocks, group, tile)."""
    rows, cols = shape
    mask = torch.zeros(shape, dtype=torch.bool)
    for row, kind, _ in HOSTILE_ROWS:
        if row >= rows:
            continue
        if kind == "zero_row":
            mask[row] = True
        elif kind == "zero_block":
            mask[row, cols // 2 :] = True
        elif kind == "zero_group":
            mask[row, ZERO_GROUP] = True
    if rows >= ZERO_TILE[0].stop and cols >= ZERO_TILE[1].stop:
        mask[ZERO_TILE] = True
    return mask


EXACT_GROUP = 128  # the widest common scale group: a planted zero segment filling whole aligned groups stays zero


def exact_zero_mask(shape: tuple[int, int]) -> torch.Tensor:
    """The planted zeros every format must give back exactly: whole zero rows, and zero segments filling whole
    aligned groups of EXACT_GROUP columns (so whole groups of 32 and 64 too). A zero segment sharing a scale
    group with nonzero values need not: an asymmetric format with a float zero point (HQQ's) has no exact
    zero level there (ref-hqq, group 64, gives the zero group of 32 back as values up to 5e-4)."""
    mask = zero_mask(shape)
    rows, cols = shape
    exact = torch.zeros_like(mask)
    exact[mask.all(dim=1)] = True
    width = cols // EXACT_GROUP * EXACT_GROUP
    whole = mask[:, :width].reshape(rows, -1, EXACT_GROUP).all(dim=2)
    exact[:, :width] |= whole.repeat_interleave(EXACT_GROUP, dim=1)
    return exact


def row_kinds(shape: tuple[int, int], kinds: tuple[str, ...]) -> list[str]:
    """What each row of a hostile weight of this shape holding ``kinds`` is: a kind, "zero_tile" or "ordinary"."""
    rows, cols = shape
    labels = ["ordinary"] * rows
    if rows >= ZERO_TILE[0].stop and cols >= ZERO_TILE[1].stop:
        labels[ZERO_TILE[0]] = ["zero_tile"] * (ZERO_TILE[0].stop - ZERO_TILE[0].start)
    for row, kind, _ in HOSTILE_ROWS:
        if row < rows and kind in kinds:
            labels[row] = kind
    return labels


def plant_hostile_rows(weight: torch.Tensor, kinds: tuple[str, ...]) -> torch.Tensor:
    """A copy of ``weight`` (out x in) with the HOSTILE_ROWS of ``kinds`` planted."""
    w = weight.detach().to(torch.float32).clone()
    for row, kind, value in HOSTILE_ROWS:
        if row >= w.shape[0] or kind not in kinds:
            continue
        if kind == "constant":
            w[row] = value
        elif kind == "outlier":
            w[row, OUTLIER_COLUMN] = value
        elif kind == "subnormal":
            w[row] *= value
        elif kind == "near_fp16_max":
            w[row, DEAD_CHANNELS[0]], w[row, DEAD_CHANNELS[1]] = value, -value
    w[zero_mask(tuple(w.shape))] = 0.0
    return w.to(weight.dtype)


def _is_norm(module: torch.nn.Module) -> bool:
    return isinstance(module, torch.nn.LayerNorm) or type(module).__name__.endswith(("RMSNorm", "LayerNorm"))


def hostile_model(arch: str = "llama", seed: int = 0, dtype: torch.dtype = torch.float32) -> Any:
    """``tiny_model`` with HOSTILE_ROWS planted in every Linear but the output embedding and in every expert of
    each 3-D expert weight (``expert_weights``: rows are the expert's outputs), and DEAD_CHANNELS zeroed in every
    norm (the model computes what a model of 126 channels would)."""
    model = tiny_model(arch, seed, dtype)
    head = model.get_output_embeddings()
    with torch.no_grad():
        for name, (weight, transposed) in expert_weights(model).items():
            matrices = expert_matrices(weight, transposed)
            for expert in range(matrices.shape[0]):
                matrices[expert].copy_(plant_hostile_rows(matrices[expert], planted_kinds(arch, name)))
        for name, module in model.named_modules():
            if _is_norm(module):
                for tensor in (module.weight, getattr(module, "bias", None)):
                    if tensor is not None:
                        tensor[list(DEAD_CHANNELS)] = 0.0
            elif type(module) is torch.nn.Linear and module is not head:
                module.weight.copy_(plant_hostile_rows(module.weight, planted_kinds(arch, name)))
    return model


def hostile_checkpoint(arch: str = "llama", seed: int = 0, dtype: torch.dtype = torch.float32) -> Path:
    """A saved ``hostile_model``, written once and reused (its key covers the planted layout)."""
    layout = [HOSTILE_ROWS, EXTREME_KINDS, EXTREME_LAYER, str(ZERO_TILE), OUTLIER_COLUMN, str(ZERO_GROUP)]
    blob = json.dumps([*layout, DEAD_CHANNELS, NORM_FED[arch], "experts: per expert, rows are outputs"])
    key = f"hostile-{_checkpoint_key(arch, seed, dtype)}-{hashlib.sha256(blob.encode()).hexdigest()[:8]}"
    return _write_once(cache_dir() / "checkpoints" / key, lambda: hostile_model(arch, seed, dtype))


def _write_once(target: Path, build: Callable[[], Any]) -> Path:
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        build().save_pretrained(staging)
        with contextlib.suppress(OSError):  # another process won the race: its copy is identical
            staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
