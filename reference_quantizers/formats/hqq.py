"""HQQ (half-quadratic quantization, hqq 0.2.x): affine codes per group, zero point fitted by a proximal solver.

A weight is viewed as groups of ``group_size`` values: with ``axis=1`` the row-major flattened weight
is cut into rows of ``group_size`` (groups along the input dimension), with ``axis=0`` into columns of
a ``(group_size, -1)`` matrix. Per group, from its min and max (float32)::

    scale = (2**nbits - 1) / (max - min)      (1 where max - min <= 1e-4, at most 2e4)
    zero  = -min * scale                      (rounded when nbits == 4: BaseQuantizeConfig's round_zero)

then ``optimize_zero`` refines ``zero`` (``scale`` stays), and ``codes = round(w * scale + zero)``
clamped to ``[0, 2**nbits - 1]``. Stored: the packed codes ``W_q``, ``scale = 1 / scale`` and ``zero``
(both cast to the layer's compute dtype). Dequantized: ``(codes - zero) * scale``.

Packing (hqq's ``BitPack``) stacks the code matrix's row blocks into one word along dim 0, the first
block in the highest bits: 4 bits two blocks per uint8, 2 bits four, 1 bit eight, 3 bits ten per
int32 (rows padded with zeros to a multiple of 10); 5, 6 and 8 bits one code per uint8.

Every expression follows hqq's own order of operations and dtypes (float16 in the solver on CUDA,
float32 elsewhere), so codes, scales and zeros are bit-identical with ``hqq.core.quantize.Quantizer``.
"""

from __future__ import annotations

import math

import torch

SUPPORTED_BITS = (1, 2, 3, 4, 5, 6, 8)
#: nbits -> (hqq's packing name, codes per storage word, bits per code in the word, word dtype)
PACKINGS = {
    8: ("8bit_u8", 1, 8, torch.uint8),
    6: ("8bit_u8", 1, 8, torch.uint8),
    5: ("8bit_u8", 1, 8, torch.uint8),
    4: ("4bit_u8", 2, 4, torch.uint8),
    3: ("3bit_32", 10, 3, torch.int32),
    2: ("2bit_u8", 4, 2, torch.uint8),
    1: ("1bit_u8", 8, 1, torch.uint8),
}
#: hqq's optimize_weights_proximal defaults (its legacy solver never uses kappa: beta stays fixed)
LP_NORM, BETA, ITERS = 0.7, 1e1, 20


def resolved_group_size(shape: tuple[int, int], group_size: int | None, axis: int) -> int:
    """HQQLinear's rule for ``group_size=None``: a whole row (axis 1) or a whole column (axis 0)."""
    if group_size is not None:
        return group_size
    return shape[1] if axis == 1 else shape[0]


def grouped_shape(shape: tuple[int, int], group_size: int, axis: int) -> tuple[int, int]:
    groups = shape[0] * shape[1] // group_size
    return (groups, group_size) if axis == 1 else (group_size, groups)


def packed_shape(grouped: tuple[int, int], nbits: int) -> tuple[int, int]:
    _, per_word, _, _ = PACKINGS[nbits]
    return (math.ceil(grouped[0] / per_word), grouped[1])


def stats_shape(grouped: tuple[int, int], axis: int) -> tuple[int, int]:
    """Shape of ``scale`` and ``zero``: one per group, kept as a column (axis 1) or a row (axis 0)."""
    return (grouped[0], 1) if axis == 1 else (1, grouped[1])


def shrink_lp(x: torch.Tensor, beta: float, lp_norm: float) -> torch.Tensor:
    """The generalised soft-threshold of the half-quadratic split (hqq's ``shrink_lp_op``)."""
    magnitude = torch.abs(x)
    if lp_norm == 1:
        return (magnitude - 1.0 / beta).clamp_min(0.0) * torch.sign(x)
    return (magnitude - (1.0 / beta) * magnitude.pow(lp_norm - 1)).clamp_min(0.0) * torch.sign(x)


