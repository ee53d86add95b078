"""The AWQ twin against AutoAWQ 0.2.9 and gptqmodel 7.6 (transformers 5.x loads AWQ through gptqmodel).

AutoAWQ is archived upstream; it is installed with ``pip install --no-deps autoawq==0.2.9`` (its
dependency set pulls triton and datasets), and ``awq.quantize.quantizer``, ``awq.modules.linear.gemm``
and ``awq.utils.packing_utils`` import without them. Checked here: packing and unpacking bit for bit
with AutoAWQ, round-to-nearest quantization bit for bit with ``pseudo_quantize_tensor`` +
``WQLinear_GEMM.from_linear``, the scale search against AutoAWQ's ``_compute_best_scale``, gptqmodel's
unpacking of the twin's words, and checkpoints both ways through transformers' ``AwqQuantizer``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from torch import nn
from transformers import AutoModelForCausalLM, AwqConfig

from qconform.inputs.tiny_models import sample_input_ids, tiny_checkpoint
from reference_quantizers.awq import RefAwqConfig, RefAwqLinear, RefAwqQuantizer
from reference_quantizers.calibration.awq import fold_scales, scaling_groups
from reference_quantizers.calibration.checkpoints import prequantized_checkpoint
from reference_quantizers.formats import awq as A
from reference_quantizers.formats import packing
from tests.reference.helpers import logits

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def rel(expected: torch.Tensor, actual: torch.Tensor) -> float:
    return ((actual - expected).norm() / expected.norm()).item()


def with_method(checkpoint: Path, target: Path, method: str) -> Path:
    shutil.copytree(checkpoint, target)
    config = json.loads((target / "config.json").read_text())
    config["quantization_config"]["quant_method"] = method
    (target / "config.json").write_text(json.dumps(config))
    return target


# --- layout and numerics against AutoAWQ ------------------------------------------------------------


def test_packing_bit_exact_with_autoawq():
    """The GEMM words: nibble j of word c holds column 8c + [0, 2, 4, 6, 1, 3, 5, 7][j], as AutoAWQ
    packs them; AutoAWQ's unpack + reverse order gives the twin's codes back."""
    packing_utils = pytest.importorskip("awq.utils.packing_utils")
    codes = torch.randint(0, 16, (64, 96), generator=torch.Generator().manual_seed(0), dtype=torch.int32)
    words = packing.pack_awq(codes)
    assert words.shape == (64, 12) and words.dtype == torch.int32
    assert (int(words[0, 0]) >> 4) & 15 == int(codes[0, 2])
    iweights, izeros = packing_utils.unpack_awq(words, words[:2], 4)
    iweights, _ = packing_utils.reverse_awq_order(iweights, izeros, 4)
    assert torch.equal(iweights & 15, codes.to(iweights.dtype))
    assert torch.equal(packing.unpack_awq(words), codes)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("group_size", [128, 32, -1])
def test_codec_bit_exact_with_autoawq(group_size, dtype):
    """qweight, qzeros and scales equal AutoAWQ's pseudo_quantize_tensor + WQLinear_GEMM.from_linear
    (computed in the weight's dtype, as AutoAWQ does), and dequantize_gemm gives the twin's weight."""
    pytest.importorskip("awq.modules.linear.gemm")
    from qconform.backends.awq import AutoAwqCodec

    weight = (torch.randn(96, 256, generator=torch.Generator().manual_seed(1)) * 0.05).to(dtype)
    weight[3, :128] = 0.02  # a constant group
    real = AwqConfig(bits=4, group_size=group_size)
    twin = RefAwqConfig.from_real(real)
    expected = AutoAwqCodec().quantize(weight, real)
    stored = RefAwqQuantizer.codec().quantize(weight, twin)
    assert sorted(stored) == sorted(expected)
    for name, tensor in expected.items():
        assert (stored[name].dtype, stored[name].shape) == (tensor.dtype, tensor.shape), name
        assert torch.equal(stored[name], tensor), name
    real_weight = AutoAwqCodec().dequantize(expected, real, (96, 256), torch.float32)
    assert torch.equal(RefAwqQuantizer.codec().dequantize(stored, twin, (96, 256), torch.float32), real_weight)


def test_gptqmodel_unpacks_the_twin_words():
    """gptqmodel's own dequantize_gemm (what its AWQ kernels start from) reads the twin's tensors as the twin does."""
    pytest.importorskip("gptqmodel")
    from gptqmodel.quantization.awq.utils.packing_utils import dequantize_gemm

    weight = torch.randn(64, 256, generator=torch.Generator().manual_seed(2))
    stored = A.quantize_gemm(weight, 64)
    expected = dequantize_gemm(stored["qweight"], stored["qzeros"], stored["scales"], 4, 64).T
    assert torch.equal(A.dequantize_gemm(stored, 64), expected)


class _CopyingLinear(nn.Linear):
    """AutoAWQ saves ``{k: v.cpu()}`` to restore the module between grid points: a copy on a GPU, but the
    parameter itself on the CPU, which its first in-place ``weight.mul_`` then changes (with duo_scaling the
    first grid point is not 1, so every later point starts from a scaled weight, and so does the model after
    the search). A state_dict of copies runs AutoAWQ's search on the CPU as it runs on a GPU."""

    def state_dict(self, *args, **kwargs):
        return {name: value.clone() for name, value in super().state_dict(*args, **kwargs).items()}


@pytest.mark.parametrize("duo_scaling", [False, True])
def test_scale_search_matches_autoawq(duo_scaling):
    """For one Linear (AutoAWQ's module2inspect is then the Linear itself) the twin picks the same scales as
    AutoAWQ's _compute_best_scale, and never does worse on the calibration data than plain rounding (ratio 0)."""
    quantizer = pytest.importorskip("awq.quantize.quantizer")
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(256, 128, generator=gen) * torch.exp(torch.randn(128, generator=gen))
    linear = _CopyingLinear(128, 64, bias=False)
    linear.weight.data = torch.randn(64, 128, generator=gen) * 0.05
    original = linear.weight.detach().clone()
    scales, _ratio = A.search_scales(x, [linear.weight], 64, duo_scaling=duo_scaling)

    awq = object.__new__(quantizer.AwqQuantizer)  # no model or dataset: set what the search reads
    awq.__dict__.update(w_bit=4, group_size=64, zero_point=True, duo_scaling=duo_scaling)
    awq.__dict__.update(max_chunk_memory=1 << 30, n_parallel_calib_samples=None)
    w_groups = linear.weight.abs().view(-1, 64)
    w_mean = (w_groups / (w_groups.amax(dim=1, keepdim=True) + 1e-6)).view(64, 128).mean(0)
    with torch.no_grad():
        expected = awq._compute_best_scale(x, w_mean, x.abs().mean(0), linear, [linear], linear(x), {})
    assert torch.allclose(scales, expected, rtol=1e-6, atol=0)
    assert torch.equal(linear.weight, original)

    def loss(s: torch.Tensor) -> float:
        quantized = A.pseudo_quantize(original * s, 64)[0] / s
        return (x @ original.T - x @ quantized.T).pow(2).mean().item()

    assert loss(scales) <= loss(torch.ones(128))


@pytest.mark.parametrize("arch", ["llama", "opt"])
def test_scale_folding_keeps_the_function(arch):
    """Dividing the operation before a group by s and multiplying the group's inputs by s changes no logits."""
    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint(arch))
    before = logits(model, arch)
    groups = scaling_groups(model)
    assert {len(after) for _, after in groups} >= {1, 2 if arch == "llama" else 3}
    gen = torch.Generator().manual_seed(4)
    for op, after in groups:
        width = model.get_submodule(after[0]).in_features
        fold_scales(
            model.get_submodule(op), [model.get_submodule(n) for n in after], torch.rand(width, generator=gen) + 0.5
        )
    assert torch.allclose(logits(model, arch), before, atol=1e-5, rtol=1e-4)


