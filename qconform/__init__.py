"""qconform: conformance checks for Hugging Face transformers quantizers.

The flow: ``targets`` (what the dispatch holds, with their ``spec``) -> ``strategies`` and
``tiny_models`` -> the check modules in ``qconform.checks`` -> ``session`` records every outcome ->
``report``.
"""

from typing import Any

from qconform.specs.model import (
    AcrossDevices,
    Capabilities,
    Inputs,
    InvalidConfig,
    KnownDeviation,
    Oracles,
    Promises,
    QuantizerSpec,
    Requirement,
    Tolerances,
)

__version__ = "0.1.0"

__all__ = [
    "AcrossDevices",
    "Capabilities",
    "Inputs",
    "InvalidConfig",
    "KnownDeviation",
    "Oracles",
    "Promises",
    "QuantizerSpec",
    "Requirement",
    "Tolerances",
    "WeightCodec",
    "__version__",
]


def __getattr__(name: str) -> Any:
    """``WeightCodec`` on first use: it needs torch, and pytest imports this package in every session."""
    if name == "WeightCodec":
        from qconform.support.codec import WeightCodec

        return WeightCodec
    raise AttributeError(f"module 'qconform' has no attribute {name!r}")
