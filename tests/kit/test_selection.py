"""--quantizer values: comma lists, repeats, groups, and unknown names with suggestions."""

from __future__ import annotations

import pytest

from qconform.discovery.selection import SelectionError, select, selected_by, split_values
from qconform.discovery.targets import Target
from qconform.specs.model import minimal_spec


def fake(key: str, origin: str) -> Target:
    return Target(key, object, dict, origin, minimal_spec(key, dict))  # type: ignore[arg-type]


TARGETS = {
    t.key: t
    for t in [
        fake("bitsandbytes_4bit", "transformers"),
        fake("bitsandbytes_8bit", "transformers"),
        fake("gptq", "transformers"),
        fake("ref-gptq", "reference"),
        fake("mine", "plugin"),
    ]
}


def test_split_values_accepts_repeats_and_commas_in_order():
    assert split_values(["gptq,ref-gptq", " gptq ", "mine,"]) == ["gptq", "ref-gptq", "mine"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["all"], sorted(TARGETS)),
        (["reference"], ["ref-gptq"]),
        (["plugin"], ["mine"]),
        (["transformers", "mine"], ["bitsandbytes_4bit", "bitsandbytes_8bit", "gptq", "mine"]),
        (["gptq,ref-gptq"], ["gptq", "ref-gptq"]),
    ],
)
def test_select_groups_and_names(values, expected):
    assert [t.key for t in select(values, TARGETS)] == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["all"], sorted(TARGETS)),
        (["reference"], ["ref-gptq"]),
        (["transformers", "mine"], ["bitsandbytes_4bit", "bitsandbytes_8bit", "gptq", "mine"]),
        (["gptq,ref-gptq"], ["gptq", "ref-gptq"]),
        (["gtpq"], []),  # unknown: chooses nothing to probe; select reports it
    ],
)
def test_selected_by_chooses_what_select_would(values, expected):
    """What discovery probes before the targets exist, from key and origin alone, is what select then picks."""
    chosen = selected_by(values)
    assert sorted(k for k, t in TARGETS.items() if chosen(k, t.origin)) == expected


def test_unknown_name_lists_known_names_and_closest_matches():
    with pytest.raises(SelectionError) as info:
        select(["bitsandbytes_4bits", "zzz"], TARGETS)
    message = str(info.value)
    assert "unknown quantizer 'bitsandbytes_4bits' (did you mean: bitsandbytes_4bit" in message
    assert "unknown quantizer 'zzz'\n" in message
    assert "known quantizers: bitsandbytes_4bit, bitsandbytes_8bit, gptq, mine, ref-gptq" in message


def test_empty_selection_is_an_error():
    with pytest.raises(SelectionError):
        select([" , "], TARGETS)
