"""The FP8 twin's dynamic activation quantization, its UE8M0 scales, and checkpoints with FineGrainedFP8.

On CUDA, transformers' ``FP8Linear`` runs the finegrained-fp8 Triton kernel (``kernels-community``,
fetched by the ``kernels`` package): each ``block_size[1]``-wide tile of a token is quantized inline as
``s = max|x| / 448``, ``q = fp8(x / max(s, 1e-12))`` in float32, and ``dot(q_x, q_w) * s_x * s_w`` is
accumulated tile by tile. On a CPU transformers dequantizes FP8 checkpoints instead. The CUDA test
compares the twin with the kernel where the kernel can be loaded.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from transformers import AutoModelForCausalLM, FineGrainedFP8Config

from qconform.backends.fp8 import FineGrainedFp8Codec
from qconform.inputs.tiny_models import sample_input_ids, tiny_checkpoint
from qconform.support.metrics import compare_stored, rel_frobenius
from reference_quantizers.formats import fp8
from reference_quantizers.fp8 import RefFp8Config, RefFp8Linear, RefFp8Quantizer
from tests.reference.helpers import relabel

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def kernel_activation_quant(x: torch.Tensor, group: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``fp8_act_quant_inline`` one (token, tile) at a time, written from the kernel's description."""
    tokens, channels = x.shape
    q = torch.empty(tokens, channels, dtype=fp8.FP8)
    scales = torch.empty(tokens, -(-channels // group))
    for t in range(tokens):
        for g, start in enumerate(range(0, channels, group)):
            tile = x[t, start : start + group].float()
            s = tile.abs().max() / 448.0
            q[t, start : start + group] = (tile / max(float(s), 1e-12)).clamp(-448, 448).to(fp8.FP8)
            scales[t, g] = s
    return q, scales


def test_activation_quantization_per_token_and_tile():
    gen = torch.Generator().manual_seed(0)
    x = (torch.randn(5, 300, generator=gen) * torch.rand(5, 1, generator=gen) * 100).to(torch.bfloat16)
    x[1] = 0  # an all-zero token: scale 0, values 0
    x[2, :64] = 1e-13  # a tile whose scale is below the kernel's 1e-12 floor
    for group in (128, 64):
        q, scale = fp8.quantize_activations_per_token_group(x, group)
        expected_q, expected_scale = kernel_activation_quant(x, group)
        assert torch.equal(q.view(torch.uint8), expected_q.view(torch.uint8))
        assert torch.equal(scale, expected_scale)
    assert not scale[1].any() and not q[1].float().any()
    assert q.float().abs().max() == 448  # each tile's peak maps to the largest E4M3 value


def test_block_linear_is_the_tile_by_tile_sum():
    """The one-matmul form equals accumulating ``dot(q_x, q_w) * s_x * s_w`` tile by tile (float32)."""
    gen = torch.Generator().manual_seed(1)
    weight = torch.randn(96, 256, generator=gen) * 0.05
    x = torch.randn(4, 256, generator=gen).to(torch.bfloat16)
    block = (32, 128)
    qw, sw = fp8.quantize_blockwise(weight, block)
    qx, sx = fp8.quantize_activations_per_token_group(x, block[1])
    acc = torch.zeros(4, 96)
    for k in range(2):
        cols = slice(k * 128, (k + 1) * 128)
        dot = qx[:, cols].float() @ qw[:, cols].float().t()
        acc += dot * sx[:, k : k + 1] * sw[:, k].repeat_interleave(32)[None, :]
    y = fp8.block_fp8_linear(x, qw, sw, block)
    assert y.dtype == torch.bfloat16
    assert rel_frobenius(acc.to(torch.bfloat16), y) < 4e-3  # bfloat16 rounding of the same sums


def test_twin_forward_quantizes_activations():
    weight = torch.randn(128, 256, generator=torch.Generator().manual_seed(2)) * 0.05
    config = RefFp8Config()
    linear = RefFp8Quantizer.codec().linear_from(RefFp8Linear.quantize(weight, config), config, (128, 256))
    x = torch.randn(3, 256, generator=torch.Generator().manual_seed(3))
    y = linear(x)
    assert torch.equal(y, fp8.block_fp8_linear(x, linear.weight, linear.weight_scale_inv, (128, 128)))
    weight_only = nn.functional.linear(x, linear.dequantize())
    assert 1e-3 < rel_frobenius(weight_only, y) < 0.05


def test_ue8m0_scales_bit_exact_with_transformers():
    real, twin = FineGrainedFp8Codec(), RefFp8Quantizer.codec()
    gen = torch.Generator().manual_seed(4)
    for fmt in ("float", "ue8m0"):
        for block in ((128, 128), (1, 128)):
            config = FineGrainedFP8Config(weight_block_size=block, scale_fmt=fmt)
            weight = (torch.randn(256, 256, generator=gen) * 0.02).to(torch.bfloat16)
            weight[:128, :128] = 0
            stored = twin.quantize(weight, RefFp8Config.from_real(config))
            assert compare_stored(real.quantize(weight, config), stored) == []
    assert stored["weight_scale_inv"].dtype == torch.float8_e8m0fnu


@pytest.mark.parametrize("fmt", ["float", "ue8m0"])
def test_checkpoint_loads_dequantized_by_transformers_on_cpu(fmt, tmp_path):
    """On a CPU transformers dequantizes a twin checkpoint; its logits equal the twin's after dequantize()."""
    checkpoint = tiny_checkpoint("llama", dtype=torch.bfloat16)
    twin = AutoModelForCausalLM.from_pretrained(checkpoint, quantization_config=RefFp8Config(scale_fmt=fmt))
    ids = sample_input_ids("llama")
    expected = twin(ids).logits
    twin.save_pretrained(tmp_path / "twin")
    assert torch.equal(AutoModelForCausalLM.from_pretrained(tmp_path / "twin")(ids).logits, expected)
    as_real = relabel(tmp_path / "twin", tmp_path / "real", FineGrainedFP8Config(scale_fmt=fmt))
    real = AutoModelForCausalLM.from_pretrained(as_real)
    twin.dequantize()
    assert torch.equal(real(ids).logits, twin(ids).logits)


@cuda
def test_forward_against_fp8linear_on_cuda():
    """FP8Linear on CUDA (DeepGEMM or the finegrained-fp8 Triton kernel) against the twin's forward on the
    same stored tensors: within bfloat16 rounding, and nearer than a matmul with the dequantized weight."""
    from transformers.integrations.finegrained_fp8 import FP8Linear

    gen = torch.Generator().manual_seed(5)
    weight = (torch.randn(512, 1024, generator=gen) * 0.05).to(torch.bfloat16).cuda()
    config = RefFp8Config()
    stored = RefFp8Linear.quantize(weight, config)
    twin = RefFp8Quantizer.codec().linear_from(stored, config, (512, 1024))
    real = FP8Linear(1024, 512, block_size=(128, 128)).cuda()
    real.weight = nn.Parameter(stored["weight"], requires_grad=False)
    real.weight_scale_inv = nn.Parameter(stored["weight_scale_inv"], requires_grad=False)
    x = (torch.randn(16, 1024, generator=gen) * torch.rand(16, 1, generator=gen) * 4).to(torch.bfloat16).cuda()
    try:
        with torch.no_grad():
            expected = real(x)
    except (ImportError, OSError) as exc:  # the kernel comes from a hub through the `kernels` package
        pytest.skip(f"FP8Linear's CUDA kernel is not available here: {exc}")
    got = twin(x)
    weight_only = nn.functional.linear(x.float(), twin.dequantize()).to(torch.bfloat16)
    twin_gap, weight_only_gap = rel_frobenius(expected, got), rel_frobenius(expected, weight_only)
    print(f"FP8Linear vs twin {twin_gap:.3g}, vs weight-only matmul {weight_only_gap:.3g}")
    assert twin_gap < 5e-3 and twin_gap < weight_only_gap
