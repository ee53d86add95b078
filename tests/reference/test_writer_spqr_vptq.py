"""The SpQR and VPTQ checkpoint writers: their tensors decode to the tiny models' weights within the specs'
bounds, layout bugs planted in the packed tensors are caught, and config.json round-trips through transformers'
config classes.

Decoding uses the backend's own code where it imports (spqr_quant builds its extension with nvcc at import and
vptq's wheel is cp312: both on the GPU machine), else the writer's port of it; where the backend imports, the
tests also compare the two bit for bit and the backend's packer with the writer's."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from qconform.inputs.tiny_models import tiny_model
from qconform.specs.codebooks import SPECS
from reference_quantizers.writers import spqr, vptq

ARCHES = ("llama", "opt")


def _bound(method: str) -> float:
    return float(next(s for s in SPECS if s.method == method).promises.tolerances.rel_error)


def _rel(reference: torch.Tensor, approx: torch.Tensor) -> float:
    approx, reference = approx.detach().double(), reference.detach().double()
    return float((approx - reference).norm() / reference.norm())


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    found: dict[str, torch.Tensor] = {}
    for file in sorted(path.glob("*.safetensors")):
        found.update(load_file(str(file)))
    return found


def _of(tensors: dict[str, torch.Tensor], name: str) -> dict[str, torch.Tensor]:
    return {k.removeprefix(f"{name}."): v for k, v in tensors.items() if k.startswith(f"{name}.")}


HOSTILE_SHAPE = (128, 256)


def _hostile_weight(rows: int = HOSTILE_SHAPE[0], cols: int = HOSTILE_SHAPE[1], seed: int = 1) -> torch.Tensor:
    """Columns whose scales span two decades and whose means differ, with 0.5% planted outliers: a weight on
    which a scale in the wrong column, a permutation the wrong way round or a lost outlier shows."""
    gen = torch.Generator().manual_seed(seed)
    scales = 10 ** (torch.rand(cols, generator=gen) * 2 - 1.5)
    weight = torch.randn(rows, cols, generator=gen) * scales + torch.randn(cols, generator=gen) * scales
    spots = torch.randperm(rows * cols, generator=gen)[: rows * cols // 200]
    weight.view(-1)[spots] *= 30
    return weight


def _spqr_quant() -> Any:
    try:
        import spqr_quant.inference as inference
    except Exception as exc:  # it compiles CUDA kernels at import: OSError without CUDA_HOME
        pytest.skip(f"spqr_quant does not import here: {type(exc).__name__}: {exc}")
    return inference


def _vptq() -> Any:
    try:
        import vptq
        import vptq.utils.pack  # needs sentence_transformers
    except Exception as exc:
        pytest.skip(f"vptq does not import here: {type(exc).__name__}: {exc}")
    return vptq


# --- SpQR ---------------------------------------------------------------------------------------------------


def _spqr_decode(tensors: dict[str, torch.Tensor], rows: int, cols: int) -> torch.Tensor:
    """spqr_quant's own ``dequantize`` (host code) with the permutation undone where it imports, else the
    writer's port."""
    try:
        import spqr_quant.inference as inference
    except Exception:
        return spqr.decode(tensors, rows, cols)
    parts = [tensors[k] for k in ("dense_weights", "row_offsets", "col_vals", "in_perm")]
    layer = inference.QuantizedLinear(rows, cols, spqr.BITS, spqr.BETA1, spqr.BETA2, *parts)
    stored = layer.dequantize()
    packed = tensors["in_perm"].to(torch.int64) & 0xFFFFFFFF
    perm = torch.stack([packed & 0xFFFF, packed >> 16], dim=-1).flatten()
    weight = torch.empty_like(stored)
    weight[:, perm] = stored
    return weight


def _spqr_packed(weight: torch.Tensor) -> dict[str, torch.Tensor]:
    packed = spqr.pack(spqr.quantize_linear(weight))
    return {k: packed[k] for k in ("dense_weights", "row_offsets", "col_vals", "in_perm")}


