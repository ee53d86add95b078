"""What can be tested: one Target per key of transformers' quantizer dispatch, read when asked.

The mappings are read at call time, after spec modules and plugins were imported, so quantizers that
users, plugins or ``reference_quantizers`` registered with ``register_quantizer`` show up beside the
built-in ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from qconform.discovery.probe import Probe, probe
from qconform.discovery.registry import SpecRegistry, load_registry
from qconform.specs.model import CAPABILITY_NAMES, QuantizerSpec, minimal_spec
from qconform.support.quiet import importing

Origin = Literal["transformers", "reference", "plugin"]


@dataclass(frozen=True)
class Target:
    """One quantizer under test."""

    key: str
    quantizer_class: type
    config_class: type | None
    origin: Origin
    spec: QuantizerSpec  # what the checks read: the declared spec, completed by what was found out
    declared: QuantizerSpec | None = None  # the spec as its author wrote it; None where nobody wrote one
    probed: Probe | None = None  # what the quantizer says about itself (qconform.discovery.probe), with evidence

    def __repr__(self) -> str:  # short, because hypothesis prints it in every counterexample
        return f"Target({self.key!r})"

    def _repr_pretty_(self, printer, cycle) -> None:  # hypothesis' pretty printer
        printer.text(repr(self))

    @property
    def label(self) -> str:
        return f"{self.key} ({self.origin}: {self.quantizer_class.__module__}.{self.quantizer_class.__name__})"


@dataclass
class Discovery:
    targets: dict[str, Target]
    broken: dict[str, str] = field(default_factory=dict)  # plugin source -> error text
    orphan_specs: list[str] = field(default_factory=list)  # specs whose key is not in the dispatch
    import_output: list[str] = field(default_factory=list)  # what packages printed while discovered


def origin_of(cls: type) -> Origin:
    module = cls.__module__
    if module == "transformers" or module.startswith("transformers."):
        return "transformers"
    if module == "reference_quantizers" or module.startswith("reference_quantizers."):
        return "reference"
    return "plugin"


def discover(plugin_modules: Iterable[str] = (), probed: Callable[[str, str], bool] | None = None) -> Discovery:
    """Import spec modules and plugins (which may register quantizers), then read the dispatch.

    ``probed(key, origin)`` says which targets are probed (None: all). A probe builds the default config, which
    can cost seconds (QuarkConfig imports amd-quark, which parses every modeling file of transformers), so a run
    probes only what it selected; the others keep their declared spec, unset capabilities unset."""
    noise: list[str] = []  # what backends print while imported and probed: kept for the run file
    with importing(noise):
        registry: SpecRegistry = load_registry(plugin_modules)
        return _read_dispatch(registry, noise, probed)


def _read_dispatch(
    registry: SpecRegistry, noise: list[str], probed: Callable[[str, str], bool] | None = None
) -> Discovery:
    """One Target per dispatch key, its spec completed by what the quantizer says of itself."""
    from transformers.quantizers.auto import AUTO_QUANTIZATION_CONFIG_MAPPING, AUTO_QUANTIZER_MAPPING

    targets = {}
    for key in sorted(AUTO_QUANTIZER_MAPPING):
        quantizer_class = AUTO_QUANTIZER_MAPPING[key]
        config_class = AUTO_QUANTIZATION_CONFIG_MAPPING.get(key)
        declared = registry.specs.get(key)
        start = declared or minimal_spec(key)
        origin = origin_of(quantizer_class)
        wanted = probed is None or probed(key, origin)
        found = probe(quantizer_class, config_class, start.inputs.default_config) if wanted else None
        # not probed: the spec as declared (unset capabilities stay unset), with the config class as default
        spec = (
            completed(start, quantizer_class, config_class or _no_config(key), found)
            if found is not None
            else start.replace(default_config=start.inputs.default_config or config_class or _no_config(key))
        )
        targets[key] = Target(key, quantizer_class, config_class, origin, spec, declared, found)
    orphans = sorted(set(registry.specs) - set(targets))
    return Discovery(targets=targets, broken=dict(registry.broken), orphan_specs=orphans, import_output=noise)


def completed(
    spec: QuantizerSpec, quantizer_class: type, config_class: type, found: Probe | None = None
) -> QuantizerSpec:
    """The spec with every unset fact filled in from what the quantizer says of itself (``found``, probed here
    when not given): the config class's defaults, ``requires_calibration``, the capabilities the author left
    unset, the loading attributes where the author named none, and the calibration path where the author left
    it unset (``()`` declares none)."""
    if found is None:
        found = probe(quantizer_class, config_class, spec.inputs.default_config)
    stated = spec.promises.capabilities.stated()
    changes: dict = {
        "capabilities": spec.promises.capabilities.over(found.capabilities),
        "found_out": tuple(sorted(CAPABILITY_NAMES - set(stated))),
    }
    if spec.inputs.default_config is None:
        changes["default_config"] = config_class
    if spec.promises.requires_calibration is None:
        changes["requires_calibration"] = found.requires_calibration
    if not spec.promises.loading_attributes and found.loading_attributes:
        changes["loading_attributes"] = found.loading_attributes
    if spec.inputs.calibration_fields is None and found.calibration_fields:
        changes["calibration_fields"] = found.calibration_fields
    return spec.replace(**changes)


def _no_config(key: str) -> type:
    def missing() -> None:
        raise LookupError(f"no quantization config class is registered for {key!r}")

    return missing  # type: ignore[return-value]
