"""Symmetric int8 with one float32 scale per row of the last dimension (torchao ``Int8Tensor``, ``PerRow``).

One function quantizes both weights (a scale per output channel) and activations (a scale per token),
as torchao's ``Int8Tensor.from_hp`` does with ``choose_qparams_affine`` (``MappingType.SYMMETRIC``):

- ``absmax`` of the row, computed in the input's own dtype; ``scale = absmax / 127.5`` (half the
  int8 range, 255 / 2), still in the input's dtype, floored at float32's eps, then cast to float32;
- ``q = clamp(round(x * (1 / scale)) + 0, -128, 127)`` with the zero point stored as int8 zeros.

The two matmuls are torchao's ``Int8Tensor`` linear on CPU: weight-only multiplies by the int8
weight cast to the activation dtype, then by the scale; dynamic activation multiplies the int8
activations by the int8 weight exactly (integers), then by the activation scale, casts, and
multiplies by the weight scale.
"""

from __future__ import annotations

import torch

QMIN, QMAX = -128, 127
EPS = torch.finfo(torch.float32).eps


def quantize_per_row(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(q int8 like x, scale float32 (..., 1), zero_point int8 zeros (..., 1))."""
    absmax = torch.maximum(-x.amin(dim=-1, keepdim=True).clamp(max=0), x.amax(dim=-1, keepdim=True).clamp(min=0))
    scale = torch.clamp(absmax / ((QMAX - QMIN) / 2), min=EPS).to(torch.float32)
    zero_point = torch.zeros_like(scale, dtype=torch.int8)
    q = torch.clamp(torch.round(x * (1.0 / scale)) + zero_point, QMIN, QMAX)
    return q.to(torch.int8), scale, zero_point


def dequantize(
    q: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """``(q - zero_point) * scale`` computed as torchao's ``dequantize_affine`` does, in ``dtype``."""
    return ((q.to(dtype) - zero_point.to(dtype)) * scale).to(dtype)


def weight_only_linear(
    x: torch.Tensor, q: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """``(x @ q.T) * scale`` with the int8 weight cast to x's dtype (the per-row scale is exact to apply last)."""
    y = torch.mm(x.reshape(-1, x.shape[-1]), q.t().to(x.dtype))
    y = (y * scale.to(y.dtype).flatten()).reshape(*x.shape[:-1], q.shape[0])
    if bias is not None:
        y += bias
    return y.to(x.dtype)


def dynamic_activation_linear(
    x: torch.Tensor, q: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-token int8 activations times int8 weights, accumulated exactly, then both scales."""
    xq, x_scale, _ = quantize_per_row(x)
    xq = xq.reshape(-1, x.shape[-1])
    # float64 holds every int8 x int8 dot product of realistic width exactly, on any device
    acc = torch.mm(xq.to(torch.float64), q.t().to(torch.float64)).to(torch.int32)
    y = (acc.to(torch.float32) * x_scale.reshape(-1, 1)).to(x.dtype)
    y = (y * scale.flatten()).reshape(*x.shape[:-1], q.shape[0])
    if bias is not None:
        y += bias
    return y.to(x.dtype)