# --- the twin in transformers ----------------------------------------------------------------------


def test_on_the_fly_is_refused_like_awqquantizer():
    with pytest.raises(ValueError, match="quantiz"):
        AutoModelForCausalLM.from_pretrained(tiny_checkpoint("llama"), quantization_config=RefAwqConfig())


@pytest.mark.parametrize("arch", ["llama", "opt"])
def test_checkpoint_loads_saves_reloads_and_dequantizes(arch, tmp_path):
    """A twin-written checkpoint loads through the twin (every Linear but lm_head), save/reload is
    bit-identical, and dequantize() gives nn.Linear with the same outputs."""
    model = AutoModelForCausalLM.from_pretrained(prequantized_checkpoint("ref-awq", arch))
    linears = {n: type(m) for n, m in model.named_modules() if isinstance(m, (nn.Linear, RefAwqLinear))}
    assert linears.pop("lm_head") is nn.Linear
    assert set(linears.values()) == {RefAwqLinear}
    before = logits(model, arch)
    model.save_pretrained(tmp_path)
    assert torch.equal(logits(AutoModelForCausalLM.from_pretrained(tmp_path), arch), before)
    model.dequantize()
    assert not any(isinstance(m, RefAwqLinear) for m in model.modules())
    assert torch.allclose(logits(model, arch), before, atol=1e-5)


