"""BitNet b1.58: ternary weights {-1, 0, 1} packed four to a byte, and per-token int8 activations.

As transformers' ``integrations/bitnet.py`` (``BitLinear``, ``pack_weights``, ``unpack_weights``,
``WeightQuant``) defines it:

- ternarization (``WeightQuant``, absmean): ``s = 1 / max(mean(|W|), 1e-5)`` in float32,
  ``W_q = clamp(round(W * s), -1, 1)``. The checkpoint's ``weight_scale`` is ``s`` itself (the
  reciprocal of the absmean, one value per matrix): ``BitLinear`` *divides* its output by it;
- packing along the output dimension in four blocks of ``rows / 4`` rows: byte ``[r, c]`` holds
  ``W_q[i * rows/4 + r, c] + 1`` in bits ``2i..2i+1`` for ``i = 0..3`` (not interleaved rows);
- activations (``BitLinear.activation_quant``): per token ``a = 127 / max(absmax, 1e-5)`` in the
  activation's dtype, ``x_q = clamp(round(x * a), -128, 127)``;
- ``y = (x_q @ W_q.T) / (weight_scale * a)`` in the compute dtype, then the bias.

float16 cannot hold these scales: ``weight_scale * a`` exceeds 65504 for ordinary layers (weights of
absmean 0.016 and tokens with max|x| < 0.12: ``BitLinear`` then divides by inf and outputs zeros,
measured), ``127 / absmax`` overflows for max|x| < 0.002, ``x_q @ W_q.T`` for widths above 516, and
``weight_scale`` itself for absmean < 1.5e-5. ``bitlinear`` therefore computes float16 layers in
float32 (bfloat16 and float32 exactly as ``BitLinear``), and a float16 ``weight_scale`` is refused.
"""

from __future__ import annotations

import torch

PER_BYTE = 4


def ternarize(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(W_q int8 in {-1, 0, 1}, weight_scale float32 of shape (1,) = 1 / absmean)."""
    w = weight.to(torch.float32)
    scale = 1.0 / w.abs().mean().clamp(min=1e-5)
    return (w * scale).round().clamp(-1, 1).to(torch.int8), scale.reshape(1)


def pack(q: torch.Tensor) -> torch.Tensor:
    """(rows, cols) ternary -> (rows / 4, cols) uint8, block ``i`` of rows in bits ``2i``."""
    rows = q.shape[0]
    blocks = (q.to(torch.int16) + 1).to(torch.uint8).reshape(PER_BYTE, rows // PER_BYTE, *q.shape[1:])
    packed = torch.zeros_like(blocks[0])
    for i in range(PER_BYTE):
        packed |= blocks[i] << (2 * i)
    return packed


def unpack(packed: torch.Tensor, dtype: torch.dtype = torch.int8) -> torch.Tensor:
    """Inverse of ``pack``: (rows / 4, cols) uint8 -> (rows, cols) values in {-1, 0, 1} of ``dtype``."""
    blocks = [(packed >> (2 * i)) & 3 for i in range(PER_BYTE)]
    return torch.cat(blocks, dim=0).to(dtype) - 1


def dequantize(packed: torch.Tensor, weight_scale: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``W_q / weight_scale`` (the weight BitLinear's output stands for), in float32 then ``dtype``."""
    return (unpack(packed, torch.float32) / weight_scale.to(torch.float32)).to(dtype)


def quantize_activations(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_q int8, a) with ``a = 127 / absmax`` per token in x's dtype: ``x ~ x_q / a``."""
    a = 127 / x.abs().max(dim=-1, keepdim=True).values.clamp(min=1e-5)
    return (x * a).round().clamp(-128, 127).to(torch.int8), a


def bitlinear(
    x: torch.Tensor,
    packed: torch.Tensor,
    weight_scale: torch.Tensor,
    bias: torch.Tensor | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """``BitLinear.forward`` without RMSNorm: ternary weights, int8 activations, both scales divided out.

    Computed in ``dtype`` (the dtype the layer was built with) as ``BitLinear`` does, except float16,
    computed in float32 and cast back (see the module docstring).
    """
    dtype = dtype or x.dtype
    compute = torch.float32 if dtype == torch.float16 else dtype
    x_q, a = quantize_activations(x.to(compute))
    y = torch.nn.functional.linear(x_q.to(compute), unpack(packed, compute))
    y = y / (weight_scale.to(compute) * a)
    if bias is not None:
        y += bias.to(compute).view(1, -1).expand_as(y)
    return y.to(dtype)
