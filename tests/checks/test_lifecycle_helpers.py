"""How lifecycle checks read a model: which Linear modules count as quantized, and skip-list matching."""

from __future__ import annotations

import torch
from torch import nn

from qconform.inputs.tiny_models import tiny_model
from qconform.support import lifecycle
from qconform.support.lifecycle import FULL, HALF, MISSING, QUANTIZED


class _Replaced(nn.Linear):
    pass


class _Packed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(4, 2, dtype=torch.uint8), requires_grad=False)


def test_states_of_a_plain_model_are_full_precision():
    assert set(lifecycle.states(tiny_model("opt"), "opt").values()) == {FULL}


def test_state_of_tells_replaced_half_done_and_missing():
    model = nn.Sequential(nn.Linear(2, 4), _Replaced(2, 4), _Packed())
    assert [lifecycle.state_of(model, n) for n in ("0", "1", "2", "9")] == [FULL, HALF, QUANTIZED, MISSING]


class _PackedExperts(nn.Module):
    """A quantizer's replacement for gpt-oss' experts: packed codes, or (half done) a float weight kept."""

    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.gate_up_proj = nn.Parameter(torch.zeros(4, 256, 64, dtype=dtype), requires_grad=False)


def test_expert_weights_are_candidates_and_read_like_linears():
    names = lifecycle.linear_names("gpt_oss")
    assert "model.layers.0.mlp.experts.gate_up_proj" in names and "model.layers.1.mlp.experts.down_proj" in names
    assert "model.layers.0.self_attn.q_proj" in names and not any(n.endswith("_bias") for n in names)
    assert set(lifecycle.states(tiny_model("gpt_oss"), "gpt_oss").values()) == {FULL}
    model = tiny_model("gpt_oss")
    unit = "model.layers.0.mlp.experts.gate_up_proj"
    model.model.layers[0].mlp.experts = _PackedExperts(torch.uint8)
    assert lifecycle.state_of(model, unit) == QUANTIZED
    model.model.layers[0].mlp.experts = _PackedExperts(torch.float32)
    assert lifecycle.state_of(model, unit) == HALF
    assert lifecycle.state_of(model, "model.layers.0.mlp.experts.down_proj") == MISSING


def test_skip_list_matching_follows_transformers():
    assert lifecycle.skipped_by("model.layers.0.self_attn.q_proj", ["q_proj"])
    assert lifecycle.skipped_by("model.layers.1.mlp.up_proj", ["model.layers.1"])
    assert not lifecycle.skipped_by("model.layers.11.mlp.up_proj", ["model.layers.1"])


def test_output_embedding_and_keep_fp32_class():
    assert lifecycle.output_embedding_name("llama") == "lm_head"
    cls = lifecycle.model_class("llama", keep_in_fp32=("o_proj",))
    assert cls._keep_in_fp32_modules == ["o_proj"] and cls.__mro__[1] is lifecycle.model_class("llama")
