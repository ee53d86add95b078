"""The hostile checkpoints' planted layout, and the effective-weight reader on plain and quantizing Linears."""

from __future__ import annotations

import torch
from torch import nn

from qconform.inputs import tiny_models
from qconform.inputs.tiny_models import (
    DEAD_CHANNELS,
    HOSTILE_ROWS,
    exact_zero_mask,
    hostile_model,
    plant_hostile_rows,
    planted_kinds,
    row_kinds,
    zero_mask,
)
from qconform.support.effective_weights import effective_weight, effective_weights
from qconform.support.lifecycle import linear_names

ROW = {kind: row for row, kind, _ in HOSTILE_ROWS}
ALL_KINDS = tuple(kind for _, kind, _ in HOSTILE_ROWS)


def test_planted_rows_hold_what_the_table_says():
    weight = torch.randn(256, 256) * 0.02
    planted = plant_hostile_rows(weight, ALL_KINDS)
    assert not planted[ROW["zero_row"]].any()
    assert not planted[1:3, 128:].any() and planted[1:3, :128].all()  # the zero block: whole groups of 32 to 128
    assert not planted[3, 32:64].any() and planted[3, :32].all()
    assert (planted[ROW["constant"]] == 0.05).all()
    assert planted[ROW["outlier"]].abs().max() == 10.0
    assert planted[ROW["subnormal"]].abs().max() < 6.1e-5
    assert planted[ROW["near_fp16_max"], list(DEAD_CHANNELS)].tolist() == [60000.0, -60000.0]
    assert not planted[64:128, 64:128].any()
    assert torch.equal(planted[130:], weight[130:])  # the rest is the ordinary init
    assert torch.equal(zero_mask((256, 256)), planted == 0)


def test_exact_zeros_are_whole_rows_and_whole_groups_of_128():
    narrow, wide = exact_zero_mask((128, 128)), exact_zero_mask((128, 256))
    assert narrow.sum(dim=1)[:4].tolist() == [128, 0, 0, 0]  # half a 128-group is not a whole group
    assert wide.sum(dim=1)[:4].tolist() == [256, 128, 128, 0]  # the zero block's columns 128-255: a whole group
    assert not wide[64:128].any()  # the 64x64 tile shares its groups with ordinary values
    assert (zero_mask((128, 256)) | ~wide).all()  # every exact zero is a planted zero


def test_extremes_only_in_the_last_layer_and_near_max_only_where_fed_by_a_norm():
    assert "outlier" not in planted_kinds("llama", "model.layers.0.mlp.up_proj")
    assert "near_fp16_max" in planted_kinds("llama", "model.layers.1.mlp.up_proj")
    assert "near_fp16_max" not in planted_kinds("llama", "model.layers.1.mlp.down_proj")
    assert "outlier" in planted_kinds("opt", "model.decoder.layers.1.fc2")
    kinds = row_kinds((64, 128), planted_kinds("llama", "model.layers.0.self_attn.k_proj"))
    assert kinds[:4] == ["zero_row", "zero_block", "zero_block", "zero_group"]
    assert kinds[4:8] == ["constant", "ordinary", "subnormal", "ordinary"]  # no outlier, no near-max row in layer 0


def _keep_input(seen: dict[str, torch.Tensor], name: str):
    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        seen[name] = inputs[0]

    return hook


def _owner(model: nn.Module, name: str) -> nn.Module:
    """The module whose input a Linear or an expert weight (``<experts>.gate_up_proj``, fed the hidden states) sees."""
    experts = tiny_models.expert_weights(model)
    return model.get_submodule(name.rpartition(".")[0] if name in experts else name)


def test_dead_channels_reach_no_linear_fed_by_a_norm_and_the_model_stays_finite_in_float16():
    for arch in tiny_models.ARCHITECTURES:
        model = hostile_model(arch).to(torch.float16)
        seen: dict[str, torch.Tensor] = {}
        names = linear_names(arch)
        hooks = [_owner(model, name).register_forward_hook(_keep_input(seen, name)) for name in names]
        with torch.no_grad():
            logits = model(tiny_models.sample_input_ids(arch)).logits
        for hook in hooks:
            hook.remove()
        assert torch.isfinite(logits).all(), arch
        for name in linear_names(arch):
            if "near_fp16_max" in planted_kinds(arch, name):
                assert not seen[name][..., list(DEAD_CHANNELS)].any(), name


def test_every_expert_of_a_3d_expert_weight_holds_the_planted_rows():
    model, plain = hostile_model("gpt_oss"), tiny_models.tiny_model("gpt_oss")
    name = "model.layers.1.mlp.experts.gate_up_proj"  # [experts, in, out]: each expert's rows are its outputs
    weight, transposed = tiny_models.expert_weights(model)[name]
    original, _ = tiny_models.expert_weights(plain)[name]
    kinds = planted_kinds("gpt_oss", name)
    assert transposed and "near_fp16_max" in kinds
    for hostile, ordinary in zip(
        tiny_models.expert_matrices(weight, True), tiny_models.expert_matrices(original, True)
    ):
        assert torch.equal(hostile, plant_hostile_rows(ordinary, kinds))
        assert hostile[ROW["near_fp16_max"], list(DEAD_CHANNELS)].tolist() == [60000.0, -60000.0]


def test_hostile_checkpoint_leaves_the_plain_one_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("QCONFORM_CACHE", str(tmp_path))
    assert tiny_models.hostile_checkpoint("llama") != tiny_models.tiny_checkpoint("llama")


def test_effective_weight_of_a_plain_linear_is_its_weight_bit_for_bit():
    torch.manual_seed(0)
    for dtype in (torch.float32, torch.float16):
        linear = nn.Linear(64, 32, bias=True).to(dtype)
        linear.weight.data[5] *= 1e-4  # a subnormal-range row under a bias: read without the bias's rounding
        bias = linear.bias.detach().clone()
        read = effective_weight(linear, 64, dtype, "cpu")
        assert torch.equal(read, linear.weight.detach().double())
        assert torch.equal(linear.bias, bias)  # restored


class _PerTokenInt8(nn.Linear):
    """Dynamic per-token int8 activations (absmax) times the weight: a one-hot row quantizes exactly."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.abs().amax(dim=-1, keepdim=True).clamp(min=1e-12) / 127
        return nn.functional.linear(torch.round(x / scale) * scale, self.weight, self.bias)


def test_effective_weight_is_exact_under_per_token_activation_quantization():
    torch.manual_seed(0)
    module = _PerTokenInt8(128, 16)
    assert torch.equal(effective_weight(module, 128, torch.float32, "cpu"), module.weight.detach().double())


def test_effective_weights_of_a_model_by_name():
    model = nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2))
    model.dtype, model.device = torch.float32, torch.device("cpu")
    read = effective_weights(model, ["0", "2"])
    assert torch.equal(read["2"], model[2].weight.detach().double())
