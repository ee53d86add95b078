"""The GGUF writer: its file, read back with gguf's own reader and dequantizer, holds the tiny llama within each
quant type's bound under llama.cpp's names and metadata; transformers loads it into exactly gguf's round trip of
the tiny model's weights (so the q/k permutation is the one the loader reverses); and a writer that forgets the
permutation, or permutes k with the query head count, is caught by the same comparison."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("gguf", reason="the GGUF writer needs the gguf package (pip install gguf)")

import gguf
from transformers import LlamaForCausalLM

from qconform.inputs.tiny_models import tiny_model
from qconform.specs.misc import SPECS
from qconform.support import lifecycle
from reference_quantizers.writers.gguf import (
    GGUF_FILE,
    QUANT_TYPES,
    permute_for_gguf,
    prequantized_checkpoint,
    write_gguf,
)

Q = gguf.GGMLQuantizationType
# worst |x - x'| per element, in units of the block's step |d| (gguf-py quants.py): Q4_0 rounds half up to codes
# -8..7 with d = -absmax/8, so the block's opposite extreme (+8 steps) clips to 7 (one whole step); Q8_0 rounds
# to nearest with d = absmax/127 (half a step). Each adds d's float16 rounding times the largest code (2^-11 x 8
# and x 127 steps).
STEP = {Q.Q4_0: 8.0, Q.Q8_0: 127.0}
WORST = {Q.Q4_0: 1.0 + 8 * 2.0**-11, Q.Q8_0: 0.5 + 127 * 2.0**-11}


def _load(path: Path) -> torch.nn.Module:
    return LlamaForCausalLM.from_pretrained(path, gguf_file=GGUF_FILE, device_map={"": "cpu"}).eval()


def _round_trip(weight: torch.Tensor, kind) -> torch.Tensor:
    """gguf's own quantize then dequantize of a weight (row blocks of 32)."""
    data = weight.detach().float().numpy()
    return torch.from_numpy(np.ascontiguousarray(gguf.quants.dequantize(gguf.quants.quantize(data, kind), kind)))


def _over_bound(reference: torch.Tensor, found: torch.Tensor, kind) -> int:
    """How many elements of ``found`` lie farther from ``reference`` than the type's worst case for its block."""
    if kind == Q.F32:
        return int((reference != found).sum())
    rows = reference.shape[0]
    absmax = reference.reshape(rows, -1, 32).abs().amax(-1, keepdim=True)
    bound = (WORST[kind] * absmax / STEP[kind]).expand(-1, -1, 32).reshape(reference.shape)
    return int(((found - reference).abs() > bound * (1 + 1e-6)).sum())


def _expected_kind(name: str, quant_type: str):
    if not name.endswith(".weight") or "norm" in name:
        return Q.F32
    return Q.Q8_0 if name == "output.weight" else Q[quant_type]


def _by_gguf_name(model: torch.nn.Module) -> dict[str, str]:
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, model.config.num_hidden_layers)
    return {f"{names.get_name(n.rsplit('.', 1)[0])}.weight": n for n in model.state_dict()}


@pytest.mark.parametrize("quant_type", QUANT_TYPES)
def test_file_holds_the_tiny_llama_within_the_types_bound(quant_type):
    """gguf's reader finds llama.cpp's metadata and names, each tensor in the type a MOSTLY_<type> file uses, and
    gguf's dequantize gives the (q/k-permuted) tiny weights within the type's per-block worst case."""
    path = prequantized_checkpoint(quant_type=quant_type) / GGUF_FILE
    reader = gguf.GGUFReader(path)
    model = tiny_model("llama")
    config = model.config

    def field(key):
        part = reader.fields[key]
        return part.contents()

    assert field("general.architecture") == "llama"
    assert field("llama.block_count") == config.num_hidden_layers
    assert field("llama.embedding_length") == config.hidden_size
    assert field("llama.feed_forward_length") == config.intermediate_size
    assert field("llama.attention.head_count") == config.num_attention_heads
    assert field("llama.attention.head_count_kv") == config.num_key_value_heads
    assert field("llama.rope.dimension_count") == config.hidden_size // config.num_attention_heads
    assert field("llama.vocab_size") == config.vocab_size
    assert field("general.file_type") == gguf.LlamaFileType[f"MOSTLY_{quant_type}"]

    hf_names = _by_gguf_name(model)
    state = model.state_dict()
    assert sorted(t.name for t in reader.tensors) == sorted(hf_names)
    for tensor in reader.tensors:
        kind = _expected_kind(tensor.name, quant_type)
        assert tensor.tensor_type == kind, tensor.name
        weight = state[hf_names[tensor.name]].float()
        if ".attn_q." in tensor.name:
            weight = permute_for_gguf(weight, config.num_attention_heads)
        elif ".attn_k." in tensor.name:
            weight = permute_for_gguf(weight, config.num_attention_heads, config.num_key_value_heads)
        found = torch.from_numpy(np.array(gguf.dequantize(tensor.data, tensor.tensor_type), copy=True))
        found = found.reshape(weight.shape)
        assert _over_bound(weight, found, kind) == 0, tensor.name
        if kind != Q.F32:  # the bound is not loose: the round trip moves most elements
            assert int((found != weight).sum()) > weight.numel() // 2, tensor.name


