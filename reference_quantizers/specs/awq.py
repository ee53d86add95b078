"""Spec of the AWQ twin."""

from __future__ import annotations

from hypothesis import strategies as st

from qconform.inputs.strategies import skip_lists
from qconform.specs import across_devices
from qconform.specs.gptq import CONSTANT_GROUPS_LOST, OVERFLOW_GROUPS_PACKED_UNDEFINED, rel_error_awq
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


def _configs() -> st.SearchStrategy:
    from reference_quantizers.awq import RefAwqConfig

    return st.builds(
        RefAwqConfig,
        group_size=st.sampled_from([-1, 32, 64, 128]),
        duo_scaling=st.booleans(),
        modules_to_not_convert=skip_lists(),
    )


def _default():
    from reference_quantizers.awq import RefAwqConfig

    return RefAwqConfig()  # AwqConfig's defaults: 4-bit, group 128, zero points, GEMM


def _invalid() -> st.SearchStrategy[InvalidConfig]:
    return st.sampled_from(
        [
            InvalidConfig({"bits": 3}, "bits"),
            InvalidConfig({"group_size": 0}, "group_size"),
            InvalidConfig({"zero_point": False}, "zero_point"),
            InvalidConfig({"version": "gemv"}, "version"),
            InvalidConfig({"n_grid": 0}, "n_grid"),
        ]
    )


def _element_size(config) -> float:
    group = 128 if config.group_size == -1 else config.group_size
    return 0.5 + 2.5 / group


FP16_SCALES_OVERFLOW = KnownDeviation(
    check="test_finite_weights_give_finite_results",
    reason="scales are stored in float16: a group whose range exceeds about 65504 x the largest code "
    "(qconform's 'huge' magnitude, 1e3, with heavy tails or outlier columns) gets an infinite scale; "
    "AutoAWQ 0.2.9 and gptqmodel store them the same way (the twin is bit-exact with AutoAWQ)",
    evidence="awq/modules/linear/gemm.py WQLinear_GEMM.from_linear (scales.clone().half())"
    "; measured: 'huge' heavy_tailed and outlier_columns 128x128 "
    "weights give inf scales at every bit width, the other magnitudes none",
)


SPECS = (
    QuantizerSpec(
        method="ref-awq",
        inputs=Inputs(
            default_config=_default,
            configs=_configs,
            invalid_configs=_invalid,
            checkpoint_writer="reference_quantizers.calibration.checkpoints:prequantized_checkpoint",
        ),
        promises=Promises(
            capabilities=Capabilities(quantizes_on_the_fly=False, dequantizable=True, deterministic=True),
            requires_calibration=True,
            quantized_element_size=_element_size,
            tolerances=Tolerances(rel_error=rel_error_awq, logits_drift=0.3, across_devices=across_devices.REF_AWQ),
        ),
        oracles=Oracles(
            mirrors="awq",
            codec="reference_quantizers.awq:RefAwqQuantizer.codec",
        ),
        known_deviations=(FP16_SCALES_OVERFLOW, CONSTANT_GROUPS_LOST, OVERFLOW_GROUPS_PACKED_UNDEFINED),
        notes="twin of awq: activation-aware scale search (n_grid ratios of mean |x|, output MSE of the group's "
        "Linears), folded into the preceding norm or Linear, then grouped asymmetric int4 in AutoAWQ's GEMM layout "
        "(order 0,2,4,6,1,3,5,7). Codec (round to nearest + packing) equals AutoAWQ 0.2.9's pseudo_quantize_tensor "
        "+ WQLinear_GEMM.from_linear and dequantize_gemm bit for bit (float32/16, bfloat16). Pre-quantized only, "
        "like AwqQuantizer; checkpoints from reference_quantizers.calibration.writers.write_awq_checkpoint.",
    ),
)
