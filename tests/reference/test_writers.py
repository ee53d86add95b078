"""The pre-quantized checkpoint writers of the methods that load pre-quantized only: each written checkpoint
loads through ``from_pretrained`` with the real quantizer, is quantized where the writer says, and gives finite
logits near full precision. Each test skips with the reason where the method's backend is not installed."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from torch import nn
from transformers import AutoModelForCausalLM

from qconform.inputs.tiny_models import tiny_model
from tests.reference.helpers import logits


def _needs(module: str, hint: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed ({hint})")


def _load(path) -> nn.Module:
    return AutoModelForCausalLM.from_pretrained(path, device_map={"": "cpu"}).eval()


def _drift(model: nn.Module, arch: str) -> float:
    reference = logits(tiny_model(arch), arch)
    found = logits(model, arch)
    assert torch.isfinite(found).all()
    return float((found - reference).norm() / reference.norm())


# --- Gemma (transformers' own layers, no backend) -------------------------------------------------


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_gemma_pack_is_what_transformers_unpacks(bits):
    from transformers.integrations.gemma_quant import _unpack_int2, _unpack_int4

    from reference_quantizers.writers.gemma import pack

    top = 2 ** (bits - 1)
    codes = torch.randint(-top, top, (6, 13), generator=torch.Generator().manual_seed(bits), dtype=torch.int8)
    packed = pack(codes, bits)
    unpacked = {2: _unpack_int2, 4: _unpack_int4}.get(bits, lambda p, _w: p)(packed, codes.shape[-1])
    assert torch.equal(unpacked.to(torch.int8), codes)


@pytest.mark.parametrize("arch", ["llama", "opt"])
@pytest.mark.parametrize("bits, bound", [(4, 0.2), (8, 0.01)])
def test_gemma_checkpoint_loads_and_dequantizes_to_the_weights(arch, bits, bound):
    from transformers.integrations.gemma_quant import QuantizedLinear

    from reference_quantizers.writers.gemma import gemma_config, prequantized_checkpoint

    model = _load(prequantized_checkpoint("gemma", arch, gemma_config({"num_bits": bits})))
    assert type(model.hf_quantizer).__name__ == "GemmaQuantizer"
    reference = dict(tiny_model(arch).named_modules())
    quantized = {n: m for n, m in model.named_modules() if isinstance(m, QuantizedLinear)}
    assert quantized and model.get_output_embeddings().__class__ is nn.Linear
    for name, module in quantized.items():
        weight = reference[name].weight
        error = float((module._dequantize_weights() - weight).norm() / weight.norm())
        assert error <= bound, (name, error)
    assert _drift(model, arch) <= 2 * bound


# --- AutoRound (auto-round's own round-to-nearest path and exporter) ------------------------------


@pytest.mark.parametrize("arch", ["llama", "opt"])
def test_auto_round_checkpoint_loads_through_auto_round(arch):
    _needs("auto_round", "pip install 'auto-round>=0.5'")
    from transformers import AutoRoundConfig

    from reference_quantizers.writers.auto_round import prequantized_checkpoint

    model = _load(prequantized_checkpoint("auto-round", arch, AutoRoundConfig()))
    assert type(model.hf_quantizer).__name__ == "AutoRoundQuantizer"
    replaced = [n for n, m in model.named_modules() if "QuantLinear" in type(m).__name__]
    assert len(replaced) == sum(1 for _ in tiny_model(arch).modules() if type(_) is nn.Linear) - 1  # all but lm_head
    assert _drift(model, arch) <= 0.4  # 4-bit groups of 128 on random weights: measured 0.17 (llama)


# --- Metal (transformers' own affine quantizer; dequantized on a machine without MPS) ---------------


@pytest.mark.parametrize("arch", ["llama", "opt"])
def test_metal_checkpoint_dequantizes_to_the_weights(arch):
    from reference_quantizers.writers.metal import metal_config, prequantized_checkpoint

    if torch.backends.mps.is_available():
        pytest.skip("with MPS the checkpoint loads into MetalLinear (this test reads the CPU's dequantized path)")
    model = _load(prequantized_checkpoint("metal", arch, metal_config({"bits": 4, "group_size": 32})))
    for name, module in tiny_model(arch).named_modules():
        if type(module) is nn.Linear:
            error = float((model.get_submodule(name).weight - module.weight).norm() / module.weight.norm())
            assert error <= (0.0 if name.endswith("lm_head") else 0.1), (name, error)  # measured 0.079 (4-bit, g32)
    assert _drift(model, arch) <= 0.2


# --- AMD Quark (amd-quark's own quantizer and exporter) -------------------------------------------


@pytest.mark.parametrize("arch", ["llama", "opt"])
def test_quark_checkpoint_loads_through_quark(arch):
    _needs("quark", "pip install 'amd-quark>=0.12'")
    from reference_quantizers.writers.quark import prequantized_checkpoint

    model = _load(prequantized_checkpoint("quark", arch))
    assert type(model.hf_quantizer).__name__ == "QuarkHfQuantizer"
    replaced = [n for n, m in model.named_modules() if type(m).__name__ == "QParamsLinear"]
    assert replaced and model.get_output_embeddings().__class__ is nn.Linear
    assert _drift(model, arch) <= 0.4  # int4 weight-only groups of 32: measured 0.148 (llama)
