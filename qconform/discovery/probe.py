"""What a quantizer says about itself, read before any check runs: the facts a spec may leave unset.

Only what the class, one instance built from the default config and the config's ``get_loading_attributes``
answer cheaply is read here (no model, no weights), because discovery runs in every xdist worker. What only a
trial shows (determinism, whether the method needs an accelerator, whether the tiny model really loads) keeps
the contract's default here and is tried by the checks (``qconform.support.trial``).

Each fact carries its evidence: what was read ("is_serializable() returned False") or the error raised while
reading it, in which case the fact keeps the contract's default and the evidence says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from qconform.inputs.inferred import parameters
from qconform.specs.model import CONTRACT_DEFAULTS, Capabilities
from qconform.support.quiet import quiet

# facts read from what the quantizer states (a method or attribute it answers); the others are inferred from
# which hooks it overrides, or are the contract's defaults until a trial shows otherwise
STATED = ("serializable", "loads_prequantized", "trainable", "dequantizable", "requires_calibration", "element_size")
INFERRED = ("quantizes_on_the_fly",)
TRIED = ("deterministic", "needs_accelerator")
# the config arguments with which from_pretrained calibrates on texts while loading: GPTQConfig's names, which
# optimum's GPTQ reads (``quantizers/quantizer_gptq.py``); a config that takes both offers the path
CALIBRATION_FIELDS = ("dataset", "tokenizer")


@dataclass(frozen=True)
class Probe:
    """What was read from one quantizer class and its default config, with the evidence for each fact."""

    capabilities: Capabilities
    requires_calibration: bool
    element_size: float | None  # ``quantized_element_size``; None: the quantizer does not say
    loading_attributes: tuple[str, ...]  # what ``merge_quantization_configs`` takes from the argument
    calibration_fields: tuple[str, str] | None = None  # (dataset, tokenizer) of a calibration path in loading
    evidence: dict[str, str] = field(default_factory=dict)  # fact -> what was read, or the error raised
    unread: frozenset[str] = frozenset()  # facts that could not be read (their value is the contract's default)

    def read(self, fact: str) -> bool:
        """Whether ``fact`` was read from the quantizer (not defaulted, not left to a trial)."""
        return fact in self.evidence and fact not in self.unread and fact not in TRIED


def overrides(cls: type, name: str) -> bool:
    """Whether ``cls`` (or a base between it and HfQuantizer) defines ``name`` rather than inheriting HfQuantizer's."""
    from transformers.quantizers import HfQuantizer

    return getattr(cls, name, None) is not getattr(HfQuantizer, name, None)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ''}"


def _build_config(default_config: Callable[[], Any] | None, config_class: type | None) -> Any:
    make = default_config if default_config is not None else config_class
    if make is None:
        raise LookupError("no quantization config class is registered")
    return make()


def _loading_attributes(config: Any) -> tuple[tuple[str, ...], str]:
    """The attributes ``merge_quantization_configs`` overwrites from the argument (transformers applies
    ``get_loading_attributes`` only to its own list of config types)."""
    from transformers.quantizers.auto import LOADING_ATTRIBUTES_CONFIG_TYPES

    names = tuple(sorted(config.get_loading_attributes())) if hasattr(config, "get_loading_attributes") else ()
    if not isinstance(config, LOADING_ATTRIBUTES_CONFIG_TYPES):
        kind = f"get_loading_attributes() gives {list(names)}, but " if names else ""
        return (), f"{kind}{type(config).__name__} is not among LOADING_ATTRIBUTES_CONFIG_TYPES: merge takes none"
    return names, f"get_loading_attributes() returned {list(names)}"


INSTANCE_FACTS = ("serializable", "loads_prequantized", "trainable", "element_size", "qat_trainable")
# what each instance fact is read from: an attribute, called when it is a method
READINGS = {
    "serializable": "is_serializable",
    "trainable": "is_trainable",
    "element_size": "quantized_element_size",
    "qat_trainable": "is_qat_trainable",
}


def _light_instance(quantizer_class: type, config: Any, pre_quantized: bool) -> Any:
    """The quantizer with only HfQuantizer's own ``__init__`` run: many quantizers import their backend in
    ``__init__`` (gptqmodel takes seconds), and what they say of themselves rarely needs it."""
    from transformers.quantizers import HfQuantizer

    instance = quantizer_class.__new__(quantizer_class)
    HfQuantizer.__init__(instance, config, pre_quantized=pre_quantized)
    return instance


def _read(instance: Any, attribute: str) -> Any:
    value = getattr(instance, attribute)
    return value() if callable(value) else value  # is_serializable is a method in most, a property in a few


