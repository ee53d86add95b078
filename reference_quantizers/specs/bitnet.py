"""Spec of the BitNet twin (ternary weights packed four to a byte, per-token int8 activations)."""

from __future__ import annotations

from hypothesis import strategies as st

from qconform.spec import Capabilities, QuantizerSpec
from qconform.specs.misc import BITNET_TOLERANCES
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
        tolerances=BITNET_TOLERANCES,  # the real method's bounds (measured on both: see there)
        notes="twin of bitnet (BitLinear): quantizes on the fly, checkpoints load through BitNetHfQuantizer",
    ),
)
