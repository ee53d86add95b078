"""AWQ (Lin et al. 2023, arXiv:2306.00978): activation-aware scales, then grouped asymmetric int4.

Quantization (AutoAWQ's ``pseudo_quantize_tensor``, zero-point variant), per group of
``group_size`` input channels of each output row: ``scale = clamp(max - min, 1e-5) / maxq``,
``zero = clamp(-round(min / scale), 0, maxq)``, code ``q = clamp(round(w / scale) + zero, 0, maxq)``,
value ``(q - zero) * scale``. Unlike GPTQ the range does not have to include 0.

Scale search (AutoAWQ's ``_search_best_scale``) for Linears sharing one input ``x``: with
``x_mean = mean |x|`` per input channel, for ``ratio`` in ``0, 1/n_grid, ..., (n_grid-1)/n_grid``:
``s = clamp(x_mean ** ratio, 1e-4)`` (``duo_scaling``: divided by ``w_mean ** (1 - ratio) + 1e-4``),
normalised by ``sqrt(max(s) * min(s))``; the weights become ``Q(W * s) / s``; the ``s`` whose
outputs on ``x`` have the smallest mean squared error wins (ratio 0, ``s = 1``, is plain rounding,
so the search never does worse than it on the calibration data). The winning ``s`` multiplies the
Linears' input channels and divides the operation before them (a norm's weight, or the output rows
of a preceding Linear), which leaves the full-precision function unchanged.

Stored (GEMM layout, see ``packing.pack_awq``): ``qweight`` int32 (in, out / 8), ``qzeros`` int32
(in / group, out / 8), ``scales`` fp16 (in / group, out).
"""

from __future__ import annotations

import torch

from reference_quantizers.formats import packing


def group_width(group_size: int, in_features: int) -> int:
    return in_features if group_size == -1 else group_size


def pseudo_quantize(
    w: torch.Tensor, group_size: int, bits: int = 4
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(quantized values, codes, scales, zeros) of ``w`` (out, in); scales and zeros are (out, groups)."""
    out_features, in_features = w.shape
    width = group_width(group_size, in_features)
    if in_features % width:
        raise ValueError(f"in_features ({in_features}) must be a multiple of group_size ({width})")
    maxq = (1 << bits) - 1
    groups = w.reshape(-1, width)
    max_val = groups.amax(dim=1, keepdim=True)
    min_val = groups.amin(dim=1, keepdim=True)
    scales = (max_val - min_val).clamp(min=1e-5) / maxq
    zeros = (-torch.round(min_val / scales)).clamp_(0, maxq)
    codes = torch.clamp(torch.round(groups / scales) + zeros, 0, maxq)
    values = ((codes - zeros) * scales).reshape(w.shape)
    return (
        values,
        codes.reshape(w.shape).to(torch.int32),
        scales.view(out_features, -1),
        zeros.view(out_features, -1),
    )


def search_scales(
    x: torch.Tensor,
    weights: list[torch.Tensor],
    group_size: int,
    bits: int = 4,
    n_grid: int = 20,
    duo_scaling: bool = False,
) -> tuple[torch.Tensor, float]:
    """The per-input-channel scale ``s`` minimising ``|| x W^T - (x / s) Q(W s)^T ||^2`` on the grid, and its ratio."""
    x = x.reshape(-1, x.shape[-1]).to(torch.float32)
    w = torch.cat([weight.to(torch.float32) for weight in weights], dim=0)
    x_mean = x.abs().mean(0)
    width = group_width(group_size, w.shape[1])
    w_groups = w.abs().view(-1, width)
    w_mean = (w_groups / (w_groups.amax(dim=1, keepdim=True) + 1e-6)).view(w.shape).mean(0)
    reference = x @ w.T
    best = (float("inf"), 0.0, torch.ones_like(x_mean))
    for step in range(n_grid):
        ratio = step / n_grid
        if duo_scaling:
            s = (x_mean.pow(ratio) / (w_mean.pow(1 - ratio) + 1e-4)).clamp(min=1e-4)
        else:
            s = x_mean.pow(ratio).clamp(min=1e-4)
        s = s / (s.max() * s.min()).sqrt()
        s = torch.where(torch.isfinite(s), s, torch.ones_like(s))
        quantized = pseudo_quantize(w * s, group_size, bits)[0] / s
        loss = (reference - x @ quantized.T).pow(2).mean().item()
        if loss < best[0]:
            best = (loss, ratio, s)
    return best[2], best[1]


def pack_gemm(codes: torch.Tensor, scales: torch.Tensor, zeros: torch.Tensor) -> dict[str, torch.Tensor]:
    """Checkpoint tensors from codes (out, in), scales and zeros (out, groups)."""
    return {
        "qweight": packing.pack_awq(codes.T),
        "qzeros": packing.pack_awq(zeros.to(torch.int32).T),
        "scales": scales.T.contiguous().to(torch.float16),
    }


def quantize_gemm(w: torch.Tensor, group_size: int, bits: int = 4) -> dict[str, torch.Tensor]:
    """Round-to-nearest AWQ quantization of an (already scaled) weight, packed in the GEMM layout.

    Computed in the weight's own dtype, as AutoAWQ does (it quantizes float16 models in float16).
    """
    _, codes, scales, zeros = pseudo_quantize(w, group_size, bits)
    return pack_gemm(codes, scales, zeros)


def dequantize_gemm(stored: dict[str, torch.Tensor], group_size: int) -> torch.Tensor:
    """``(code - zero) * scale`` rounded to float16 (as AutoAWQ and gptqmodel compute it), shape (out, in)."""
    codes = packing.unpack_awq(stored["qweight"])  # (in, out)
    zeros = packing.unpack_awq(stored["qzeros"])  # (groups, out)
    width = group_width(group_size, codes.shape[0])
    scales = stored["scales"].to(torch.float32).repeat_interleave(width, dim=0)
    diff = (codes - zeros.repeat_interleave(width, dim=0)).to(torch.float32)
    return (diff * scales).to(torch.float16).T
