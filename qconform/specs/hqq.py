"""HQQ: half-quadratic quantization through the hqq package (``quantizers/quantizer_hqq.py``, ``HqqConfig``).

``HqqConfig`` itself needs hqq (it builds hqq's ``BaseQuantizeConfig``). transformers 5.23's quantizer
has no ``get_quantize_ops``, so loading with it raises NotImplementedError (lifecycle checks report it).
"""

from __future__ import annotations

from hypothesis import strategies as st

from qconform.inputs.strategies import optional, powers_of_two
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
    cannot_load,
)


def _config(**kwargs):
    from transformers import HqqConfig

    return HqqConfig(**kwargs)


def configs() -> st.SearchStrategy:
    return st.builds(
        _config,
        nbits=st.sampled_from([1, 2, 3, 4, 8]),
        group_size=powers_of_two(16, 128),
        axis=optional(st.sampled_from([0, 1])),
        view_as_float=st.booleans(),
        skip_modules=st.sampled_from([["lm_head"], [], ["lm_head", "down_proj"]]),
    )


def invalid() -> st.SearchStrategy[InvalidConfig]:
    return st.sampled_from(
        [
            InvalidConfig({"axis": 2}, "axis"),
            InvalidConfig({"nbits": 5}, "nbits"),
            InvalidConfig({"group_size": 50}, "group_size"),
        ]
    )


# Worst relative Frobenius error measured over qconform's weights (every kind, shape, magnitude; float32 and
# float16; axis 0 and 1; hqq 0.2.8 and its bit-exact twin), by bits and group size (None: one group per row or
# column): low bits with wide groups are worse than rounding to zero on heavy-tailed or outlier-column weights
# (two to eight levels per group; the many small entries go to a level near the group's outliers). 4 and 8
# bits bottom out near 0.15 on 'tiny' (1e-4) weights: hqq clamps the inverse scale at 2e4. Bounds: about a
# quarter above the worst seen; 5 and 6 bits (the twin only) take 4 bits' bounds.
#                  bits: 1      2     3      4      8
#   groups of 16        1.57   0.44  0.19   0.15   0.15
#   groups of 32-128    5.07   1.63  0.76   0.19   0.14   (measured at 128; 32 and 64 below it)
#   whole row / column  8.72   2.68  1.11   0.23   0.14
REL_ERRORS = {
    16: {1: 2.0, 2: 0.55, 3: 0.25, 4: 0.19, 8: 0.19},
    128: {1: 6.5, 2: 2.1, 3: 0.96, 4: 0.25, 8: 0.19},
    None: {1: 11.0, 2: 3.4, 3: 1.4, 4: 0.29, 8: 0.19},
}


def rel_error(config) -> float:
    """The relative Frobenius bound for the config's bits and group size (HqqConfig or the twin's config)."""
    if hasattr(config, "nbits"):
        bits, group = config.nbits, config.group_size
    else:
        params = config.quant_config["weight_quant_params"]
        bits, group = params["nbits"], params["group_size"]
    tier = None if group is None else 16 if group <= 16 else 128
    return REL_ERRORS[tier][min(bits, 4) if bits < 8 else 8]


def element_size(config) -> float | None:
    """HQQ stores nbits per weight (scales and zeros per group come on top)."""
    params = config.quant_config.get("weight_quant_params") if isinstance(config.quant_config, dict) else None
    return params["nbits"] / 8 if params else None


FLOAT16_SOLVER_ON_CUDA = KnownDeviation(
    check="test_finite_weights_give_finite_results",
    reason="on CUDA hqq's solver runs in float16 whatever the weight's dtype, so a bfloat16 or float32 group whose "
    "range exceeds float16's (huge heavy-tailed or outlier weights) gets an infinite scale or zero and "
    "dequantizes to NaN; on the CPU it runs in float32 and stays finite (hqq and its bit-exact twin alike)",
    evidence="hqq 0.2.8 core/optimize.py:153 (dtype = float16 if device.type == 'cuda' else float32); "
    "reports/probes/h100-sm_90-2026-11-22.json, heavy-tailed weights x 1e3, 128x128: hqq 2640/16384 non-finite "
    "dequantized "
    "values and 165/1024 scales, ref-hqq 13952/16384 and 109/128",
    params="cuda",
    strict=False,
)

# the same float16 solver makes CUDA's dequantized weight non-finite where the CPU's is finite
FLOAT16_SOLVER_ACROSS_DEVICES = KnownDeviation(
    "test_packed_data_same_on_cpu_and_cuda",
    FLOAT16_SOLVER_ON_CUDA.reason,
    FLOAT16_SOLVER_ON_CUDA.evidence + "; reports/runs/h200x2-sm_90.json: ref-hqq bfloat16, 13952 dequantized values "
    "finite on the CPU and not on CUDA",
    strict=False,
)

SPECS = (
    QuantizerSpec(
        method="hqq",
        requirements=(Requirement("hqq", "hqq", "0.2.1", "pip install 'hqq>=0.2.1'"),),
        inputs=Inputs(
            default_config=_config,
            configs=configs,
            invalid_configs=invalid,
        ),
        promises=Promises(
            # HQQ is documented as quantizing on the fly; stated, so that transformers 5.x refusing every load shows
            # as the cannot_load deviations below rather than as a probe's "not on the fly"
            capabilities=Capabilities(quantizes_on_the_fly=True),
            quantized_element_size=element_size,
            tolerances=Tolerances(rel_error=rel_error, across_devices=across_devices.HQQ),
        ),
        oracles=Oracles(
            reference_twin="ref-hqq",
            codec="qconform.backends.hqq:HqqCodec",
        ),
        known_deviations=(
            *cannot_load(
                "transformers 5.x cannot load a model with HqqConfig: HqqHfQuantizer implements no "
                "get_quantize_ops, so from_pretrained raises NotImplementedError ('hqq is not available yet and "
                "will be supported soon'); on the CPU its validate_environment refuses any device_map holding "
                "'cpu' first (ValueError), although hqq's HQQLinear runs on the CPU",
                "transformers 5.23 quantizers/base.py:314-317 (get_quantize_ops raises), quantizer_hqq.py (no "
                "override) and quantizer_hqq.py:50-57 (cpu/disk refusal); measured: from_pretrained(tiny llama, "
                "quantization_config=HqqConfig(nbits=4, group_size=64)) without a device_map raises that "
                "NotImplementedError",
                raises=(NotImplementedError, ValueError),
            ),
            FLOAT16_SOLVER_ON_CUDA,
            FLOAT16_SOLVER_ACROSS_DEVICES,
            KnownDeviation(
                check="test_param_element_size",
                reason="HqqHfQuantizer declares no quantized_element_size, so param_element_size counts every Linear "
                "weight it will quantize at its full-precision size (4 bytes in float32, not nbits/8): device maps "
                "and memory checks overestimate HQQ models by up to 8x",
                evidence="transformers/quantizers/quantizer_hqq.py (no quantized_element_size) and "
                "transformers/quantizers/base.py:129-132 (param_element_size falls back to param.element_size())",
            ),
            KnownDeviation(
                check="test_invalid_config_refused",
                reason="HqqConfig accepts nbits=5 although its docstring lists (8, 4, 3, 2, 1), and a group_size "
                "that is not a multiple of 8 is refused by an `assert` in hqq (AssertionError, gone under "
                "`python -O`) rather than a ValueError",
                evidence="transformers/utils/quantization_config.py:328 (HQQBaseQuantizeConfig(...) without "
                "checks); observed: AssertionError 'Invalid group_size param: the value should be a multiple of 8.'",
            ),
        ),
    ),
)
