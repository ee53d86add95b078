"""What a check fed the quantizer, as literals a standalone script can rebuild.

A record of a check that draws configs carries the failing example's configs (``inputs``, noted by
``qconform.inputs.recorded``): a script takes those first. Older records, and configs with no JSON form, fall back
to the configs the target's spec gives, as the checks get them: the default config first, then examples of the
spec's strategy drawn with a fixed seed (``derandomize``), so the same run file gives the same script. Each config
is written as the constructor's keyword arguments, and only kept when those arguments rebuild a config with the
same ``to_dict()``.
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
from collections.abc import Callable
from typing import Any

from qconform.discovery.targets import Target
from qconform.inputs.inferred import wrong_type_arguments
from qconform.repro.literals import Source, Unwritable, write
from qconform.specs.model import InvalidConfig, QuantizerSpec, load_object

IGNORED_MODEL_FIELDS = ("transformers_version", "model_type", "architectures")


class NotReproducible(Exception):
    """A record this command cannot write as a standalone script; the message says why."""


@functools.cache
def _registry() -> Any:
    from qconform.discovery.registry import load_registry

    return load_registry()


@functools.cache
def load_target(key: str) -> Target:
    """The target ``key`` of the dispatch, its spec completed by a probe of this one quantizer (reading the
    whole dispatch probes every method: seconds per method, for one script)."""
    from transformers.quantizers.auto import AUTO_QUANTIZATION_CONFIG_MAPPING, AUTO_QUANTIZER_MAPPING

    from qconform.discovery.probe import probe
    from qconform.discovery.targets import completed, origin_of
    from qconform.specs.model import minimal_spec
    from qconform.support.quiet import captured

    noise: list[str] = []
    with captured(noise):
        registry = _registry()
        if key not in AUTO_QUANTIZER_MAPPING:
            raise NotReproducible(f"{key!r} is not a key of transformers' quantizer dispatch here")
        quantizer_class = AUTO_QUANTIZER_MAPPING[key]
        config_class = AUTO_QUANTIZATION_CONFIG_MAPPING.get(key)
        declared = registry.specs.get(key)
        start = declared or minimal_spec(key)
        found = probe(quantizer_class, config_class, start.inputs.default_config)
        spec = completed(start, quantizer_class, config_class or type(None), found)
    return Target(key, quantizer_class, config_class, origin_of(quantizer_class), spec, declared, found)


def backend_modules(spec: QuantizerSpec) -> tuple[str, ...]:
    """The import names of the packages the method needs (the only imports a script adds to torch and
    transformers)."""
    return tuple(dict.fromkeys(r.import_name for r in spec.requirements))


def allowed_packages(spec: QuantizerSpec) -> tuple[str, ...]:
    return ("torch", "transformers", "safetensors", *(m.split(".")[0] for m in backend_modules(spec)))


def _call(factory: Callable[[], Any], spec: QuantizerSpec, what: str) -> Any:
    try:
        return factory()
    except ImportError as exc:
        missing = "; ".join(spec.missing_requirements())
        hint = f" ({missing})" if missing else ""
        raise NotReproducible(f"{what} needs a package missing here: {exc}{hint}") from None


def default_config(target: Target) -> Any:
    factory = target.spec.inputs.default_config or target.config_class
    if factory is None:
        raise NotReproducible(f"{target.key} has no config class and its spec no default config")
    return _call(factory, target.spec, f"{target.key}'s default config")


def drawn(strategy: Any, count: int) -> list[Any]:
    """Up to ``count`` examples of a hypothesis strategy, the same ones on every call (fixed seed, no database)."""
    from hypothesis import HealthCheck, Phase, given, settings

    found: list[Any] = []

    @settings(
        derandomize=True,
        database=None,
        max_examples=count,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(strategy)
    def collect(value: Any) -> None:
        found.append(value)

    collect()
    return found


def recorded_configs(record: dict[str, Any] | None) -> list[Any]:
    """The configs the record's failing example drew, in the order drawn, rebuilt from their noted class and
    arguments; one that cannot be rebuilt here (a class gone, arguments refused) is left out."""
    from transformers.utils.quantization_config import QuantizationConfigMixin

    from qconform.inputs.recorded import decode

    found = []
    for entry in ((record or {}).get("inputs") or {}).values():
        if "kwargs" not in entry:
            continue
        try:
            cls = load_object(entry["class"])
            if not (isinstance(cls, type) and issubclass(cls, QuantizationConfigMixin)):
                continue  # a run file names only config classes: anything else is never called
            found.append(cls(**decode(entry["kwargs"])))
        except Exception:  # gone here, or its arguments refused: the fallback configs stand in
            continue
    return found


def config_examples(target: Target, count: int, recorded: list[Any] | tuple[Any, ...] = ()) -> list[Any]:
    """The configs a record's failing example drew (``recorded_configs``), then the default config, then examples
    of the spec's (or the inferred) config strategy."""
    from qconform.inputs.configs import config_strategy

    configs = [*recorded, default_config(target)]
    if count > 1:
        strategy = _call(lambda: config_strategy(target.spec), target.spec, f"{target.key}'s configs")
        configs += _call(lambda: drawn(strategy, 4 * count), target.spec, f"{target.key}'s configs")
    return configs


