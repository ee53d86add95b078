"""Configs inferred from a config class: its ``__init__`` signature, defaults and annotations.

A method nobody described still gets drawn configs: each scalar argument varies around its default (or around
the value a spec's default config holds) while keeping its character, so the configs stay ones a user would
write and a model loads with. An argument annotated ``X | None`` whose default is None is drawn as None or a
plain value of ``X`` (a flag either way, a Literal's or Enum's members, a small and a size-like number): the
"unset" default alone would never show a config that loses or resets it. Containers, objects and plain strings
keep their default: nothing in a signature says which other values are valid. A spec's ``configs`` strategy, where
given, replaces this.
"""

from __future__ import annotations

import ast
import copy
import enum
import functools
import inspect
import textwrap
import types
import typing
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from qconform.specs.model import InvalidConfig

REFUSED = (ValueError, TypeError)  # how a config class refuses arguments (anything else is a crash to report)
CAP = 8  # argument sets tried before falling back to the centre (all defaults), which the class accepts


@dataclass(frozen=True)
class Argument:
    """One keyword argument of a config class: its name, the value drawn around, and that value's kind."""

    name: str
    centre: Any
    kind: type | None  # bool, int, float, str, or an Enum class; None: not a scalar (kept at its default)
    choices: tuple[Any, ...] = ()  # the members a Literal or Enum annotation allows
    required: bool = False  # no default in the signature: always passed
    unset_kind: type | None = None  # the annotated scalar kind of an ``X | None`` argument whose centre is None


def _named(init: Any) -> list[inspect.Parameter]:
    try:
        signature = inspect.signature(init)
    except (TypeError, ValueError):
        return []
    skipped = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return [p for name, p in signature.parameters.items() if name != "self" and p.kind not in skipped]


def _forwarding(init: Any) -> tuple[int, frozenset[str]] | None:
    """How ``init`` passes its ``**kwargs`` on to a parent's ``__init__`` (``super().__init__(a, b=1, **kwargs)``):
    (positional arguments, names it passes itself), which the parent's parameters then cannot take from a user;
    None when it does not (or its source cannot be read)."""
    try:
        var = next(p.name for p in inspect.signature(init).parameters.values() if p.kind is p.VAR_KEYWORD)
        tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
    except (StopIteration, TypeError, ValueError, OSError, SyntaxError):
        return None
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "__init__"):
            continue
        if any(k.arg is None and isinstance(k.value, ast.Name) and k.value.id == var for k in node.keywords):
            explicit_self = not (
                isinstance(node.func.value, ast.Call) and getattr(node.func.value.func, "id", "") == "super"
            )
            return len(node.args) - explicit_self, frozenset(k.arg for k in node.keywords if k.arg)
    return None


@functools.cache  # reading source is slow, and configs are drawn hundreds of times
def initialisers(cls: type) -> tuple[tuple[Any, int, frozenset[str]], ...]:
    """``cls.__init__``, then each parent ``__init__`` that receives the ``**kwargs`` of the one before it: a
    subclass that forwards its keyword arguments accepts its parent's too. Each with what the child passes itself
    (positional count, names), which are not the user's to give."""
    chain: list[tuple[Any, int, frozenset[str]]] = []
    taken: tuple[int, frozenset[str]] = (0, frozenset())
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        chain.append((init, *taken))
        forwarded = _forwarding(init)
        if forwarded is None:
            break
        taken = forwarded
    return tuple(chain)


def parameters(cls: type) -> list[inspect.Parameter]:
    """The named parameters a user can pass to ``cls``: its ``__init__``'s (no self, no ``*args``/``**kwargs``),
    then those of each parent its ``**kwargs`` are forwarded to (``initialisers``)."""
    found: dict[str, inspect.Parameter] = {}
    for init, positional, passed in initialisers(cls):
        named = _named(init)
        for index, param in enumerate(named):
            if param.name not in found and param.name not in passed and index >= positional:
                found[param.name] = param
    return list(found.values())


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """Annotations of ``parameters(cls)``, resolved where the defining module allows (the subclass's win)."""
    hints: dict[str, Any] = {}
    for init, _, _ in reversed(initialisers(cls)):
        try:
            hints |= typing.get_type_hints(init)
        except Exception:  # forward references the module cannot resolve ("AOBaseConfig"): raw annotations
            hints |= {p.name: p.annotation for p in _named(init) if p.annotation is not inspect.Parameter.empty}
    return hints


