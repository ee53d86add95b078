"""The hqq twin against the hqq package: bit-exact codes, scales, zeros and metadata, interchangeable state dicts.

transformers cannot quantize with hqq nor load an hqq checkpoint (checked below, as the spec states),
so interchange is checked at the level of hqq's own layer, ``HQQLinear``.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from torch import nn
from transformers import AutoModelForCausalLM

from qconform.inputs.tiny_models import tiny_checkpoint
from reference_quantizers.hqq import METADATA, RefHqqConfig, RefHqqLinear, RefHqqQuantizer
from tests.reference.helpers import assert_same_tensors, logits

hqq_quantize = pytest.importorskip("hqq.core.quantize")
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
# (nbits, group_size, axis): every packing, both axes, whole-row groups
FORMATS = [(4, 64, 1), (3, 32, 0), (2, 128, 1), (1, 64, 0), (8, 16, 1), (5, None, 1), (6, 64, 0)]


def hqq_layer(weight: torch.Tensor, nbits: int, group_size: int | None, axis: int, view_as_float: bool = False):
    config = hqq_quantize.BaseQuantizeConfig(nbits=nbits, group_size=group_size, axis=axis, view_as_float=view_as_float)
    return hqq_quantize.HQQLinear.from_weights(
        weight.clone(), None, config, compute_dtype=weight.dtype, device=str(weight.device), del_orig=True
    )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize(("nbits", "group_size", "axis"), FORMATS)
def test_state_dict_bit_exact_with_hqqlinear(nbits, group_size, axis, dtype):
    """The twin's stored tensors equal ``HQQLinear.state_dict()`` (W_q, scale, zero and every metadata
    tensor) and both dequantize to the same weight."""
    weight = (torch.randn(96, 256, generator=torch.Generator().manual_seed(nbits)) * 0.02).to(dtype)
    weight[5] = 0.0  # a constant group: HQQ's small-range guard
    layer = hqq_layer(weight, nbits, group_size, axis)
    config = RefHqqConfig(nbits=nbits, group_size=group_size, axis=axis)
    codec = RefHqqQuantizer.codec()
    stored = codec.quantize(weight, config)
    assert_same_tensors(layer.state_dict(), stored)
    assert torch.equal(codec.dequantize(stored, config, (96, 256), dtype), layer.dequantize())


def test_real_codec_round_trips_through_hqqlinear():
    from transformers import HqqConfig

    from qconform.backends.hqq import HqqCodec

    weight = torch.randn(64, 128, generator=torch.Generator().manual_seed(3))
    real = HqqConfig(nbits=3, group_size=32, axis=0)
    stored = HqqCodec().quantize(weight, real)
    twin = RefHqqQuantizer.codec().quantize(weight, RefHqqConfig.from_real(real))
    assert_same_tensors(stored, twin)
    dequantized = HqqCodec().dequantize(stored, real, (64, 128), torch.float32)
    assert torch.equal(dequantized, hqq_layer(weight, 3, 32, 0).dequantize())


def test_from_real_config():
    from transformers import HqqConfig

    twin = RefHqqConfig.from_real(HqqConfig(nbits=2, group_size=32, axis=0, skip_modules=["lm_head", "down_proj"]))
    assert (twin.nbits, twin.group_size, twin.axis, twin.round_zero) == (2, 32, 0, False)
    assert twin.modules_to_not_convert == ["lm_head", "down_proj"]
    assert RefHqqConfig.from_real(HqqConfig()).round_zero  # nbits=4 rounds the zero point, as BaseQuantizeConfig


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """An opt model (biases) quantized on the fly by the twin (3 bits, axis 0), and its saved directory."""
    model = AutoModelForCausalLM.from_pretrained(
        tiny_checkpoint("opt"), quantization_config=RefHqqConfig(nbits=3, group_size=32, axis=0)
    )
    directory = tmp_path_factory.mktemp("hqq")
    model.save_pretrained(directory)
    return model, directory


def test_save_reload_is_bit_identical_and_dequantizes(saved, tmp_path):
    model, directory = saved
    before = logits(model, "opt")
    reloaded = AutoModelForCausalLM.from_pretrained(directory)
    assert torch.equal(logits(reloaded, "opt"), before)
    reloaded.save_pretrained(tmp_path)
    first, second = load_file(directory / "model.safetensors"), load_file(tmp_path / "model.safetensors")
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)
    reloaded.dequantize()
    assert isinstance(reloaded.model.decoder.layers[0].fc1, nn.Linear)
    assert torch.equal(logits(reloaded, "opt"), before)


def test_twin_checkpoint_loads_in_hqqlinear(saved):
    """Each layer's tensors in the twin's file load into ``HQQLinear`` and dequantize to the twin's weight."""
    model, directory = saved
    state = load_file(directory / "model.safetensors")
    prefix = "model.decoder.layers.1.self_attn.k_proj."
    layer_state = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
    assert set(layer_state) == {"W_q", "scale", "zero", "bias", *METADATA}
    layer = hqq_quantize.HQQLinear(None, None, compute_dtype=torch.float32, device="cpu", initialize=False)
    layer.load_state_dict(layer_state)
    assert torch.equal(layer.dequantize(), model.get_submodule(prefix[:-1]).dequantize())


