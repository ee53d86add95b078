"""The twins' specs, contributed to qconform through the ``qconform.specs`` entry point.

Importing this package imports ``reference_quantizers``, which registers the twins in transformers'
dispatch, exactly as a third-party quantizer package would. One data module per twin family.
"""

from __future__ import annotations

import importlib
import pkgutil

import reference_quantizers  # noqa: F401  (registers the twins)

SPECS = tuple(
    spec
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name)
    for spec in importlib.import_module(f"{__name__}.{info.name}").SPECS
)