@pytest.mark.parametrize("arch", ["llama", "opt"])
def test_awq_beats_round_to_nearest_with_outlier_channels(arch, tmp_path):
    """With a few activation outlier channels (norm weights x30, as in real LLMs), the searched scales bring
    the logits closer to full precision than plain rounding (n_grid=1: ratio 0 only). Measured: llama 0.32
    vs 0.37, opt 0.19 vs 0.23 relative."""
    from reference_quantizers.calibration.writers import write_awq_checkpoint

    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint(arch))
    norms = ("input_layernorm", "post_attention_layernorm", "self_attn_layer_norm", "final_layer_norm")
    for name, module in model.named_modules():
        if ".layers." in name and name.endswith(norms):
            module.weight.data[:8] *= 30
    model.save_pretrained(tmp_path / "fp")
    reference = logits(model, arch)
    errors = {}
    for n_grid in (20, 1):
        config = RefAwqConfig(n_grid=n_grid, group_size=64)
        path = write_awq_checkpoint(tmp_path / "fp", tmp_path / f"awq{n_grid}", config, real=False)
        errors[n_grid] = rel(reference, logits(AutoModelForCausalLM.from_pretrained(path), arch))
    assert errors[20] < 0.95 * errors[1], errors


def test_autoawq_search_on_cpu_leaves_the_weight_scaled():
    """Evidence for the note on ``_CopyingLinear``: with a plain Linear on the CPU and duo_scaling (AutoAWQ's
    default), AutoAWQ 0.2.9's ``_compute_best_scale`` returns with the Linear's weight changed."""
    quantizer = pytest.importorskip("awq.quantize.quantizer")
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(64, 128, generator=gen)
    linear = nn.Linear(128, 32, bias=False)
    linear.weight.data = torch.randn(32, 128, generator=gen) * 0.05
    original = linear.weight.detach().clone()
    awq = object.__new__(quantizer.AwqQuantizer)
    awq.__dict__.update(w_bit=4, group_size=64, zero_point=True, duo_scaling=True)
    awq.__dict__.update(max_chunk_memory=1 << 30, n_parallel_calib_samples=None)
    w_mean = (linear.weight.abs().view(-1, 64) / linear.weight.abs().view(-1, 64).amax(1, keepdim=True)).view(32, 128)
    with torch.no_grad():
        awq._compute_best_scale(x, w_mean.mean(0), x.abs().mean(0), linear, [linear], linear(x), {})
    assert not torch.equal(linear.weight, original)


@pytest.mark.parametrize(("backend", "rtol"), [("torch_awq", 1e-3), ("auto", 1e-2)])
@pytest.mark.parametrize("arch", ["llama", "opt"])
def test_twin_checkpoint_loads_through_awqquantizer(arch, backend, rtol):
    """A twin-written ``quant_method: awq`` checkpoint loads through transformers' AwqQuantizer and
    gptqmodel on the CPU. AwqTorchLinear computes in float16 (1e-3 relative of the twin's logits),
    TorchAtenAwqLinear in bfloat16 (1e-2)."""
    pytest.importorskip("gptqmodel")
    twin = AutoModelForCausalLM.from_pretrained(prequantized_checkpoint("ref-awq", arch))
    real = AutoModelForCausalLM.from_pretrained(
        prequantized_checkpoint("awq", arch), device_map="cpu", quantization_config=AwqConfig(backend=backend)
    )
    assert rel(logits(twin, arch), logits(real, arch)) <= rtol


def test_autoawq_packed_checkpoint_loads_into_the_twin(tmp_path):
    """A checkpoint whose Linears AutoAWQ packed (WQLinear_GEMM.from_linear) loads into the twin, and the
    twin's logits match gptqmodel's on the same files."""
    pytest.importorskip("awq.modules.linear.gemm")
    pytest.importorskip("gptqmodel")
    from qconform.backends.awq import AutoAwqCodec
    from reference_quantizers.calibration.install import install

    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint("llama"))
    real = AwqConfig(bits=4, group_size=64)
    names = [n for n, m in model.named_modules() if type(m) is nn.Linear and n != "lm_head"]
    stored = {n: AutoAwqCodec().quantize(model.get_submodule(n).weight.detach(), real) for n in names}
    install(model, RefAwqLinear, RefAwqConfig.from_real(real), names, stored)
    model.config.quantization_config = real
    model.save_pretrained(tmp_path / "awq")
    loaded_real = AutoModelForCausalLM.from_pretrained(
        tmp_path / "awq", device_map="cpu", quantization_config=AwqConfig(backend="torch_awq")
    )
    twin = AutoModelForCausalLM.from_pretrained(with_method(tmp_path / "awq", tmp_path / "as-twin", "ref-awq"))
    assert rel(logits(twin), logits(loaded_real)) <= 1e-3


@cuda
def test_twin_checkpoint_loads_on_cuda_through_awqquantizer():
    pytest.importorskip("gptqmodel")
    twin = AutoModelForCausalLM.from_pretrained(prequantized_checkpoint("ref-awq", "llama"), device_map="cuda")
    real = AutoModelForCausalLM.from_pretrained(
        prequantized_checkpoint("awq", "llama"), device_map="cuda", dtype=torch.float16
    )
    ids = sample_input_ids().cuda()
    with torch.no_grad():
        expected, actual = twin(ids).logits.float(), real(ids).logits.float()
    assert rel(expected, actual) <= 2e-2
