"""What a quantizer says about itself, read before any check runs: the capabilities a spec left unset.

Only what the class and its default config answer cheaply is read here (no model is loaded); a capability
that only a trial shows is left to the checks that try it.
"""

from __future__ import annotations

from qconform.specs.model import CONTRACT_DEFAULTS, Capabilities


def overrides(cls: type, name: str) -> bool:
    """Whether ``cls`` defines ``name`` itself rather than inheriting HfQuantizer's."""
    from transformers.quantizers import HfQuantizer

    return getattr(cls, name, None) is not getattr(HfQuantizer, name, None)


def probe_capabilities(quantizer_class: type) -> Capabilities:
    """Capabilities read from the quantizer class; the contract's defaults where the class says nothing."""
    on_the_fly = overrides(quantizer_class, "get_quantize_ops") and not getattr(
        quantizer_class, "requires_calibration", False
    )
    return Capabilities(quantizes_on_the_fly=on_the_fly).over(CONTRACT_DEFAULTS)
