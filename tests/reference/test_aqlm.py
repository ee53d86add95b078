"""The AQLM twin against the ``aqlm`` package and transformers' ``AqlmHfQuantizer``.

aqlm's ``QuantizedLinear`` picks its kernel by device and codebook shape: on the CPU, codebooks of 256
entries with ``out_group_size`` 1 go through a numba kernel (float32 only), everything else through
``_dequantize_weight`` and a matmul. Model-level tests here use 4 096-entry codebooks (the matmul
path: outputs identical to the twin's); the numba kernel is compared on one layer, single-threaded
(aqlm 1.1.7's kernel accumulates with a data race across threads).
"""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from transformers import AqlmConfig, AutoModelForCausalLM

from qconform.inputs.tiny_models import sample_input_ids, tiny_checkpoint
from reference_quantizers.aqlm import RefAqlmConfig, RefAqlmLinear, RefAqlmQuantizer
from reference_quantizers.formats import additive_codebooks as ac
from reference_quantizers.writers import aqlm as writer
from reference_quantizers.writers.cache import retarget

aqlm_utils = pytest.importorskip("aqlm.utils")
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

# (num_codebooks, nbits, in_group_size, out_group_size)
SCHEMES = [(2, 8, 8, 1), (1, 16, 8, 1), (3, 8, 4, 2), (4, 6, 8, 1), (1, 12, 16, 1)]


def _random_codes(shape: tuple[int, ...], nbits: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 2**nbits, shape, generator=torch.Generator().manual_seed(seed))


def test_codes_stored_as_aqlm_stores_them():
    for nbits in (4, 8, 12, 16):
        codes = _random_codes((64, 16, 2), nbits, nbits)
        stored = ac.store_codes(codes, nbits)
        expected = aqlm_utils.pack_int_data(codes.clone(), nbits)
        assert stored.dtype == expected.dtype and torch.equal(stored, expected)
        assert torch.equal(ac.read_codes(stored, nbits), aqlm_utils.unpack_int_data(stored, nbits))


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: "{}x{}-g{}x{}".format(*s))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
def test_dequantize_bit_exact_with_aqlm(scheme, dtype):
    num_codebooks, nbits, in_group, out_group = scheme
    weight = (torch.randn(64, 128, generator=torch.Generator().manual_seed(0)) * 0.02).to(dtype)
    stored = ac.quantize(weight, num_codebooks, nbits, in_group, out_group, iterations=3)
    expected = aqlm_utils._dequantize_weight(
        aqlm_utils.unpack_int_data(stored["codes"], nbits), stored["codebooks"], stored["scales"]
    )
    assert torch.equal(ac.dequantize(**stored), expected)


def test_bfloat16_ties_round_differently_on_the_cpu():
    """aqlm's CPU dequantization sums with torch's embedding_bag, whose bfloat16 kernel rounds the float32
    sum with ties away from zero; the twin rounds to nearest even. They differ exactly at ties."""
    books = torch.randn(3, 256, 1, 8, generator=torch.Generator().manual_seed(1)).to(torch.bfloat16)
    codes = ac.store_codes(_random_codes((64, 16, 3), 8, 2), 8)
    scales = torch.ones(64, 1, 1, 1, dtype=torch.bfloat16)
    theirs = aqlm_utils._dequantize_weight(aqlm_utils.unpack_int_data(codes, 8), books, scales)
    ours = ac.dequantize(codes, books, scales)
    sums = ac.dequantize(codes, books.float(), scales.float())  # exact float32 sums
    bits = sums.view(torch.int32)
    ties_away = ((bits + 0x8000) & -65536).view(torch.float32).to(torch.bfloat16)
    assert torch.equal(theirs, ties_away)
    assert torch.equal(ours, sums.to(torch.bfloat16))
    assert 0 < int((theirs != ours).sum()) < theirs.numel() // 4


def test_kmeans_finds_separated_clusters_deterministically():
    gen = torch.Generator().manual_seed(3)
    centers = torch.randn(4, 2, generator=gen) * 10
    points = (centers[torch.arange(400) % 4] + 0.01 * torch.randn(400, 2, generator=gen)).contiguous()
    found, assignment = ac.kmeans(points, 4, iterations=10)
    again, _ = ac.kmeans(points, 4, iterations=10)
    assert torch.equal(found, again)
    for k in range(4):  # each cluster's centroid is its points' mean
        assert torch.allclose(found[k], points[assignment == k].mean(dim=0), atol=1e-5)
    assert torch.cdist(found, centers).min(dim=1).values.max() < 0.01