def _read_instance(
    quantizer_class: type, config: Any, pre_quantized: bool, evidence: dict[str, str], unread: set[str]
) -> dict[str, Any]:
    """Each instance fact, read from a light instance, else (where that raised) from a fully built one."""
    name = quantizer_class.__name__
    values: dict[str, Any] = {}
    builders = (
        ("", lambda: _light_instance(quantizer_class, config, pre_quantized)),
        (" (fully built)", lambda: quantizer_class(config, pre_quantized=pre_quantized)),
    )
    pending = dict(READINGS)
    for how, build in builders:
        try:
            instance = build()
        except Exception as exc:
            for fact in pending:
                unread.add(fact)
                evidence[fact] = f"{name} could not be built from its default config: {_describe(exc)}"
            continue
        for fact, attribute in list(pending.items()):
            try:
                values[fact] = _read(instance, attribute)
            except Exception as exc:
                unread.add(fact)
                evidence[fact] = f"{name}.{attribute} raised {_describe(exc)}{how}"
                continue
            unread.discard(fact)
            evidence[fact] = (
                f"{name}.{attribute} {'returned' if attribute == 'is_serializable' else 'is'} {values[fact]!r}{how}"
            )
            del pending[fact]
        if not pending:
            break
    return values


def probe(quantizer_class: type, config_class: type | None, default_config: Callable[[], Any] | None = None) -> Probe:
    """Read what ``quantizer_class`` says about itself under its default config (``default_config``, else the
    config class's own defaults). Never raises: a fact that cannot be read keeps the contract's default and its
    evidence quotes the error."""
    name = quantizer_class.__name__
    evidence: dict[str, str] = {}
    unread: set[str] = set()
    found: dict[str, Any] = {}

    calibration = bool(getattr(quantizer_class, "requires_calibration", False))
    evidence["requires_calibration"] = f"{name}.requires_calibration is {calibration}"
    found["dequantizable"] = overrides(quantizer_class, "_dequantize") or overrides(quantizer_class, "dequantize")
    evidence["dequantizable"] = f"{name} {'overrides' if found['dequantizable'] else 'does not override'} _dequantize"
    quantize_ops = overrides(quantizer_class, "get_quantize_ops")
    found["quantizes_on_the_fly"] = quantize_ops and not calibration
    evidence["quantizes_on_the_fly"] = (
        f"{name} {'overrides' if quantize_ops else 'does not override'} get_quantize_ops"
        + (" but requires calibration" if quantize_ops and calibration else "")
    )
    for fact in TRIED:
        evidence[fact] = f"the contract's default ({getattr(CONTRACT_DEFAULTS, fact)}) until a trial shows otherwise"

    element_size, loading, config = None, (), None
    try:
        config = _build_config(default_config, config_class)
    except Exception as exc:
        why = f"the default config could not be built: {_describe(exc)}"
        for fact in (*INSTANCE_FACTS, "loading_attributes"):
            unread.add(fact)
            evidence[fact] = why
    if config is not None:
        try:
            loading, evidence["loading_attributes"] = _loading_attributes(config)
        except Exception as exc:
            unread.add("loading_attributes")
            evidence["loading_attributes"] = f"get_loading_attributes() raised {_describe(exc)}"
        with quiet():  # some quantizers log a warning when asked (FPQuant's is_trainable, MXFP4's)
            values = _read_instance(quantizer_class, config, calibration, evidence, unread)
        element_size = None if values.get("element_size") is None else float(values["element_size"])
        found.update({fact: bool(values[fact]) for fact in ("serializable", "trainable") if fact in values})
        if "serializable" in found:
            found["loads_prequantized"] = found["serializable"]
            evidence["loads_prequantized"] = evidence["serializable"] + " (what is saved quantized loads back)"
        else:
            unread.add("loads_prequantized")
            evidence["loads_prequantized"] = evidence["serializable"]
    shape = type(config) if config is not None else config_class  # a signature needs no instance
    fields = calibration_path(shape, calibration) if shape is not None else None
    evidence["calibration_fields"] = (
        f"{getattr(shape, '__name__', shape)} takes {' and '.join(CALIBRATION_FIELDS)}, and {name} quantizes "
        "while loading"
        if fields
        else "no calibration path in loading: "
        + (
            f"{name}.requires_calibration is True (checkpoints must come pre-quantized)"
            if calibration
            else f"the config does not take both {' and '.join(CALIBRATION_FIELDS)}"
        )
    )
    capabilities = Capabilities(**found).over(CONTRACT_DEFAULTS)
    return Probe(capabilities, calibration, element_size, loading, fields, evidence, frozenset(unread))


def calibration_path(config_class: type, requires_calibration: bool) -> tuple[str, str] | None:
    """``CALIBRATION_FIELDS`` where the config class takes both (its own or forwarded parameters) and the quantizer
    does not refuse full-precision checkpoints (``requires_calibration``: AWQ's config takes them through
    GPTQConfig's, yet its quantizer loads only pre-quantized ones)."""
    names = {p.name for p in parameters(config_class)}
    return CALIBRATION_FIELDS if not requires_calibration and set(CALIBRATION_FIELDS) <= names else None
