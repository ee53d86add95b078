"""The quanto twin against optimum-quanto: bit-exact stored tensors, interchangeable checkpoints, lifecycle.

Checks run on the CPU; those marked ``cuda`` run on a GPU machine. quanto's C++ ``unpack`` extension
(needed to dequantize int4/int2 through quanto) is built on its first use in an environment (~30 to
100 s) and cached inside the installed package.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM

from qconform.inputs.tiny_models import tiny_checkpoint
from reference_quantizers.formats import quanto as numerics
from reference_quantizers.quanto import RefQuantoConfig, RefQuantoLinear, RefQuantoQuantizer
from tests.reference.helpers import assert_same_tensors, logits

optimum_quanto = pytest.importorskip("optimum.quanto")
WEIGHTS = ("int8", "float8", "int4", "int2")
QTYPE = {"int8": "qint8", "float8": "qfloat8", "int4": "qint4", "int2": "qint2"}
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def quantized_linears(model: nn.Module) -> dict[str, nn.Module]:
    return {name: m for name, m in model.named_modules() if isinstance(m, (RefQuantoLinear, optimum_quanto.QLinear))}


def checkpoint_state(linear: RefQuantoLinear) -> dict[str, torch.Tensor]:
    """The twin Linear's tensors under quanto's state-dict names."""
    names = RefQuantoLinear.checkpoint_names(linear.config)
    return {names.get(k, k): v for k, v in linear.state_dict().items() if k != "bias"}


@pytest.fixture(scope="module")
def checkpoint():
    return tiny_checkpoint("llama")


@pytest.mark.parametrize("weights", WEIGHTS)
def test_on_the_fly_matches_transformers_quanto(checkpoint, weights):
    """Every quantized Linear stores what transformers' QuantoHfQuantizer + optimum-quanto store, bit for bit,
    and the logits are identical."""
    from transformers import QuantoConfig

    twin = AutoModelForCausalLM.from_pretrained(checkpoint, quantization_config=RefQuantoConfig(weights=weights))
    real = AutoModelForCausalLM.from_pretrained(checkpoint, quantization_config=QuantoConfig(weights=weights))
    twin_layers, real_layers = quantized_linears(twin), quantized_linears(real)
    assert sorted(twin_layers) == sorted(real_layers) and twin_layers
    for name, linear in twin_layers.items():
        real_state = {k: v for k, v in real_layers[name].state_dict().items() if k != "bias"}
        assert_same_tensors(real_state, checkpoint_state(linear))
    assert torch.equal(logits(twin), logits(real))


def test_save_reload_is_bit_identical_and_dequantizes(tmp_path):
    """On-the-fly int4 (grouped and per-row layers, biases), saved with quanto's names, reloads identically;
    ``dequantize()`` gives nn.Linear with the same outputs."""
    source = tiny_checkpoint("opt")
    model = AutoModelForCausalLM.from_pretrained(source, quantization_config=RefQuantoConfig(weights="int4"))
    before = logits(model, "opt")
    model.save_pretrained(tmp_path / "a")
    keys = load_file(tmp_path / "a" / "model.safetensors").keys()
    assert (
        "model.decoder.layers.0.fc2.weight._data._data" in keys and "model.decoder.layers.0.fc2.weight._shift" in keys
    )
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "a")
    assert torch.equal(logits(reloaded, "opt"), before)
    reloaded.save_pretrained(tmp_path / "b")
    first, second = (load_file(tmp_path / d / "model.safetensors") for d in "ab")
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)
    reloaded.dequantize()
    assert not quantized_linears(reloaded) and isinstance(reloaded.model.decoder.layers[0].fc1, nn.Linear)
    assert torch.equal(logits(reloaded, "opt"), before)


def test_twin_checkpoint_loads_in_optimum_quanto(tmp_path, checkpoint):
    """optimum-quanto's own loader (``requantize``) reads a twin-written checkpoint: identical logits."""
    twin = AutoModelForCausalLM.from_pretrained(checkpoint, quantization_config=RefQuantoConfig(weights="int4"))
    twin.save_pretrained(tmp_path)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(checkpoint)).eval()
    qmap = {name: {"weights": "qint4", "activations": "none"} for name in quantized_linears(twin)}
    optimum_quanto.requantize(model, load_file(tmp_path / "model.safetensors"), qmap, device=torch.device("cpu"))
    assert torch.equal(logits(model), logits(twin))


