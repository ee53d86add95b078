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


def test_skip_list_matching_follows_transformers():
    assert lifecycle.skipped_by("model.layers.0.self_attn.q_proj", ["q_proj"])
    assert lifecycle.skipped_by("model.layers.1.mlp.up_proj", ["model.layers.1"])
    assert not lifecycle.skipped_by("model.layers.11.mlp.up_proj", ["model.layers.1"])


def test_output_embedding_and_keep_fp32_class():
    assert lifecycle.output_embedding_name("llama") == "lm_head"
    cls = lifecycle.model_class("llama", keep_in_fp32=("o_proj",))
    assert cls._keep_in_fp32_modules == ["o_proj"] and cls.__mro__[1] is lifecycle.model_class("llama")
