"""Readable pure-PyTorch twins of transformers' quantization methods, registered in its dispatch.

Importing this package registers every twin under the key ``ref-<dispatch key>`` (for example
``ref-bitsandbytes_4bit``). Each twin is one module here; the formats themselves are pure functions
in ``reference_quantizers.formats``; the twins' specs are in ``reference_quantizers.specs``.
"""

from __future__ import annotations

import importlib
import pkgutil

_NOT_TWINS = {"base", "codec", "loading", "numerics", "specs", "calibration", "writers"}


def twin_modules() -> list[str]:
    return sorted(f"{__name__}.{m.name}" for m in pkgutil.iter_modules(__path__) if m.name not in _NOT_TWINS)


for _module in twin_modules():
    importlib.import_module(_module)
