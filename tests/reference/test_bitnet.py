"""The BitNet twin against transformers' own BitNet code (``integrations/bitnet.py``), which is the backend.

transformers' ``unpack_weights`` and ``BitLinear``'s activation steps are ``torch.compile``-decorated;
on a CPU each new shape compiles for tens of seconds, so these tests run them eagerly (dynamo
disabled): that is the code as written. Compiled, inductor keeps bfloat16 intermediates in float32 and
the logits move by up to ~1e-2 (measured on the tiny llama), so bit-exact comparisons are eager ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn
from transformers import AutoModelForCausalLM, BitNetQuantConfig
from transformers.integrations.bitnet import pack_weights, unpack_weights

from qconform.backends.bitnet import BitNetCodec
from qconform.inputs.tiny_models import tiny_checkpoint, tiny_config, tiny_model
from qconform.support.metrics import compare_stored
from reference_quantizers.bitnet import RefBitNetConfig, RefBitNetLinear, RefBitNetQuantizer, write_checkpoint
from reference_quantizers.formats import ternary
from tests.reference.helpers import logits, relabel

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture(autouse=True)
def eager():
    with torch._dynamo.config.patch(disable=True):
        yield


def load(path: Path, dtype: torch.dtype = torch.bfloat16, device: str = "cpu", **kwargs) -> nn.Module:
    return AutoModelForCausalLM.from_pretrained(path, dtype=dtype, device_map={"": device}, **kwargs).eval()


# --- format ----------------------------------------------------------------------------------


def test_packing_matches_transformers():
    """Four blocks of rows / 4 rows, block i in bits 2i (transformers' docstring example included)."""
    documented = torch.tensor([[0b10100001, 0b00011000], [0b10010000, 0b00001010]], dtype=torch.uint8)
    expected = [[0, -1], [-1, 1], [-1, 1], [-1, 1], [1, 0], [0, -1], [1, -1], [1, -1]]
    assert ternary.unpack(documented).tolist() == expected
    gen = torch.Generator().manual_seed(0)
    for shape in ((8, 5), (256, 128), (4, 1)):
        q = torch.randint(-1, 2, shape, dtype=torch.int8, generator=gen)
        packed = ternary.pack(q)
        assert torch.equal(packed, pack_weights(q.clone()))
        assert torch.equal(ternary.unpack(packed, torch.bfloat16), unpack_weights(packed, torch.bfloat16))


def test_weight_scale_is_reciprocal_absmean():
    """BitLinear divides its output by weight_scale: the stored value is 1 / mean|W|, not the absmean."""
    weight = torch.tensor([[0.5, -1.0, 0.0, 0.25]] * 4)
    q, scale = ternary.ternarize(weight)
    assert scale.item() == pytest.approx(1 / 0.4375)
    assert q[0].tolist() == [1, -1, 0, 1]  # 0.25 / 0.4375 = 0.57 rounds to 1
    stored = RefBitNetLinear.quantize(weight.to(torch.bfloat16), RefBitNetConfig())
    assert stored["weight"].shape == (1, 4) and stored["weight_scale"].dtype == torch.bfloat16


def test_codec_bit_exact_with_transformers():
    real, twin, config = BitNetCodec(), RefBitNetQuantizer.codec(), BitNetQuantConfig()
    gen = torch.Generator().manual_seed(1)
    for dtype in (torch.bfloat16, torch.float32):
        for shape in ((64, 128), (4, 3), (12, 256)):
            weight = (torch.randn(shape, generator=gen) * 0.02).to(dtype)
            stored = real.quantize(weight, config)
            assert compare_stored(stored, twin.quantize(weight, RefBitNetConfig.from_real(config))) == []
            back = real.dequantize(stored, config, shape, dtype)
            assert torch.equal(back, twin.dequantize(stored, RefBitNetConfig(), shape, dtype))
    assert twin.unsupported((6, 8), torch.bfloat16, RefBitNetConfig(), "cpu")  # rows not a multiple of 4
    assert twin.unsupported((8, 8), torch.float16, RefBitNetConfig(), "cpu")


def test_config_mapping():
    twin = RefBitNetConfig.from_real(BitNetQuantConfig(modules_to_not_convert=["lm_head"]))
    assert (twin.linear_class, twin.modules_to_not_convert) == ("bitlinear", ["lm_head"])
    for kwargs in ({"linear_class": "autobitlinear"}, {"use_rms_norm": True}):
        with pytest.raises(ValueError):
            RefBitNetConfig.from_real(BitNetQuantConfig(**kwargs))


# --- models ----------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["llama", "opt"])
def test_on_the_fly_reload_dequantize_and_exchange(arch, tmp_path):
    """The twin quantizes on the fly; its checkpoint reloads bit for bit, and loads through
    BitNetHfQuantizer (BitLinear) with bit-identical logits; dequantize() leaves nn.Linear."""
    twin = load(tiny_checkpoint(arch, dtype=torch.bfloat16), quantization_config=RefBitNetConfig())
    assert any(isinstance(m, RefBitNetLinear) for m in twin.modules())
    expected = logits(twin, arch)
    twin.save_pretrained(tmp_path / "twin")
    assert torch.equal(logits(load(tmp_path / "twin"), arch), expected)

    real = load(relabel(tmp_path / "twin", tmp_path / "as-real", BitNetQuantConfig()))
    assert sum(type(m).__name__ == "BitLinear" for m in real.modules()) == sum(
        isinstance(m, RefBitNetLinear) for m in twin.modules()
    )
    assert torch.equal(logits(real, arch), expected)

    twin.dequantize()
    assert not any(isinstance(m, RefBitNetLinear) for m in twin.modules())
    gap = (logits(twin, arch) - expected).float().norm() / expected.float().norm()
    assert gap < 0.05  # the dequantized model skips the int8 activation quantization


def test_loads_a_checkpoint_packed_by_transformers(tmp_path):
    """A BitNet checkpoint written with transformers' pack_weights (random ternary weights and scales, no
    twin involved) gives the same logits through BitLinear and through the twin."""
    model = tiny_model("llama", dtype=torch.bfloat16)
    gen = torch.Generator().manual_seed(3)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and name != "lm_head":
            q = torch.randint(-1, 2, tuple(module.weight.shape), dtype=torch.int8, generator=gen)
            state[f"{name}.weight"] = pack_weights(q)
            state[f"{name}.weight_scale"] = (torch.rand(1, generator=gen) * 50 + 10).to(torch.bfloat16)
    model.config.quantization_config = BitNetQuantConfig().to_dict()
    path = tmp_path / "real"
    path.mkdir()
    (path / "config.json").write_text(model.config.to_json_string())
    save_file(state, path / "model.safetensors", metadata={"format": "pt"})
    expected = logits(load(path), "llama")
    twin = load(relabel(path, tmp_path / "as-twin", RefBitNetConfig()))
    assert isinstance(twin.model.layers[0].self_attn.q_proj, RefBitNetLinear)
    assert torch.equal(logits(twin, "llama"), expected)


def test_checkpoint_writer_serves_every_real_variant(tmp_path, monkeypatch):
    """write_checkpoint's checkpoints load through BitNetHfQuantizer in each variant; BitLinear (divides by
    weight_scale) and offline AutoBitLinear (multiplies by it) compute the same model."""
    monkeypatch.setenv("QCONFORM_CACHE", str(tmp_path))
    results = {}
    variants = {
        "bitlinear": {},
        "autobitlinear": {"linear_class": "autobitlinear"},
        "online": {"linear_class": "autobitlinear", "quantization_mode": "online"},
        "rms_norm": {"use_rms_norm": True},
    }
    for key, kwargs in variants.items():
        model = load(write_checkpoint("bitnet", "llama", BitNetQuantConfig(**kwargs)), torch.float32)
        assert type(model.model.layers[0].mlp.up_proj).__name__ in ("BitLinear", "AutoBitLinear")
        results[key] = logits(model, "llama")
        assert torch.isfinite(results[key]).all()
    gap = (results["autobitlinear"] - results["bitlinear"]).norm() / results["bitlinear"].norm()
    assert gap < 0.01


def test_float16_computed_in_float32(tmp_path):
    """In float16 BitLinear divides by weight_scale * (127 / absmax) computed in float16, which overflows
    for ordinary tokens and zeroes them (measured here); the twin computes float16 layers in float32."""
    config = tiny_config("llama")
    weight = torch.randn(128, 128, generator=torch.Generator().manual_seed(4)) * config.initializer_range
    stored = RefBitNetLinear.quantize(weight.to(torch.float16), RefBitNetConfig())
    x = torch.randn(3, 128, generator=torch.Generator().manual_seed(5)) * 0.01
    reference = nn.functional.linear(x.double(), ternary.dequantize(**_args(stored)).double())
    twin = ternary.bitlinear(x.half(), stored["weight"], stored["weight_scale"], dtype=torch.float16)
    assert (twin.double() - reference).norm() / reference.norm() < 0.05

    from transformers.integrations.bitnet import BitLinear

    real = BitLinear(128, 128, bias=False, dtype=torch.float16)
    real.weight, real.weight_scale = stored["weight"], stored["weight_scale"]
    assert not real(x.half()).any()  # transformers 5.17 and 5.23: every output is 0


def _args(stored):
    return {"packed": stored["weight"], "weight_scale": stored["weight_scale"]}


# --- on a GPU ----------------------------------------------------------------------------------


@cuda
def test_cuda_on_the_fly_reload_and_real_forward(tmp_path):
    twin = load(tiny_checkpoint("llama", dtype=torch.bfloat16), device="cuda", quantization_config=RefBitNetConfig())
    expected = logits(twin, "llama")
    twin.save_pretrained(tmp_path / "twin")
    assert torch.equal(logits(load(tmp_path / "twin", device="cuda"), "llama"), expected)
    real = load(relabel(tmp_path / "twin", tmp_path / "as-real", BitNetQuantConfig()), device="cuda")
    assert torch.equal(logits(real, "llama"), expected)
