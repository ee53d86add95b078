"""Asymmetric int4 weights in groups along the input dimension, two to a byte (torchao ``Int4Tensor``).

The format of torchao's ``Int4WeightOnlyConfig(group_size=g)`` with its default ``plain`` packing,
whose quantization is mslk's ``int4_row_quantize_zp`` and ``pack_int4``:

- per row and group of ``g`` consecutive columns, in float32: ``scale = max(max - min, 1e-6) / 15``
  and ``zero = min + 8 * scale``; ``q = clamp(round((w - min) / scale), 0, 15) - 8``, an int8 in
  [-8, 7]; the weight is ``q * scale + zero``;
- ``qdata`` (out, in/2) int8: column ``2j`` in the low nibble, ``2j+1`` in the high nibble;
- ``scale`` and ``zero_point`` are transposed, (in/g, out), and cast to the weight's dtype.
"""

from __future__ import annotations

import torch

LEVELS = 15  # 4 bits: 0..15 before recentring
MID = 8  # recentring offset: stored values are in [-8, 7]


def quantize(weight: torch.Tensor, group_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(q int8 (out, in) in [-8, 7], scale (in/g, out) float32, zero (in/g, out) float32)."""
    rows, cols = weight.shape
    groups = weight.to(torch.float32).reshape(rows, cols // group_size, group_size)
    low = groups.amin(dim=-1, keepdim=True)
    high = groups.amax(dim=-1, keepdim=True)
    scale = (high - low).clamp(min=1e-6) / LEVELS
    zero = low + scale * MID
    q = groups.sub(low).div(scale).round().clamp(0, LEVELS) - MID
    return q.to(torch.int8).reshape(rows, cols), scale.squeeze(-1).t().contiguous(), zero.squeeze(-1).t().contiguous()


def dequantize(
    q: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """``q * scale + zero`` with each group's (transposed) scale and zero broadcast over its columns."""
    rows, cols = q.shape
    n_groups = scale.shape[0]
    groups = q.to(torch.float32).reshape(rows, n_groups, cols // n_groups)
    weight = groups * scale.t().to(torch.float32)[..., None] + zero.t().to(torch.float32)[..., None]
    return weight.reshape(rows, cols).to(dtype)


def pack(q: torch.Tensor) -> torch.Tensor:
    """Two int4 values per int8: even column in the low nibble, odd column in the high nibble."""
    low = q[:, 0::2] & 0x0F
    high = q[:, 1::2] << 4  # int8 shift: the sign bits of the high nibble are the byte's sign
    return (low | high).contiguous()


def unpack(packed: torch.Tensor) -> torch.Tensor:
    """Inverse of ``pack``: (out, in/2) int8 -> (out, in) int8 in [-8, 7], sign-extended."""
    low = (packed << 4) >> 4  # arithmetic shift sign-extends the low nibble
    high = packed >> 4
    return torch.stack((low, high), dim=-1).reshape(packed.shape[0], -1)