def test_permutation_interleaves_the_rotary_halves():
    """llama.cpp's layout of one head of 4 query rows: HF's halves (0, 1 | 2, 3) become pairs (0, 2, 1, 3); with
    2 kv heads the permutation runs per kv head."""
    rows = torch.arange(8.0).reshape(8, 1)
    assert permute_for_gguf(rows[:4], 1).flatten().tolist() == [0, 2, 1, 3]
    assert permute_for_gguf(rows, 4, 2).flatten().tolist() == [0, 2, 1, 3, 4, 6, 5, 7]


def _load_mismatches(model: torch.nn.Module, quant_type: str) -> list[str]:
    """Tensors of ``model`` that are not exactly gguf's round trip of the tiny model's (norms: exactly equal)."""
    reference = tiny_model("llama")
    loaded = model.state_dict()
    wrong = []
    for name, weight in reference.state_dict().items():
        kind = Q.F32 if weight.dim() < 2 else (Q.Q8_0 if name == "lm_head.weight" else Q[quant_type])
        expected = weight if kind == Q.F32 else _round_trip(weight, kind)
        if loaded[name].dtype != torch.float32 or not torch.equal(loaded[name], expected):
            gap = float((loaded[name].float() - expected).abs().max())
            wrong.append(f"{name}: off by up to {gap:.3g}")
    return wrong


@pytest.mark.parametrize("quant_type", QUANT_TYPES)
def test_transformers_loads_exactly_the_round_trip_of_the_tiny_weights(quant_type):
    """Loaded with from_pretrained(dir, gguf_file=...), every tensor is bit for bit gguf's round trip of the tiny
    model's (quantizing row blocks commutes with permuting rows, so a right un-permutation gives exactly that),
    the config matches the tiny one, and the logits stay near full precision."""
    model = _load(prequantized_checkpoint(quant_type=quant_type))
    assert _load_mismatches(model, quant_type) == []
    tiny = tiny_model("llama").config
    for key in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "vocab_size"):
        assert getattr(model.config, key) == getattr(tiny, key), key
    assert model.config.num_key_value_heads == tiny.num_key_value_heads
    assert model.config.tie_word_embeddings is False
    drift = lifecycle.logits(model, "llama") - lifecycle.logits(tiny_model("llama"), "llama")
    bound = {"Q4_0": 0.25, "Q8_0": 0.02}[quant_type]
    assert float(drift.norm() / lifecycle.logits(tiny_model("llama"), "llama").norm()) <= bound


@pytest.mark.parametrize(
    "planted, wrong_names",
    [
        (lambda w, n_head, n_kv=None: w, ("q_proj", "k_proj")),  # no permutation at all
        (lambda w, n_head, n_kv=None: permute_for_gguf(w, n_head), ("k_proj",)),  # k permuted with the query heads
    ],
    ids=["no-permutation", "k-with-query-heads"],
)
def test_a_wrong_permutation_is_caught(tmp_path, planted, wrong_names):
    """A writer whose q/k layout is not llama.cpp's loads into wrong q/k weights, and the comparison names them."""
    model = tiny_model("llama")
    write_gguf(model, tmp_path / GGUF_FILE, "Q8_0", permute=planted)
    wrong = _load_mismatches(_load(tmp_path), "Q8_0")
    flagged = {line.split(".weight")[0].rsplit(".", 1)[-1] for line in wrong}
    assert flagged == set(wrong_names), wrong


def test_bound_catches_a_coarser_type(tmp_path):
    """The file-level bound is tight enough to tell Q4_0 blocks from the Q8_0 they claim to be."""
    weight = tiny_model("llama").model.layers[0].mlp.up_proj.weight.detach().float()
    assert _over_bound(weight, _round_trip(weight, Q.Q8_0), Q.Q8_0) == 0
    assert _over_bound(weight, _round_trip(weight, Q.Q4_0), Q.Q8_0) > weight.numel() // 2


def test_lifecycle_load_passes_the_gguf_file_and_gets_the_legacy_loader():
    """The gguf spec's checkpoint loads through lifecycle.load (which names the file as gguf_file) into what the
    spec's notes say: transformers' legacy loader for llama, a plain model marked quantized by GgufHfQuantizer."""
    spec = next(s for s in SPECS if s.method == "gguf")
    config = spec.inputs.default_config()
    path, pre_quantized = lifecycle.checkpoint_for(spec, config, "llama")
    assert pre_quantized and lifecycle.file_kwargs(path) == {"gguf_file": GGUF_FILE}
    model = lifecycle.load(spec, config, "cpu", "llama")
    assert type(model.hf_quantizer).__name__ == "GgufHfQuantizer" and model.hf_quantizer.supported is False
    assert set(lifecycle.states(model, "llama").values()) == {lifecycle.FULL}
    assert _load_mismatches(model, "Q4_0") == []


def test_file_kwargs_refuses_two_gguf_files(tmp_path):
    (tmp_path / "a.gguf").write_bytes(b"")
    assert lifecycle.file_kwargs(tmp_path) == {"gguf_file": "a.gguf"}
    (tmp_path / "b.gguf").write_bytes(b"")
    with pytest.raises(ValueError, match="several GGUF files"):
        lifecycle.file_kwargs(tmp_path)
    assert lifecycle.file_kwargs(tmp_path / "missing") == {}


@pytest.mark.parametrize("arch, quant_type", [("opt", "Q4_0"), ("llama", "Q4_K")])
def test_writer_refuses_what_it_cannot_write(arch, quant_type):
    with pytest.raises(ValueError, match="GGUF writer"):
        prequantized_checkpoint("gguf", arch, quant_type=quant_type)
