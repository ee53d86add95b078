"""Hypothesis strategies of weights and activations, realistic and hostile, for the numerics checks.

A drawn case is a small recipe (shape, dtype, distribution, scale, seed), not a tensor: hypothesis
prints and shrinks the recipe, and ``make(device)`` builds the same tensor on any device (generated
on the CPU with a seeded generator, then moved), so a counterexample reproduces everywhere.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
from hypothesis import reject
from hypothesis import strategies as st

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}

# (out_features, in_features): multiples of 128 (every format's blocks and groups divide them) and
# sizes that are not (partial blocks, odd widths), kept small so that one example costs milliseconds
REGULAR_SHAPES = ((128, 128), (256, 128), (128, 256), (64, 512), (256, 256))
IRREGULAR_SHAPES = ((96, 200), (130, 72), (200, 96), (33, 128), (128, 160), (1, 64), (7, 256))

KINDS = (
    "normal",
    "heavy_tailed",  # Cauchy, clipped at 1000 standard deviations
    "outlier_columns",  # a few input channels 100x larger, as in LLM.int8's observation
    "zero_rows",
    "zero_blocks",  # 128x128 tiles (covering any format's block or group) and a 1x64 segment of zeros
    "constant_blocks",  # 128x128 tiles holding one repeated value
)
TILE = 128
SCALES = {"typical": 0.02, "unit": 1.0, "tiny": 1e-4, "huge": 1e3}


@dataclass(frozen=True)
class WeightCase:
    """A recipe for one weight tensor; ``make`` builds it."""

    shape: tuple[int, int]
    dtype: str
    kind: str
    scale: str
    seed: int

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    def make(self, device: str | torch.device = "cpu") -> torch.Tensor:
        values = _generate(self.shape, self.kind, self.seed) * SCALES[self.scale]
        limit = torch.finfo(self.torch_dtype).max / 8  # finite in the dtype, with headroom for sums of a few
        return values.clamp(-limit, limit).to(self.torch_dtype).to(device)


def _generate(shape: tuple[int, int], kind: str, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    rows, cols = shape
    w = torch.randn(shape, generator=gen, dtype=torch.float32)
    if kind == "heavy_tailed":
        u = torch.rand(shape, generator=gen, dtype=torch.float64)
        w = torch.tan(math.pi * (u - 0.5)).clamp(-1000, 1000).to(torch.float32)
    elif kind == "outlier_columns":
        picks = torch.randperm(cols, generator=gen)[: max(1, cols // 64)]
        w[:, picks] *= 100.0
    elif kind == "zero_rows":
        picks = torch.randperm(rows, generator=gen)[: max(1, rows // 4)]
        w[picks] = 0.0
    elif kind == "zero_blocks":
        for r0, c0 in _tiles(rows, cols, gen):
            w[r0 : r0 + TILE, c0 : c0 + TILE] = 0.0
        w[torch.randint(rows, (1,), generator=gen), : min(64, cols)] = 0.0
    elif kind == "constant_blocks":
        for r0, c0 in _tiles(rows, cols, gen):
            w[r0 : r0 + TILE, c0 : c0 + TILE] = torch.randn((), generator=gen)
    elif kind != "normal":
        raise ValueError(f"unknown weight kind {kind!r}; known: {KINDS}")
    return w


def _tiles(rows: int, cols: int, gen: torch.Generator) -> list[tuple[int, int]]:
    """About a quarter of the TILE x TILE tiles (at least one), chosen by the generator."""
    grid = [(r, c) for r in range(0, rows, TILE) for c in range(0, cols, TILE)]
    order = torch.randperm(len(grid), generator=gen).tolist()
    return [grid[i] for i in order[: max(1, len(grid) // 4)]]


def weight_cases(
    dtypes: tuple[str, ...] = tuple(DTYPES),
    kinds: tuple[str, ...] = KINDS,
    scales: tuple[str, ...] = tuple(SCALES),
    irregular: bool = True,
) -> st.SearchStrategy[WeightCase]:
    """Weights of every distribution, scale and dtype; shapes regular first (hypothesis shrinks toward them)."""
    shapes = REGULAR_SHAPES + (IRREGULAR_SHAPES if irregular else ())
    return st.builds(
        WeightCase,
        shape=st.sampled_from(shapes),
        dtype=st.sampled_from(dtypes),
        kind=st.sampled_from(kinds),
        scale=st.sampled_from(scales),
        seed=st.integers(0, 2**16),
    )


INPUT_KINDS = ("normal", "outlier_channels", "zeros")
INPUT_SCALES = (1.0, 0.01, 30.0)
INPUT_TOKENS = (1, 3, 16)


@dataclass(frozen=True)
class InputCase:
    """A recipe for activations ``(tokens, features)``: normal, with outlier channels (50x), or all zero."""

    tokens: int
    kind: str
    scale: float
    seed: int

    def make(self, features: int, dtype: torch.dtype, device: str | torch.device = "cpu") -> torch.Tensor:
        gen = torch.Generator().manual_seed(self.seed)
        x = torch.randn((self.tokens, features), generator=gen) * self.scale
        if self.kind == "outlier_channels":
            x[:, torch.randperm(features, generator=gen)[: max(1, features // 32)]] *= 50.0
        elif self.kind == "zeros":
            x.zero_()
        elif self.kind != "normal":
            raise ValueError(f"unknown input kind {self.kind!r}; known: {INPUT_KINDS}")
        return x.to(dtype).to(device)


def input_cases() -> st.SearchStrategy[InputCase]:
    return st.builds(
        InputCase,
        tokens=st.sampled_from(INPUT_TOKENS),
        kind=st.sampled_from(INPUT_KINDS),
        scale=st.sampled_from(INPUT_SCALES),
        seed=st.integers(0, 2**16),
    )


def draw_weight(data: st.DataObject, pairs: list[tuple]) -> WeightCase:
    """A weight recipe among the (shape, dtype) pairs given; a config that allows none is rejected."""
    if not pairs:
        reject()
    shape, dtype = data.draw(st.sampled_from(pairs), label="shape, dtype")
    return _draw_recipe(data, shape, dtype)


SHAPES_PER_EXAMPLE = 4  # the first regular shape and three drawn: each shape several times a run, a third of the cost


def draw_weights(data: st.DataObject, pairs: list[tuple]) -> list[WeightCase]:
    """One recipe (dtype, distribution, magnitude, seed) at a few shapes the codecs take in that dtype: the
    first regular one in every example (hypothesis shrinks toward it), and others drawn, regular and not."""
    if not pairs:
        reject()
    dtype = data.draw(st.sampled_from(sorted({d for _, d in pairs}, key=list(DTYPES).index)), label="dtype")
    shapes = [shape for shape, d in pairs if d == dtype]
    others = shapes[1:]
    if others:
        drawn = st.lists(st.sampled_from(others), max_size=SHAPES_PER_EXAMPLE - 1, unique=True)
        others = data.draw(drawn, label="more shapes")
    recipe = _draw_recipe(data, shapes[0], dtype)
    return [dataclasses.replace(recipe, shape=shape) for shape in [shapes[0], *others]]


def _draw_recipe(data: st.DataObject, shape: tuple[int, int], dtype: str) -> WeightCase:
    return data.draw(
        st.builds(
            WeightCase,
            shape=st.just(shape),
            dtype=st.just(dtype),
            kind=st.sampled_from(KINDS),
            scale=st.sampled_from(tuple(SCALES)),
            seed=st.integers(0, 2**16),
        ),
        label="weight",
    )
