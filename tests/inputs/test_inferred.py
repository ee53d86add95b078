"""Configs inferred from a config class: values around the defaults, refusals discarded, wrong types offered."""

from __future__ import annotations

import enum
from typing import Literal

import pytest
from hypothesis import given, settings

from qconform.inputs.inferred import (
    CAP,
    arguments,
    config_arguments,
    float_neighbours,
    inferred_configs,
    inferred_pairs,
    int_neighbours,
    parameters,
    values_around,
    wrong_type_arguments,
    wrong_type_cases,
)

few = settings(max_examples=40, deadline=None)


class Mode(enum.Enum):
    FAST = "fast"
    EXACT = "exact"


class Plain:
    """Every kind of argument the inference distinguishes."""

    def __init__(
        self,
        bits: int = 4,
        group_size: int = 64,
        eps: float = 0.1,
        threshold: float = 6.0,
        sym: bool = True,
        backend: str = "auto",
        scheme: Literal["a", "b", "c"] = "b",
        mode: Mode = Mode.FAST,
        skip: list[str] | None = None,
        axis: int | None = None,
        layout="packed",
        count=3,
        **kwargs,
    ):
        self.__dict__.update({k: v for k, v in locals().items() if k not in ("self", "kwargs")})


class Picky(Plain):
    """Refuses 8 bits, as config classes refuse combinations in post_init."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.bits == 8:
            raise ValueError("bits=8 is not supported")


class OnlyDefaults(Plain):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if kwargs.get("sym") is False or kwargs.get("bits", 4) != 4:
            raise ValueError("only the defaults")


class Required:
    def __init__(self, bits: int, group_size: int = 128):
        self.bits, self.group_size = bits, group_size


def test_int_neighbours_keep_the_character_of_the_default():
    assert int_neighbours(64) == [64, 32, 128]
    assert int_neighbours(3) == [3, 2, 4]
    assert int_neighbours(1) == [1, 2]
    assert int_neighbours(0) == [0, 1]
    assert all(v < 0 for v in int_neighbours(-2))


def test_float_neighbours_stay_near_and_keep_fractions_at_most_one():
    assert float_neighbours(6.0)[0] == 6.0 and all(3.0 <= v <= 7.5 for v in float_neighbours(6.0))
    assert all(0 < v <= 1 for v in float_neighbours(1.0))
    assert float_neighbours(0.0) == [0.0]


@few
@given(kwargs=config_arguments(Plain))
def test_arguments_vary_around_the_defaults(kwargs):
    assert kwargs["bits"] in (4, 2, 8) and kwargs["group_size"] in (64, 32, 128)
    assert kwargs["sym"] in (True, False) and kwargs["scheme"] in ("a", "b", "c") and isinstance(kwargs["mode"], Mode)
    assert 0 < kwargs["eps"] <= 1 and 3.0 <= kwargs["threshold"] <= 7.5
    assert kwargs["count"] in (3, 2, 4)  # unannotated: the default's type says int
    assert kwargs["axis"] in (None, 1, 64)  # int | None = None: unset, or a plain int
    # a plain string, a container and an unannotated string keep their default: they are not passed
    assert not {"backend", "skip", "layout"} & set(kwargs)


class Unset:
    """Arguments that are unset (None) by default, as transformers' configs write optional settings."""

    def __init__(
        self,
        flag: bool | None = None,
        scheme: Literal["a", "b"] | None = None,
        mode: Mode | None = None,
        ratio: float | None = None,
        name: str | None = None,
    ):
        self.__dict__.update({k: v for k, v in locals().items() if k != "self"})


def test_an_unset_argument_is_drawn_unset_or_set():
    """An ``X | None = None`` argument also takes values of X: else a config that drops or resets it never shows
    (a merge that resets ``max_input_length`` to None passed every inferred config)."""
    drawn = {a.name: values_around(a) for a in arguments(Unset)}
    assert drawn["flag"] == [None, True, False] and drawn["scheme"] == [None, "a", "b"]
    assert drawn["mode"] == [None, *Mode] and drawn["ratio"][0] is None and len(drawn["ratio"]) > 1
    assert drawn["name"] == [None]  # a plain string: nothing says which other values are valid
    assert all(a.kind is None for a in arguments(Unset))  # so no wrong-type case and no centre value for them


