"""GGUF checkpoints of the tiny llama, written with the gguf package (llama.cpp's gguf-py): its ``GGUFWriter``
for the file, its ``quants.quantize`` for the blocks, its tensor-name map for the names.

What transformers 5.25 reads back, and so what the file must say:
- the config comes from the metadata alone (``modeling_gguf_pytorch_utils.load_gguf_checkpoint`` through
  ``integrations/ggml.py`` GGUF_CONFIG_MAPPING["llama"]): context length, block count, feed-forward length,
  embedding length, rope dimension count (read as ``head_dim``), rope base, head counts, RMS epsilon and vocab
  size; ``tie_word_embeddings`` is read from whether ``output.weight`` is present. No tokenizer is needed to
  load the model (the vocab size is stated), so the directory holds no tokenizer;
- llama.cpp's converter permutes the rows of ``q_proj`` and ``k_proj`` (``LlamaModel.permute`` in
  convert_hf_to_gguf.py: within each head, the interleaved rotary pairs become two halves) and the loader
  reverses it (``LlamaTensorProcessor._reverse_permute_weights``, with the kv head count for ``k_proj``); the
  writer applies the forward permutation. Quantization blocks run along a row, so permuting rows commutes with
  quantizing: the loaded weight is exactly the block round trip of the tiny model's weight.

Quant types (``quant_type``): "Q4_0" is llama.cpp's MOSTLY_Q4_0 file: every 2-D weight in Q4_0 blocks (32
values, one float16 scale, codes -8..7) but the output head in Q8_0 (llama.cpp keeps the head finer, in Q6_K,
whose super-blocks of 256 the tiny model's rows of 128 cannot hold); "Q8_0" is MOSTLY_Q8_0: every 2-D weight
in Q8_0 (32 values, one float16 scale, codes -127..127). Norm weights stay F32, as llama.cpp writes them.
``GgufConfig`` has no field for the quant type (a GGUF file states it per tensor), so the writer takes it as a
keyword and the checks use the default.

``config.json`` beside the file holds the tiny model's plain config: the cache's mark of a finished
checkpoint, and what a tool that reads a directory's config finds. ``from_pretrained(dir, gguf_file=...)``
reads the config from the file, not from it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from qconform.support.quiet import quiet
from reference_quantizers.writers.cache import cached_checkpoint, package_versions

GGUF_FILE = "model.gguf"
QUANT_TYPES = ("Q4_0", "Q8_0")  # the whole-file types the writer offers (llama.cpp's MOSTLY_<type>)
ARCHITECTURES = ("llama",)  # tiny architectures with a GGUF layout here: OPT has none in llama.cpp


def permute_for_gguf(weight: torch.Tensor, n_head: int, n_head_kv: int | None = None) -> torch.Tensor:
    """llama.cpp's row permutation of a q or k projection (``LlamaModel.permute``): per head, rows
    ``(pair, 2)`` become ``(2, pair)``; ``n_head_kv`` (k_proj) replaces ``n_head`` where it differs."""
    if n_head_kv is not None and n_head_kv != n_head:
        n_head = n_head_kv
    rows = weight.shape[0]
    return weight.reshape(n_head, 2, rows // n_head // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def tensor_type(quant_type: str, gguf_name: str, tensor: torch.Tensor) -> Any:
    """The ``GGMLQuantizationType`` a MOSTLY_``quant_type`` file stores ``gguf_name`` in."""
    from gguf import GGMLQuantizationType

    if quant_type not in QUANT_TYPES:
        raise ValueError(f"the GGUF writer writes {QUANT_TYPES}, not {quant_type!r}")
    if tensor.dim() < 2:
        return GGMLQuantizationType.F32
    if gguf_name == "output.weight":
        return GGMLQuantizationType.Q8_0
    return GGMLQuantizationType[quant_type]


def gguf_tensors(
    model: nn.Module, quant_type: str = "Q4_0", permute: Callable[..., torch.Tensor] = permute_for_gguf
) -> dict[str, tuple[np.ndarray, Any]]:
    """``{gguf name: (data, GGMLQuantizationType)}`` for a tiny llama: names from gguf's own tensor-name map,
    q/k rows permuted with ``permute`` (a test swaps in a wrong one), 2-D weights quantized by gguf's quants."""
    import gguf

    config = model.config
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
    out: dict[str, tuple[np.ndarray, Any]] = {}
    for hf_name, tensor in model.state_dict().items():
        base, suffix = hf_name.rsplit(".", 1)
        mapped = names.get_name(base)
        if mapped is None:
            raise KeyError(f"gguf's llama tensor map has no name for {hf_name}")
        name = f"{mapped}.{suffix}"
        weight = tensor.detach().float().cpu()
        if base.endswith("self_attn.q_proj"):
            weight = permute(weight, config.num_attention_heads, config.num_attention_heads)
        elif base.endswith("self_attn.k_proj"):
            weight = permute(weight, config.num_attention_heads, config.num_key_value_heads)
        kind = tensor_type(quant_type, name, weight)
        data = weight.numpy()
        if kind != gguf.GGMLQuantizationType.F32:
            data = gguf.quants.quantize(data, kind)
        out[name] = (data, kind)
    return out


def write_gguf(
    model: nn.Module, path: Path, quant_type: str = "Q4_0", permute: Callable[..., torch.Tensor] = permute_for_gguf
) -> Path:
    """Write the tiny llama ``model`` as one GGUF file at ``path``, with the llama metadata transformers reads
    (``permute``: see ``gguf_tensors``)."""
    import gguf

    config = model.config
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    writer = gguf.GGUFWriter(str(path), arch="llama")
    writer.add_name("qconform tiny llama")
    writer.add_context_length(config.max_position_embeddings)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_embedding_length(config.hidden_size)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float(config.rope_parameters["rope_theta"]))
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(config.vocab_size)
    writer.add_file_type(gguf.LlamaFileType[f"MOSTLY_{quant_type}"])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    for name, (data, kind) in gguf_tensors(model, quant_type, permute).items():
        writer.add_tensor(name, data, raw_dtype=kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def prequantized_checkpoint(
    method_key: str = "gguf",
    arch: str = "llama",
    config: Any = None,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    quant_type: str = "Q4_0",
) -> Path:
    """The cached directory holding ``GGUF_FILE`` (the tiny ``arch`` in ``quant_type``) and its plain config.

    ``config`` (a ``GgufConfig``, its dict, or None) says nothing about the file: its fields are loading options
    (``dequantize``) and the file's name, which ``from_pretrained`` takes as ``gguf_file``."""
    if method_key != "gguf":
        raise ValueError(f"the GGUF writer writes 'gguf' checkpoints, not {method_key!r}")
    if arch not in ARCHITECTURES:
        raise ValueError(f"the GGUF writer writes the tiny {ARCHITECTURES}, not {arch!r} (no GGUF layout for it)")
    if quant_type not in QUANT_TYPES:
        raise ValueError(f"the GGUF writer writes {QUANT_TYPES}, not {quant_type!r}")

    def build(staging: Path) -> None:
        from qconform.inputs.tiny_models import tiny_model

        with quiet():
            model = tiny_model(arch, seed, dtype)
            write_gguf(model, staging / GGUF_FILE, quant_type)
            model.config.save_pretrained(staging)

    depends_on = {
        "method": method_key,
        "arch": arch,
        "seed": seed,
        "dtype": str(dtype),
        "quant_type": quant_type,
        "versions": package_versions("gguf"),
    }
    return cached_checkpoint(f"{method_key}-{arch}-{quant_type.lower()}", depends_on, build)
