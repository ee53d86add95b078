"""Spec of the BitNet twin (ternary weights packed four to a byte, per-token int8 activations)."""

from __future__ import annotations

from hypothesis import strategies as st

from qconform.inputs.strategies import skip_lists
from qconform.specs.misc import BITNET_TOLERANCES
from qconform.specs.model import Capabilities, Inputs, Oracles, Promises, QuantizerSpec


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
        inputs=Inputs(
            default_config=_default,
            configs=_configs,
        ),
        promises=Promises(
            capabilities=Capabilities(dequantizable=True, deterministic=True),
            quantized_element_size=0.25,
            tolerances=BITNET_TOLERANCES,
        ),
        oracles=Oracles(
            mirrors="bitnet",
            codec="reference_quantizers.bitnet:RefBitNetQuantizer.codec",
        ),
        notes="twin of bitnet (BitLinear): quantizes on the fly, checkpoints load through BitNetHfQuantizer",
    ),
)
