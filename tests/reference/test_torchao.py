"""The torchao twin against torchao 0.18 itself, through transformers' TorchAoHfQuantizer.

int8 (weight-only and dynamic activation) runs on the CPU: stored tensors, safetensors metadata and
logits are compared bit for bit, and checkpoints are exchanged both ways. int4 (``Int4Tensor``, plain
packing) quantizes and multiplies through mslk, a CUDA library: here a twin checkpoint is loaded by
torchao (rebuilding its tensor subclass needs no kernel); the quantization and the forward are
compared on a GPU machine with mslk installed.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from torch import nn
from transformers import AutoModelForCausalLM

from qconform.inputs.tiny_models import tiny_checkpoint
from qconform.support.metrics import compare_stored
from reference_quantizers.formats import int4_grouped, int8
from reference_quantizers.torchao import (
    INT4,
    INT8,
    INT8_DYNAMIC,
    RefTorchAoConfig,
    RefTorchAoLinear,
    RefTorchAoQuantizer,
)
from tests.reference.helpers import logits, relabel

pytest.importorskip("torchao")
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
has_mslk = importlib.util.find_spec("mslk") is not None
mslk = pytest.mark.skipif(not (has_mslk and torch.cuda.is_available()), reason="int4 plain needs mslk and CUDA")
INT8_SCHEMES = (INT8, INT8_DYNAMIC)
DTYPE = torch.bfloat16


def load(path: Path, device: str = "cpu", **kwargs) -> nn.Module:
    return AutoModelForCausalLM.from_pretrained(path, dtype=DTYPE, device_map={"": device}, **kwargs).eval()


def saved(model: nn.Module, path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    model.save_pretrained(path)
    with safe_open(path / "model.safetensors", "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()  # noqa: SIM118


@pytest.fixture(scope="module")
def checkpoint() -> Path:
    return tiny_checkpoint("llama", dtype=DTYPE)


# --- numerics --------------------------------------------------------------------------------


def test_int4_packing_order_and_sign():
    """Column 2j in the low nibble, 2j+1 in the high nibble, two's complement: (-8, 7) -> 0x78."""
    q = torch.tensor([[-8, 7, 0, -1, 3, -4]], dtype=torch.int8)
    packed = int4_grouped.pack(q)
    assert packed.view(torch.uint8).tolist() == [[0x78, 0xF0, 0xC3]]
    assert torch.equal(int4_grouped.unpack(packed), q)
    every = torch.arange(-8, 8, dtype=torch.int8).repeat(3, 2)
    assert torch.equal(int4_grouped.unpack(int4_grouped.pack(every)), every)


def test_int4_groups_span_their_range():
    """Each group's min maps to -8 and max to 7; scale and zero are (groups, out), zero = min + 8 * scale."""
    weight = torch.randn(4, 64, generator=torch.Generator().manual_seed(0))
    q, scale, zero = int4_grouped.quantize(weight, 32)
    assert scale.shape == zero.shape == (2, 4)
    groups = q.reshape(4, 2, 32)
    assert (groups.amin(-1) == -8).all() and (groups.amax(-1) == 7).all()
    low = weight.reshape(4, 2, 32).amin(-1).t()
    assert torch.allclose(zero, low + 8 * scale)
    error = (int4_grouped.dequantize(q, scale, zero) - weight).abs().reshape(4, 2, 32)
    assert (error <= scale.t()[..., None] / 2 + 1e-6).all()


def test_int8_scale_is_absmax_over_127_5():
    weight = torch.tensor([[1.0, -2.55, 0.5], [0.0, 0.0, 0.0]])
    q, scale, zero_point = int8.quantize_per_row(weight)
    assert scale.dtype == torch.float32 and zero_point.dtype == torch.int8 and not zero_point.any()
    assert scale[0, 0] == pytest.approx(2.55 / 127.5) and scale[1, 0] == torch.finfo(torch.float32).eps
    assert q.tolist() == [[50, -128, 25], [0, 0, 0]]


# --- configs ---------------------------------------------------------------------------------


