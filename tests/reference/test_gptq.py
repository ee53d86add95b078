"""The GPTQ twin against gptqmodel 7.6 (through optimum and transformers' GptqHfQuantizer).

Bit for bit on the CPU: the algorithm on one layer (quantized values, scales, zeros, g_idx), the packed
checkpoint tensors (every bit width, v1 and v2 zero points, float32/16 and bfloat16 weights), and a
whole tiny model quantized by optimum's on-the-fly GPTQ on the same calibration tokens. Checkpoints
interchange both ways; with gptqmodel's torch kernel the logits are identical, with its default CPU
kernel (TorchAtenLinear, bfloat16 int4 matmul) within 1e-2 relative.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from torch import nn
from transformers import AutoModelForCausalLM, GPTQConfig

from qconform.inputs.activations import synthetic_inputs
from qconform.inputs.tiny_models import sample_input_ids, tiny_checkpoint
from reference_quantizers.calibration.checkpoints import prequantized_checkpoint
from reference_quantizers.calibration.data import Calibration
from reference_quantizers.formats import gptq as G
from reference_quantizers.formats import packing
from reference_quantizers.gptq import RefGptqConfig, RefGptqLinear, RefGptqQuantizer
from tests.reference.helpers import logits

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
# (bits, group_size, sym, desc_act, act_group_aware): every bit width, both zero-point modes, all orders
CONFIGS = [
    (4, 128, True, False, True),
    (4, 32, False, True, False),
    (3, 32, True, False, True),
    (3, -1, False, True, False),
    (2, 64, False, False, False),
    (2, -1, True, False, False),
    (8, 32, False, False, True),
    (8, 128, True, True, False),
]


def gptqmodel_layer(weight: torch.Tensor, inputs: list[torch.Tensor], config: GPTQConfig):
    """gptqmodel's own GPTQ on one Linear, as optimum drives it: (Q, scale, zero, g_idx)."""
    from qconform.backends.gptq import _qcfg

    pytest.importorskip("gptqmodel")
    from gptqmodel.quantization.gptq import GPTQ

    linear = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    linear.weight.data = weight.clone()
    gptq = GPTQ(linear, qcfg=_qcfg(config))
    gptq.quantizer.configure(bits=config.bits, sym=config.sym, perchannel=True)
    for batch in inputs:
        gptq.add_batch(batch, None)
    scale, zero, g_idx, *_ = gptq.hf_quantize(
        percdamp=config.damp_percent, group_size=config.group_size, actorder=config.desc_act
    )
    return linear.weight.data, scale, zero, g_idx


def with_method(checkpoint: Path, target: Path, method: str) -> Path:
    """A copy of ``checkpoint`` whose config.json names another ``quant_method``."""
    shutil.copytree(checkpoint, target)
    config = json.loads((target / "config.json").read_text())
    config["quantization_config"]["quant_method"] = method
    (target / "config.json").write_text(json.dumps(config))
    return target


# --- packing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_packing_round_trips_and_v1_zeros_invert(bits):
    codes = torch.randint(0, 2**bits, (96, 64), generator=torch.Generator().manual_seed(bits), dtype=torch.int32)
    assert torch.equal(packing.unpack_rows(packing.pack_rows(codes, bits), bits), codes)
    assert torch.equal(packing.unpack_cols(packing.pack_cols(codes.T, bits), bits), codes.T)
    qzeros = packing.pack_cols(codes[:4], bits)
    assert torch.equal(packing.zeros_v1_to_v2(packing.zeros_v2_to_v1(qzeros, bits), bits), qzeros)


def test_packing_layout_by_hand():
    """4-bit: code i of a word sits at bits 4i; 3-bit: code 10 straddles words 0 and 1 (10|1|10|1|10)."""
    codes = torch.arange(32, dtype=torch.int32).reshape(32, 1) % 8
    words = packing.pack_rows(codes, 3)
    assert words.shape == (3, 1)
    word0, word1 = int(words[0]) & 0xFFFFFFFF, int(words[1]) & 0xFFFFFFFF
    assert (word0 >> 30) | ((word1 & 1) << 2) == 10 % 8  # code 10: low 2 bits at 30-31, top bit at bit 0 of word 1
    word = int(packing.pack_rows(torch.arange(1, 33).reshape(32, 1) % 16, 4)[0])
    assert [(word >> (4 * i)) & 15 for i in range(8)] == list(range(1, 9))
    assert packing.ones_word(4) == 0x11111111


# --- one layer against gptqmodel ----------------------------------------------------------------