def canonical(config: Any) -> str:
    """What a config holds, as ``config.json`` would (non-JSON values by repr, so two unlike ones differ)."""
    return json.dumps(config.to_dict(), sort_keys=True, default=repr)


def config_source(config: Any, spec: QuantizerSpec) -> Source:
    """The keyword arguments that rebuild ``config`` (the same ``to_dict()``), as a dict literal: the stored
    constructor arguments that differ from their defaults, else all of them, else with the ``to_dict`` entries
    the constructor does not take (``quant_method`` of a config built for another key) added."""
    from qconform.inputs.configs import plain, stored_arguments

    cls = type(config)
    stored = stored_arguments(config)
    defaults = {p.name: p.default for p in inspect.signature(cls.__init__).parameters.values()}
    changed = {k: v for k, v in stored.items() if not _same(plain(v), plain(defaults.get(k, inspect.Parameter.empty)))}
    saved = config.to_dict()
    wanted = canonical(config)
    tried = []
    for kwargs in (changed, stored, {**stored, **{k: v for k, v in saved.items() if k not in stored}}):
        try:
            source = write(kwargs, allowed_packages(spec))
        except Unwritable as exc:
            raise NotReproducible(f"{cls.__name__}'s arguments cannot be written as literals: {exc}") from None
        try:
            rebuilt = cls(**rebuild(source, cls))
        except Exception as exc:  # this set of arguments does not rebuild it; try the next
            tried.append(f"{type(exc).__name__}: {exc}")
            continue
        if canonical(rebuilt) == wanted:
            return source
        tried.append("another to_dict()")
    raise NotReproducible(f"no literal keyword arguments rebuild this {cls.__name__} ({'; '.join(tried)})")


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:
        return False


def rebuild(source: Source, cls: type) -> dict[str, Any]:
    """Evaluate a kwargs literal the way the script will (its imports and torch in scope)."""
    import importlib

    import torch

    namespace: dict[str, Any] = {"torch": torch}
    for module, name in source.imports:
        namespace[name] = getattr(importlib.import_module(module), name)
    return copy.deepcopy(eval(source.text, namespace))


def distinct_sources(configs: list[Any], spec: QuantizerSpec, count: int) -> list[Source]:
    """Up to ``count`` configs, each written once (the default first); configs without literal arguments
    are dropped, and if none is left the first one's reason is raised."""
    sources: list[Source] = []
    seen: set[str] = set()
    first_error: NotReproducible | None = None
    for config in configs:
        try:
            source = config_source(config, spec)
        except NotReproducible as exc:
            first_error = first_error or exc
            continue
        if source.text not in seen:
            seen.add(source.text)
            sources.append(source)
        if len(sources) == count:
            break
    if not sources:
        raise first_error or NotReproducible("no config to write")
    return sources


def invalid_cases(spec: QuantizerSpec, config_class: type | None = None, count: int = 50) -> list[InvalidConfig]:
    """Every invalid config the spec declares (a ``sampled_from`` list whole; otherwise distinct draws), or where
    it declares none, the wrong-type cases inferred from ``config_class``, as the check draws them."""
    factory = spec.inputs.invalid_configs
    strategy = factory() if factory else None
    if strategy is None and config_class is not None:
        strategy = wrong_type_arguments(config_class)
    if strategy is None:
        raise NotReproducible(f"{spec.method} declares no invalid configs and its config has no typed argument")
    elements = getattr(strategy, "elements", None)
    cases = list(elements) if elements is not None else drawn(strategy, count)
    unique: dict[str, InvalidConfig] = {}
    for case in cases:
        unique.setdefault(repr((case.kwargs, case.field)), case)
    return list(unique.values())


def model_config(arch: str) -> tuple[str, dict[str, Any]]:
    """(config class name, the keyword arguments that differ from the class's defaults) of a tiny model."""
    from qconform.inputs.tiny_models import tiny_config

    config = tiny_config(arch)
    cls = type(config)
    defaults = cls().to_dict()
    kwargs = {
        k: v for k, v in config.to_dict().items() if k not in IGNORED_MODEL_FIELDS and defaults.get(k, object()) != v
    }
    if cls(**copy.deepcopy(kwargs)).to_dict() != config.to_dict():
        raise NotReproducible(f"the tiny {arch} config does not rebuild from its non-default arguments")
    return cls.__name__, kwargs


def skip_lists(arch: str, count: int) -> list[list[str]]:
    """Skip lists ``test_skip_list_respected`` draws, the same ones on every call."""
    from qconform.checks.test_lifecycle import skip_list_choices

    found: list[list[str]] = []
    for skip in drawn(skip_list_choices(arch), 4 * count):
        if skip not in found:
            found.append(skip)
        if len(found) == count:
            break
    return found
