"""The MXFP4 writer: its checkpoints load through transformers' own dequantize path (``Mxfp4Config(dequantize=True)``)
to exactly the MXFP4 values of the original expert weights, computed here without any packing; a checkpoint with a
planted layout bug (nibbles swapped, scales biased by 126, blocks along the output dim) does not."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, Mxfp4Config

from qconform.inputs.tiny_models import expert_matrices, expert_weights, tiny_model
from reference_quantizers.writers import mxfp4
from tests.reference.helpers import logits

GRID = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0], dtype=torch.float64)
REL_ERROR = 0.15  # the spec's bound; measured 0.118-0.119 on each tiny gpt-oss expert weight


def fake_quantized(matrices: torch.Tensor) -> torch.Tensor:
    """MXFP4 values of [experts, out, in] weights, elementwise and without packing: per 32 inputs the scale
    2**ceil(log2(amax / 6)), each element the nearest e2m1 magnitude times the scale (a tie to the even code)."""
    blocks = matrices.detach().double().reshape(*matrices.shape[:-1], -1, 32)
    amax = blocks.abs().amax(dim=-1, keepdim=True)
    scale = torch.where(amax > 0, torch.exp2(torch.ceil(torch.log2(amax / 6))), torch.ones_like(amax))
    scaled = (blocks / scale).abs().unsqueeze(-1)
    distance = (scaled - GRID).abs() + 1e-12 * (torch.arange(8) % 2)  # an exact tie goes to the even code
    values = GRID[distance.argmin(dim=-1)] * torch.sign(blocks) * scale
    return values.reshape(matrices.shape)


def load_dequantized(path: Path, dtype: torch.dtype | None = None) -> torch.nn.Module:
    kwargs = {} if dtype is None else {"dtype": dtype}
    config = Mxfp4Config(dequantize=True)
    return AutoModelForCausalLM.from_pretrained(path, quantization_config=config, device_map={"": "cpu"}, **kwargs)


def layout_mismatches(path: Path, dtype: torch.dtype = torch.float32) -> dict[str, int]:
    """How many elements of each expert weight the dequantized load of ``path`` gets wrong against
    ``fake_quantized`` of the tiny gpt-oss' originals (an empty dict: the layout is right)."""
    model = load_dequantized(path, dtype)
    found = {}
    for name, (weight, transposed) in expert_weights(tiny_model("gpt_oss")).items():
        loaded = expert_matrices(model.get_parameter(name), transposed)
        wrong = int((loaded.double() != fake_quantized(expert_matrices(weight, transposed)).to(dtype).double()).sum())
        if wrong:
            found[name] = wrong
    return found


@pytest.fixture(scope="module")
def checkpoint() -> Path:
    return mxfp4.prequantized_checkpoint()


def test_checkpoint_holds_blocks_and_scales_where_transformers_reads_them(checkpoint):
    tensors = load_file(str(checkpoint / "model.safetensors"))
    name = "model.layers.0.mlp.experts"
    assert tensors[f"{name}.gate_up_proj_blocks"].shape == (4, 256, 4, 16)  # [E, 2I out, H/32, 16]
    assert tensors[f"{name}.gate_up_proj_scales"].shape == (4, 256, 4)
    assert tensors[f"{name}.down_proj_blocks"].shape == (4, 128, 4, 16)  # [E, H out, I/32, 16]
    assert {t.dtype for k, t in tensors.items() if k.endswith(("_blocks", "_scales"))} == {torch.uint8}
    assert f"{name}.gate_up_proj" not in tensors and f"{name}.gate_up_proj_bias" in tensors
    saved = json.loads((checkpoint / "config.json").read_text())["quantization_config"]
    assert saved == {"quant_method": "mxfp4", "modules_to_not_convert": None}


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_dequantized_load_gives_the_mxfp4_values_exactly(checkpoint, dtype):
    """Every MXFP4 value is exact in bfloat16 too (at most two significant bits, float32's exponent range)."""
    assert layout_mismatches(checkpoint, dtype) == {}


