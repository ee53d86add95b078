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


# --- device maps and memory budgets --------------------------------------------------------------

TINY_TOP_MODULES = ("model.embed_tokens", "model.layers.0", "model.layers.1", "model.norm", "lm_head")


def places(accelerators: int = 0, disk: bool = True) -> st.SearchStrategy[int | str]:
    """Where a device map may put a module: accelerator indices, ``"cpu"``, and ``"disk"``."""
    choices: list[int | str] = [*range(accelerators), "cpu"]
    if disk:
        choices.append("disk")
    return st.sampled_from(choices)


def device_maps(
    modules: tuple[str, ...] = TINY_TOP_MODULES, where: st.SearchStrategy | None = None
) -> st.SearchStrategy[dict[str, int | str]]:
    """Explicit ``device_map`` dicts: the whole model in one place, or each top module somewhere."""
    where = where if where is not None else places(2)
    whole = st.builds(lambda place: {"": place}, where)
    split = st.fixed_dictionaries({name: where for name in modules})
    return whole | split


def budget(total: int) -> st.SearchStrategy[int]:
    """Bytes for one device, from nothing to twice what the whole model needs, small values likely."""
    fractions = st.sampled_from([0.0, 0.05, 0.1, 0.25, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0]).map(lambda f: int(f * total))
    return fractions | st.integers(0, 2 * max(total, 1))


def max_memory(devices: tuple[int | str, ...], total: int) -> st.SearchStrategy[dict[int | str, int]]:
    """``max_memory`` dicts over ``devices`` (each present), budgets relative to the model's size."""
    return st.fixed_dictionaries({device: budget(total) for device in devices})


def raw_max_memory() -> st.SearchStrategy[dict[int | str, int]]:
    """What ``adjust_max_memory`` receives: integer byte budgets per device, any subset of devices."""
    keys = st.sampled_from([0, 1, 2, 3, "mps", "cpu", "disk"])
    return st.dictionaries(keys, st.integers(0, 2**42), max_size=6)
