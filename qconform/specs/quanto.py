"""optimum-quanto: weight quantization on the fly (``quantizers/quantizer_quanto.py``, ``QuantoConfig``).

transformers says quanto models are not serializable; activations quantization is refused at validation.
"""

from __future__ import annotations

from hypothesis import strategies as st

from qconform.spec import Capabilities, InvalidConfig, KnownDeviation, QuantizerSpec, Requirement
from qconform.strategies import skip_lists

ELEMENT_SIZES = {"int8": 1.0, "float8": 1.0, "int4": 0.5, "int2": 0.25}


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
        default_config=_config,
        configs=configs,
        invalid_configs=invalid,
        requirements=(
            Requirement("optimum.quanto", "optimum-quanto", None, "pip install optimum-quanto"),
            Requirement("accelerate", "accelerate", "1.1.0"),
        ),
        capabilities=Capabilities(serializable=False, trainable=True),
        quantized_element_size=lambda config: ELEMENT_SIZES.get(config.weights),
        reference_twin="ref-quanto",
        codec="qconform.backends.quanto:QuantoCodec",
        known_deviations=(
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