@pytest.mark.parametrize(("bits", "group_size", "sym", "desc_act", "gar"), CONFIGS)
def test_layer_bit_exact_with_gptqmodel(bits, group_size, sym, desc_act, gar):
    """Quantized values, scales, zero points and g_idx equal gptqmodel's GPTQ on the same weight and inputs."""
    weight = torch.randn(64, 256, generator=torch.Generator().manual_seed(bits))
    inputs = synthetic_inputs(256, seed=bits)
    config = GPTQConfig(bits=bits, group_size=group_size, sym=sym, desc_act=desc_act, act_group_aware=gar)
    q, scale, zero, g_idx = gptqmodel_layer(weight, inputs, config)
    result = G.quantize(weight, G.hessian(inputs, 256), RefGptqConfig.from_real(config).gptq_params())
    assert torch.equal(result.values, q)
    assert torch.equal(result.scales, scale.T)
    assert torch.equal(result.zeros, zero.T)
    assert torch.equal(result.g_idx, g_idx)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("checkpoint_format", ["gptq", "gptq_v2"])
@pytest.mark.parametrize(("bits", "group_size", "sym", "desc_act", "gar"), CONFIGS[::2])
def test_codec_bit_exact_with_gptqmodel_packer(bits, group_size, sym, desc_act, gar, checkpoint_format, dtype):
    """qweight, qzeros, scales and g_idx equal what gptqmodel's packer (and v2->v1 conversion) writes, and
    both dequantize to the same weight."""
    from qconform.backends.gptq import GptqCodec

    pytest.importorskip("gptqmodel")
    weight = (torch.randn(64, 256, generator=torch.Generator().manual_seed(7)) * 0.05).to(dtype)
    real = GPTQConfig(
        bits=bits, group_size=group_size, sym=sym, desc_act=desc_act, act_group_aware=gar, format=checkpoint_format
    )
    twin = RefGptqConfig.from_real(real)
    expected = GptqCodec().quantize(weight, real)
    stored = RefGptqQuantizer.codec().quantize(weight, twin)
    assert sorted(stored) == sorted(expected)
    for name, tensor in expected.items():
        assert (stored[name].dtype, stored[name].shape) == (tensor.dtype, tensor.shape), name
        assert torch.equal(stored[name], tensor), name
    real_weight = GptqCodec().dequantize(expected, real, (64, 256), torch.float32)
    assert torch.equal(RefGptqQuantizer.codec().dequantize(stored, twin, (64, 256), torch.float32), real_weight)


def test_packer_python_path_matches_native_extension(monkeypatch):
    """gptqmodel packs 2/4/8-bit words with a compiled extension when it builds, else in Python: the twin
    equals both."""
    from qconform.backends.gptq import GptqCodec

    pytest.importorskip("gptqmodel")
    weight = torch.randn(64, 128, generator=torch.Generator().manual_seed(1))
    real = GPTQConfig(bits=4, group_size=32, sym=False)
    twin = RefGptqQuantizer.codec().quantize(weight, RefGptqConfig.from_real(real))
    monkeypatch.setenv("GPTQMODEL_DISABLE_PACK_EXT", "1")
    python_path = GptqCodec().quantize(weight, real)
    assert all(torch.equal(python_path[k], twin[k]) for k in twin)


# --- the twin in transformers ---------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["llama", "opt"])
def test_on_the_fly_calibrates_saves_reloads_and_dequantizes(arch, tmp_path):
    """On the fly the twin calibrates the loaded model; the decoder blocks' Linears become RefGptqLinear,
    lm_head stays; save/reload is bit-identical; dequantize() gives nn.Linear close to the quantized forward."""
    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint(arch), quantization_config=RefGptqConfig())
    linears = {n: type(m) for n, m in model.named_modules() if isinstance(m, (nn.Linear, RefGptqLinear))}
    assert linears.pop("lm_head") is nn.Linear
    assert set(linears.values()) == {RefGptqLinear}
    before = logits(model, arch)
    model.save_pretrained(tmp_path)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert torch.equal(logits(reloaded, arch), before)
    reloaded.dequantize()
    assert not any(isinstance(m, RefGptqLinear) for m in reloaded.modules())
    assert torch.allclose(logits(reloaded, arch), before, atol=1e-5)


