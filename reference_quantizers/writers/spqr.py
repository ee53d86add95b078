"""SpQR checkpoints of the tiny models, in the compressed layout spqr_quant's ``QuantizedLinear`` loads.

spqr_quant 0.2.0 holds no quantizer, and its packer (``tensor_compress_interleaved``, behind
``QuantizedLinear.from_legacy``) is C++ in an extension that compiles with nvcc when the package is imported:
nothing of it runs on a machine without CUDA. So the quantization here is a plain SpQR (3-bit min-max codes in
tiles of ``BETA1`` rows by ``BETA2`` columns; each row's scale and zero per tile quantized again to 3 bits over
the tile's rows, with float16 second-order statistics; the largest residuals kept as float16 outliers in CSR;
the input columns permuted by decreasing norm, as act-order does with the Hessian), and the packing is a
readable port of that C++ function. What each Linear stores (all 1-D):

- ``dense_weights`` int64, one word per row of a tile, tiles in row-tile-major order, rows inside a tile:
  bits 0-2 the row's scale code, 3-5 its zero code, 6+3j the code of column j, 54-61 one byte of the tile's
  64-bit second-order word (float16 scale-scale, zero-scale, scale-zero, zero-zero from the low end), byte
  ``k // 2`` in row ``k`` (the CUDA kernel gathers it back from the rows of the same parity);
- ``row_offsets`` int32, CSR of the outliers (``rows + 1`` entries); ``col_vals`` int32, a float16 value in
  the high 16 bits and a column in the low 16 (``spqr_quant.sparse_util.merge_col_val``);
- ``in_perm`` int32, the permutation as uint16 pairs (``from_legacy``'s ``pack_uint16_to_uint32``): stored
  column ``k`` is input column ``in_perm[k]``; outlier columns count in the stored order too.

``decode`` reads the tensors back the way ``dequantize_compressed`` (spqr_quant's host code) does, in float16
steps, then undoes the permutation (which that function leaves to the caller). ``config.json`` gets
``SpQRConfig``'s fields with ``shapes`` for every converted Linear, which transformers needs to build the
placeholders. The checkpoint is float16: SpQR loads in float16 only (``SpQRHfQuantizer.update_dtype``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from reference_quantizers.writers.cache import config_object, package_versions, state_dict_checkpoint

#: bump when what this writer writes changes (the cache key)
FORMAT_VERSION = 1
BITS, BETA1, BETA2 = 3, 16, 16
LEVELS = 2**BITS - 1
SECOND_ORDER_SHIFT = BITS * (BETA2 + 2)  # bit 54: after the scale code, the zero code and 16 weight codes
OUTLIER_FRACTION = 0.01  # of each Linear's weights, the largest residuals kept exactly (float16)


@dataclass(frozen=True)
class SpqrLinear:
    """One Linear before packing (the fields of spqr_quant's ``SPQRLegacy``, laid out by tile)."""

    codes: torch.Tensor  # (rows, cols) uint8 in 0..7, columns in stored (permuted) order
    scale_codes: torch.Tensor  # (rows, cols // BETA2) uint8: each row's scale per tile, 3-bit
    zero_codes: torch.Tensor  # (rows, cols // BETA2) uint8: each row's zero per tile, 3-bit
    # (rows // BETA1, cols // BETA2, 4) float16: scale-scale, zero-scale, scale-zero, zero-zero
    second_order: torch.Tensor
    outlier_rows: torch.Tensor  # (nnz,) int64, sorted with outlier_cols by (row, column)
    outlier_cols: torch.Tensor  # (nnz,) int64, stored column order
    outlier_values: torch.Tensor  # (nnz,) float16, added to the dense value there
    perm: torch.Tensor  # (cols,) int64: stored column k is input column perm[k]


def _dequantize(codes: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor) -> torch.Tensor:
    """``scale * (code - zero)`` in float16, each step rounded as spqr_quant's ``host_dequantize`` rounds it."""
    return scale * (codes.to(torch.float16) - zero)


def _min_max(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """3-bit codes of ``values`` (..., BETA1) over the last dim, with a float16 scale and zero per group; a
    group without spread gets scale 1 and zero ``-min``, so that code 0 gives its value back."""
    low, high = values.amin(-1, keepdim=True), values.amax(-1, keepdim=True)
    spread = (high - low) / LEVELS
    flat = spread.to(torch.float16) == 0
    scale = torch.where(flat, torch.ones_like(spread), spread).to(torch.float16)
    zero = torch.where(flat, -low, -low / scale.float()).to(torch.float16)
    codes = torch.round(values / scale.float() + zero.float()).clamp(0, LEVELS).to(torch.uint8)
    return codes, scale, zero


def quantize_linear(weight: torch.Tensor, outlier_fraction: float = OUTLIER_FRACTION) -> SpqrLinear:
    """SpQR of one weight (rows and columns multiples of 16): permute, quantize the statistics, then the
    weights with the dequantized statistics, then keep the largest residuals as outliers."""
    rows, cols = weight.shape
    if rows % BETA1 or cols % BETA2:
        raise ValueError(f"SpQR tiles are {BETA1}x{BETA2}: a {rows}x{cols} weight does not tile")
    w = weight.detach().float()
    perm = torch.argsort(w.norm(dim=0), descending=True, stable=True)
    w = w[:, perm]
    groups = w.reshape(rows, cols // BETA2, BETA2)
    low, high = groups.amin(-1), groups.amax(-1)
    scale = ((high - low) / LEVELS).clamp_min(torch.finfo(torch.float16).tiny)
    zero = torch.round(-low / scale)
    # second order: over the BETA1 rows of each tile, per (tile row, tile column)
    by_tile = lambda t: t.reshape(rows // BETA1, BETA1, cols // BETA2).transpose(1, 2)  # noqa: E731
    scale_codes, scale_scale, scale_zero = _min_max(by_tile(scale))
    zero_codes, zero_scale, zero_zero = _min_max(by_tile(zero))
    row_scale = _dequantize(scale_codes, scale_scale, scale_zero)  # (tile rows, tile cols, BETA1) float16
    row_zero = _dequantize(zero_codes, zero_scale, zero_zero)
    untile = lambda t: t.transpose(1, 2).reshape(rows, cols // BETA2, 1)  # noqa: E731
    s, z = untile(row_scale).float(), untile(row_zero).float()
    safe = torch.where(s == 0, torch.ones_like(s), s)
    codes = torch.where(s == 0, z, groups / safe + z).round().clamp(0, LEVELS).to(torch.uint8)
    dense = _dequantize(codes, untile(row_scale), untile(row_zero)).reshape(rows, cols).float()
    residual = w - dense
    count = min(rows * cols, round(outlier_fraction * rows * cols))
    where = torch.sort(torch.topk(residual.abs().flatten(), count).indices).values  # row-major = CSR order
    return SpqrLinear(
        codes=codes.reshape(rows, cols),
        scale_codes=untile(scale_codes).reshape(rows, cols // BETA2),
        zero_codes=untile(zero_codes).reshape(rows, cols // BETA2),
        second_order=torch.cat([scale_scale, zero_scale, scale_zero, zero_zero], dim=-1),
        outlier_rows=where // cols,
        outlier_cols=where % cols,
        outlier_values=residual.flatten()[where].to(torch.float16),
        perm=perm,
    )


def _half_bits(values: torch.Tensor) -> torch.Tensor:
    """The 16 bits of float16 ``values`` as non-negative int64."""
    return values.to(torch.float16).view(torch.int16).to(torch.int64) & 0xFFFF


def pack(layer: SpqrLinear) -> dict[str, torch.Tensor]:
    """The four tensors ``QuantizedLinear`` holds (a port of spqr_quant's ``tensor_compress_interleaved``
    with CSR outliers, ``merge_col_val`` and ``pack_uint16_to_uint32``)."""
    rows, cols = layer.codes.shape
    tiles = (rows // BETA1, cols // BETA2)
    codes = layer.codes.to(torch.int64).reshape(tiles[0], BETA1, tiles[1], BETA2).transpose(1, 2)
    words = torch.zeros(*tiles, BETA1, dtype=torch.int64)
    words |= layer.scale_codes.to(torch.int64).reshape(tiles[0], BETA1, tiles[1]).transpose(1, 2)
    words |= layer.zero_codes.to(torch.int64).reshape(tiles[0], BETA1, tiles[1]).transpose(1, 2) << BITS
    for j in range(BETA2):
        words |= codes[..., j] << (BITS * (2 + j))
    fields = _half_bits(layer.second_order)  # (tile rows, tile cols, 4)
    second = fields[..., 0] | fields[..., 1] << 16 | fields[..., 2] << 32 | fields[..., 3] << 48
    byte = torch.arange(BETA1) // 2  # row k carries byte k // 2 (both rows of a pair: the kernel needs each)
    words |= ((second.unsqueeze(-1) >> (8 * byte)) & 0xFF) << SECOND_ORDER_SHIFT
    counts = torch.bincount(layer.outlier_rows, minlength=rows)
    row_offsets = torch.cat([torch.zeros(1, dtype=torch.int64), counts.cumsum(0)]).to(torch.int32)
    col_vals = (_half_bits(layer.outlier_values) << 16 | layer.outlier_cols).to(torch.int64)
    col_vals = torch.where(col_vals >= 2**31, col_vals - 2**32, col_vals).to(torch.int32)  # uint32 bits as int32
    perm = layer.perm.to(torch.int64)
    in_perm = (perm[1::2] << 16 | perm[0::2]).to(torch.int32)
    return {"dense_weights": words.flatten(), "row_offsets": row_offsets, "col_vals": col_vals, "in_perm": in_perm}


def _field(words: torch.Tensor, shift: int, width: int = BITS) -> torch.Tensor:
    return (words >> shift) & ((1 << width) - 1)


def decode(tensors: dict[str, torch.Tensor], rows: int, cols: int) -> torch.Tensor:
    """The float16 weight (rows, cols) in input column order that the packed tensors hold: what
    ``dequantize_compressed`` computes (float16 statistics and weights, float32 sum with the outliers, rounded
    to float16), with the second-order word of each row gathered from the rows of its parity as the kernel does,
    and the columns put back through ``in_perm``."""
    tiles = (rows // BETA1, cols // BETA2)
    words = tensors["dense_weights"].to(torch.int64).reshape(*tiles, BETA1)
    partial = (words >> SECOND_ORDER_SHIFT) << (8 * (torch.arange(BETA1) // 2))
    second = torch.stack([partial[..., parity::2] for parity in (0, 1)], dim=-1)  # (..., 8, 2)
    second = _or(second).repeat(1, 1, BETA1 // 2)  # row k takes the word of parity k % 2
    half = lambda shift: _as_half(_field(second, shift, 16))  # noqa: E731
    scale = _dequantize(_field(words, 0), half(0), half(32))
    zero = _dequantize(_field(words, BITS), half(16), half(48))
    codes = torch.stack([_field(words, BITS * (2 + j)) for j in range(BETA2)], dim=-1)
    dense = _dequantize(codes, scale.unsqueeze(-1), zero.unsqueeze(-1))  # (tile rows, tile cols, BETA1, BETA2)
    stored = dense.transpose(1, 2).reshape(rows, cols).float()
    offsets, col_vals = tensors["row_offsets"].to(torch.int64), tensors["col_vals"].to(torch.int64)
    if offsets.numel() != rows + 1:
        raise ValueError(f"row_offsets holds {offsets.numel()} entries, CSR over {rows} rows needs {rows + 1}")
    outlier_rows = torch.repeat_interleave(torch.arange(rows), offsets.diff())
    values = _as_half((col_vals >> 16) & 0xFFFF).float()
    stored.index_put_((outlier_rows, col_vals & 0xFFFF), values, accumulate=True)
    packed = tensors["in_perm"].to(torch.int64) & 0xFFFFFFFF
    perm = torch.stack([packed & 0xFFFF, packed >> 16], dim=-1).flatten()
    weight = torch.empty_like(stored)
    weight[:, perm] = stored
    return weight.to(torch.float16)


def _as_half(bits: torch.Tensor) -> torch.Tensor:
    """float16 values from their 16 bits held as non-negative int64."""
    return torch.where(bits >= 2**15, bits - 2**16, bits).to(torch.int16).view(torch.float16)


def _or(values: torch.Tensor) -> torch.Tensor:
    """Bitwise OR over dim -2."""
    out = values[..., 0, :]
    for i in range(1, values.shape[-2]):
        out = out | values[..., i, :]
    return out


def spqr_config(config: Any = None) -> Any:
    """A ``SpQRConfig`` for ``config`` (None: its defaults; a dict: its fields); its ``shapes`` are filled by
    the writer."""
    return config_object("SpQRConfig", config)


def converted_linears(model: nn.Module, config: Any) -> list[str]:
    """The Linears ``SpQRHfQuantizer`` replaces under ``config`` (its own skip rules)."""
    from transformers.quantizers.quantizer_spqr import SpQRHfQuantizer
    from transformers.quantizers.quantizers_utils import should_convert_module

    quantizer = SpQRHfQuantizer(config)
    skip = quantizer.get_modules_to_not_convert(model, config.modules_to_not_convert, model._keep_in_fp32_modules)
    return [n for n, m in model.named_modules() if type(m) is nn.Linear and should_convert_module(n, skip)]


def quantized_state_dict(
    model: nn.Module, names: list[str], dtype: torch.dtype
) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    """``model``'s state dict in ``dtype`` with each named Linear's weight replaced by SpQR's four tensors, and
    the ``shapes`` entries of the config."""
    state = {k: v.detach().to(dtype) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    shapes: dict[str, int] = {}
    for name in names:
        del state[f"{name}.weight"]
        for key, tensor in pack(quantize_linear(model.get_submodule(name).weight)).items():
            state[f"{name}.{key}"] = tensor
            shapes[f"{name}.{key}.shape"] = tensor.numel()
    return state, shapes


def prequantized_checkpoint(
    method_key: str = "spqr",
    arch: str = "llama",
    config: Any = None,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float16,
) -> Path:
    """The cached SpQR checkpoint of the tiny ``arch`` (quantized from its float32 weights, saved in ``dtype``)."""
    if method_key != "spqr":
        raise ValueError(f"the SpQR writer writes 'spqr' checkpoints, not {method_key!r}")
    loaded = spqr_config(config)
    fields = {k: v for k, v in loaded.to_dict().items() if k != "shapes"}  # shapes come from the tensors

    def quantize(model: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        state, shapes = quantized_state_dict(model, converted_linears(model, loaded), dtype)
        return state, {"shapes": shapes}

    return state_dict_checkpoint(
        method_key,
        arch,
        fields,
        quantize,
        seed=seed,
        dtype=dtype,
        model_dtype=torch.float32,
        depends_on={
            "format": FORMAT_VERSION,
            "outliers": OUTLIER_FRACTION,
            "versions": package_versions("spqr_quant"),
        },
    )