@pytest.mark.parametrize("arch", ARCHES)
def test_spqr_checkpoint_decodes_to_the_weights(arch):
    """Every Linear the quantizer converts is in the checkpoint, its ``shapes`` entries are the tensors' sizes,
    and it decodes to the tiny model's weight within the spec's bound."""
    path = spqr.prequantized_checkpoint("spqr", arch)
    saved = json.loads((path / "config.json").read_text())
    assert saved["dtype"] == "float16"
    shapes, tensors, reference = saved["quantization_config"]["shapes"], _tensors(path), tiny_model(arch)
    names = spqr.converted_linears(reference, spqr.spqr_config())
    assert names and "lm_head" not in names
    errors = {}
    for name in names:
        module, own = reference.get_submodule(name), _of(tensors, name)
        assert f"{name}.weight" not in tensors
        parts = {k: own[k] for k in ("dense_weights", "row_offsets", "col_vals", "in_perm")}
        assert {f"{name}.{k}.shape": v.numel() for k, v in parts.items()} == {
            k: v for k, v in shapes.items() if k.startswith(f"{name}.")
        }
        assert [v.dtype for v in parts.values()] == [torch.int64, torch.int32, torch.int32, torch.int32]
        errors[name] = _rel(module.weight, _spqr_decode(parts, module.out_features, module.in_features))
    assert max(errors.values()) <= _bound("spqr"), errors