@pytest.mark.parametrize("view_as_float", [False, True])
def test_hqqlinear_state_dicts_load_in_twin(tmp_path, view_as_float):
    """A checkpoint assembled from ``HQQLinear.state_dict()`` of every layer loads through the twin (codes
    stored as integers or, with view_as_float, typed as the compute dtype)."""
    from safetensors.torch import save_file
    from transformers import AutoConfig

    source = tiny_checkpoint("llama")
    full = AutoModelForCausalLM.from_pretrained(source)
    state, layers = {}, {}
    for name, module in full.named_modules():
        if isinstance(module, nn.Linear) and name != "lm_head":
            layers[name] = hqq_layer(module.weight.detach(), 4, 64, 1, view_as_float)
            state.update({f"{name}.{k}": v for k, v in layers[name].state_dict().items()})
        elif not list(module.children()):
            state.update({f"{name}.{k}": v for k, v in module.state_dict().items()})
    save_file(state, tmp_path / "model.safetensors", {"format": "pt"})
    config = AutoConfig.from_pretrained(source)
    config.quantization_config = RefHqqConfig(nbits=4, group_size=64, axis=1).to_dict()
    config.save_pretrained(tmp_path)
    twin, info = AutoModelForCausalLM.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    for name, layer in layers.items():
        assert torch.equal(twin.get_submodule(name).dequantize(), layer.dequantize()), name


def test_mismatched_metadata_is_refused(saved, tmp_path):
    """A checkpoint whose layers say 3 bits does not load under a 4-bit config."""
    _, directory = saved
    for name in ("model.safetensors", "config.json", "generation_config.json"):
        if (directory / name).exists():
            (tmp_path / name).write_bytes((directory / name).read_bytes())
    config = json.loads((tmp_path / "config.json").read_text())
    config["quantization_config"]["nbits"] = 4
    (tmp_path / "config.json").write_text(json.dumps(config))
    # transformers logs each layer's error ("checkpoint has nbits=3, config says 4") and then raises
    with pytest.raises(RuntimeError, match="conversion"):
        AutoModelForCausalLM.from_pretrained(tmp_path)


def test_transformers_hqq_neither_quantizes_nor_loads(saved, tmp_path):
    """The facts in the spec's notes: on the fly raises NotImplementedError; an hqq checkpoint given to
    HqqHfQuantizer leaves every quantized Linear's weight missing (freshly initialised)."""
    from transformers import HqqConfig

    with pytest.raises(NotImplementedError):
        AutoModelForCausalLM.from_pretrained(tiny_checkpoint("llama"), quantization_config=HqqConfig())
    _, directory = saved
    for name in ("model.safetensors", "config.json"):
        (tmp_path / name).write_bytes((directory / name).read_bytes())
    config = json.loads((tmp_path / "config.json").read_text())
    real = HqqConfig(nbits=3, group_size=32, axis=0)
    config["quantization_config"] = {**real.to_dict(), "quant_method": "hqq"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    _, info = AutoModelForCausalLM.from_pretrained(tmp_path, output_loading_info=True)
    assert "model.decoder.layers.0.fc1.W_q" in info["unexpected_keys"]
    assert "model.decoder.layers.0.fc1.weight" in info["missing_keys"]


@cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize(("nbits", "group_size", "axis"), FORMATS)
def test_bit_exact_with_hqqlinear_on_cuda(nbits, group_size, axis, dtype):
    """On CUDA hqq's solver runs in float16; the twin does the same and stays bit-exact."""
    weight = (torch.randn(256, 512, generator=torch.Generator().manual_seed(nbits)) * 0.02).to(dtype).cuda()
    layer = hqq_layer(weight, nbits, group_size, axis)
    stored = RefHqqQuantizer.codec().quantize(weight, RefHqqConfig(nbits=nbits, group_size=group_size, axis=axis))
    assert_same_tensors(layer.state_dict(), stored)


def test_layout_matches_hqqlinear_shapes():
    """The twin's pre-quantized Linear has W_q/scale/zero shaped and typed like HQQLinear's state dict."""
    for nbits, group_size, axis in FORMATS:
        weight = torch.randn(64, 256)
        state = hqq_layer(weight, nbits, group_size, axis).state_dict()
        config = RefHqqConfig(nbits=nbits, group_size=group_size, axis=axis)
        layout = RefHqqLinear.layout(config, 64, 256)
        assert layout["weight"] == (tuple(state["W_q"].shape), state["W_q"].dtype)
        assert layout["scale"][0] == tuple(state["scale"].shape) == layout["zero"][0]
