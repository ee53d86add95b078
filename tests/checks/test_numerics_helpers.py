"""The metrics and weight recipes the numerics checks rely on: exact where they must be exact."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from qconform.numerics import all_finite, compare_stored, max_block_error, mismatch, rel_frobenius, summary
from qconform.weights import DTYPES, KINDS, SCALES, WeightCase, input_cases, weight_cases


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


def test_all_finite_reads_fp8():
    codes = torch.tensor([1.0, float("nan")]).to(torch.float8_e4m3fn)
    assert all_finite({"codes": codes, "ok": torch.ones(3)}) == ["codes: 1/2 non-finite values"]


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