def test_the_centre_is_the_default():
    centres = {a.name: a.centre for a in arguments(Plain)}
    assert centres["bits"] == 4 and centres["scheme"] == "b" and centres["mode"] is Mode.FAST


def test_a_base_config_moves_the_centre():
    base = Plain(bits=2, sym=False, backend="triton")
    centres = {a.name: a.centre for a in arguments(Plain, base)}
    assert centres["bits"] == 2 and centres["sym"] is False and centres["backend"] == "triton"


@few
@given(pair=inferred_pairs(Picky))
def test_refused_combinations_are_discarded(pair):
    kwargs, config = pair
    assert config.bits != 8
    assert all(getattr(config, k) == v for k, v in kwargs.items())


@few
@given(config=inferred_configs(OnlyDefaults))
def test_after_the_cap_the_defaults_stand_in(config):
    assert config.bits == 4 and config.sym is True


def test_cap_is_small():
    assert 1 <= CAP <= 16


def test_a_required_argument_is_passed_only_when_a_base_says_what():
    assert [a.name for a in arguments(Required)] == ["group_size"]
    with_base = {a.name: a for a in arguments(Required, Required(bits=3))}
    assert with_base["bits"].required and with_base["bits"].centre == 3


@few
@given(pair=inferred_pairs(Required, Required(bits=3)))
def test_required_arguments_build(pair):
    kwargs, config = pair
    assert kwargs["bits"] in (3, 2, 4) and config.bits == kwargs["bits"]


def test_unresolvable_annotations_fall_back_to_the_defaults_type():
    class Forward:
        def __init__(self, quant_type: NotImportedHere = None, bits: int = 4):  # noqa: F821
            self.quant_type, self.bits = quant_type, bits

    found = {a.name: a for a in arguments(Forward)}
    assert found["quant_type"].kind is None and found["bits"].kind is int


def test_wrong_type_cases_give_each_scalar_another_type():
    cases = wrong_type_cases(Plain)
    fields = {c.field for c in cases}
    assert {"bits", "eps", "sym", "backend", "scheme", "mode"} <= fields
    assert not {"skip", "axis"} & fields
    kinds = {a.name: a.kind for a in arguments(Plain)}
    for case in cases:
        value = case.kwargs[case.field]
        assert type(value) is not kinds[case.field]


def test_a_class_with_no_scalar_argument_has_no_wrong_type_cases():
    class Empty:
        def __init__(self, **kwargs):
            pass

    assert wrong_type_arguments(Empty) is None
    assert arguments(Empty) == []


@pytest.mark.parametrize("name", ["SpQRConfig", "HiggsConfig", "AqlmConfig"])
def test_real_configs_build(name):
    import transformers.utils.quantization_config as qc

    cls = getattr(qc, name)

    @settings(max_examples=10, deadline=None)
    @given(pair=inferred_pairs(cls))
    def builds(pair):
        assert isinstance(pair[1], cls)

    builds()


class Forwarding(Plain):
    """Forwards its keyword arguments to its parent, passing ``group_size`` and the first positional itself."""

    def __init__(self, level: int = 2, **kwargs):
        super().__init__(8, group_size=32, **kwargs)
        self.level = level


class Swallowing(Plain):
    """Takes keyword arguments and keeps them from its parent: they are not the parent's parameters."""

    def __init__(self, level: int = 2, **kwargs):
        super().__init__()
        self.level, self.extra = level, kwargs


def test_forwarded_keywords_reach_the_parent_parameters():
    """A subclass written ``def __init__(self, level=2, **kwargs): super().__init__(**kwargs)`` accepts its parent's
    arguments (a config inferred from the subclass's signature alone never varied them); those it passes itself
    are not the user's (passing them again would be refused)."""
    names = [p.name for p in parameters(Forwarding)]
    assert names[0] == "level" and {"eps", "sym", "axis"} <= set(names)
    assert not {"bits", "group_size"} & set(names)
    assert [p.name for p in parameters(Swallowing)] == ["level"]


@few
@given(pair=inferred_pairs(Forwarding))
def test_forwarded_arguments_build(pair):
    kwargs, config = pair
    assert config.bits == 8 and config.group_size == 32
    assert all(getattr(config, k) == v for k, v in kwargs.items())