def optimize_zero(
    grouped: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor, max_code: int, axis: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """hqq's default solver (``optimize_weights_proximal_legacy``): alternate codes and zero points.

    Each step rounds with the current zero, measures the mean absolute error, shrinks the residual
    and refits ``zero`` as the group mean. It stops after ``ITERS`` steps or at the first step whose
    error does not improve; that step's refitted ``zero`` is kept (hqq's loop breaks after updating it).
    """
    dtype = torch.float16 if grouped.device.type == "cuda" else torch.float32
    w, scale, zero = grouped.to(dtype), scale.to(dtype), zero.to(dtype)
    best = torch.tensor(torch.inf, dtype=torch.float32, device=grouped.device)
    for _ in range(ITERS):
        codes = torch.round(w * scale + zero).clamp(0, max_code)
        restored = (codes - zero) / scale
        residual = shrink_lp(w - restored, BETA, LP_NORM)
        zero = torch.mean(codes - (w - residual) * scale, axis=axis, keepdim=True)
        error = torch.abs(w - restored).mean().float()
        if not error < best:
            break
        best = error
    codes = torch.round(grouped * scale + zero).clamp(0, max_code)
    return codes, scale, zero


def quantize(
    weight: torch.Tensor, nbits: int, group_size: int, axis: int, round_zero: bool, optimize: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(packed codes, scale, zero) as ``hqq.core.quantize.Quantizer.quantize`` returns them (before the cast)."""
    w = weight.float()
    w = w.reshape([-1, group_size]) if axis == 1 else w.reshape([group_size, -1])
    low = w.min(axis=axis, keepdim=True)[0]
    high = w.max(axis=axis, keepdim=True)[0]
    max_code = round(2**nbits - 1)
    denom = high - low
    scale = max_code / denom
    scale = torch.where(denom.abs() <= 1e-4, torch.full_like(scale, 1.0), scale)
    scale = scale.clamp(max=2e4)
    zero = -low * scale
    if round_zero:
        zero = torch.round(zero)
    if optimize:
        codes, scale, zero = optimize_zero(w, scale, zero, max_code, axis)
    else:
        codes = torch.round(w * scale + zero).clamp(0, max_code)
    return pack(codes, nbits), 1.0 / scale, zero


def pack(codes: torch.Tensor, nbits: int) -> torch.Tensor:
    """``per_word`` row blocks into one word, the first block in the highest bits (hqq's ``BitPack``)."""
    _, per_word, bits, dtype = PACKINGS[nbits]
    if per_word == 1:
        return codes.to(dtype)
    rows = math.ceil(codes.shape[0] / per_word)
    padded = torch.nn.functional.pad(codes, (0, 0, 0, rows * per_word - codes.shape[0]))
    blocks = padded.to(dtype).reshape(per_word, rows, codes.shape[1])
    shifts = (bits * torch.arange(per_word - 1, -1, -1, device=codes.device)).to(dtype)[:, None, None]
    return (blocks << shifts).sum(dim=0, dtype=dtype)


def unpack(packed: torch.Tensor, nbits: int, rows: int, dtype: torch.dtype) -> torch.Tensor:
    _, per_word, bits, word_dtype = PACKINGS[nbits]
    if per_word == 1:
        return packed.to(dtype)
    shifts = (bits * torch.arange(per_word - 1, -1, -1, device=packed.device)).to(word_dtype)[:, None, None]
    codes = (packed[None] >> shifts) & (2**bits - 1)
    return codes.reshape(-1, packed.shape[1])[:rows].to(dtype)


def dequantize(
    packed: torch.Tensor,
    scale: torch.Tensor,
    zero: torch.Tensor,
    nbits: int,
    shape: tuple[int, int],
    group_size: int,
    axis: int,
) -> torch.Tensor:
    """``(codes - zero) * scale`` in the dtype of ``scale`` (hqq's compute dtype), reshaped to ``shape``."""
    rows = grouped_shape(shape, group_size, axis)[0]
    codes = unpack(packed, nbits, rows, scale.dtype)
    return ((codes - zero) * scale).reshape(shape)
