"""The bitsandbytes 8-bit (LLM.int8) twin against bitsandbytes 0.50.2: bit-exact weights and forward on the
CPU (outlier decomposition included), checkpoints interchangeable both ways, lifecycle; on CUDA, the
measured differences. Tests marked ``cuda`` run on a GPU machine.
"""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file
from torch import nn
from transformers import AutoModelForCausalLM

from qconform.inputs.tiny_models import tiny_checkpoint
from reference_quantizers.bnb_8bit import RefBnb8bitConfig, RefBnb8bitLinear, RefBnb8bitQuantizer
from reference_quantizers.formats import llm_int8
from tests.reference.helpers import assert_same_tensors, bits, logits

bnb = pytest.importorskip("bitsandbytes")

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
DTYPES = (torch.float32, torch.bfloat16, torch.float16)
THRESHOLDS = (0.0, 0.5, 6.0)


def real_linear(weight: torch.Tensor, bias: torch.Tensor | None, threshold: float, device: str = "cpu") -> nn.Module:
    """A ``Linear8bitLt`` quantized as transformers' loader quantizes it (Int8Params moved to the device)."""
    out_features, in_features = weight.shape
    linear = bnb.nn.Linear8bitLt(
        in_features, out_features, bias is not None, has_fp16_weights=False, threshold=threshold
    )
    linear.weight = bnb.nn.Int8Params(weight.cpu(), requires_grad=False, has_fp16_weights=False)
    if bias is not None:
        linear.bias = nn.Parameter(bias.cpu(), requires_grad=False)
    return linear.to(device).eval()


def rewrite_quantization_config(path, config) -> None:
    config_file = path / "config.json"
    data = json.loads(config_file.read_text())
    data["quantization_config"] = config.to_dict()
    config_file.write_text(json.dumps(data))


@st.composite
def weights(draw: st.DrawFn, max_side: int = 96, min_cols: int = 1) -> torch.Tensor:
    """Small weights of every float dtype: zero rows, outlier columns, tiny to large scales (finite in float16)."""
    rows, cols = draw(st.integers(1, max_side)), draw(st.integers(min_cols, max_side * 2))
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    w = torch.randn(rows, cols, generator=generator) * draw(st.sampled_from([1e-4, 0.02, 1.0, 100.0]))
    kind = draw(st.sampled_from(["normal", "zero_rows", "outlier_columns"]))
    if kind == "zero_rows":
        w[:: draw(st.integers(1, rows))] = 0
    elif kind == "outlier_columns":
        w[:, :: draw(st.integers(1, cols))] *= 50
    return w.to(draw(st.sampled_from(DTYPES)))


# --- numerics -------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(weight=weights())
def test_quantize_matches_bitsandbytes_cpu(weight):
    """``weight``, ``SCB`` and ``weight_format`` equal what Int8Params + Linear8bitLt store, bit for bit, and
    the twin dequantizes as transformers does (``int8_vectorwise_dequant``)."""
    real = real_linear(weight, None, 6.0)
    expected = {k: v for k, v in real.state_dict().items()}
    stored = RefBnb8bitLinear.quantize(weight, RefBnb8bitConfig())
    assert_same_tensors(expected, stored)
    twin = RefBnb8bitQuantizer.codec().dequantize(stored, RefBnb8bitConfig(), tuple(weight.shape), torch.float32)
    assert torch.equal(bits(bnb.functional.int8_vectorwise_dequant(real.weight.data, real.weight.SCB)), bits(twin))


@settings(max_examples=60, deadline=None)
@given(
    weight=weights(max_side=48, min_cols=2),  # one input feature: see the next test
    threshold=st.sampled_from(THRESHOLDS),
    batch=st.integers(1, 4),
    scale=st.sampled_from([0.1, 1.0, 4.0]),
    outliers=st.integers(0, 3),
    seed=st.integers(0, 2**16),
)
def test_forward_matches_bitsandbytes_cpu(weight, threshold, batch, scale, outliers, seed):
    """The twin's forward is bitsandbytes' inference forward bit for bit: inputs cast to float16 and
    quantized per row, int8 x int8 matmul, rescale, and input columns with any ``|x| >= threshold`` done
    in the input's precision with the dequantized weight columns."""
    generator = torch.Generator().manual_seed(seed)
    out_features, in_features = weight.shape
    x = torch.randn(batch, 3, in_features, generator=generator) * scale
    x[..., torch.randint(in_features, (outliers,), generator=generator)] *= 20
    x = x.to(weight.dtype)
    bias = torch.randn(out_features, generator=generator).to(weight.dtype)
    config = RefBnb8bitConfig(llm_int8_threshold=threshold)
    twin = RefBnb8bitQuantizer.codec().linear_from(
        RefBnb8bitLinear.quantize(weight, config), config, weight.shape, bias
    )
    with torch.no_grad():
        expected = real_linear(weight, bias, threshold)(x)
        assert torch.equal(bits(expected), bits(twin(x)))


