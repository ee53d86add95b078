"""Spec of the quanto twin (optimum-quanto's int8, float8, int4 and int2 weights, weight-only)."""

from __future__ import annotations

from hypothesis import strategies as st

from qconform.inputs.strategies import skip_lists
from qconform.specs import across_devices
from qconform.specs.model import (
    Capabilities,
    Inputs,
    InvalidConfig,
    KnownDeviation,
    Oracles,
    Promises,
    QuantizerSpec,
    Tolerances,
)
from qconform.specs.quanto import FLOAT16_SCALES_UNDERFLOW, rel_error

ELEMENT_SIZES = {"int8": 1.0, "float8": 1.0, "int4": 0.5, "int2": 0.25}


def _configs() -> st.SearchStrategy:
    from reference_quantizers.quanto import RefQuantoConfig

    weights = st.sampled_from(sorted(ELEMENT_SIZES))
    return st.builds(RefQuantoConfig, weights=weights, modules_to_not_convert=skip_lists())


def _default():
    from reference_quantizers.quanto import RefQuantoConfig

    return RefQuantoConfig()


SPECS = (
    QuantizerSpec(
        method="ref-quanto",
        inputs=Inputs(
            default_config=_default,
            configs=_configs,
            invalid_configs=lambda: st.sampled_from(
                [InvalidConfig({"weights": "int3"}, "weights"), InvalidConfig({"activations": "int8"}, "activations")]
            ),
        ),
        promises=Promises(
            capabilities=Capabilities(dequantizable=True, deterministic=True),
            quantized_element_size=lambda config: ELEMENT_SIZES[config.weights],
            tolerances=Tolerances(rel_error=rel_error, across_devices=across_devices.QUANTO),
        ),
        oracles=Oracles(
            mirrors="quanto",
            codec="reference_quantizers.quanto:RefQuantoQuantizer.codec",
        ),
        known_deviations=(
            FLOAT16_SCALES_UNDERFLOW,  # the twin is bit-exact with optimum-quanto, underflow included
            KnownDeviation(
                check="test_finite_weights_give_finite_results",
                reason="float8: an all-zero row gets scale 0, and quanto stores 0/0 = NaN as its data, so the "
                "row dequantizes to NaN (optimum-quanto 0.2.7 does the same: the twin is bit-exact with it)",
                evidence="optimum/quanto/tensor/optimizers/absmax_optimizer.py (scale = max|w| / 448) and "
                "library/quantize.py quantize_symmetric (base / scale, no zero guard); measured: 4096/16384 "
                "NaN codes for a 128x128 weight with 32 zero rows",
            ),
        ),
        notes="twin of quanto; stores optimum-quanto's QLinear state dict (weight._data, weight._scale, "
        "weight._shift, input_scale, output_scale), bit-exact with optimum-quanto 0.2.7 on the CPU. transformers' "
        "quanto quantizer cannot save (is_serializable() is False) nor load such a checkpoint (its keys come back "
        "unexpected and the Linear weights freshly initialised); optimum-quanto's requantize() loads it. Group "
        "size follows QLinear: 128 (else 96, 64, 32) for inputs wider than 128, else one group per row.",
    ),
)