def _scalar(annotation: Any) -> tuple[type | None, tuple[Any, ...]]:
    """(kind, choices) of an annotation: one scalar type, ``X | None`` of one, a Literal, or an Enum."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        values = typing.get_args(annotation)
        kinds = {type(v) for v in values}
        return (kinds.pop() if len(kinds) == 1 else None), tuple(values)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _scalar(members[0]) if len(members) == 1 else (None, ())
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return annotation, tuple(annotation)
    if annotation in (bool, int, float, str):
        return annotation, ()
    return None, ()


def _kind_of(value: Any) -> type | None:
    if isinstance(value, enum.Enum):
        return type(value)
    return type(value) if type(value) in (bool, int, float, str) else None


def arguments(cls: type, base: Any = None) -> list[Argument]:
    """Each keyword argument of ``cls`` with its centre: ``base``'s attribute of that name where it holds a
    value of the argument's kind, else the signature's default."""
    hints = _hints(cls)
    found = []
    for param in parameters(cls):
        kind, choices = _scalar(hints.get(param.name, inspect.Parameter.empty))
        required = param.default is inspect.Parameter.empty
        centre = None if required else param.default
        if kind is None:  # unannotated: the default's own type says what it is
            kind = _kind_of(centre)
            choices = tuple(kind) if kind is not None and issubclass(kind, enum.Enum) else choices
        held = getattr(base, param.name, inspect.Parameter.empty) if base is not None else inspect.Parameter.empty
        if held is not inspect.Parameter.empty and (required or (kind is not None and _kind_of(held) is kind)):
            centre = held
        if required and held is inspect.Parameter.empty:
            continue  # nothing says what to pass: the class will refuse, and the centre config stands in
        same = _kind_of(centre) is kind
        unset = kind if centre is None and not same else None
        found.append(Argument(param.name, centre, kind if same else None, choices, required, unset))
    return found


def _is_power_of_two(value: int) -> bool:
    return value > 0 and value & (value - 1) == 0


def int_neighbours(value: int) -> list[int]:
    """The value first, then neighbours of the same character: powers of two beside a power of two, one step
    either side otherwise, never crossing zero."""
    if _is_power_of_two(value) and value > 1:
        return [value, value // 2, value * 2]
    if value > 0:
        return [value, *([value - 1] if value > 1 else []), value + 1]
    if value < 0:
        return [value, value - 1, *([value + 1] if value < -1 else [])]
    return [0, 1]


def float_neighbours(value: float) -> list[float]:
    """The value first, then a few nearby of the same sign; a fraction (0 < x <= 1) stays at most 1."""
    if value == 0 or value != value or value in (float("inf"), float("-inf")):
        return [value]
    nearby = [value * f for f in (0.5, 0.75, 1.25)]
    if 0 < value <= 1:
        nearby = [x for x in nearby if x <= 1]
    return [value, *nearby]


# Values beside None for an ``X | None`` argument: nothing says which are valid, so the plainest of each kind (a
# config class that refuses one is redrawn; see inferred_pairs). 64 divides the tiny models' widths.
UNSET_SAMPLES: dict[type, tuple[Any, ...]] = {bool: (True, False), int: (1, 64), float: (0.5,)}


def values_around(argument: Argument) -> list[Any]:
    """The values an argument is drawn from, its centre first (what hypothesis shrinks to)."""
    centre, kind = argument.centre, argument.kind
    if argument.unset_kind is not None:
        return [None, *(argument.choices or UNSET_SAMPLES.get(argument.unset_kind, ()))]
    if argument.choices and centre in argument.choices:
        return [centre, *(c for c in argument.choices if c != centre)]
    if kind is bool:
        return [centre, not centre]
    if kind is int:
        return int_neighbours(centre)
    if kind is float:
        return float_neighbours(centre)
    return [centre]


def config_arguments(cls: type, base: Any = None) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments for ``cls`` around its defaults (or ``base``'s values). Arguments that can only keep
    their default are left out, so the class builds its own default (a fresh container, never a shared one)."""
    drawn = {}
    for argument in arguments(cls, base):
        values = values_around(argument)
        if len(values) > 1:
            drawn[argument.name] = st.sampled_from(values)
        elif argument.required:
            drawn[argument.name] = st.just(argument.centre).map(copy.deepcopy)
    return st.fixed_dictionaries(drawn)


def centre_arguments(cls: type, base: Any = None) -> dict[str, Any]:
    """The arguments every draw shrinks to: each centre value (only the required ones when not scalar)."""
    return {a.name: copy.deepcopy(a.centre) for a in arguments(cls, base) if a.required or a.kind is not None}


@st.composite
def inferred_pairs(draw: Any, cls: type, base: Any = None) -> tuple[dict[str, Any], Any]:
    """(arguments, config built from them). A combination the class refuses is discarded and another drawn; after
    ``CAP`` refusals, the centre arguments (which ``base`` or the defaults show the class accepts)."""
    strategy = config_arguments(cls, base)
    for attempt in range(CAP):
        kwargs = draw(strategy, label=f"{cls.__name__} arguments" + (f" (try {attempt + 1})" if attempt else ""))
        try:
            return kwargs, cls(**copy.deepcopy(kwargs))
        except REFUSED:
            continue
    kwargs = centre_arguments(cls, base)
    return kwargs, cls(**copy.deepcopy(kwargs))


def inferred_configs(cls: type, base: Any = None) -> st.SearchStrategy[Any]:
    """Configs of ``cls`` built from arguments drawn around its defaults (see ``inferred_pairs``)."""
    return inferred_pairs(cls, base).map(lambda pair: pair[1])


WRONG_VALUES: dict[type, tuple[Any, ...]] = {
    bool: ("yes",),  # a string where a flag belongs (0/1 are bools' own values in Python)
    int: ("4", 4.5),  # a number as text; a fraction where a whole number belongs
    float: ("0.5",),  # a number as text (an int is a valid float)
    str: (4, ["a"]),  # a number, a list
}


def wrong_type_cases(cls: type, base: Any = None) -> list[InvalidConfig]:
    """One case per (annotated or defaulted scalar argument, value of another type)."""
    cases = []
    for argument in arguments(cls, base):
        kind = argument.kind
        if kind is None:
            continue
        wrong = (4, 4.5) if issubclass(kind, enum.Enum) or argument.choices else WRONG_VALUES.get(kind, ())
        cases.extend(InvalidConfig({argument.name: value}, argument.name) for value in wrong)
    return cases


def wrong_type_arguments(cls: type, base: Any = None) -> st.SearchStrategy[InvalidConfig] | None:
    """Invalid cases from the annotations: a value of the wrong type for one scalar argument; None when the
    class has no scalar argument."""
    cases = wrong_type_cases(cls, base)
    return st.sampled_from(cases) if cases else None