@pytest.mark.skipif(
    torch.backends.cpu.get_cpu_capability() != "AVX512", reason="bitsandbytes uses torch._int_mm on AVX-512 CPUs only"
)
@pytest.mark.xfail(
    strict=True,
    reason="torch._int_mm on the CPU (torch 2.13) returns wrong values when the inner dimension is 1 and the "
    "output has 2 or more columns; bitsandbytes 0.50.2 backends/cpu/ops.py calls it for every int8 matmul on "
    "AVX-512 CPUs, so a Linear8bitLt with in_features=1 gives garbage",
)
def test_bitsandbytes_cpu_forward_with_one_input_feature():
    """bitsandbytes' CPU forward of a Linear with one input feature equals the twin's."""
    weight, x = torch.tensor([[0.5], [-0.25], [1.0]]), torch.tensor([[0.3], [-0.7]])
    config = RefBnb8bitConfig(llm_int8_threshold=0.0)
    twin = RefBnb8bitQuantizer.codec().linear_from(RefBnb8bitLinear.quantize(weight, config), config, weight.shape)
    with torch.no_grad():
        assert torch.equal(real_linear(weight, None, 0.0)(x), twin(x))


def test_outlier_columns_are_computed_in_full_precision():
    """With an input column far above the threshold, the outputs of the twin follow it as closely as a full-
    precision matmul with the dequantized weight (quantizing that column to int8 would lose it)."""
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(32, 64, generator=generator)
    x = torch.randn(4, 64, generator=generator)
    x[:, 5] = 1000.0
    config = RefBnb8bitConfig(llm_int8_threshold=6.0)
    twin = RefBnb8bitQuantizer.codec().linear_from(RefBnb8bitLinear.quantize(weight, config), config, weight.shape)
    exact = x.double() @ twin.dequantize().double().T
    columns = llm_int8.outlier_columns(x.half(), 6.0)
    assert columns.tolist() == [5]
    with torch.no_grad():
        assert ((twin(x).double() - exact).norm() / exact.norm()).item() < 0.01


def test_config_refuses_fp16_weights():
    with pytest.raises(ValueError, match="llm_int8_has_fp16_weight"):
        RefBnb8bitConfig(llm_int8_has_fp16_weight=True)
    with pytest.raises(ValueError, match="llm_int8_threshold"):
        RefBnb8bitConfig(llm_int8_threshold=-1.0)


# --- through transformers --------------------------------------------------------------------------


@pytest.mark.parametrize("arch,dtype", [("llama", torch.bfloat16), ("opt", torch.float16), ("opt", torch.float32)])
@pytest.mark.parametrize("threshold", [0.0, 0.5])
def test_on_the_fly_matches_transformers_bitsandbytes(arch, dtype, threshold, tmp_path):
    """Quantizing on loading, the twin's checkpoint is bitsandbytes' file bit for bit and its logits are
    bitsandbytes' (0.5: most activations' columns hold outliers)."""
    config = RefBnb8bitConfig(llm_int8_threshold=threshold)
    twin = AutoModelForCausalLM.from_pretrained(tiny_checkpoint(arch), quantization_config=config, dtype=dtype)
    real = AutoModelForCausalLM.from_pretrained(
        tiny_checkpoint(arch), quantization_config=config.to_real(), dtype=dtype
    )
    twin.save_pretrained(tmp_path / "twin")
    real.save_pretrained(tmp_path / "real")
    assert_same_tensors(load_file(tmp_path / "real/model.safetensors"), load_file(tmp_path / "twin/model.safetensors"))
    assert torch.equal(bits(logits(real, arch)), bits(logits(twin, arch)))


