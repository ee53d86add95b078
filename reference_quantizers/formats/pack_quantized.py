"""compressed-tensors' weight formats: integer and FP8 quantization with min-max scales, and dense int32 packing.

Quantization parameters follow compressed-tensors' ``calculate_qparams`` on a min-max observation, one
per ``strategy`` unit: ``"tensor"`` (one), ``"channel"`` (one per output row, shape ``(out, 1)``) or
``"group"`` (``group_size`` consecutive inputs of a row, shape ``(out, in / group_size)``):

- the observed range always contains 0: ``lo = min(min, 0)``, ``hi = max(max, 0)``;
- integers of ``b`` bits span ``[-2**(b-1), 2**(b-1) - 1]``, FP8 (E4M3) spans ``[-448, 448]``; ``span`` is
  the distance between those ends (``2**b - 1``, or 896);
- symmetric: ``scale = max(|lo|, |hi|) / (span / 2)`` and no zero point (note ``/ 7.5`` for int4: the largest
  magnitude maps to 7.5 and clamps to 7 or -8);
- asymmetric (integers only): ``scale = (hi - lo) / span``, ``zero_point = round(clamp(q_min - lo / scale))``
  as int8;
- a scale of 0 (an all-zero unit) becomes the machine epsilon of the scale's dtype, and its zero point 0.

All arithmetic happens in the weight's dtype, in compressed-tensors' order, so results agree bit for bit.
``quantized = clamp(round(x / scale + zero_point))`` (round half to even; FP8: a cast after the clamp);
``weight = (quantized - zero_point) * scale``.

Packing ("pack-quantized"): each value ``q`` of ``b`` bits is offset to ``q + 2**(b-1)`` (unsigned); the
values of a row are laid end to end as a little-endian bit stream (value ``i`` in bits ``[i*b, (i+1)*b)``),
cut into 32-bit words (``ceil(n*b/32)`` of them, the last one zero-padded) stored as int32. Zero points
are packed the same way along the output dimension (columns of the transposed tensor).
"""

from __future__ import annotations

import torch

FP8 = torch.float8_e4m3fn
FP8_MAX = float(torch.finfo(FP8).max)  # 448


def int_range(num_bits: int) -> tuple[int, int]:
    """The integers a ``num_bits`` signed value takes: ``(-2**(b-1), 2**(b-1) - 1)``."""
    return -(2 ** (num_bits - 1)), 2 ** (num_bits - 1) - 1


