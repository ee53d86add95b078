"""Config round trip: what ``save_pretrained`` writes to config.json, ``from_pretrained`` reads back.

``to_dict`` -> JSON text -> ``AutoQuantizationConfig.from_dict`` must give the same class and the
same dictionary, with values of the same types, and a second trip must change nothing. Comparing dicts with
dicts misses a ``to_dict`` that leaves an argument out (dict -> config -> dict is then stable): the config
must also keep, attribute by attribute, every argument it was built with.
"""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qconform.inputs.configs import (
    argument_changes,
    draw_built,
    draw_config,
    round_trip,
    stored_arguments,
    unsaved_loading_attributes,
)
from qconform.inputs.inferred import wrong_type_arguments
from qconform.support import outcomes
from qconform.support.assertions import expect
from qconform.support.compare import differences, json_round_trip
from qconform.support.outcomes import NOT_INSTALLED


@given(data=st.data())
def test_to_dict_is_json(target, data):
    config = draw_config(data, target.spec)
    try:
        json.dumps(config.to_dict(), allow_nan=False)
    except (TypeError, ValueError) as exc:
        expect(False, f"{type(config).__name__}.to_dict() is not plain JSON", [str(exc)])


@given(data=st.data())
def test_round_trip_same_class_and_dict(target, data):
    config = draw_config(data, target.spec)
    before = json_round_trip(config.to_dict())
    again = round_trip(config)
    expect(
        type(again) is type(config),
        "AutoQuantizationConfig.from_dict(to_dict()) gives another class",
        [f"{type(config).__name__} -> {type(again).__name__}"],
    )
    changes = differences(before, json_round_trip(again.to_dict()))
    expect(not changes, f"{type(config).__name__}: to_dict -> JSON -> from_dict changed the config", changes)


@given(data=st.data())
def test_round_trip_keeps_types(target, data):
    config = draw_config(data, target.spec)
    before = config.to_dict()
    after = round_trip(config).to_dict()
    changes = [line for line in differences(before, after) if ": type " in line]
    expect(not changes, f"{type(config).__name__}: values change type through config.json", changes)


@given(data=st.data())
def test_round_trip_idempotent(target, data):
    config = draw_config(data, target.spec)
    once = round_trip(config)
    twice = round_trip(once)
    changes = differences(once.to_dict(), twice.to_dict())
    expect(not changes, f"{type(config).__name__}: a second round trip changed the config", changes)


def _shown(arguments: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in arguments.items()) or "no arguments"


@given(data=st.data())
def test_round_trip_keeps_every_argument(target, data):
    """Every constructor argument survives to_dict -> JSON -> from_dict and to_json_string -> from_dict, compared
    attribute by attribute with what the constructor stored (not dict with dict). The full text
    (``use_diff=False``) is what a model's config.json holds: ``PretrainedConfig.to_diff_dict`` writes the
    quantization config's ``to_dict()`` whole (transformers/configuration_utils.py, to_diff_dict). Loading
    attributes that to_dict leaves out are load-time choices and exempt (``unsaved_loading_attributes``)."""
    built = draw_built(data, target.spec)
    config, cls = built.config, type(built.config)
    stored = stored_arguments(config)
    if not stored:
        pytest.skip(f"{cls.__name__} stores no constructor argument under its own name: nothing to compare")
    exempt = unsaved_loading_attributes(target.spec, config)
    trips = {
        "to_dict -> JSON -> from_dict": lambda: round_trip(config),
        "to_json_string -> from_dict": lambda: cls.from_dict(json.loads(config.to_json_string(use_diff=False))),
    }
    for path, trip in trips.items():
        changes = argument_changes(stored, trip(), ignore=exempt)
        expect(
            not changes,
            f"{cls.__name__}: {path} lost or changed constructor arguments",
            changes,
            hint=f"built with {_shown(built.arguments)}",
        )


@given(data=st.data())
def test_to_json_string_parses(target, data):
    config = draw_config(data, target.spec)
    for use_diff in (True, False):
        text = config.to_json_string(use_diff=use_diff)
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            expect(False, f"to_json_string(use_diff={use_diff}) is not JSON", [str(exc), text[:200]])
        expect(isinstance(parsed, dict), f"to_json_string(use_diff={use_diff}) is not a JSON object")
    full = json.loads(config.to_json_string(use_diff=False))
    changes = differences(json_round_trip(config.to_dict()), full)
    expect(not changes, "to_json_string(use_diff=False) disagrees with to_dict()", changes)


@given(data=st.data())
def test_invalid_config_refused(target, data):
    """The config class refuses invalid arguments (ValueError or TypeError naming the field): the spec's cases, or
    where it gives none, a value of the wrong type for one annotated or defaulted scalar argument (a "4" for an
    int, a "false" for a bool, which is truthy and would silently switch the flag on)."""
    strategy = target.spec.inputs.invalid_configs()
    if strategy is None:
        strategy = wrong_type_arguments(target.config_class)
    if strategy is None:
        pytest.skip(f"{target.key} declares no invalid configs and its config class has no typed scalar argument")
    case = data.draw(strategy, label="invalid config")
    config_class = target.config_class
    try:
        config = config_class(**copy.deepcopy(case.kwargs))
    except (ValueError, TypeError) as exc:
        expect(
            names_field(str(exc), case.field),
            f"{config_class.__name__} refused {case.kwargs!r}, but its message does not name {case.field!r}",
            [f"{type(exc).__name__}: {exc}"],
        )
        return
    except ImportError as exc:  # the config class itself imports its backend: nothing to judge here
        pytest.skip(outcomes.reason(NOT_INSTALLED, f"the config needs a package missing here: {exc}"))
    except Exception as exc:
        expect(
            False,
            f"{config_class.__name__} refused {case.kwargs!r} with {type(exc).__name__}, not ValueError/TypeError",
            [str(exc)],
        )
    expect(
        False, f"{config_class.__name__} accepted {case.kwargs!r}, which is invalid for {case.field!r}", [repr(config)]
    )


def names_field(message: str, field: str) -> bool:
    """The message names the field: its name, or all of its words (``quant_type`` ~ "quantization type")."""
    text = message.lower()
    words = [w for w in field.lower().split("_") if w]
    return field.lower() in text or all(w in text for w in words)