@pytest.mark.parametrize("direction", ["bitsandbytes-to-twin", "twin-to-bitsandbytes"])
def test_checkpoints_load_both_ways(direction, tmp_path):
    """A checkpoint written by one loads through the other's quantizer with the writer's logits."""
    config = RefBnb8bitConfig(llm_int8_threshold=0.5)
    writer_config, reader_config = (config.to_real(), config) if direction[0] == "b" else (config, config.to_real())
    writer = AutoModelForCausalLM.from_pretrained(tiny_checkpoint("opt"), quantization_config=writer_config)
    writer.save_pretrained(tmp_path)
    rewrite_quantization_config(tmp_path, reader_config)
    reader = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert type(reader.model.decoder.layers[0].fc1).__name__ == (
        "RefBnb8bitLinear" if direction[0] == "b" else "Linear8bitLt"
    )
    assert torch.equal(bits(logits(writer, "opt")), bits(logits(reader, "opt")))


@pytest.mark.parametrize("arch", ["llama", "opt"])
def test_save_reload_bit_identical(arch, tmp_path):
    """After a forward, save then load gives identical logits; a second save writes the same file."""
    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint(arch), quantization_config=RefBnb8bitConfig())
    before = logits(model, arch)
    model.save_pretrained(tmp_path / "first")
    again = AutoModelForCausalLM.from_pretrained(tmp_path / "first")
    assert torch.equal(before, logits(again, arch))
    again.save_pretrained(tmp_path / "second")
    assert_same_tensors(
        load_file(tmp_path / "first/model.safetensors"), load_file(tmp_path / "second/model.safetensors")
    )


def test_dequantize_gives_linear():
    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint("llama"), quantization_config=RefBnb8bitConfig())
    linears = {n: m for n, m in model.named_modules() if isinstance(m, RefBnb8bitLinear)}
    expected = {name: linear.dequantize() for name, linear in linears.items()}
    model.dequantize()
    for name, weight in expected.items():
        assert type(model.get_submodule(name)) is nn.Linear
        assert torch.equal(model.get_submodule(name).weight, weight)


# --- CUDA ------------------------------------------------------------------------------------------


@cuda
def test_on_the_fly_on_cuda_matches_cpu(tmp_path):
    """On CUDA the twin stores what it stores on the CPU, and reloads bit-identically."""
    config = RefBnb8bitConfig()
    on_cuda = AutoModelForCausalLM.from_pretrained(
        tiny_checkpoint("llama"), quantization_config=config, device_map="cuda"
    )
    on_cpu = AutoModelForCausalLM.from_pretrained(tiny_checkpoint("llama"), quantization_config=config)
    on_cuda.save_pretrained(tmp_path / "cuda")
    on_cpu.save_pretrained(tmp_path / "cpu")
    assert_same_tensors(load_file(tmp_path / "cpu/model.safetensors"), load_file(tmp_path / "cuda/model.safetensors"))
    before = logits(on_cuda)
    assert torch.equal(before, logits(AutoModelForCausalLM.from_pretrained(tmp_path / "cuda", device_map="cuda")))


@cuda
def test_cuda_differences_from_bitsandbytes_are_the_documented_ones():
    """On CUDA bitsandbytes divides 127 / SCB approximately (``__fdividef``): SCB is the same, an int8 value at
    most 1 apart; its forward rescales with another constant and rounds through float16. Prints the counts."""
    weight = torch.randn(1024, 1024, generator=torch.Generator().manual_seed(0)).to("cuda", torch.bfloat16)
    real = real_linear(weight, None, 6.0, "cuda")
    stored = RefBnb8bitLinear.quantize(weight, RefBnb8bitConfig())
    assert torch.equal(bits(real.weight.SCB), bits(stored["SCB"]))
    step = (real.weight.data.int() - stored["weight"].int()).abs()
    print(f"\nint8 values differ {int((step > 0).sum())}/{step.numel()}")
    assert int(step.max()) <= 1
    x = torch.randn(8, 1024, device="cuda", dtype=torch.bfloat16)
    x[:, 3] = 20.0
    config = RefBnb8bitConfig(llm_int8_threshold=6.0)
    twin = RefBnb8bitQuantizer.codec().linear_from(stored, config, weight.shape)
    with torch.no_grad():
        expected, ours = real(x).float(), twin(x).float()
    gap = ((expected - ours).norm() / expected.norm()).item()
    print(f"forward relative gap {gap:.3g}")
    assert gap < 0.01