def test_invalid_configs_name_the_field():
    for kwargs, field in [({"bits": 5}, "bits"), ({"group_size": 0}, "group_size"), ({"format": "x"}, "format")]:
        with pytest.raises(ValueError, match=field):
            RefGptqConfig(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "backend", "rtol"),
    [
        ({"bits": 4, "group_size": 64, "sym": False}, "torch", 0.0),
        ({"bits": 3, "group_size": 32, "desc_act": True}, "torch", 0.0),
        ({"bits": 4, "group_size": 128}, "auto", 1e-2),
    ],
)
def test_twin_checkpoint_loads_through_gptqhfquantizer(kwargs, backend, rtol):
    """A twin-written ``quant_method: gptq`` checkpoint loads through transformers' GptqHfQuantizer and
    gptqmodel on the CPU; its logits equal the twin's own (torch kernel) or are within 1e-2 relative
    (auto: TorchAtenLinear computes in bfloat16)."""
    pytest.importorskip("gptqmodel")
    path = prequantized_checkpoint("gptq", "llama", GPTQConfig(**kwargs))
    twin = AutoModelForCausalLM.from_pretrained(prequantized_checkpoint("ref-gptq", "llama", GPTQConfig(**kwargs)))
    real = AutoModelForCausalLM.from_pretrained(
        path, device_map="cpu", quantization_config=GPTQConfig(bits=kwargs["bits"], backend=backend)
    )
    expected, actual = logits(twin), logits(real)
    gap = ((actual - expected).norm() / expected.norm()).item()
    assert gap <= rtol, gap


@pytest.mark.parametrize(
    ("arch", "kwargs"),
    [
        ("llama", {"bits": 4, "group_size": 64, "sym": False, "desc_act": True}),
        ("opt", {"bits": 3, "group_size": 32, "true_sequential": False}),
    ],
)
def test_whole_model_bit_exact_with_optimum_gptqmodel_and_checkpoints_interchange(arch, kwargs, tmp_path):
    """optimum + gptqmodel quantizing a tiny model on the fly on the CPU and the twin, on the same
    calibration tokens, store identical tensors; the gptqmodel-written checkpoint loads into the twin."""
    pytest.importorskip("gptqmodel")
    batches = Calibration(samples=4, length=32).batches(256)
    dataset = [{"input_ids": b, "attention_mask": torch.ones_like(b)} for b in batches]
    real = AutoModelForCausalLM.from_pretrained(
        tiny_checkpoint(arch),
        device_map="cpu",
        quantization_config=GPTQConfig(dataset=dataset, backend="torch", **kwargs),
    )
    twin = AutoModelForCausalLM.from_pretrained(
        tiny_checkpoint(arch),
        quantization_config=RefGptqConfig(dataset=[b[0].tolist() for b in batches], format="gptq_v2", **kwargs),
    )
    expected, actual = real.state_dict(), twin.state_dict()
    assert sorted(expected) == sorted(actual)
    assert all(torch.equal(expected[k], actual[k]) for k in expected)
    # transformers cannot save this model as it is: the tokenized dataset in its config is not JSON
    real.config.quantization_config.dataset = None
    real.save_pretrained(tmp_path / "real")
    loaded = AutoModelForCausalLM.from_pretrained(with_method(tmp_path / "real", tmp_path / "as-twin", "ref-gptq"))
    assert torch.equal(logits(loaded, arch), logits(real, arch))


def test_prequantized_checkpoint_is_cached_and_keyed(tmp_path, monkeypatch):
    monkeypatch.setenv("QCONFORM_CACHE", str(tmp_path))
    first = prequantized_checkpoint("ref-gptq", "opt", RefGptqConfig(bits=8))
    assert prequantized_checkpoint("ref-gptq", "opt", RefGptqConfig(bits=8)) == first
    assert prequantized_checkpoint("ref-gptq", "opt", RefGptqConfig(bits=4)) != first
    saved = json.loads((first / "config.json").read_text())["quantization_config"]
    assert (saved["quant_method"], saved["bits"]) == ("ref-gptq", 8)
    with pytest.raises(ValueError, match="no pre-quantized"):
        prequantized_checkpoint("bitsandbytes_4bit", "llama")


# --- CUDA ----------------------------------------------------------------------------------------


@cuda
def test_cuda_twin_close_to_cpu_and_checkpoint_loads_on_cuda():
    """On CUDA the algorithm's float order differs (matmul, Cholesky): codes may move by one at rounding
    ties; at most 1% of them do (measured on the GPU machine). The twin's checkpoint loads on CUDA."""
    weight = torch.randn(256, 512, generator=torch.Generator().manual_seed(0))
    config = RefGptqConfig(bits=4, group_size=128)
    on_cpu = RefGptqLinear.quantize(weight, config)
    on_cuda = {k: v.cpu() for k, v in RefGptqLinear.quantize(weight.cuda(), config).items()}
    cpu_codes = G.unpack_gptq(on_cpu, 4)[0]
    cuda_codes = G.unpack_gptq(on_cuda, 4)[0]
    assert (cpu_codes != cuda_codes).float().mean().item() <= 0.01
    model = AutoModelForCausalLM.from_pretrained(prequantized_checkpoint("ref-gptq", "llama"), device_map="cuda")
    with torch.no_grad():
        assert torch.isfinite(model(sample_input_ids().cuda()).logits).all()