@pytest.mark.parametrize("weights", ["int8", "int2"])
def test_optimum_quanto_checkpoint_loads_in_twin(tmp_path, checkpoint, weights):
    """A model quantized and frozen by optimum-quanto, its state dict saved, loads through the twin."""
    model = AutoModelForCausalLM.from_pretrained(checkpoint)
    optimum_quanto.quantize(model, weights=getattr(optimum_quanto, QTYPE[weights]), exclude=["lm_head"])
    optimum_quanto.freeze(model)
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()}, tmp_path / "model.safetensors", {"format": "pt"}
    )
    config = AutoConfig.from_pretrained(checkpoint)
    config.quantization_config = RefQuantoConfig(weights=weights).to_dict()
    config.save_pretrained(tmp_path)
    twin = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert len(quantized_linears(twin)) == 14
    assert torch.equal(logits(twin), logits(model))


def test_codec_matches_quanto_freeze_through_tinygemm():
    """The real codec (kernel-agnostic quantize) stores what QLinear.freeze() stores where quanto picks its
    TinyGemm layout (bfloat16, int4, groups of 128 on the CPU), and so does the twin."""
    from qconform.backends.quanto import QuantoCodec

    weight = torch.randn(96, 384, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    layer = optimum_quanto.QLinear(384, 96, bias=False, dtype=torch.bfloat16, weights="qint4")
    layer.weight.data.copy_(weight)
    layer.freeze()
    assert type(layer.weight).__name__ == "TinyGemmWeightQBitsTensor"
    frozen = layer.state_dict()
    config = RefQuantoConfig(weights="int4")
    assert_same_tensors(frozen, QuantoCodec().quantize(weight, config))
    assert_same_tensors(frozen, RefQuantoQuantizer.codec().quantize(weight, config))


@pytest.mark.parametrize("width", [64, 128, 160, 192, 200, 224, 256, 288, 320, 352, 4096, 11008])
def test_group_size_rule_matches_qlinear(width):
    layer = optimum_quanto.QLinear(width, 8, bias=False, weights="qint4", device="meta")
    assert numerics.group_size_for(width) == layer.weight_group_size


def test_float8_zero_row_is_nan_in_quanto_and_twin():
    """Evidence for the spec's known deviation: an all-zero row stores NaN in float8, in quanto as in the twin."""
    from qconform.backends.quanto import QuantoCodec

    weight = torch.randn(8, 64)
    weight[3] = 0.0
    config = RefQuantoConfig(weights="float8")
    real, twin = QuantoCodec().quantize(weight, config), RefQuantoQuantizer.codec().quantize(weight, config)
    for stored in (real, twin):
        nan_rows = stored["weight._data"].float().isnan().any(dim=1)
        assert nan_rows.tolist() == [i == 3 for i in range(8)]


def test_transformers_quanto_neither_saves_nor_loads_checkpoints(tmp_path, checkpoint):
    """The facts the spec's notes state: QuantoHfQuantizer refuses to save, and a quanto checkpoint given
    to it loads nothing (unexpected keys, missing weights)."""
    from transformers import QuantoConfig

    real = AutoModelForCausalLM.from_pretrained(checkpoint, quantization_config=QuantoConfig(weights="int8"))
    with pytest.raises(ValueError, match="not serializable"):
        real.save_pretrained(tmp_path / "real")
    twin = AutoModelForCausalLM.from_pretrained(checkpoint, quantization_config=RefQuantoConfig(weights="int8"))
    twin.save_pretrained(tmp_path / "twin")
    config_path = tmp_path / "twin" / "config.json"
    config = json.loads(config_path.read_text())
    config["quantization_config"] = QuantoConfig(weights="int8").to_dict()
    config_path.write_text(json.dumps(config))
    _, info = AutoModelForCausalLM.from_pretrained(tmp_path / "twin", output_loading_info=True)
    assert "model.layers.0.mlp.down_proj.weight._data" in info["unexpected_keys"]
    assert "model.layers.0.mlp.down_proj.weight" in info["missing_keys"]


@cuda
@pytest.mark.parametrize("weights", WEIGHTS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_twin_matches_quanto_on_cuda(weights, dtype):
    from qconform.backends.quanto import QuantoCodec

    weight = torch.randn(256, 512, generator=torch.Generator().manual_seed(1)).to(dtype).cuda()
    config = RefQuantoConfig(weights=weights)
    real, twin = QuantoCodec().quantize(weight, config), RefQuantoQuantizer.codec().quantize(weight, config)
    assert_same_tensors(real, twin)
    on_cpu = RefQuantoQuantizer.codec().quantize(weight.cpu(), config)
    assert_same_tensors(on_cpu, {k: v.cpu() for k, v in twin.items()})
