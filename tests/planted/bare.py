"""Every planted bug a second time, with no spec: its quantizer and config registered under ``bare_key(key)``.

A plugin module of its own, declaring no ``SPECS``, so the registry holds no spec for the bare keys and
qconform finds out everything by itself (``qconform.discovery.probe``), as it would for a stranger's
quantizer. The copies are subclasses that keep their parents' names (a bug may lie in a class name) and
change only the dispatch key a config writes as its ``quant_method``; a config that deliberately writes
another method's key keeps that bug.
"""

from __future__ import annotations

from transformers.quantizers.auto import (
    AUTO_QUANTIZATION_CONFIG_MAPPING,
    AUTO_QUANTIZER_MAPPING,
    register_quantization_config,
    register_quantizer,
)

from tests.planted import bare_key, catalogue


def _copy(cls: type, **attributes: object) -> type:
    """A subclass named like ``cls``, in ``cls``'s module, with ``attributes`` overridden."""
    return type(cls.__name__, (cls,), {"__module__": cls.__module__, "__qualname__": cls.__qualname__, **attributes})


def register_bare(key: str) -> str:
    """Register copies of ``key``'s quantizer and config under the bare key (once per process); return it."""
    bare = bare_key(key)
    if bare in AUTO_QUANTIZER_MAPPING:
        return bare
    config = AUTO_QUANTIZATION_CONFIG_MAPPING[key]
    renamed = {"KEY": bare} if getattr(config, "KEY", None) == key else {}
    register_quantization_config(bare)(_copy(config, **renamed))
    register_quantizer(bare)(_copy(AUTO_QUANTIZER_MAPPING[key]))
    return bare


def bare_keys() -> list[str]:
    """The bare key of every planted bug that some check must catch bare, registered in this process."""
    return sorted(register_bare(bug.key) for bug in catalogue().values() if bug.bare_checks)


def control_keys() -> list[str]:
    """The bare key of every control beside such a bug, registered: a bare control must pass those checks, or
    bare catches prove nothing."""
    bugs = catalogue().values()
    return sorted(register_bare(control) for control in {b.control for b in bugs if b.control and b.bare_checks})


BARE_KEYS = bare_keys()
BARE_CONTROLS = control_keys()
