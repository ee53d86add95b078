"""The configs a check drew, noted for its record: a tagged JSON form that gives back what it was given."""

from __future__ import annotations

import enum
import json
import math

import pytest
import torch
from transformers import GPTQConfig

from qconform.inputs.recorded import Unrecordable, collecting, decode, encode, note_config
from qconform.specs.model import load_object


class Scheme(enum.Enum):
    FAST = "fast"


class Method(str, enum.Enum):  # as transformers' QuantizationMethod: a str too, which JSON would keep as a str
    GPTQ = "gptq"


ARGUMENTS = {
    "bits": 4,
    "ratio": 0.5,
    "eps": float("nan"),
    "block": (128, 128),
    "skip": ["lm_head"],
    "dtype": torch.float16,
    "scheme": Scheme.FAST,
    "method": Method.GPTQ,
    "subclass_int": True,
    "nested": {"a": (1, 2), "b": None},
}


def _plain(value) -> bool:
    """Only JSON's own types (pytest-xdist's serialiser refuses a str subclass such as a str enum)."""
    if isinstance(value, dict):
        return all(type(k) is str and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return value is None or type(value) in (str, int, float, bool)


def test_encode_is_json_and_decode_gives_back_each_type():
    """A tuple that came back a list, or an enum its value, would reproduce another config than the one drawn."""
    assert _plain(encode(ARGUMENTS)) and not _plain({"m": Method.GPTQ})
    text = json.dumps(encode(ARGUMENTS), allow_nan=False)
    back = decode(json.loads(text))
    assert math.isnan(back.pop("eps"))
    assert back == {k: v for k, v in ARGUMENTS.items() if k != "eps"}
    assert type(back["block"]) is tuple and type(back["skip"]) is list and back["scheme"] is Scheme.FAST
    assert back["method"] is Method.GPTQ and encode(Method.GPTQ) == {"__enum__": f"{__name__}:Method", "name": "GPTQ"}


def test_a_value_without_json_form_is_refused_by_name():
    with pytest.raises(Unrecordable, match="GPTQConfig has no JSON form"):
        encode({"inner": GPTQConfig(bits=4)})
    with pytest.raises(Unrecordable, match="keys JSON cannot hold"):
        encode({1: "a"})
    with pytest.raises(Unrecordable, match="is not an enum"):  # a run file's tag imports only an enum class
        decode({"__enum__": "os:environ", "name": "PATH"})


def test_notes_land_in_the_open_sink_only():
    """Outside a check nothing is noted; inside, the last draw under a label wins (hypothesis replays the failing
    example last), and an argument with no JSON form is noted as unrecorded with why."""
    note_config("config", GPTQConfig(bits=4), {"bits": 4})  # no sink: nothing happens
    with collecting() as sink:
        note_config("config", GPTQConfig(bits=4), {"bits": 4})
        note_config("config", GPTQConfig(bits=8), {"bits": 8})
        note_config("argument config", GPTQConfig(bits=4), {"inner": GPTQConfig(bits=4)})
    assert sink["config"] == {"class": "transformers.utils.quantization_config:GPTQConfig", "kwargs": {"bits": 8}}
    assert "no JSON form" in sink["argument config"]["unrecorded"]
    assert load_object(sink["config"]["class"]) is GPTQConfig  # class_path names what load_object imports
    with collecting() as fresh:
        pass
    assert fresh == {}


def test_a_new_example_clears_the_labels_of_the_last():
    """A label drawn only by an earlier example (a check whose draws differ between examples) is not kept beside
    the failing example's: each example's first draw starts the sink afresh."""
    first, second = object(), object()
    with collecting() as sink:
        note_config("checkpoint config", GPTQConfig(bits=4), {"bits": 4}, example=first)
        note_config("argument config", GPTQConfig(bits=4), {"bits": 4}, example=first)
        note_config("argument config", GPTQConfig(bits=8), {"bits": 8}, example=second)
    assert list(sink) == ["argument config"] and sink["argument config"]["kwargs"] == {"bits": 8}
