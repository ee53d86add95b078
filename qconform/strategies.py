"""Hypothesis strategies shared by specs and checks: small composable functions, like hypothesis' own.

Specs compose these into config strategies; checks draw weights, dtypes and device maps from them.
"""

from __future__ import annotations

from hypothesis import strategies as st

MODULE_NAMES = ("lm_head", "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "fc1", "fc2")


def optional(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.none() | strategy


def dtype_names(*names: str) -> st.SearchStrategy[str]:
    return st.sampled_from(names or ("float16", "bfloat16", "float32"))


def skip_lists(names: tuple[str, ...] = MODULE_NAMES) -> st.SearchStrategy[list[str] | None]:
    """``modules_to_not_convert``-style lists: None, or a few distinct module names, order kept."""
    return optional(st.lists(st.sampled_from(names), unique=True, max_size=3))


def powers_of_two(low: int, high: int) -> st.SearchStrategy[int]:
    exponents = range(low.bit_length() - 1, high.bit_length())
    return st.sampled_from([2**e for e in exponents if low <= 2**e <= high])
