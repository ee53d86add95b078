"""Spec of the hqq twin (1 to 8 bits, groups along axis 0 or 1, HQQ's zero-point solver)."""

from __future__ import annotations

from hypothesis import strategies as st

from qconform.inputs.strategies import powers_of_two, skip_lists
from qconform.specs import across_devices
from qconform.specs.hqq import FLOAT16_SOLVER_ACROSS_DEVICES, FLOAT16_SOLVER_ON_CUDA, rel_error
from qconform.specs.model import Capabilities, Inputs, InvalidConfig, Oracles, Promises, QuantizerSpec, Tolerances

BITS = (1, 2, 3, 4, 5, 6, 8)


def _configs() -> st.SearchStrategy:
    from reference_quantizers.hqq import RefHqqConfig

    return st.builds(
        RefHqqConfig,
        nbits=st.sampled_from(BITS),
        group_size=st.none() | powers_of_two(16, 128),
        axis=st.sampled_from([0, 1]),
        view_as_float=st.booleans(),
        modules_to_not_convert=skip_lists(),
    )


def _default():
    from reference_quantizers.hqq import RefHqqConfig

    return RefHqqConfig()


def _element_size(config) -> float:
    from reference_quantizers.formats.hqq import PACKINGS

    _, per_word, _, word_dtype = PACKINGS[config.nbits]
    return word_dtype.itemsize / per_word


SPECS = (
    QuantizerSpec(
        method="ref-hqq",
        inputs=Inputs(
            default_config=_default,
            configs=_configs,
            invalid_configs=lambda: st.sampled_from(
                [
                    InvalidConfig({"nbits": 7}, "nbits"),
                    InvalidConfig({"axis": 2}, "axis"),
                    InvalidConfig({"group_size": 50}, "group_size"),
                ]
            ),
        ),
        promises=Promises(
            capabilities=Capabilities(dequantizable=True, deterministic=True),
            quantized_element_size=_element_size,
            tolerances=Tolerances(rel_error=rel_error, across_devices=across_devices.HQQ),
        ),
        oracles=Oracles(
            mirrors="hqq",
            codec="reference_quantizers.hqq:RefHqqQuantizer.codec",
        ),
        known_deviations=(FLOAT16_SOLVER_ON_CUDA, FLOAT16_SOLVER_ACROSS_DEVICES),
        notes="twin of hqq; stores HQQLinear.state_dict() (W_q, scale, zero and the encoded metadata) with the "
        "model's dtype as compute dtype; bit-exact with hqq 0.2.8 (Quantizer.quantize with its default proximal "
        "solver: lp 0.7, beta 10, 20 iterations, early stop; kappa is unused by that solver) on the CPU. The "
        "solver runs in float16 on CUDA, float32 elsewhere, as hqq's does. transformers 5.17 and 5.23 can neither "
        "quantize with hqq (no get_quantize_ops: NotImplementedError) nor load an hqq checkpoint (the keys come "
        "back unexpected, the Linear weights freshly initialised); HQQLinear.load_state_dict reads the twin's. "
        "view_as_float types the same bytes as the compute dtype: the twin's codec does so too (bit-exact with "
        "hqq); its models and checkpoints keep integer codes (metadata view_as_float=0) and read either.",
    ),
)