def test_from_real_maps_the_three_schemes_and_refuses_others():
    from torchao.quantization import (
        Float8WeightOnlyConfig,
        Int4WeightOnlyConfig,
        Int8DynamicActivationInt8WeightConfig,
        Int8WeightOnlyConfig,
        PerTensor,
    )
    from transformers import TorchAoConfig

    cases = {
        INT4: Int4WeightOnlyConfig(group_size=64),
        INT8: Int8WeightOnlyConfig(),
        INT8_DYNAMIC: Int8DynamicActivationInt8WeightConfig(),
    }
    for scheme, quant_type in cases.items():
        twin = RefTorchAoConfig.from_real(TorchAoConfig(quant_type, modules_to_not_convert=["lm_head"]))
        assert (twin.scheme, twin.modules_to_not_convert) == (scheme, ["lm_head"])
        again = RefTorchAoConfig.from_real(twin.to_real())
        assert again.to_dict() == twin.to_dict()
    assert RefTorchAoConfig.from_real(TorchAoConfig(cases[INT4])).group_size == 64
    refused = [
        Int4WeightOnlyConfig(int4_packing_format="tile_packed_to_4d"),
        Int8WeightOnlyConfig(granularity=PerTensor()),
        Float8WeightOnlyConfig(),
    ]
    for quant_type in refused:
        with pytest.raises(ValueError):
            RefTorchAoConfig.from_real(TorchAoConfig(quant_type))
    with pytest.raises(ValueError, match="scheme"):
        RefTorchAoConfig(scheme="int2_weight_only")
    with pytest.raises(ValueError, match="group_size"):
        RefTorchAoConfig(scheme=INT4, group_size=0)


# --- against torchao on the CPU --------------------------------------------------------------


@pytest.mark.parametrize("scheme", INT8_SCHEMES)
def test_int8_codec_bit_exact_with_torchao(scheme):
    from qconform.backends.torchao import TorchAoCodec

    config = RefTorchAoConfig(scheme=scheme)
    real, twin = TorchAoCodec(), RefTorchAoQuantizer.codec()
    gen = torch.Generator().manual_seed(0)
    for dtype in (torch.bfloat16, torch.float16, torch.float32):
        for shape in ((64, 128), (3, 17)):
            weight = torch.randn(shape, generator=gen) * torch.rand(shape[0], 1, generator=gen) * 10
            weight[0] = 0
            weight = weight.to(dtype)
            real_stored = real.quantize(weight, config.to_real())
            assert compare_stored(real_stored, twin.quantize(weight, config)) == []
            assert torch.equal(
                real.dequantize(real_stored, config.to_real(), shape, dtype),
                twin.dequantize(real_stored, config, shape, dtype),
            )


@pytest.mark.parametrize("scheme", INT8_SCHEMES)
def test_int8_on_the_fly_save_and_exchange(scheme, checkpoint, tmp_path):
    """Same logits as torchao quantizing the same model; the same tensors and metadata saved; each side
    loads the other's checkpoint with the same logits; save then load is bit-identical."""
    config = RefTorchAoConfig(scheme=scheme)
    twin, real = load(checkpoint, quantization_config=config), load(checkpoint, quantization_config=config.to_real())
    assert isinstance(twin.model.layers[0].self_attn.q_proj, RefTorchAoLinear)
    expected = logits(twin)
    assert torch.equal(logits(real), expected)

    twin_tensors, twin_meta = saved(twin, tmp_path / "twin")
    real_tensors, real_meta = saved(real, tmp_path / "real")
    assert compare_stored(real_tensors, twin_tensors) == []
    parsed = {k: json.loads(v) for k, v in real_meta.items() if k != "format"}
    assert {k: json.loads(v) for k, v in twin_meta.items() if k != "format"} == parsed

    assert torch.equal(logits(load(tmp_path / "twin")), expected)
    as_real = load(relabel(tmp_path / "twin", tmp_path / "twin-as-real", config.to_real()))
    assert type(as_real.model.layers[0].self_attn.q_proj.weight).__name__ == "Int8Tensor"
    assert torch.equal(logits(as_real), expected)
    as_twin = load(relabel(tmp_path / "real", tmp_path / "real-as-twin", config))
    assert isinstance(as_twin.model.layers[0].self_attn.q_proj, RefTorchAoLinear)
    assert torch.equal(logits(as_twin), expected)