def test_dequantized_experts_are_near_the_originals_and_the_model_near_full_precision(checkpoint):
    model, reference = load_dequantized(checkpoint), tiny_model("gpt_oss")
    assert not getattr(model, "is_quantized", False)  # the fallback hands back a plain model
    for name, (weight, _) in expert_weights(reference).items():
        error = float((model.get_parameter(name) - weight).detach().norm() / weight.norm())
        assert 0.05 < error <= REL_ERROR, (name, error)  # quantized, and within the spec's bound
    for name, param in reference.named_parameters():
        if name not in expert_weights(reference):
            assert torch.equal(model.get_parameter(name), param), name  # everything else is as saved
    found, full = logits(model, "gpt_oss"), logits(reference, "gpt_oss")
    assert float((found - full).norm() / full.norm()) <= 2 * REL_ERROR  # measured 0.138


def _plant(checkpoint: Path, out: Path, bug: str) -> Path:
    shutil.copytree(checkpoint, out)
    file = out / "model.safetensors"
    tensors = load_file(str(file))
    originals = expert_weights(tiny_model("gpt_oss"))
    for key in [k for k in tensors if k.endswith("_blocks")]:
        name = key.removesuffix("_blocks")
        if bug == "swapped nibbles":
            tensors[key] = (tensors[key] >> 4) | (tensors[key] << 4)
        elif bug == "scales biased by 126":
            tensors[f"{name}_scales"] = tensors[f"{name}_scales"] + 1
        elif bug == "blocks along the output dim" and name.endswith("down_proj"):  # square: loads without an error
            weight, transposed = originals[name]
            blocks, scales = mxfp4.quantize_matrices(expert_matrices(weight, transposed).transpose(1, 2))
            tensors[key], tensors[f"{name}_scales"] = blocks, scales
    save_file(tensors, str(file), metadata={"format": "pt"})
    return out


@pytest.mark.parametrize("bug", ["swapped nibbles", "scales biased by 126", "blocks along the output dim"])
def test_a_planted_layout_bug_is_caught(checkpoint, tmp_path, bug):
    assert layout_mismatches(_plant(checkpoint, tmp_path / "planted", bug))


def test_writer_dequantizer_reads_blocks_as_transformers_does():
    from transformers.integrations.mxfp4 import convert_moe_packed_tensors

    generator = torch.Generator().manual_seed(0)
    blocks = torch.randint(0, 256, (3, 5, 2, 16), generator=generator, dtype=torch.uint8)
    scales = torch.randint(127 - 20, 127 + 20, (3, 5, 2), generator=generator, dtype=torch.uint8)
    theirs = convert_moe_packed_tensors(blocks, scales, dtype=torch.float32)  # [E, in, out]
    assert torch.equal(mxfp4.dequantize_matrices(blocks, scales).transpose(1, 2), theirs)


def test_codes_round_to_nearest_ties_to_even_and_saturate():
    values = torch.tensor([0.0, 0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 7.0, -0.3, -6.0, 0.5, 6.0])
    assert mxfp4.e2m1_codes(values).tolist() == [0, 0, 2, 2, 4, 4, 6, 6, 7, 9, 15, 1, 7]


def test_scale_spends_the_range_without_clipping():
    generator = torch.Generator().manual_seed(1)
    weights = torch.randn(2, 8, 64, generator=generator) * torch.logspace(-6, 3, 8).reshape(1, 8, 1)
    weights[0, 0] = 0.0
    blocks, scales = mxfp4.quantize_matrices(weights)
    amax = weights.reshape(2, 8, 2, 32).abs().amax(dim=-1)
    top = amax / torch.exp2(scales.double() - 127)
    assert ((top > 3) & (top <= 6))[amax > 0].all()  # the block's largest element lands in (3, 6]
    assert scales[0, 0].tolist() == [0, 0] and not blocks[0, 0].any()  # a zero block: smallest scale, zero codes


def test_skipped_experts_stay_full_precision(tmp_path):
    skip = ["model.layers.0.mlp.experts"]
    path = mxfp4.prequantized_checkpoint(config={"modules_to_not_convert": skip})
    tensors = load_file(str(path / "model.safetensors"))
    assert (
        "model.layers.0.mlp.experts.gate_up_proj" in tensors
        and "model.layers.1.mlp.experts.down_proj_blocks" in tensors
    )
    model, reference = load_dequantized(path), tiny_model("gpt_oss")
    name = "model.layers.0.mlp.experts.gate_up_proj"
    assert torch.equal(model.get_parameter(name), reference.get_parameter(name))


def test_architectures_without_experts_are_refused():
    with pytest.raises(ValueError, match="gpt-oss"):
        mxfp4.prequantized_checkpoint(arch="llama")
