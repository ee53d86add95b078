"""qconform: conformance checks for Hugging Face transformers quantizers.

The flow: ``targets`` (what the dispatch holds, with their ``spec``) -> ``strategies`` and
``tiny_models`` -> the check modules in ``qconform.checks`` -> ``session`` records every outcome ->
``report``.
"""

from qconform.specs.model import (
    AcrossDevices,
    Capabilities,
    InvalidConfig,
    KnownDeviation,
    QuantizerSpec,
    Requirement,
    Tolerances,
)

__version__ = "0.1.0"

__all__ = [
    "AcrossDevices",
    "Capabilities",
    "InvalidConfig",
    "KnownDeviation",
    "QuantizerSpec",
    "Requirement",
    "Tolerances",
    "__version__",
]