def _spqr_tiles_column_major(t: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Tiles in column-tile-major order (the order spqr_quant's legacy statistics use)."""
    words = t["dense_weights"].reshape(HOSTILE_SHAPE[0] // spqr.BETA1, HOSTILE_SHAPE[1] // spqr.BETA2, spqr.BETA1)
    return {**t, "dense_weights": words.transpose(0, 1).flatten()}


def _spqr_codes_reversed(t: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The 16 codes of a row in reverse order inside the word."""
    words = t["dense_weights"]
    keep = words & ~(((1 << 48) - 1) << 6)
    codes = [(words >> (6 + 3 * j)) & 7 for j in range(16)]
    for j, code in enumerate(reversed(codes)):
        keep |= code << (6 + 3 * j)
    return {**t, "dense_weights": keep}


def _spqr_second_order_even_rows_only(t: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The second-order byte written into the even row of each pair only (the host dequantizer ORs all rows
    and would not notice; the kernel gathers per parity)."""
    words = t["dense_weights"].reshape(-1, 16).clone()
    words[:, 1::2] &= (1 << spqr.SECOND_ORDER_SHIFT) - 1
    return {**t, "dense_weights": words.flatten()}


def _spqr_perm_halves_swapped(t: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The uint16 pairs of ``in_perm`` packed high half first."""
    packed = t["in_perm"].to(torch.int64) & 0xFFFFFFFF
    swapped = (packed & 0xFFFF) << 16 | packed >> 16
    return {**t, "in_perm": torch.where(swapped >= 2**31, swapped - 2**32, swapped).to(torch.int32)}


def _spqr_outliers_in_input_order(t: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Outlier columns counted in input order rather than in the stored (permuted) order."""
    packed = t["in_perm"].to(torch.int64) & 0xFFFFFFFF
    perm = torch.stack([packed & 0xFFFF, packed >> 16], dim=-1).flatten()
    col_vals = t["col_vals"].to(torch.int64)
    moved = (col_vals & ~0xFFFF) | perm[col_vals & 0xFFFF]
    return {**t, "col_vals": moved.to(torch.int32)}


SPQR_BUGS = {
    "tiles column-major": _spqr_tiles_column_major,
    "codes reversed": _spqr_codes_reversed,
    "second order in even rows only": _spqr_second_order_even_rows_only,
    "permutation halves swapped": _spqr_perm_halves_swapped,
    "outlier columns in input order": _spqr_outliers_in_input_order,
}


def _spqr_problems(weight: torch.Tensor, packed: dict[str, torch.Tensor], decoder: Any) -> list[str]:
    """What is wrong with ``packed`` as SpQR of ``weight``: an error over the spec's bound, or outliers that do
    not bring the weight closer than the dense part alone does (they hold the residuals the dense codes miss)."""
    empty = {**packed, "col_vals": packed["col_vals"][:0], "row_offsets": torch.zeros_like(packed["row_offsets"])}
    full, dense = _rel(weight, decoder(packed, *weight.shape)), _rel(weight, decoder(empty, *weight.shape))
    problems = [f"relative error {full:.3g} over {_bound('spqr')}"] if full > _bound("spqr") else []
    return problems + ([f"outliers do not help: {full:.3g} vs {dense:.3g} without"] if full >= dense else [])


def test_spqr_decodes_a_hostile_weight():
    weight = _hostile_weight()
    assert _spqr_problems(weight, _spqr_packed(weight), _spqr_decode) == []


@pytest.mark.parametrize("bug", sorted(SPQR_BUGS))
def test_spqr_planted_layout_bug_is_caught(bug):
    """The check that passes above fails once the packed tensors hold the planted bug. (The permutation bugs
    need a permutation that is not its own inverse; the writer's orders columns by norm.)"""
    weight = _hostile_weight()
    assert _spqr_problems(weight, SPQR_BUGS[bug](_spqr_packed(weight)), spqr.decode)


@pytest.mark.parametrize("arch", ARCHES)
def test_spqr_quantization_config_round_trips(arch):
    from transformers import SpQRConfig

    written = json.loads((spqr.prequantized_checkpoint("spqr", arch) / "config.json").read_text())
    fields = written["quantization_config"]
    assert SpQRConfig.from_dict(fields).to_dict() == fields


def test_spqr_pack_matches_spqr_quant_from_legacy():
    """spqr_quant's own packer (``QuantizedLinear.from_legacy``: ``tensor_compress_interleaved``, CSR) writes
    the same four tensors from the same quantized values."""
    inference = _spqr_quant()
    layer = spqr.quantize_linear(_hostile_weight())
    rows, cols = layer.codes.shape
    second = layer.second_order.transpose(0, 1)  # legacy statistics: column-tile-major
    counts = torch.bincount(layer.outlier_rows, minlength=rows)
    legacy = inference.SPQRLegacy(
        m=rows,
        n=cols,
        bits=spqr.BITS,
        W=layer.codes.to(torch.int8).contiguous(),
        beta1=spqr.BETA1,
        beta2=spqr.BETA2,
        W_s=layer.scale_codes.T.contiguous().to(torch.int8),
        W_z=layer.zero_codes.T.contiguous().to(torch.int8),
        W_s_s=second[..., 0].contiguous(),
        W_s_z=second[..., 2].contiguous(),
        W_z_s=second[..., 1].contiguous(),
        W_z_z=second[..., 3].contiguous(),
        row_offsets=torch.cat([torch.zeros(1, dtype=torch.int64), counts.cumsum(0)]).to(torch.int32),
        col_ids=layer.outlier_cols.to(torch.int16),
        values=layer.outlier_values,
        in_perm=layer.perm,
    )
    args = inference.ModelArgs(spqr.BITS, spqr.BETA1, spqr.BETA2, inference.SparseStorageConfiguration.CSR)
    theirs = inference.QuantizedLinear.from_legacy(legacy, args, "cpu")
    mine = spqr.pack(layer)
    for key in ("dense_weights", "row_offsets", "col_vals", "in_perm"):
        assert torch.equal(getattr(theirs, key).data.to(mine[key].dtype), mine[key]), key


def test_spqr_decode_matches_spqr_quant_dequantize():
    _spqr_quant()
    weight = _hostile_weight()
    packed = _spqr_packed(weight)
    assert torch.equal(_spqr_decode(packed, *weight.shape), spqr.decode(packed, *weight.shape))


def test_spqr_kernel_matvec_matches_the_decoded_weight():
    """spqr_quant's CUDA matvec (the fused path with ``in_perm`` and CSR outliers) gives ``x @ W.T`` for the
    decoded weight, one sequence at a time as its ``forward`` supports."""
    inference = _spqr_quant()
    if not torch.cuda.is_available():
        pytest.skip("spqr_quant's kernels need CUDA")
    weight = _hostile_weight()
    packed = _spqr_packed(weight)
    layer = inference.QuantizedLinear(*weight.shape, spqr.BITS, spqr.BETA1, spqr.BETA2, *packed.values()).cuda()
    x = torch.randn(1, 4, weight.shape[1], generator=torch.Generator().manual_seed(0)).half()
    expected = x.double() @ spqr.decode(packed, *weight.shape).double().T
    assert _rel(expected, layer(x.cuda()).cpu()) < 2e-3


# --- VPTQ ---------------------------------------------------------------------------------------------------


def _vptq_decode(tensors: dict[str, torch.Tensor], layer: dict) -> torch.Tensor:
    """vptq's own pure-torch ``ops.dequant`` where vptq imports, else the writer's port."""
    try:
        from vptq import ops
    except Exception:
        return vptq.decode(tensors, layer)
    vector_len, num_centroids = layer["vector_lens"][1], layer["num_centroids"][1]
    return ops.dequant(
        indices=tensors["indices"],
        centroids=tensors["centroids.weight"].view(1, num_centroids, vector_len),
        outlier_indices=None,
        outlier_centroids=None,
        res_indices=None,
        res_centroids=None,
        perm=tensors["perm"],
        weight_scale=tensors["weight_scale"],
        weight_bias=tensors["weight_bias"],
        is_indice_packed=True,
        enable_outlier=False,
        enable_residual=False,
        enable_perm=True,
        enable_norm=True,
        num_centroids=num_centroids,
        num_outlier_centroids=0,
        num_res_centroids=-1,
        padding=-layer["out_features"] % vector_len,
        outlier_padding=0,
        num_codebooks=1,
        group_size=layer["group_size"],
        outlier_size=0,
        vector_len=vector_len,
        outlier_vector_len=-1,
    )


def _vptq_written(weight: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict]:
    layer = vptq.layer_config(weight.shape[1], weight.shape[0], False, vptq.VECTOR_LEN, vptq.NUM_CENTROIDS)
    return vptq.quantize_linear(weight, None, torch.float16, layer, seed=0), layer


@pytest.mark.parametrize("arch", ARCHES)
def test_vptq_checkpoint_decodes_to_the_weights(arch):
    """Every Linear the quantizer converts is in config_for_layers and the checkpoint, with a bias where the
    Linear has one, and decodes to the tiny model's weight within the spec's bound."""
    path = vptq.prequantized_checkpoint("vptq", arch)
    saved = json.loads((path / "config.json").read_text())
    assert saved["dtype"] == "float16"
    layers, tensors, reference = saved["quantization_config"]["config_for_layers"], _tensors(path), tiny_model(arch)
    names = vptq.converted_linears(reference, vptq.vptq_config())
    assert names and sorted(layers) == sorted(names) and "lm_head" not in names
    errors = {}
    for name in names:
        module, own = reference.get_submodule(name), _of(tensors, name)
        assert ("bias" in own) == (module.bias is not None) == layers[name]["bias"]
        assert own["indices"].dtype == torch.int32 and own["perm"].dtype == torch.int16
        errors[name] = _rel(module.weight, _vptq_decode(own, layers[name]))
    assert max(errors.values()) <= _bound("vptq"), errors


def _vptq_norm_in_stored_order(t: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Scale and bias per stored column (``ops.dequant`` applies them after undoing the permutation)."""
    perm = t["perm"].to(torch.int64)
    return {**t, "weight_scale": t["weight_scale"][perm], "weight_bias": t["weight_bias"][perm]}


def _vptq_inverse_perm(t: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {**t, "perm": torch.argsort(t["perm"].to(torch.int64)).to(torch.int16)}


def _vptq_msb_first(t: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Each index's bits packed most significant first."""
    bits = int(math.log2(vptq.NUM_CENTROIDS))
    indices = vptq.unpack_indices(t["indices"], bits, t["perm"].numel())
    flipped = sum(((indices >> b) & 1) << (bits - 1 - b) for b in range(bits))
    return {**t, "indices": vptq.pack_indices(flipped, bits)}


def _vptq_blocks_along_input(t: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The index grid filled in the wrong order (the transpose before packing forgotten)."""
    bits = int(math.log2(vptq.NUM_CENTROIDS))
    indices = vptq.unpack_indices(t["indices"], bits, t["perm"].numel())
    wrong = indices[0].T.reshape(indices.shape[1:]).unsqueeze(0)
    return {**t, "indices": vptq.pack_indices(wrong, bits)}


VPTQ_BUGS = {
    "norm in stored order": _vptq_norm_in_stored_order,
    "permutation inverted": _vptq_inverse_perm,
    "indices most significant bit first": _vptq_msb_first,
    "index grid not transposed": _vptq_blocks_along_input,
}


def test_vptq_decodes_a_hostile_weight():
    weight = _hostile_weight()
    written, layer = _vptq_written(weight)
    assert _rel(weight, _vptq_decode(written, layer)) <= _bound("vptq")


@pytest.mark.parametrize("bug", sorted(VPTQ_BUGS))
def test_vptq_planted_layout_bug_is_caught(bug):
    weight = _hostile_weight()
    written, layer = _vptq_written(weight)
    assert _rel(weight, _vptq_decode(VPTQ_BUGS[bug](written), layer)) > _bound("vptq")


@pytest.mark.parametrize("arch", ARCHES)
def test_vptq_quantization_config_round_trips(arch):
    from transformers import VptqConfig
    from transformers.utils.quantization_config import VptqLayerConfig

    written = json.loads((vptq.prequantized_checkpoint("vptq", arch) / "config.json").read_text())
    fields = written["quantization_config"]
    assert VptqConfig.from_dict(fields).to_dict() == fields
    for layer in fields["config_for_layers"].values():
        known = VptqLayerConfig(**layer).to_dict()
        # "bias" is vptq's own field (its pack_model writes it); transformers reads it from the Linear
        assert set(layer) - set(known) == {"bias"}
        assert {k: known[k] for k in layer if k in known} == {k: layer[k] for k in layer if k in known}


def test_vptq_pack_matches_vptq_pack_index():
    pack = _vptq().utils.pack
    written, layer = _vptq_written(_hostile_weight())
    bits = int(math.log2(vptq.NUM_CENTROIDS))
    indices = vptq.unpack_indices(written["indices"], bits, layer["group_size"])
    assert torch.equal(pack.pack_index(indices.to(torch.uint16), bits), written["indices"])
    assert torch.equal(_vptq_decode(written, layer), vptq.decode(written, layer))


def test_vptq_linear_loads_the_tensors_and_runs():
    """vptq's ``VQuantLinear``, built as transformers builds it, takes the written tensors (strict) and its
    forward (kernels where they load, else its torch path) gives ``x @ W.T + b`` for the decoded weight."""
    package = _vptq()
    weight = _hostile_weight()
    written, layer = _vptq_written(weight)
    bias = torch.randn(weight.shape[0], generator=torch.Generator().manual_seed(2)).half()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    module = package.VQuantLinear(
        layer["in_features"],
        layer["out_features"],
        vector_lens=layer["vector_lens"],
        num_centroids=layer["num_centroids"],
        num_res_centroids=layer["num_res_centroids"],
        group_num=layer["group_num"],
        group_size=layer["group_size"],
        outlier_size=layer["outlier_size"],
        indices_as_float=layer["indices_as_float"],
        enable_norm=layer["enable_norm"],
        enable_perm=layer["enable_perm"],
        is_indice_packed=True,
        enable_proxy_error=False,
        bias=True,
        dtype=torch.float16,
    )
    module.load_state_dict({**written, "bias": bias}, strict=True)
    module = module.to(device)
    x = torch.randn(2, 3, weight.shape[1], generator=torch.Generator().manual_seed(0)).half()
    with torch.no_grad():
        found = module(x.to(device)).cpu()
    expected = nn.functional.linear(x.double(), vptq.decode(written, layer).double(), bias.double())
    assert _rel(expected, found) < 5e-3
