"""The eetq twin against EETQ's documented format (EETQ itself cannot run here: see the spec's notes).

The byte layout is checked against a direct, element-by-element rendering of the steps EETQ's
``preprocess_weights_for_mixed_gemm`` documents for int8 on sm75-sm89, written independently of the
vectorised twin; the checkpoint's names, shapes and dtypes against transformers' ``EetqLinear``.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch
from safetensors.torch import load_file
from torch import nn
from transformers import AutoModelForCausalLM

from qconform.inputs.tiny_models import sample_input_ids, tiny_checkpoint
from reference_quantizers.eetq import RefEetqConfig, RefEetqLinear, RefEetqQuantizer
from reference_quantizers.formats import int8_channel

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def documented_layout(codes: torch.Tensor) -> torch.Tensor:
    """EETQ's int8 preprocessing, one element at a time, from its description (cutlass_preprocessors.cc)."""
    k, n = codes.shape
    plain = codes.tolist()
    ldsm = (0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15)  # row order within each 16 rows
    permuted = [plain[(r // 16) * 16 + ldsm[r % 16]] for r in range(k)]
    column_major = [permuted[row][col] for col in range(n) for row in range(k)]
    words_per_column = k // 4  # a 32-bit word holds 4 int8 along the column
    out = [0] * (k * n)
    for col in range(n):  # ColumnMajorTileInterleave<64, 2>: 16-word tiles of two columns alternate
        for word in range(words_per_column):
            target = (col // 2) * 2 * words_per_column + 32 * (word // 16) + 16 * (col % 2) + word % 16
            out[4 * target : 4 * target + 4] = column_major[col * k + 4 * word : col * k + 4 * word + 4]
    for base in range(0, len(out), 4):  # register relayout: elements 1 and 2 of each word swap
        out[base + 1], out[base + 2] = out[base + 2], out[base + 1]
    biased = [(value + 256) % 256 - 128 for value in out]  # int8(value + 128), wrapping
    return torch.tensor(biased, dtype=torch.int8).reshape(k, n)


@pytest.mark.parametrize("shape", [(64, 64), (128, 192), (192, 128)])
def test_layout_matches_documented_preprocessing(shape):
    codes = torch.randint(-128, 128, shape, dtype=torch.int8, generator=torch.Generator().manual_seed(0))
    stored = int8_channel.to_cutlass_layout(codes)
    assert torch.equal(stored, documented_layout(codes))
    assert torch.equal(int8_channel.from_cutlass_layout(stored), codes)


def test_quantization_rules():
    """scale = max|w| / 128 (float16); codes round halves away from zero and clip at 127; an all-zero
    channel gets code 127 and scale 0; bfloat16 quantizes exactly as its float32 value."""
    weight = torch.zeros(3, 64)
    weight[0, :4] = torch.tensor([1.0, -1.0, 2.5 / 128, -2.5 / 128])  # scale 1/128: codes 128->127, -128, 3, -3
    weight[1, 0] = 0.5 / 128 * 3  # scale 0.5/128 * 3 / 128: code 128 -> 127
    codes, scale = int8_channel.quantize(weight)
    assert codes.shape == (64, 3) and scale.dtype == torch.float32
    assert codes[:4, 0].tolist() == [127, -128, 3, -3]
    assert codes[0, 1] == 127 and scale[2] == 0 and (codes[:, 2] == 127).all()
    assert torch.equal(scale, weight.abs().amax(dim=1) / 128)
    stored = RefEetqLinear.quantize(torch.randn(64, 128), RefEetqConfig())
    assert stored["weight_scales"].dtype == torch.float16 and stored["weight"].shape == (128, 64)
    bf16 = weight.to(torch.bfloat16)
    assert torch.equal(int8_channel.quantize(bf16)[0], int8_channel.quantize(bf16.float())[0])


def test_round_half_away_from_zero():
    x = torch.tensor([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, -0.49999997, 3.0, -0.0])
    assert int8_channel.round_half_away(x).tolist() == [1.0, 2.0, 3.0, -1.0, -2.0, -3.0, 0.0, -0.0, 3.0, -0.0]


def test_checkpoint_layout_is_transformers_eetq_linear():
    """Names, shapes and dtypes equal those of transformers' EetqLinear (what a pre-quantized load fills)."""
    from transformers.integrations.eetq import EetqLinear

    with torch.device("meta"):
        real = EetqLinear(256, 128, bias=True)
        twin = RefEetqLinear(256, 128, True, RefEetqConfig(), pre_quantized=True, dtype=torch.float16)
    assert {k: (v.shape, v.dtype) for k, v in real.state_dict().items()} == {
        k: (v.shape, v.dtype) for k, v in twin.state_dict().items()
    }


def test_on_the_fly_save_reload_dequantize(tmp_path):
    source = tiny_checkpoint("opt")
    model = AutoModelForCausalLM.from_pretrained(source, quantization_config=RefEetqConfig())
    ids = sample_input_ids("opt")
    with torch.no_grad():
        before = model(ids).logits
    model.save_pretrained(tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    assert state["model.decoder.layers.0.fc1.weight"].shape == (128, 256)
    assert state["model.decoder.layers.0.fc1.weight_scales"].dtype == torch.float16
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    with torch.no_grad():
        assert torch.equal(reloaded(ids).logits, before)
    full = AutoModelForCausalLM.from_pretrained(source)
    layer = reloaded.model.decoder.layers[0].fc1
    assert torch.equal(
        layer.dequantize(),
        RefEetqQuantizer.codec().dequantize(
            RefEetqLinear.quantize(full.model.decoder.layers[0].fc1.weight.detach(), RefEetqConfig()),
            RefEetqConfig(),
            (256, 128),
            torch.float32,
        ),
    )
    reloaded.dequantize()
    assert isinstance(reloaded.model.decoder.layers[0].fc1, nn.Linear)
    with torch.no_grad():
        assert torch.equal(reloaded(ids).logits, before)


@pytest.mark.skipif(importlib.util.find_spec("kernels") is not None, reason="the kernels package is installed")
def test_transformers_eetq_needs_the_kernels_package():
    """The spec's note: transformers' EETQ quantizer asks for `kernels` (which fetches EETQ from the Hub)."""
    from transformers import EetqConfig

    with pytest.raises(ImportError, match="kernels"):
        AutoModelForCausalLM.from_pretrained(tiny_checkpoint("llama"), quantization_config=EetqConfig())


@pytest.mark.parametrize("shape", [(64, 96), (100, 128)])
def test_shapes_the_layout_cannot_hold_are_refused(shape):
    assert RefEetqLinear.unsupported(shape, torch.float16, RefEetqConfig()) is not None


@cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_cuda_stores_what_the_cpu_stores(dtype):
    weight = torch.randn(512, 1024, generator=torch.Generator().manual_seed(2)).to(dtype)
    on_cpu = RefEetqLinear.quantize(weight, RefEetqConfig())
    on_cuda = RefEetqLinear.quantize(weight.cuda(), RefEetqConfig())
    for name, tensor in on_cpu.items():
        assert torch.equal(tensor, on_cuda[name].cpu()), name
