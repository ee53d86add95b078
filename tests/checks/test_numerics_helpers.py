"""The metrics and weight recipes the numerics checks rely on: exact where they must be exact."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from qconform.inputs.weights import DTYPES, KINDS, SCALES, WeightCase, input_cases, weight_cases
from qconform.specs.model import EXACT, ROUNDING, ROUNDING_SHARE, SEARCH, AcrossDevices, weaker
from qconform.support.metrics import (
    compare_stored,
    disagreement,
    max_block_error,
    mismatch,
    non_finite,
    plain_tensors,
    rel_frobenius,
    summary,
)


def test_rel_frobenius_zero_reference():
    zero = torch.zeros(4, 4)
    assert rel_frobenius(zero, zero) == 0.0
    assert rel_frobenius(zero, torch.full((4, 4), 1e-30)) == math.inf


def test_rel_frobenius_scales():
    w = torch.randn(8, 8, generator=torch.Generator().manual_seed(0))
    assert rel_frobenius(w, w * 1.01) == pytest.approx(0.01, rel=1e-6)


def test_max_block_error_is_per_row():
    w = torch.tensor([[1.0, 0.5], [100.0, 0.0]])
    approx = w + torch.tensor([[0.1, 0.0], [0.0, 1.0]])
    assert max_block_error(w, approx) == pytest.approx(0.1)
    assert max_block_error(torch.zeros(2, 2), torch.tensor([[0.0, 0.0], [0.0, 1e-9]])) == math.inf


def test_mismatch_is_bitwise():
    a = torch.tensor([0.0, float("nan"), 1.0])
    assert mismatch("t", a, a.clone()) is None
    signed = mismatch("t", a, torch.tensor([-0.0, float("nan"), 1.0]))
    assert signed is not None and signed.count == 1 and "bit patterns" in signed.detail
    off = mismatch("t", a, torch.tensor([0.0, float("nan"), 1.5]))
    assert off is not None and off.count == 1 and off.max_abs_diff == pytest.approx(0.5)
    assert "dtype" in mismatch("t", a, a.double()).detail
    assert "shape" in mismatch("t", a, a[:2]).detail


def test_compare_stored_names_missing_and_unexpected():
    found = compare_stored({"a": torch.ones(2), "b": torch.ones(2)}, {"a": torch.ones(2), "c": torch.ones(2)})
    assert [(m.name, m.detail) for m in found] == [("b", "missing"), ("c", "unexpected")]
    assert summary(found)["mismatched_tensors"] == 2


def test_non_finite_reads_fp8():
    codes = torch.tensor([1.0, float("nan")]).to(torch.float8_e4m3fn)
    assert non_finite({"codes": codes, "ok": torch.ones(3)}) == ["codes: 1/2 non-finite values"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", sorted(DTYPES))
@pytest.mark.parametrize("scale", sorted(SCALES))
def test_weight_recipes_are_finite_and_reproducible(kind, dtype, scale):
    case = WeightCase((130, 200), dtype, kind, scale, seed=3)
    w = case.make()
    assert w.dtype == DTYPES[dtype] and tuple(w.shape) == (130, 200)
    assert bool(torch.isfinite(w).all())
    assert torch.equal(w, case.make())


def test_hostile_kinds_have_their_structure():
    zero_blocks = WeightCase((256, 256), "float32", "zero_blocks", "unit", 0).make()
    tiles = zero_blocks.reshape(2, 128, 2, 128).abs().amax(dim=(1, 3))
    assert (tiles == 0).any()
    constant = WeightCase((256, 256), "float32", "constant_blocks", "unit", 0).make()
    tiles = constant.reshape(2, 128, 2, 128)
    assert any(tiles[r, :, c, :].unique().numel() == 1 for r in range(2) for c in range(2))
    assert (WeightCase((64, 64), "float32", "zero_rows", "unit", 0).make().abs().sum(1) == 0).any()


@settings(max_examples=20, deadline=None)
@given(weight=weight_cases(), x=input_cases())
def test_strategies_draw_finite_tensors(weight, x):
    w = weight.make()
    assert bool(torch.isfinite(w).all())
    assert bool(torch.isfinite(x.make(w.shape[1], w.dtype)).all())


@given(st.data())
@settings(max_examples=5, deadline=None)
def test_weight_case_repr_is_short(data):
    assert len(repr(data.draw(weight_cases()))) < 120


def _int8_rows(weight: torch.Tensor, scale: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """A row-wise int8 quantization with the given scales: (stored, dequantized)."""
    codes = torch.round(weight / scale).clamp(-127, 127).to(torch.int8)
    return {"weight": codes, "scale": scale}, codes.float() * scale


WEIGHT = torch.randn(64, 64, generator=torch.Generator().manual_seed(1))
SCALE = WEIGHT.abs().amax(dim=1, keepdim=True) / 127


def test_exact_ignores_only_the_sign_of_zero():
    stored, approx = _int8_rows(WEIGHT, SCALE)
    signed = {**stored, "zero": torch.tensor([-0.0])}
    assert not disagreement(EXACT, WEIGHT, ({**stored, "zero": torch.tensor([0.0])}, signed), (approx, approx)).lines
    nudged = {**stored, "scale": torch.nextafter(SCALE, torch.tensor(1.0))}
    assert disagreement(EXACT, WEIGHT, (stored, nudged), (approx, approx)).lines


def test_rounding_allows_an_ulp_of_scale_but_not_a_step_everywhere():
    stored, approx = _int8_rows(WEIGHT, SCALE)
    ulp_stored, ulp_approx = _int8_rows(WEIGHT, torch.nextafter(SCALE, torch.tensor(1.0)))
    close = disagreement(ROUNDING, WEIGHT, (stored, ulp_stored), (approx, ulp_approx))
    assert not close.lines and close.figures()["gap_share_of_error"] < ROUNDING_SHARE
    stepped = stored["weight"].float() - torch.sign(stored["weight"].float())  # every code one step toward zero
    far = disagreement(ROUNDING, WEIGHT, (stored, {**stored, "weight": stepped}), (approx, stepped * SCALE))
    assert far.lines and far.figures()["gap_share_of_error"] > 1


def test_search_promises_the_same_quality_only():
    stored, approx = _int8_rows(WEIGHT, SCALE)
    other_stored, other = _int8_rows(WEIGHT, SCALE * 1.01)  # other codes, about the same error
    same = disagreement(SEARCH, WEIGHT, (stored, other_stored), (approx, other))
    assert same.mismatches and not same.lines
    worse_stored, worse = _int8_rows(WEIGHT, SCALE * 4)  # coarser: four times the error
    assert disagreement(SEARCH, WEIGHT, (stored, worse_stored), (approx, worse)).lines


def test_weaker_orders_the_promises():
    assert weaker(EXACT, ROUNDING) == ROUNDING and weaker(SEARCH, EXACT) == SEARCH and weaker(EXACT) == EXACT
    with pytest.raises(ValueError, match="reason and evidence"):
        AcrossDevices(ROUNDING)


def test_plain_tensors_opens_tensor_subclasses():
    torchao = pytest.importorskip("torchao.quantization")
    weight = torchao.Int8Tensor.from_hp(WEIGHT, torchao.PerRow())
    plain = plain_tensors({"w": torch.nn.Parameter(weight, requires_grad=False), "b": WEIGHT[0]})
    assert {"w.qdata", "w.scale", "b"} <= set(plain) and all(type(t) is torch.Tensor for t in plain.values())
    assert not compare_stored(plain, plain_tensors({"w": weight, "b": WEIGHT[0]}))


def test_non_finite_values_must_sit_at_the_same_places():
    stored, approx = _int8_rows(WEIGHT, SCALE)
    broken = approx.clone()
    broken[0, 0] = math.nan
    both = broken.clone()
    assert not disagreement(SEARCH, WEIGHT, (stored, stored), (broken, both)).lines
    assert disagreement(SEARCH, WEIGHT, (stored, stored), (approx, broken)).lines
    assert disagreement(ROUNDING, WEIGHT, (stored, stored), (approx, broken)).lines


def test_errors_far_under_the_bound_count_as_equal():
    exact, almost = WEIGHT.clone(), WEIGHT * (1 + 1e-5)  # errors 0 and 1e-5: both perfect for a 0.1 bound
    assert disagreement(SEARCH, WEIGHT, ({}, {}), (exact, almost), bound=0.1).lines == []
    assert disagreement(SEARCH, WEIGHT, ({}, {}), (exact, almost)).lines
    assert disagreement(ROUNDING, WEIGHT, ({}, {}), (exact, almost), bound=0.1).lines == []
