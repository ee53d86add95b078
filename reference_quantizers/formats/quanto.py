"""optimum-quanto's weight formats (quanto 0.2.x), as transformers' ``QuantoConfig(weights=...)`` produces them.

8-bit (``int8``, ``float8`` = e4m3fn): symmetric, one scale per output row, ``scale = max|w| / qmax``
in the weight's dtype (quanto's ``AbsmaxOptimizer``); ``int8 = clamp(round(w / scale), -128, 127)``,
``float8 = clamp(w / scale, -448, 448)`` cast. Dequantized: ``scale * data``.

``int4`` and ``int2``: affine with a float shift, per group of ``group_size`` consecutive weights of a
row (quanto's ``MaxOptimizer``): ``scale = (max - min) / (2**bits - 1)``, ``shift = -min``,
``data = clamp(round((w + shift) / scale), 0, 2**bits - 1)`` as uint8; dequantized:
``scale * data - shift``. The group size comes from the layer's input width (``group_size_for``); a
layer too narrow for groups is quantized per row. The codes are packed along dim 0 of the grouped
``(rows, group_size)`` matrix, ``8 // bits`` rows per byte: byte row ``r`` holds rows
``r, r + R, r + 2R, ...`` (``R = ceil(rows / (8 // bits))``) in bits ``0, bits, 2 * bits, ...``.

All arithmetic happens in the weight's own dtype, as quanto does it, so results are bit-identical.
"""

from __future__ import annotations

import math

import torch

#: name in QuantoConfig -> (storage dtype, largest code, smallest code) of the 8-bit formats
SYMMETRIC = {"int8": (torch.int8, 127.0, -128.0), "float8": (torch.float8_e4m3fn, 448.0, -448.0)}
AFFINE_BITS = {"int4": 4, "int2": 2}


def group_size_for(in_features: int) -> int | None:
    """quanto's rule (``QModuleMixin.__init__``): 128, else 96, 64 or 32 if it divides the width; None if narrow."""
    if in_features <= 128:
        return None
    size = 128
    while in_features % size and size > 32:
        size -= 32
    return size if in_features % size == 0 else None


def affine_rows(shape: tuple[int, int], group_size: int | None) -> tuple[int, int]:
    """Shape of the grouped code matrix: (groups, group_size), or the weight's own shape without groups."""
    out_features, in_features = shape
    if group_size is None:
        return (out_features, in_features)
    return (out_features * in_features // group_size, group_size)


def packed_shape(rows: tuple[int, int], bits: int) -> tuple[int, int]:
    return (math.ceil(rows[0] / (8 // bits)), rows[1])


def quantize_symmetric(weight: torch.Tensor, weights: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(data, scale (out, 1)) for ``int8`` or ``float8``; the scale has the weight's dtype."""
    dtype, qmax, qmin = SYMMETRIC[weights]
    scale = weight.abs().amax(dim=1, keepdim=True) / qmax
    data = weight / scale
    if not dtype.is_floating_point:
        data = torch.round(data)
    return data.clamp(qmin, qmax).to(dtype), scale


def dequantize_symmetric(data: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return scale * (data.to(scale.dtype) if data.dtype.is_floating_point else data)


def quantize_affine(
    weight: torch.Tensor, bits: int, group_size: int | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(codes uint8 (rows, cols) unpacked, scale (rows, 1), shift (rows, 1)) over the grouped weight."""
    grouped = weight.reshape(-1, group_size) if group_size else weight
    low = grouped.amin(dim=1, keepdim=True)
    high = grouped.amax(dim=1, keepdim=True)
    scale = (high - low) / (2**bits - 1)
    shift = -low
    codes = torch.round((grouped + shift) / scale).clamp(0, 2**bits - 1).to(torch.uint8)
    return codes, scale, shift


def dequantize_affine(
    codes: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor, shape: tuple[int, int]
) -> torch.Tensor:
    return (scale * codes - shift).reshape(shape)


def pack(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """``8 // bits`` rows of codes per byte row: code row ``i * R + r`` goes to bits ``i * bits`` of byte row ``r``."""
    per_byte = 8 // bits
    rows = math.ceil(codes.shape[0] / per_byte)
    padded = torch.nn.functional.pad(codes, (0, 0, 0, rows * per_byte - codes.shape[0]))
    chunks = padded.reshape(per_byte, rows, codes.shape[1])
    shifts = torch.arange(0, 8, bits, dtype=torch.uint8, device=codes.device)[:, None, None]
    return (chunks << shifts).sum(dim=0, dtype=torch.uint8)


def unpack(packed: torch.Tensor, bits: int, rows: int) -> torch.Tensor:
    shifts = torch.arange(0, 8, bits, dtype=torch.uint8, device=packed.device)[:, None, None]
    codes = (packed[None] >> shifts) & (2**bits - 1)
    return codes.reshape(-1, packed.shape[1])[:rows]
