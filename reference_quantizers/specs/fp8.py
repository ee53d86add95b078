"""Spec of the FineGrainedFP8 twin."""

from __future__ import annotations

from hypothesis import strategies as st

from qconform.inputs.strategies import skip_lists
from qconform.specs.model import Capabilities, Inputs, Oracles, Promises, QuantizerSpec, Tolerances


def _configs() -> st.SearchStrategy:
    from reference_quantizers.fp8 import RefFp8Config

    return st.builds(
        RefFp8Config,
        weight_block_size=st.sampled_from([(128, 128), (64, 64), (32, 128), (128, 32)]),
        modules_to_not_convert=skip_lists(),
    )


def _default():
    from reference_quantizers.fp8 import RefFp8Config

    return RefFp8Config()


SPECS = (
    QuantizerSpec(
        method="ref-fp8",
        inputs=Inputs(
            default_config=_default,
            configs=_configs,
        ),
        promises=Promises(
            capabilities=Capabilities(dequantizable=True, deterministic=True),
            quantized_element_size=1.0,
            tolerances=Tolerances(rel_error=0.08, forward_rel_error=0.1),
        ),
        oracles=Oracles(
            mirrors="fp8",
            codec="reference_quantizers.fp8:RefFp8Quantizer.codec",
        ),
        notes="twin of fp8 (FineGrainedFP8); checkpoints interchangeable with it",
    ),
)
