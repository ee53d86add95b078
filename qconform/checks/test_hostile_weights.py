"""Hostile weights through the whole model path: planted rows meet every quantize-on-load path, no codec needed.

The hostile tiny checkpoints (``qconform.inputs.tiny_models.HOSTILE_ROWS``: all-zero rows, blocks, a group
and a tile, a constant row, one huge outlier, a subnormal-range row, a row near float16's max) load through
``from_pretrained`` with the method's default config, in the model's own dtype and in float16. What each
quantized Linear computes is read from its forward (``qconform.support.effective_weights``), and from
``dequantize()`` too where the method is dequantizable. Contract: finite logits wherever the full-precision
hostile model's are (same dtype), planted zeros read back exactly zero, and every row's error within the
spec's bound. A method that only loads pre-quantized checkpoints is skipped: its writer takes no hostile input.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch

from qconform.inputs.configs import build
from qconform.inputs.tiny_models import exact_zero_mask, planted_kinds, row_kinds
from qconform.support import lifecycle
from qconform.support.assertions import expect
from qconform.support.effective_weights import dequantized_weights, effective_weights
from qconform.support.lifecycle import QUANTIZED
from qconform.support.metrics import rel_error_bound

# the model's own dtype (what update_dtype picks), and float16, where max - min of the near-max row overflows
DTYPES = {"model_dtype": None, "float16": torch.float16}
per_dtype = pytest.mark.parametrize("dtype", list(DTYPES))
FORWARD, DEQUANTIZE = "forward", "dequantize()"


@dataclass
class Hostile:
    """One quantized hostile model, read once per process: logits, reference weights and readings."""

    dtype: torch.dtype  # what the quantized model computes in
    names: list[str]  # its quantized Linears
    logits: torch.Tensor
    reference_logits: torch.Tensor  # the full-precision hostile model in the same dtype
    weights: dict[str, torch.Tensor]  # the hostile checkpoint's weights in that dtype (float64 on the CPU)
    readings: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)  # reading -> module -> weight
    seconds: float = 0.0


_LOADED: dict[tuple[str, str, str, str], Hostile] = {}  # computed state (never records): models load once


def hostile(target: Any, device: str, arch: str, dtype: str, dequantize: bool = False) -> Hostile:
    """The target's hostile model of ``arch`` in ``dtype``; ``dequantize`` adds the ``dequantize()`` reading."""
    key = (target.key, device, arch, dtype)
    if key not in _LOADED:
        start = time.perf_counter()
        spec = target.spec
        config = build(spec.inputs.default_config, spec)
        model = lifecycle.load(spec, config, device, arch, DTYPES[dtype], hostile=True)
        names = [n for n, s in lifecycle.states(model, arch).items() if s == QUANTIZED]
        if not names:
            pytest.skip(f"the default config of {target.key} quantized no Linear of the tiny {arch} model")
        reference = lifecycle.full_precision(arch, device, model.dtype, hostile=True)
        weights = {n: reference.get_submodule(n).weight.detach().to(torch.float64).cpu() for n in names}
        found = Hostile(model.dtype, names, lifecycle.logits(model, arch), lifecycle.logits(reference, arch), weights)
        found.readings[FORWARD] = effective_weights(model, names)
        found.seconds = time.perf_counter() - start
        _LOADED[key] = found
    found = _LOADED[key]
    if dequantize and DEQUANTIZE not in found.readings and target.spec.promises.capabilities.dequantizable:
        start = time.perf_counter()
        config = build(target.spec.inputs.default_config, target.spec)
        model = lifecycle.load(target.spec, config, device, arch, DTYPES[dtype], hostile=True)
        found.readings[DEQUANTIZE] = dequantized_weights(model, found.names)
        found.seconds += time.perf_counter() - start
    return found


def _rows(kinds: list[str], rows: torch.Tensor) -> str:
    """Row indices with their planted kinds: "0 (zero_row), 6 (subnormal)", at most eight."""
    listed = [f"{r} ({kinds[r]})" for r in rows.tolist()[:8]]
    return ", ".join(listed) + (f" and {len(rows) - 8} more" if len(rows) > 8 else "")


@pytest.mark.qconform_backend
@pytest.mark.qconform_requires("quantizes_on_the_fly")
@per_dtype
def test_hostile_rows_give_finite_outputs(target, device, arch, dtype, measure):
    """Finite weights give finite results: the quantized hostile model's logits are finite wherever the
    full-precision hostile model's (same dtype) are, and every quantized Linear's effective weight is finite."""
    found = hostile(target, device, arch, dtype)
    where = torch.isfinite(found.reference_logits)
    bad_logits = int((where & ~torch.isfinite(found.logits)).sum())
    problems = [f"logits: {bad_logits}/{int(where.sum())} non-finite where full precision is finite"] * bool(bad_logits)
    bad_rows = 0
    for name, weight in found.readings[FORWARD].items():
        rows = (~torch.isfinite(weight)).any(dim=1).nonzero().flatten()
        bad_rows += len(rows)
        if len(rows):
            kinds = row_kinds(tuple(weight.shape), planted_kinds(arch, name))
            problems.append(f"{name}: non-finite effective weight in rows {_rows(kinds, rows)}")
    measure(
        compute_dtype=str(found.dtype),
        nonfinite_logits=bad_logits,
        nonfinite_rows=bad_rows,
        modules=len(found.names),
        load_seconds=found.seconds,
    )
    expect(not problems, f"finite hostile weights ({arch}, {found.dtype}) give NaN or inf", problems)


