"""What can be tested: one Target per key of transformers' quantizer dispatch, read when asked.

The mappings are read at call time, after spec modules and plugins were imported, so quantizers that
users, plugins or ``reference_quantizers`` registered with ``register_quantizer`` show up beside the
built-in ones.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from qconform.spec import QuantizerSpec, minimal_spec
from qconform.specs import SpecRegistry, load_registry

Origin = Literal["transformers", "reference", "plugin"]


@dataclass(frozen=True)
class Target:
    """One quantizer under test."""

    key: str
    quantizer_class: type
    config_class: type | None
    origin: Origin
    spec: QuantizerSpec

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


def origin_of(cls: type) -> Origin:
    module = cls.__module__
    if module == "transformers" or module.startswith("transformers."):
        return "transformers"
    if module == "reference_quantizers" or module.startswith("reference_quantizers."):
        return "reference"
    return "plugin"


def discover(plugin_modules: Iterable[str] = ()) -> Discovery:
    """Import spec modules and plugins (which may register quantizers), then read the dispatch."""
    with warnings.catch_warnings():  # backends import torch._inductor, whose mkldnn module warns once per process
        warnings.filterwarnings(
            "ignore", message="`torch.jit.script_method` is deprecated", category=DeprecationWarning
        )
        registry: SpecRegistry = load_registry(plugin_modules)
    from transformers.quantizers.auto import AUTO_QUANTIZATION_CONFIG_MAPPING, AUTO_QUANTIZER_MAPPING

    targets = {}
    for key in sorted(AUTO_QUANTIZER_MAPPING):
        quantizer_class = AUTO_QUANTIZER_MAPPING[key]
        config_class = AUTO_QUANTIZATION_CONFIG_MAPPING.get(key)
        spec = registry.specs.get(key)
        if spec is None:
            spec = minimal_spec(key, config_class) if config_class else minimal_spec(key, _no_config(key))
        targets[key] = Target(key, quantizer_class, config_class, origin_of(quantizer_class), spec)
    orphans = sorted(set(registry.specs) - set(targets))
    return Discovery(targets=targets, broken=dict(registry.broken), orphan_specs=orphans)


def _no_config(key: str) -> type:
    def missing() -> None:
        raise LookupError(f"no quantization config class is registered for {key!r}")

    return missing  # type: ignore[return-value]