def scale_shape(shape: tuple[int, int], strategy: str, group_size: int | None) -> tuple[int, ...]:
    out_features, in_features = shape
    if strategy == "tensor":
        return (1,)
    if strategy == "channel":
        return (out_features, 1)
    if strategy == "group":
        return (out_features, -(-in_features // group_size))
    raise ValueError(f"unknown strategy {strategy!r}")


def _units(weight: torch.Tensor, strategy: str, group_size: int | None) -> torch.Tensor:
    """The weight viewed so that the last dimension is one quantization unit."""
    if strategy == "tensor":
        return weight.reshape(1, -1)
    if strategy == "channel":
        return weight
    return weight.unflatten(-1, (-1, group_size))


def observe(weight: torch.Tensor, strategy: str, group_size: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Min and max of each unit, shaped like the scale."""
    units = _units(weight, strategy, group_size)
    shape = scale_shape(tuple(weight.shape), strategy, group_size)
    return units.amin(dim=-1).reshape(shape), units.amax(dim=-1).reshape(shape)


def qparams(
    lo: torch.Tensor, hi: torch.Tensor, num_bits: int, kind: str, symmetric: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(scale, zero point or None) from observed ranges (see module doc); kind is "int" or "float"."""
    lo, hi = torch.clamp(lo, max=0), torch.clamp(hi, min=0)
    q_min, q_max = int_range(num_bits) if kind == "int" else (-FP8_MAX, FP8_MAX)
    # on the ranges' device, as compressed-tensors makes it: CUDA divides by a CPU scalar as a product with its
    # reciprocal, which moved scales by one ulp against the CPU (and against compressed-tensors on CUDA)
    span = torch.tensor(float(q_max - q_min), dtype=lo.dtype, device=lo.device)
    if symmetric:
        scale = torch.maximum(lo.abs(), hi.abs()) / (span / 2)
        zero_point = None
    else:
        scale = (hi - lo) / span
        zero_point = torch.clamp(q_min - lo / scale, q_min, q_max)
        zero_point = torch.where(scale == 0, 0.0, zero_point)
        zero_point = torch.round(torch.clamp(zero_point, -128, 127)).to(torch.int8)
    scale = torch.where(scale == 0, torch.finfo(scale.dtype).eps, scale)
    return scale, zero_point


def quantize(
    weight: torch.Tensor,
    scale: torch.Tensor,
    zero_point: torch.Tensor | None,
    num_bits: int,
    kind: str,
    strategy: str,
    group_size: int | None,
) -> torch.Tensor:
    """Quantized values: int8 for "int" (any ``num_bits`` <= 8), float8_e4m3fn for "float"."""
    units = _units(weight, strategy, group_size)
    scaled = units / scale.reshape(*scale.shape[:-1], -1, 1) if strategy == "group" else units / scale
    if zero_point is not None:
        zp = zero_point.reshape(*zero_point.shape[:-1], -1, 1) if strategy == "group" else zero_point
        scaled = scaled + zp.to(scaled.dtype)
    if kind == "float":
        quantized = torch.clamp(scaled, -FP8_MAX, FP8_MAX).to(FP8)
    else:
        quantized = torch.round(torch.clamp(scaled, *int_range(num_bits))).to(torch.int8)
    return quantized.reshape(weight.shape)


def dequantize(
    quantized: torch.Tensor,
    scale: torch.Tensor,
    zero_point: torch.Tensor | None,
    strategy: str,
    group_size: int | None,
) -> torch.Tensor:
    """``(quantized - zero_point) * scale`` in the scale's dtype."""
    units = _units(quantized, strategy, group_size).to(scale.dtype)
    grouped = strategy == "group"
    if zero_point is not None:
        units = units - (zero_point.reshape(*zero_point.shape[:-1], -1, 1) if grouped else zero_point).to(scale.dtype)
    units = units * (scale.reshape(*scale.shape[:-1], -1, 1) if grouped else scale)
    return units.reshape(quantized.shape)


def fake_quantize_per_token(x: torch.Tensor, num_bits: int, kind: str) -> torch.Tensor:
    """Dynamic symmetric activation quantization, quantized and dequantized again, in ``x``'s dtype.

    compressed-tensors' "token" strategy keeps dimensions 0 and 1 and reduces over the rest: per token
    for ``(batch, seq, hidden)`` inputs, but one scale for the whole tensor when the input is 2-D.
    """
    dims = tuple(range(2, x.ndim))
    lo, hi = (x.amin(dim=dims, keepdim=True), x.amax(dim=dims, keepdim=True)) if dims else torch.aminmax(x)
    scale, _ = qparams(lo, hi, num_bits, kind, symmetric=True)
    scaled = x / scale
    if kind == "float":
        quantized = torch.clamp(scaled, -FP8_MAX, FP8_MAX).to(FP8).to(x.dtype)
    else:
        quantized = torch.round(torch.clamp(scaled, *int_range(num_bits)))
    return quantized.to(scale.dtype) * scale


def _places(cols: int, num_bits: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """For value ``i`` of a row: the word its bits start in, and the bit they start at within that word."""
    starts = torch.arange(cols, device=device) * num_bits
    return starts // 32, starts % 32


def pack_int32(values: torch.Tensor, num_bits: int) -> torch.Tensor:
    """Pack each row of int8 values of ``num_bits`` bits into int32 words (see module doc).

    Each unsigned value, shifted to its place, lands in one 32-bit word or straddles two (its bits above 32
    go to the next word); bits never overlap, so adding the pieces into their words sets them.
    """
    rows, cols = values.shape
    words = packed_columns(cols, num_bits)
    word, shift = _places(cols, num_bits, values.device)
    placed = (values.to(torch.int64) + 2 ** (num_bits - 1)) << shift
    packed = torch.zeros(rows, words + 1, dtype=torch.int64, device=values.device)
    packed.index_add_(1, word, placed & 0xFFFFFFFF)
    packed.index_add_(1, word + 1, placed >> 32)
    packed = packed[:, :words]
    return (packed - (packed >= 2**31).to(torch.int64) * 2**32).to(torch.int32)  # two's complement


def unpack_int32(packed: torch.Tensor, num_bits: int, cols: int) -> torch.Tensor:
    """The first ``cols`` values of each row of ``pack_int32``'s words, as int8."""
    unsigned_words = torch.nn.functional.pad(packed.to(torch.int64) & 0xFFFFFFFF, (0, 1))
    word, shift = _places(cols, num_bits, packed.device)
    pairs = unsigned_words[:, word] | (unsigned_words[:, word + 1] << 32)  # a value's word and the next one
    unsigned = (pairs >> shift) & (2**num_bits - 1)
    return (unsigned - 2 ** (num_bits - 1)).to(torch.int8)


def packed_columns(cols: int, num_bits: int) -> int:
    return -(-cols * num_bits // 32)
