"""GPTQ (Frantar et al. 2022, arXiv:2210.17323) as gptqmodel 7.6 runs it for transformers.

The algorithm, one Linear at a time, weight ``W`` (out, in), calibration inputs ``X`` (tokens, in):

1. Hessian ``H = 2 / N * sum_batches X_b^T X_b`` (float32, ``N`` tokens). Columns whose diagonal is 0
   (dead inputs) get ``H[i, i] = 1`` and ``W[:, i] = 0``.
2. Column order: natural; ``desc_act`` sorts columns by decreasing ``diag(H)`` (act-order, recorded
   in ``g_idx``); otherwise ``act_group_aware`` (GAR) sorts within each group and then the groups by
   their largest diagonal entry, which keeps every column in its group.
3. Damping: ``H[i, i] += damp_percent * mean(diag(H))``; ``Hinv`` = upper Cholesky factor of
   ``H^-1``. If the Cholesky fails, ``damp_percent`` grows by ``damp_auto_increment``.
4. Columns are quantized left to right in lazy blocks of 128. Quantizing column ``i`` gives error
   ``e = (w_i - q_i) / Hinv[i, i]``; the rest of the block absorbs ``-e * Hinv[i, i:]`` at once, and
   the columns after the block absorb the block's errors in one matmul.
5. Scales and zero points: min/max of each group of ``group_size`` columns (of the whole row when
   ``group_size == -1``), taken from the weight as updated so far, when the group's first column is
   reached. Asymmetric: ``scale = (max - min) / maxq``, ``zero = round(-min / scale)``; symmetric:
   ``max = max(|min|, max)``, ``min = -max`` (when negative), ``zero = (maxq + 1) / 2``. Range
   always includes 0; an all-zero group gets range [-1, 1].
   Code ``q = clamp(round(w / scale) + zero, 0, maxq)``; value ``scale * (q - zero)``.

The operations follow gptqmodel's order one for one, so on the same device and inputs the results
match bit for bit (measured in tests/reference/test_gptq.py). Stored in a checkpoint: see
``reference_quantizers.formats.packing`` and ``pack_gptq``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from reference_quantizers.formats import packing

BLOCK_SIZE = 128


@dataclass(frozen=True)
class GptqParams:
    """The knobs of the algorithm (a subset of transformers' ``GPTQConfig``)."""

    bits: int = 4
    group_size: int = 128
    sym: bool = True
    desc_act: bool = False
    act_group_aware: bool = True
    damp_percent: float = 0.1
    damp_auto_increment: float = 0.0015
    block_size: int = BLOCK_SIZE

    @property
    def maxq(self) -> int:
        return (1 << self.bits) - 1


@dataclass
class GptqResult:
    """Quantized values and codes in original column order, per-group scales and zeros, each column's group."""

    values: torch.Tensor  # (out, in) float32: scale * (code - zero), as the column loop computed them
    codes: torch.Tensor  # (out, in) int32 in [0, maxq], as gptqmodel's packer derives them (see codes_from_values)
    scales: torch.Tensor  # (groups, out) float32
    zeros: torch.Tensor  # (groups, out) float32 holding integers
    g_idx: torch.Tensor  # (in,) int32
    damp: float

    def dequantize(self) -> torch.Tensor:
        return self.values


def hessian(inputs: Iterable[torch.Tensor], columns: int, device: torch.device | str | None = None) -> torch.Tensor:
    """``2 / N * sum X_b^T X_b`` over batches of inputs whose last dimension is ``columns``."""
    total, count = None, 0
    for batch in inputs:
        x = batch.reshape(-1, columns).to(device=device if device is not None else batch.device)
        x = x.to(torch.float32)
        xtx = torch.matmul(x.T, x)
        total = xtx if total is None else total.add_(xtx)
        count += x.shape[0]
    if total is None or count == 0:
        raise ValueError("GPTQ needs at least one calibration token")
    return total.mul_(2.0 / float(count))


def group_params(w: torch.Tensor, bits: int, sym: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale and zero point per row of ``w`` (out, k): min/max with 0 in range (gptqmodel's find_params)."""
    maxq = (1 << bits) - 1
    zero_ = torch.zeros(w.shape[0], device=w.device)
    xmin = torch.minimum(w.min(1)[0], zero_)
    xmax = torch.maximum(w.max(1)[0], zero_)
    if sym:
        xmax = torch.maximum(torch.abs(xmin), xmax)
        negative = xmin < 0
        if torch.any(negative):
            xmin[negative] = -xmax[negative]
    flat = (xmin == 0) & (xmax == 0)
    xmin[flat] = -1
    xmax[flat] = +1
    scale = (xmax - xmin) / maxq
    zero = torch.full_like(scale, (maxq + 1) / 2) if sym else torch.round(-xmin / scale)
    return scale.reshape(-1, 1), zero.reshape(-1, 1)


def _gar_permutation(diag: torch.Tensor, group_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """GAR order: (column permutation, group permutation); trailing partial group stays in place."""
    groups = diag.numel() // group_size
    blocks = diag[: groups * group_size].view(groups, group_size)
    values, local = torch.sort(blocks, dim=1, descending=True)
    group_order = torch.argsort(values[:, 0], descending=True, stable=True)
    base = (torch.arange(groups, device=diag.device) * group_size).view(groups, 1)
    perm = (local + base)[group_order].reshape(-1)
    tail = torch.arange(groups * group_size, diag.numel(), device=diag.device)
    return torch.cat([perm, tail]), group_order


def inverse_hessian_factor(h: torch.Tensor, params: GptqParams) -> tuple[torch.Tensor, float]:
    """Upper Cholesky factor of ``(H + damp * mean(diag H) * I)^-1`` and the damp that worked."""
    diag = h.diagonal()
    original = diag.clone()
    mean = torch.mean(original)
    damp = float(params.damp_percent)
    while True:
        diag.add_(damp * mean)
        factor, info = torch.linalg.cholesky_ex(h, check_errors=False)
        diag.copy_(original)
        if int(info.item()) == 0:
            torch.cholesky_inverse(factor, out=factor)
            return torch.linalg.cholesky(factor, upper=True), damp
        step = damp + float(params.damp_auto_increment)
        if params.damp_auto_increment <= 0 or not damp < step < 1.0:
            raise ValueError(f"GPTQ: the Hessian is not positive definite even with damp_percent={damp:.5f}")
        damp = step


def quantize(weight: torch.Tensor, h: torch.Tensor, params: GptqParams) -> GptqResult:
    """Run GPTQ on ``weight`` (out, in) with Hessian ``h`` (in, in); neither argument is modified."""
    w = weight.detach().to(device=h.device, dtype=torch.float32).clone()
    h = h.clone()
    columns = w.shape[1]
    group_size = params.group_size if params.group_size != -1 else columns
    grouped = params.group_size != -1

    scale, zero = group_params(w, params.bits, params.sym)
    dead = torch.diag(h) == 0
    h[dead, dead] = 1
    w[:, dead] = 0

    perm = group_order = None
    if params.desc_act:
        perm = torch.argsort(torch.diag(h), descending=True)
    elif params.act_group_aware and grouped:
        perm, group_order = _gar_permutation(torch.diag(h), group_size)
    if perm is not None:
        w, h = w[:, perm], h[perm][:, perm]

    hinv, damp = inverse_hessian_factor(h, params)
    del h

    values = torch.zeros_like(w)
    scales: list[torch.Tensor] = []
    zeros: list[torch.Tensor] = []
    for i1 in range(0, columns, params.block_size):
        i2 = min(i1 + params.block_size, columns)
        w1 = w[:, i1:i2].clone()
        err1 = torch.zeros_like(w1)
        hinv1 = hinv[i1:i2, i1:i2]
        for i in range(i2 - i1):
            column = i1 + i
            if grouped and column % group_size == 0:
                # gptqmodel (like the GPTQ paper's code) reads the group from ``w``: earlier blocks'
                # updates are in it, this block's column-by-column updates are not
                scale, zero = group_params(w[:, column : column + group_size], params.bits, params.sym)
                scales.append(scale)
                zeros.append(zero)
            col = w1[:, i].unsqueeze(1)
            q = torch.clamp(torch.round(col / scale) + zero, 0, params.maxq)
            values[:, column] = (scale * (q - zero)).flatten()
            delta = err1[:, i]
            torch.sub(w1[:, i], values[:, column], out=delta)
            delta.div_(hinv1[i, i])
            w1[:, i:] -= delta.unsqueeze(1) * hinv1[i, i:]
        w[:, i2:] -= err1.matmul(hinv[i1:i2, i2:])
    if not scales:
        scales, zeros = [scale], [zero]

    g_idx = torch.arange(columns, device=w.device, dtype=torch.int32) // group_size
    if perm is not None:
        inverse = torch.argsort(perm)
        values = values[:, inverse]
        if params.desc_act:
            g_idx = g_idx[inverse]
        else:  # GAR keeps columns in their groups: only the list of groups was visited in another order
            order = torch.argsort(group_order).tolist()
            scales = [scales[k] for k in order] + scales[len(order) :]
            zeros = [zeros[k] for k in order] + zeros[len(order) :]
    scales_t = torch.cat(scales, dim=1).T.contiguous()
    zeros_t = torch.cat(zeros, dim=1).T.contiguous()
    codes = codes_from_values(values.to(weight.dtype), scales_t, zeros_t, g_idx, params.maxq)
    return GptqResult(values=values, codes=codes, scales=scales_t, zeros=zeros_t, g_idx=g_idx, damp=damp)


def codes_from_values(
    values: torch.Tensor, scales: torch.Tensor, zeros: torch.Tensor, g_idx: torch.Tensor, maxq: int
) -> torch.Tensor:
    """Codes as gptqmodel's packer derives them: ``clamp(round((value + zero * scale) / scale), 0, maxq)``.

    gptqmodel hands its packer the quantized weight cast to the model's dtype, not the codes; in
    float32 this gives back the codes exactly, in bfloat16 an 8-bit code can move by one (measured).
    The twin derives its codes the same way so that its checkpoints match gptqmodel's bit for bit.
    """
    g = g_idx.long()
    scale_zeros = zeros * scales
    codes = torch.round((values + scale_zeros[g].T) / scales[g].T)
    return codes.clamp_(0, maxq).to(torch.int32)


# --- the checkpoint tensors ---------------------------------------------------------------


def pack_gptq(result: GptqResult, bits: int, checkpoint_format: str = "gptq") -> dict[str, torch.Tensor]:
    """``qweight`` (in*bits/32, out), ``qzeros`` (groups, out*bits/32) int32, ``scales`` fp16, ``g_idx`` int32.

    ``checkpoint_format`` "gptq" (v1) stores zero points minus one as gptqmodel writes them,
    "gptq_v2" stores them as they are.
    """
    qzeros = packing.pack_cols(result.zeros.to(torch.int32), bits)
    if checkpoint_format == "gptq":
        qzeros = packing.zeros_v2_to_v1(qzeros, bits)
    elif checkpoint_format != "gptq_v2":
        raise ValueError(f"checkpoint_format must be 'gptq' or 'gptq_v2', got {checkpoint_format!r}")
    return {
        "qweight": packing.pack_rows(result.codes.T, bits),
        "qzeros": qzeros,
        "scales": result.scales.to(torch.float16),
        "g_idx": result.g_idx.to(torch.int32),
    }


def unpack_gptq(
    stored: dict[str, torch.Tensor], bits: int, checkpoint_format: str = "gptq"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(codes (out, in), zeros (groups, out), scales (groups, out) fp16, g_idx) from checkpoint tensors."""
    qzeros = stored["qzeros"]
    if checkpoint_format == "gptq":
        qzeros = packing.zeros_v1_to_v2(qzeros, bits)
    out_features = stored["scales"].shape[1]
    in_features = stored["g_idx"].shape[0]
    codes = packing.unpack_rows(stored["qweight"], bits)[:in_features].T
    zeros = packing.unpack_cols(qzeros, bits)[:, :out_features]
    return codes, zeros, stored["scales"], stored["g_idx"]


def dequantize_gptq(stored: dict[str, torch.Tensor], bits: int, checkpoint_format: str = "gptq") -> torch.Tensor:
    """``scales[g_idx] * (code - zero[g_idx])`` rounded to float16 (as gptqmodel computes it), shape (out, in).

    The product is exact in float32 (an 11-bit scale times an integer below 2**9), so rounding it once
    to float16 gives the correctly rounded float16 product that gptqmodel's kernels compute.
    """
    codes, zeros, scales, g_idx = unpack_gptq(stored, bits, checkpoint_format)
    g = g_idx.long()
    return (scales.to(torch.float32)[g].T * (codes - zeros[g].T).to(torch.float32)).to(torch.float16)