def test_int4_twin_checkpoint_loads_into_torchao_int4_tensor(checkpoint, tmp_path):
    """torchao rebuilds its Int4Tensor from a twin checkpoint with the twin's exact data (its forward needs
    mslk on CUDA); the twin reloads it bit for bit; dequantize() gives nn.Linear within int4's error."""
    config = RefTorchAoConfig(scheme=INT4, group_size=32)
    twin = load(checkpoint, quantization_config=config)
    module = twin.model.layers[0].mlp.down_proj
    assert module._weight_qdata.shape == (128, 128) and module._weight_scale.shape == (8, 128)
    assert module._weight_scale.dtype == DTYPE
    expected = logits(twin)
    twin.save_pretrained(tmp_path / "twin")
    assert torch.equal(logits(load(tmp_path / "twin")), expected)

    real = load(relabel(tmp_path / "twin", tmp_path / "as-real", config.to_real()))
    weight = real.model.layers[0].mlp.down_proj.weight
    assert type(weight).__name__ == "Int4Tensor" and weight.block_size == [1, 32]
    assert torch.equal(weight.qdata, module._weight_qdata)
    assert torch.equal(weight.scale, module._weight_scale)
    assert torch.equal(weight.zero_point, module._weight_zero_point)

    twin.dequantize()
    assert type(twin.model.layers[0].mlp.down_proj) is nn.Linear
    gap = (logits(twin) - expected).float().norm() / expected.float().norm()
    assert gap < 0.02


def test_int4_width_not_multiple_of_group_left_unquantized(checkpoint):
    """As torchao: a Linear whose input width is not a multiple of group_size stays full precision."""
    model = load(checkpoint, quantization_config=RefTorchAoConfig(scheme=INT4, group_size=256))
    assert isinstance(model.model.layers[0].mlp.down_proj, RefTorchAoLinear)  # in_features 256
    assert type(model.model.layers[0].mlp.up_proj) is nn.Linear  # in_features 128
    assert RefTorchAoLinear.unsupported((128, 100), DTYPE, RefTorchAoConfig(scheme=INT4, group_size=32))


# --- on a GPU ----------------------------------------------------------------------------------


@cuda
@pytest.mark.parametrize("scheme", INT8_SCHEMES)
def test_int8_cuda_codec_matches_cpu_and_torchao(scheme):
    from qconform.backends.torchao import TorchAoCodec

    config = RefTorchAoConfig(scheme=scheme)
    weight = torch.randn(256, 512, generator=torch.Generator().manual_seed(1)).to(DTYPE)
    twin = RefTorchAoQuantizer.codec()
    on_cpu = twin.quantize(weight, config)
    on_gpu = {k: v.cpu() for k, v in twin.quantize(weight.cuda(), config).items()}
    real = {k: v.cpu() for k, v in TorchAoCodec().quantize(weight.cuda(), config.to_real()).items()}
    assert compare_stored(on_cpu, on_gpu) == [] and compare_stored(real, on_gpu) == []


@cuda
@pytest.mark.parametrize("scheme", (*INT8_SCHEMES, INT4))
def test_cuda_on_the_fly_and_reload(scheme, checkpoint, tmp_path):
    """On CUDA: quantize on the fly, reload bit for bit; int8 logits equal torchao's own on the same model."""
    config = RefTorchAoConfig(scheme=scheme, group_size=64)
    model = load(checkpoint, "cuda", quantization_config=config)
    expected = logits(model)
    model.save_pretrained(tmp_path)
    assert torch.equal(logits(load(tmp_path, "cuda")), expected)
    if scheme != INT4:
        assert torch.equal(logits(load(checkpoint, "cuda", quantization_config=config.to_real())), expected)


@mslk
def test_int4_bit_exact_with_torchao_and_forward_close(checkpoint, tmp_path):
    """With mslk: stored int4 tensors equal torchao's; torchao runs the twin's checkpoint (its mslk matmul)
    within bfloat16 rounding of the twin's dequantize-then-matmul forward."""
    from qconform.backends.torchao import TorchAoCodec

    config = RefTorchAoConfig(scheme=INT4, group_size=128)
    for shape in ((256, 512), (7, 256)):
        weight = torch.randn(shape, generator=torch.Generator().manual_seed(2)).to(DTYPE).cuda()
        real = TorchAoCodec().quantize(weight, config.to_real())
        assert compare_stored(real, RefTorchAoQuantizer.codec().quantize(weight, config)) == []
    twin = load(checkpoint, "cuda", quantization_config=config)
    twin.save_pretrained(tmp_path / "twin")
    real = load(relabel(tmp_path / "twin", tmp_path / "as-real", config.to_real()), "cuda")
    expected, got = logits(twin).float(), logits(real).float()
    assert (got - expected).norm() / expected.norm() < 0.01
