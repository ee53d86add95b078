"""Spec of the BitNet twin (ternary weights packed four to a byte, per-token int8 activations)."""

from __future__ import annotations

from hypothesis import strategies as st

from qconform.spec import Capabilities, QuantizerSpec, Tolerances
from qconform.strategies import skip_lists


def _configs() -> st.SearchStrategy:
    from reference_quantizers.bitnet import RefBitNetConfig

    return st.builds(
        RefBitNetConfig,
        quantization_mode=st.sampled_from(["offline", "online"]),
        modules_to_not_convert=skip_lists(),
    )


def _default():
    from reference_quantizers.bitnet import RefBitNetConfig

    return RefBitNetConfig()


SPECS = (
    QuantizerSpec(
        method="ref-bitnet",
        default_config=_default,
        configs=_configs,
        capabilities=Capabilities(dequantizable=True, deterministic=True),
        quantized_element_size=0.25,
        mirrors="bitnet",
        codec="reference_quantizers.bitnet:RefBitNetQuantizer.codec",
        # ternary absmean: each element's error is at most its own magnitude (zeroed, or moved to +-absmean),
        # so the relative error is at most 1; a Gaussian matrix measures ~0.51, one with outliers ~0.98
        # (measured); the forward also quantizes activations to int8 per token (~1% on Gaussian inputs)
        tolerances=Tolerances(rel_error=1.0, logits_drift=1.0, forward_rel_error=0.05),
        notes="twin of bitnet (BitLinear): quantizes on the fly, checkpoints load through BitNetHfQuantizer",
    ),
)