def test_accelerator_cluster_sums_equal_cpu_ones():
    """The sort-and-prefix-sum cluster sums used off the CPU (no atomics) equal ``index_add_``'s."""
    gen = torch.Generator().manual_seed(9)
    points = torch.randn(1000, 8, generator=gen)
    assignment = torch.randint(0, 50, (1000,), generator=gen)
    assignment[assignment == 7] = 8  # an empty cluster
    expected = torch.zeros(50, 8, dtype=torch.float64).index_add_(0, assignment, points.double())
    assert torch.allclose(ac.sorted_cluster_sums(points, assignment, 50), expected, rtol=0, atol=1e-12)


def test_kmeans_with_fewer_points_than_centroids_is_exact():
    points = torch.randn(5, 3, generator=torch.Generator().manual_seed(4))
    centroids, assignment = ac.kmeans(points, 16)
    assert torch.equal(centroids[assignment], points)


def test_residual_codebooks_reduce_the_error():
    weight = torch.randn(128, 128, generator=torch.Generator().manual_seed(5)) * 0.02
    errors = []
    for num_codebooks in (1, 2, 3):
        approx = ac.dequantize(**ac.quantize(weight, num_codebooks, 6, 8, 1, iterations=5))
        errors.append(float((approx - weight).norm() / weight.norm()))
    assert errors[0] > errors[1] > errors[2]
    assert errors[0] < 0.7


def test_zero_weight_stays_zero():
    stored = ac.quantize(torch.zeros(16, 32), 2, 4, 8, 1)
    assert not ac.dequantize(**stored).any()


def test_config_from_real_keeps_aqlm_skip_semantics():
    real = AqlmConfig(num_codebooks=2, nbits_per_codebook=8, linear_weights_not_to_quantize=["lm_head.weight"])
    twin = RefAqlmConfig.from_real(real)
    assert (twin.num_codebooks, twin.nbits_per_codebook, twin.in_group_size) == (2, 8, 8)
    assert twin.modules_to_not_convert == [] and twin.skipped_modules() == ["lm_head"]
    assert RefAqlmConfig.from_dict(twin.to_dict()).to_dict() == twin.to_dict()
    with pytest.raises(ValueError, match="nbits_per_codebook"):
        RefAqlmConfig(nbits_per_codebook=0)


def _logits(model: nn.Module, arch: str = "llama") -> torch.Tensor:
    with torch.no_grad():
        return model(sample_input_ids(arch)).logits


# 4096-entry codebooks: aqlm's matmul path on the CPU; as many entries as the tiny Linears have groups, so
# the learner is instant there (k-means itself is tested above)
SMALL = {"num_codebooks": 1, "nbits_per_codebook": 12, "in_group_size": 8}


def test_on_the_fly_save_reload_and_dequantize(tmp_path):
    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint("llama"), quantization_config=RefAqlmConfig(**SMALL))
    assert isinstance(model.model.layers[0].mlp.up_proj, RefAqlmLinear)
    assert type(model.lm_head) is nn.Linear  # nothing listed: transformers' default skips
    logits = _logits(model)
    model.save_pretrained(tmp_path)
    assert torch.equal(_logits(AutoModelForCausalLM.from_pretrained(tmp_path)), logits)
    expected = model.model.layers[0].self_attn.q_proj.dequantize()
    model.dequantize()
    linear = model.model.layers[0].self_attn.q_proj
    assert type(linear) is nn.Linear and torch.equal(linear.weight, expected)


def test_twin_checkpoint_loads_in_aqlm():
    """Written by the twin for the real quantizer (quant_method "aqlm"): transformers' AqlmHfQuantizer and
    aqlm's QuantizedLinear give the twin's logits bit for bit (the CPU matmul path)."""
    from aqlm import QuantizedLinear

    twin_path = writer.prequantized_checkpoint("ref-aqlm", "llama", RefAqlmConfig.from_real(AqlmConfig(**SMALL)))
    real_path = writer.prequantized_checkpoint("aqlm", "llama", AqlmConfig(**SMALL))
    real = AutoModelForCausalLM.from_pretrained(real_path)
    assert isinstance(real.lm_head, QuantizedLinear)  # AqlmConfig lists nothing: lm_head is quantized too
    twin = AutoModelForCausalLM.from_pretrained(twin_path)
    assert torch.equal(_logits(real), _logits(twin))


