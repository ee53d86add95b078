"""Error metrics that numerics and lifecycle checks record and bound: plain functions over tensors.

Everything is computed in float64 on the tensors' own device, so a metric never adds rounding of its
own. Degenerate references (an all-zero weight or row) give 0 when the approximation is exact there
and infinity otherwise: zeros must stay zeros.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch


def _f64(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().to(torch.float64)


def rel_frobenius(reference: torch.Tensor, approx: torch.Tensor) -> float:
    """``||approx - reference|| / ||reference||`` (Frobenius norms)."""
    ref, app = _f64(reference), _f64(approx.to(reference.device))
    diff = torch.linalg.vector_norm(app - ref).item()
    norm = torch.linalg.vector_norm(ref).item()
    if norm == 0 or not math.isfinite(norm):
        return 0.0 if diff == 0 else math.inf
    return diff / norm


def max_block_error(reference: torch.Tensor, approx: torch.Tensor) -> float:
    """The worst block's largest error relative to that block's largest magnitude; a block is one row.

    One output row is the unit that every weight-only format's scales cover (per-row scales) or split
    (groups along the row), so the figure compares across formats. A zero row must come back zero.
    """
    ref, app = _f64(reference), _f64(approx.to(reference.device))
    ref2, app2 = ref.reshape(ref.shape[0], -1), app.reshape(ref.shape[0], -1)
    err = (app2 - ref2).abs().amax(dim=1)
    peak = ref2.abs().amax(dim=1)
    ratio = torch.where(peak > 0, err / torch.where(peak > 0, peak, 1.0), torch.where(err > 0, math.inf, 0.0))
    return float(ratio.max().item()) if ratio.numel() else 0.0


SAME_VALUES = "same values, different bit patterns"


@dataclass(frozen=True)
class Mismatch:
    """How two tensors that should be identical differ: counts and the largest difference."""

    name: str
    count: int
    total: int
    max_abs_diff: float
    detail: str = ""

    @property
    def same_values(self) -> bool:
        """Equal values in different bits (a zero's sign, a NaN payload): no dequantized value changes."""
        return self.max_abs_diff == 0 and self.detail == SAME_VALUES

    @property
    def line(self) -> str:
        extra = f" ({self.detail})" if self.detail else ""
        return (
            f"{self.name}: {self.count}/{self.total} elements differ, largest difference {self.max_abs_diff:.3g}{extra}"
        )


def mismatch(name: str, expected: torch.Tensor, actual: torch.Tensor) -> Mismatch | None:
    """None when the tensors are bit-identical (same dtype, shape, values; NaN equals NaN), else a summary."""
    actual = actual.to(expected.device)
    if expected.shape != actual.shape:
        return Mismatch(
            name,
            expected.numel(),
            expected.numel(),
            math.inf,
            f"shape {tuple(expected.shape)} vs {tuple(actual.shape)}",
        )
    detail = f"dtype {expected.dtype} vs {actual.dtype}" if expected.dtype != actual.dtype else ""
    if not detail and _bits(expected).equal(_bits(actual)):
        return None
    e, a = _f64(expected), _f64(actual)
    same = (e == a) | (e.isnan() & a.isnan())
    count = int((~same).sum().item())
    if count == 0 and not detail:  # equal values, different bits: -0.0 vs 0.0 or NaN payloads
        count = int((_bits(expected) != _bits(actual)).sum().item())
        return Mismatch(name, count, expected.numel(), 0.0, SAME_VALUES)
    diffs = (e - a).abs()[~same]
    largest = float(diffs.nan_to_num(nan=math.inf).max().item()) if diffs.numel() else 0.0
    return Mismatch(name, count, expected.numel(), largest, detail)


def _bits(tensor: torch.Tensor) -> torch.Tensor:
    """The raw bits, so that bit-exact means bit-exact (NaN payloads, signed zeros)."""
    t = tensor.detach().contiguous().reshape(-1)  # a 0-dim tensor cannot be viewed as bytes
    if t.dtype.is_floating_point or t.dtype.is_complex:
        return t.view(torch.uint8)
    return t


def plain_tensors(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Tensor subclasses (torchao's, quanto's) replaced by their inner tensors, named ``name.inner``: a subclass
    need not implement the byte views a bit-for-bit comparison takes."""
    plain: dict[str, torch.Tensor] = {}
    for name, tensor in tensors.items():
        inner = _inner_names(tensor)
        if inner:
            plain.update(plain_tensors({f"{name}.{n}": getattr(tensor, n) for n in inner}))
        else:
            plain[name] = tensor
    return plain


def _inner_names(tensor: torch.Tensor) -> list[str]:
    """The inner tensors' names of a tensor subclass, empty for a plain tensor (or one that cannot say)."""
    if not hasattr(type(tensor), "__tensor_flatten__"):
        return []
    try:
        names, _ = tensor.__tensor_flatten__()
    except Exception:
        return []
    return list(names)


def compare_stored(expected: dict[str, torch.Tensor], actual: dict[str, torch.Tensor]) -> list[Mismatch]:
    """Every stored tensor that differs, missing or unexpected, by name."""
    found = []
    for name in sorted(set(expected) | set(actual)):
        if name not in actual:
            found.append(Mismatch(name, expected[name].numel(), expected[name].numel(), math.inf, "missing"))
        elif name not in expected:
            found.append(Mismatch(name, actual[name].numel(), actual[name].numel(), math.inf, "unexpected"))
        elif (m := mismatch(name, expected[name], actual[name])) is not None:
            found.append(m)
    return found


def summary(mismatches: list[Mismatch]) -> dict[str, float | int]:
    """Figures for the report: how many tensors and elements differ, and the largest difference."""
    return {
        "mismatched_tensors": len(mismatches),
        "mismatched_elements": sum(m.count for m in mismatches),
        "largest_difference": max((m.max_abs_diff for m in mismatches), default=0.0),
    }


def non_finite(tensors: dict[str, torch.Tensor]) -> list[str]:
    """Names of floating tensors holding NaN or infinity, with counts (empty when all are finite)."""
    bad = []
    for name, tensor in tensors.items():
        if tensor.dtype.is_floating_point and tensor.numel():
            count = int((~torch.isfinite(tensor.detach().to(torch.float32))).sum().item())
            if count:
                bad.append(f"{name}: {count}/{tensor.numel()} non-finite values")
    return bad


def rel_error_bound(spec: Any, config: Any) -> float:
    """The spec's relative Frobenius bound for this config (a number, or a function of the config)."""
    bound = spec.promises.tolerances.rel_error
    return float(bound(config)) if callable(bound) else float(bound)


def drift_bound(spec: Any, config: Any) -> float:
    """How far a tiny model's logits may drift from full precision: the spec's ``logits_drift``, else
    twice its weight error bound."""
    declared = spec.promises.tolerances.logits_drift
    return 2 * rel_error_bound(spec, config) if declared is None else float(declared)


@dataclass(frozen=True)
class Disagreement:
    """How two quantizations of one weight compare, against the level they promise (``AcrossDevices``)."""

    mismatches: list[Mismatch]
    gap: float  # relative Frobenius distance between the two dequantized weights
    error: float  # the first quantization's relative error against the weight
    other_error: float  # the second's
    lines: list[str]  # empty when the promise holds

    def figures(self) -> dict[str, float | int]:
        share = self.gap / self.error if self.error else (0.0 if self.gap == 0 else math.inf)
        return {
            **summary(self.mismatches),
            "gap_share_of_error": share,
            "error_first": self.error,
            "error_second": self.other_error,
        }


def disagreement(
    level: str,
    weight: torch.Tensor,
    stored: tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]],
    dequantized: tuple[torch.Tensor, torch.Tensor],
    bound: float = math.inf,
) -> Disagreement:
    """Compare two quantizations of ``weight`` (stored tensors and dequantized weights, first then second)
    under the promise ``level``: exact, rounding or search (see ``AcrossDevices``). ``bound`` is the method's
    error bound for the config: errors under ``FLOOR_SHARE`` of it count as equally good. NaN and infinity
    must sit at the same places in both; the rest is compared on the finite elements."""
    from qconform.specs.model import EXACT, FLOOR_SHARE, ROUNDING, ROUNDING_SHARE, SEARCH_SHARE

    first, second = (_f64(t).cpu() for t in dequantized)
    reference = _f64(weight).cpu()
    mismatches = compare_stored(*stored)
    apart = int((first.isfinite() != second.isfinite()).sum())
    finite = first.isfinite() & second.isfinite()
    first, second, reference = first[finite], second[finite], reference[finite]
    gap = rel_frobenius(first, second)
    error, other_error = rel_frobenius(reference, first), rel_frobenius(reference, second)
    floor = FLOOR_SHARE * bound if math.isfinite(bound) else 0.0
    if level == EXACT:
        lines = [m.line for m in mismatches if not m.same_values]
    elif apart:
        lines = [f"{apart} dequantized values are finite in one quantization and not in the other"]
    elif level == ROUNDING:
        allowed = ROUNDING_SHARE * max(error, floor)
        lines = (
            []
            if gap <= allowed
            else [
                f"dequantized weights {gap:.3g} apart (relative), above {ROUNDING_SHARE} x the quantization error "
                f"{error:.3g}: more than rounding differences ({'; '.join(m.line for m in mismatches[:3])})"
            ]
        )
    else:
        allowed = SEARCH_SHARE * max(error, other_error, floor)
        lines = (
            []
            if abs(other_error - error) <= allowed
            else [
                f"quantization error {other_error:.4g} against {error:.4g}: not the same quality "
                f"(at most {SEARCH_SHARE:.0%} apart for a searching method)"
            ]
        )
    return Disagreement(mismatches, gap, error, other_error, lines)
