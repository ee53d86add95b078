"""optimum-quanto: weight quantization on the fly (``quantizers/quantizer_quanto.py``, ``QuantoConfig``).

transformers says quanto models are not serializable; activations quantization is refused at validation.
"""

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
    Requirement,
    Tolerances,
)

ELEMENT_SIZES = {"int8": 1.0, "float8": 1.0, "int4": 0.5, "int2": 0.25}
# Worst relative Frobenius error measured over qconform's weights (every kind, shape, scale and dtype, 24 configs
# x 2 seeds; optimum-quanto 0.2.7 and its bit-exact twin): int8 0.035 (outlier columns set the row's scale),
# float8 0.028, int4 0.33 (heavy tails in a 128-wide group), int2 1.59 (heavy tails: four levels without an
# exact zero, so the small entries of a group holding +-1000 go to a level hundreds away). About a quarter of
# headroom. Small float16 weights under int8 and float8 are FLOAT16_SCALES_UNDERFLOW (0.16 to 1 measured).
REL_ERRORS = {"int8": 0.045, "float8": 0.04, "int4": 0.42, "int2": 2.0}


def rel_error(config) -> float:
    """The relative Frobenius bound for the config's weight type (see REL_ERRORS)."""
    return REL_ERRORS[config.weights]


# optimum-quanto 0.2.7 behaviour, reproduced bit for bit by the twin ref-quanto. It shows only when hypothesis
# draws a float16 weight of small magnitude with int8 or float8: not strict
FLOAT16_SCALES_UNDERFLOW = KnownDeviation(
    strict=False,
    check="test_error_within_bound",
    reason="int8 and float8 scales are max|w| / qmax computed and stored in the weight's dtype: in float16 a row "
    "of small weights gets a subnormal scale (a few significant bits) or one that underflows to 0, so the row "
    "comes back a few percent off, or as zeros (relative error 1); optimum-quanto 0.2.7 and its bit-exact twin",
    evidence="optimum-quanto 0.2.7 optimum/quanto/tensor/optimizers/absmax_optimizer.py:35-36 (rmax / qtype.qmax "
    "in the weight's dtype); measured: int8, 128x128 float16 weight whose constant tile is -1.6e-5: scale "
    "1.19e-7 (subnormal), relative error 0.055 (bound 0.045); at the 'tiny' magnitude (1e-4) float16 constant "
    "tiles reach 1.0 for int8 and float8 (scale 0), while float32 and bfloat16 stay at 0.035",
)


def _config(**kwargs):
    from transformers import QuantoConfig

    return QuantoConfig(**kwargs)


def configs() -> st.SearchStrategy:
    return st.builds(
        _config,
        weights=st.sampled_from(sorted(ELEMENT_SIZES)),
        activations=st.none(),
        modules_to_not_convert=skip_lists(),
    )


def invalid() -> st.SearchStrategy[InvalidConfig]:
    return st.sampled_from(
        [InvalidConfig({"weights": "int3"}, "weights"), InvalidConfig({"activations": "int4"}, "activations")]
    )


SPECS = (
    QuantizerSpec(
        method="quanto",
        requirements=(
            Requirement("optimum.quanto", "optimum-quanto", None, "pip install optimum-quanto"),
            Requirement("accelerate", "accelerate", "1.1.0"),
        ),
        inputs=Inputs(
            default_config=_config,
            configs=configs,
            invalid_configs=invalid,
        ),
        promises=Promises(
            capabilities=Capabilities(serializable=False, trainable=True),
            quantized_element_size=lambda config: ELEMENT_SIZES.get(config.weights),
            tolerances=Tolerances(rel_error=rel_error, across_devices=across_devices.QUANTO),
        ),
        oracles=Oracles(
            reference_twin="ref-quanto",
            codec="qconform.backends.quanto:QuantoCodec",
        ),
        known_deviations=(
            FLOAT16_SCALES_UNDERFLOW,
            KnownDeviation(
                check="test_finite_weights_give_finite_results",
                reason="float8 weights: an all-zero row gets scale 0 and its data 0/0 = NaN, so the row "
                "dequantizes to NaN",
                evidence="optimum-quanto 0.2.7 optimum/quanto/tensor/optimizers/absmax_optimizer.py (scale = "
                "max|w| / 448) and library/quantize.py quantize_symmetric (no zero guard); measured through "
                "qconform.backends.quanto: 4096/16384 NaN for a 128x128 weight with 32 zero rows",
            ),
            KnownDeviation(
                check="test_invalid_config_refused",
                reason="an unsupported `activations` value is refused with a message about `weights` "
                "('Only support weights in [None, 'int8', 'float8'] but found int4'), which misleads the user",
                evidence="transformers/utils/quantization_config.py:1058",
            ),
        ),
    ),
)