def test_aqlm_checkpoint_loads_in_twin(tmp_path):
    real_path = writer.prequantized_checkpoint("aqlm", "llama", AqlmConfig(**SMALL))
    twin_config = RefAqlmConfig.from_real(AqlmConfig(**SMALL))
    twin_path = retarget(real_path, twin_config.to_dict(), tmp_path / "as-twin")
    twin, info = AutoModelForCausalLM.from_pretrained(twin_path, output_loading_info=True)
    assert not any(info.values()), info
    assert isinstance(twin.lm_head, RefAqlmLinear)
    assert torch.equal(_logits(twin), _logits(AutoModelForCausalLM.from_pretrained(real_path)))


def test_numba_kernel_matches_twin_single_threaded():
    """aqlm's CPU kernel for 2x8 codebooks (a lookup table per input group, float32) agrees with the twin's
    dequantized matmul up to summation order, when numba runs one thread."""
    numba = pytest.importorskip("numba")
    from aqlm import QuantizedLinear

    weight = torch.randn(64, 128, generator=torch.Generator().manual_seed(6)) * 0.02
    config = RefAqlmConfig(num_codebooks=2, nbits_per_codebook=8)
    stored = RefAqlmLinear.quantize(weight, config)
    layer = QuantizedLinear(128, 64, 8, 1, 2, 8, bias=False)
    for name, tensor in stored.items():
        setattr(layer, name, nn.Parameter(tensor.clone(), requires_grad=False))
    twin = RefAqlmQuantizer.codec().linear_from(stored, config, (64, 128))
    x = torch.randn(3, 5, 128, generator=torch.Generator().manual_seed(7))
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with torch.no_grad():
            theirs, ours = layer(x), twin(x)
    finally:
        numba.set_num_threads(threads)
    assert torch.allclose(theirs, ours, rtol=1e-5, atol=1e-6)


def test_writer_caches_and_names_the_method(tmp_path, monkeypatch):
    monkeypatch.setenv("QCONFORM_CACHE", str(tmp_path))
    config = AqlmConfig(**SMALL)
    first = writer.prequantized_checkpoint("aqlm", "opt", config)
    assert writer.prequantized_checkpoint("aqlm", "opt", config) == first
    quantization = json.loads((first / "config.json").read_text())["quantization_config"]
    # opt ties lm_head to the input embedding: the twin leaves it a Linear and the real config lists it
    assert quantization["quant_method"] == "aqlm" and quantization["linear_weights_not_to_quantize"] == [
        "lm_head.weight"
    ]
    with pytest.raises(ValueError, match="writes"):
        writer.prequantized_checkpoint("gptq", "opt", config)


@cuda
def test_cuda_learner_is_deterministic_and_matches_aqlm_forward():
    """On CUDA: the learner gives the same codes twice; aqlm's kernel for the layer (Triton for this
    codebook shape) agrees with the twin's dequantized matmul within half-precision rounding."""
    from aqlm import QuantizedLinear

    weight = (torch.randn(256, 512, generator=torch.Generator().manual_seed(8)) * 0.02).to("cuda", torch.float16)
    first, second = ac.quantize(weight, 2, 6, 8, 1), ac.quantize(weight, 2, 6, 8, 1)
    assert all(torch.equal(first[k], second[k]) for k in first)
    layer = QuantizedLinear(512, 256, 8, 1, 2, 6, bias=False, device="cuda", dtype=torch.float16)
    for name, tensor in first.items():
        setattr(layer, name, nn.Parameter(tensor.clone(), requires_grad=False))
    x = torch.randn(4, 512, device="cuda", dtype=torch.float16)
    with torch.no_grad():
        theirs = layer(x).float()
    ours = x.float() @ ac.dequantize(**first).float().T
    assert float((theirs - ours).norm() / ours.norm()) < 2e-3