@pytest.mark.qconform_backend
@pytest.mark.qconform_requires("quantizes_on_the_fly")
@per_dtype
def test_zero_rows_stay_zero(target, device, arch, dtype, measure):
    """Planted zeros that fill whole scale groups (all-zero rows; the zero block's aligned groups of 128
    columns where a Linear has 256) read back exactly zero, from the forward and, where the method is
    dequantizable, from ``dequantize()``. Zeros sharing a group with nonzero values (the group of 32, the
    64x64 tile) are held by the per-row bound instead (``tiny_models.exact_zero_mask`` says why)."""
    found = hostile(target, device, arch, dtype, dequantize=True)
    problems, largest = [], 0.0
    for reading, weights in found.readings.items():
        for name, weight in weights.items():
            mask = exact_zero_mask(tuple(weight.shape))
            wrong = mask & (weight != 0)
            if not bool(wrong.any()):
                continue
            values = weight[wrong]
            finite = values[torch.isfinite(values)].abs()
            peak = float(finite.max()) if finite.numel() else 0.0
            largest = max(largest, peak)
            kinds = row_kinds(tuple(weight.shape), planted_kinds(arch, name))
            rows = wrong.any(dim=1).nonzero().flatten()
            problems.append(
                f"{reading} of {name}: {int(wrong.sum())}/{int(mask.sum())} planted zeros read back nonzero "
                f"({values.numel() - finite.numel()} NaN or inf, largest finite |value| {peak:.3g}) "
                f"in rows {_rows(kinds, rows)}"
            )
    measure(readings=sorted(found.readings), largest_nonzero=largest, modules=len(found.names))
    expect(not problems, f"planted zeros do not stay zero ({arch}, {found.dtype})", problems)


@pytest.mark.qconform_backend
@pytest.mark.qconform_requires("quantizes_on_the_fly")
@per_dtype
def test_error_within_bound_per_row(target, device, arch, dtype, measure):
    """Every row of every quantized Linear stays within the spec's relative error bound B, not only the
    tensor: ``||read_r - w_r|| <= B * ||w_r||``. One exception, where a format legitimately loses a row: a row
    whose peak sits under B x the tensor's peak (the subnormal row; ordinary rows beside the last layer's
    outlier and near-max row) may lose all its values, as a format with one scale per tensor or tile does
    (its step, which the bound allows to be about B x the peak, flushes them), but not err by more than
    its own norm: rounding to the nearest level with zero among the levels never does. Rows a reading made
    non-finite are the finite check's finding and are left out here."""
    found = hostile(target, device, arch, dtype, dequantize=True)
    config = build(target.spec.inputs.default_config, target.spec)
    bound = rel_error_bound(target.spec, config)
    problems, share, by_kind, small_rows = [], 0.0, {}, 0
    for reading, weights in found.readings.items():
        for name, read in weights.items():
            ref = found.weights[name]
            kinds = row_kinds(tuple(ref.shape), planted_kinds(arch, name))
            norms, errors = ref.norm(dim=1), (read - ref).norm(dim=1)
            small = ref.abs().amax(dim=1) <= bound * ref.abs().max()
            allowed = torch.where(small, torch.maximum(norms, bound * norms), bound * norms)
            small_rows += int(small.sum())
            finite = torch.isfinite(errors)
            for row in finite.nonzero().flatten().tolist():
                if norms[row] > 0:
                    share = max(share, float(errors[row] / allowed[row]))
                    if not small[row]:  # rows held to B: the figures a method is compared by
                        by_kind[kinds[row]] = max(by_kind.get(kinds[row], 0.0), float(errors[row] / norms[row]))
            over = (finite & (errors > allowed)).nonzero().flatten()
            if len(over):
                worst = int(over[torch.argmax(errors[over] / allowed[over].clamp(min=1e-300))])
                problems.append(
                    f"{reading} of {name}: rows {_rows(kinds, over)} over the bound; worst row {worst} "
                    f"({kinds[worst]}): error {float(errors[worst]):.3g}, allowed {float(allowed[worst]):.3g} "
                    f"(row norm {float(norms[worst]):.3g})"
                )
    figures = {f"rel_error_{kind}": value for kind, value in sorted(by_kind.items())}
    measure(bound=bound, worst_share_of_bound=share, small_rows=small_rows, **figures)
    expect(not problems, f"rows exceed the relative error bound {bound:.3g} ({arch}, {found.dtype})", problems)
