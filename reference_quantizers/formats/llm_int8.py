"""LLM.int8(): row-wise absmax int8 weights and the mixed-precision matmul (arXiv:2208.07339).

Weight: cast to float16, each row ``r`` keeps ``SCB[r] = max |w[r, :]|`` (float32) and
``int8 = round(w * 127 / SCB[r])`` (round half to even); ``w = int8 * SCB[r] / 127``.

Matmul with threshold ``t > 0``: every input column (feature) holding a value with ``|x| >= t`` is an
outlier column. Outlier columns are multiplied in the input's own precision with the dequantized
weight columns; the rest of the input is quantized row-wise to int8 like the weight (outliers
zeroed first), multiplied int8 x int8 into int32 exactly, and rescaled by ``SCA[i] * SCB[j] / 127**2``.

Arithmetic follows bitsandbytes' CPU path (``backends/default/ops.py``) operation for operation, so
the results match it bit for bit there. Its CUDA kernels differ: the weight's ``127 / SCB`` is an
approximate division (``__fdividef``), and the rescale uses ``6.200012e-05f`` with a fused multiply-add
and rounds to float16 before casting to the input's dtype.
"""

from __future__ import annotations

import math

import torch

#: 1 / 127**2 and 1 / 127 as bitsandbytes writes them (float32 when applied to float32 tensors)
RESCALE = 6.200124e-05
INV_127 = 7.874015718698502e-3


def quantize_rowwise(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(int8 values, float32 absmax per row) of a 2-D tensor, computed from its float16 copy."""
    half = values.to(torch.float16)
    absmax = torch.linalg.vector_norm(half, ord=math.inf, dim=1).float()  # the largest |value| of each row
    return (half * (127.0 / absmax[:, None])).round_().to(torch.int8), absmax


def dequantize_rowwise(quantized: torch.Tensor, absmax: torch.Tensor) -> torch.Tensor:
    """``int8 * absmax / 127`` per row, float32."""
    return quantized * absmax[:, None] * INV_127


def outlier_columns(x: torch.Tensor, threshold: float) -> torch.Tensor:
    """Indices of the columns of a 2-D float16 input holding any ``|value| >= threshold`` (empty if t <= 0)."""
    if threshold <= 0:
        return torch.empty(0, dtype=torch.int64, device=x.device)
    return torch.nonzero((x.abs() >= threshold).any(dim=0)).reshape(-1)


def quantize_activations(x16: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(int8 rows, float32 absmax per row, outlier column indices) of a 2-D float16 input.

    Outlier values are zeroed before the row absmax is taken, and whole outlier columns are zero in
    the int8 result: those columns are computed in full precision instead.
    """
    columns = outlier_columns(x16, threshold)
    if threshold > 0:
        x16 = x16.masked_fill(x16.abs() >= threshold, 0)
    quantized, absmax = quantize_rowwise(x16)
    quantized[:, columns] = 0
    return quantized, absmax, columns


def int8_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b.T`` of int8 matrices as exact int32 (float64 holds every partial sum exactly)."""
    return (a.double() @ b.double().T).to(torch.int32)


def mixed_matmul(
    x: torch.Tensor,
    weight_int8: torch.Tensor,
    weight_absmax: torch.Tensor,
    threshold: float,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """``x @ W.T + bias`` for a 2-D input by LLM.int8(), in ``x``'s dtype."""
    quantized, absmax, columns = quantize_activations(x.to(torch.float16), threshold)
    out = int8_matmul(quantized, weight_int8) * (absmax[:, None] * weight_absmax[None, :]) * RESCALE
    if bias is not None:
        out += bias
    out = out.to(x.dtype)
    if columns.numel():
        outlier_weight = dequantize_rowwise(weight_int8[:, columns], weight_absmax).to(x.dtype)
        out = out.addmm(x[:, columns], outlier_weight.T)
    return out
