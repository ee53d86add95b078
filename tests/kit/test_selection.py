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


def test_builtin_dispatch_keys_read_from_source_are_the_dispatch():
    from transformers.quantizers.auto import AUTO_QUANTIZER_MAPPING

    from qconform.discovery.selection import builtin_dispatch_keys

    own = {key for key, cls in AUTO_QUANTIZER_MAPPING.items() if cls.__module__.startswith("transformers.")}
    assert builtin_dispatch_keys() == own  # other tests of this process registered more


class _Config:
    def __init__(self, values, workers, worker=False):
        self.option = type("Option", (), {"numprocesses": workers})()
        self._values = values
        if worker:
            self.workerinput = {}

    def getoption(self, name):
        assert name == "quantizer"
        return self._values


@pytest.mark.parametrize(
    ("values", "workers", "plugins", "worker", "expected"),
    [
        (["gptq,bitsandbytes_4bit"], 2, [], False, ["gptq", "bitsandbytes_4bit"]),
        (["gptq"], 0, [], False, None),  # no xdist: this process runs the checks
        (["gptq"], 2, [], True, None),  # a worker discovers
        (["gptq"], 2, ["my_plugin"], False, None),  # a plugin may register anything
        (["all"], 2, [], False, ["all"]),  # a group is never a wrong name: the workers resolve it
        (["ref-gptq"], 2, [], False, None),  # twins enter through entry points
        (["bitsandbytes_4bits"], 2, [], False, None),  # a wrong name is a usage error from the controller
    ],
)
def test_a_controller_defers_discovery_only_for_builtin_keys_and_groups(values, workers, plugins, worker, expected):
    from qconform.session.hooks import _keys_for_workers

    assert _keys_for_workers(_Config(values, workers, worker), plugins) == expected
