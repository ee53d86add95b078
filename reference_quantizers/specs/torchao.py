"""Spec of the torchao twin (int4 weight-only, int8 weight-only, int8 dynamic activation + int8 weight)."""

from __future__ import annotations

from hypothesis import strategies as st

from qconform.inputs.strategies import powers_of_two, skip_lists
from qconform.specs import across_devices
from qconform.specs.model import Capabilities, Inputs, KnownDeviation, Oracles, Promises, QuantizerSpec, Tolerances
from qconform.specs.torchao import rel_error_integer

SCHEMES = ("int8_weight_only", "int8_dynamic_activation_int8_weight", "int4_weight_only")


def _configs() -> st.SearchStrategy:
    from reference_quantizers.torchao import RefTorchAoConfig

    return st.builds(
        RefTorchAoConfig,
        scheme=st.sampled_from(SCHEMES),
        group_size=powers_of_two(32, 128),
        modules_to_not_convert=skip_lists(),
    )


def _default():
    from reference_quantizers.torchao import RefTorchAoConfig

    return RefTorchAoConfig()


def _element_size(config) -> float:
    return 0.5 if config.scheme == "int4_weight_only" else 1.0


# torchao's own computation order, reproduced on purpose (the real torchao spec declares the same deviation)
INT8_FLOAT16_OVERFLOW = KnownDeviation(
    check="test_linear_forward_matches_dequantized_matmul",
    reason="int8_weight_only multiplies the activations by the unscaled int8 codes in the activation dtype and "
    "applies the per-row scales afterwards, as torchao's Int8WeightOnlyConfig does: in float16 the intermediate "
    "overflows to inf for activations of a few hundred, although the true output is small",
    evidence="reference_quantizers/formats/int8.py:44-45 (torch.mm(x, q.t().to(x.dtype)) * scale), mirroring "
    "torchao 0.18.0 quantization/quantize_/workflows/int8/int8_tensor.py:347-353; measured on the tiny llama's "
    "down_proj in float16: inf outputs for x30 normal inputs (exact |y| at most 29.7) and x30 outlier-channel "
    "inputs (exact |y| at most 234)",
)


SPECS = (
    QuantizerSpec(
        method="ref-torchao",
        inputs=Inputs(
            default_config=_default,
            configs=_configs,
        ),
        promises=Promises(
            capabilities=Capabilities(dequantizable=True, deterministic=True),
            quantized_element_size=_element_size,
            tolerances=Tolerances(
                rel_error=lambda config: rel_error_integer(config.scheme, config.group_size),
                across_devices=across_devices.TORCHAO,
            ),
        ),
        oracles=Oracles(
            mirrors="torchao",
            codec="reference_quantizers.torchao:RefTorchAoQuantizer.codec",
        ),
        known_deviations=(
            INT8_FLOAT16_OVERFLOW,
            KnownDeviation(
                check="test_error_within_bound",
                strict=False,  # shows only where hypothesis draws int4 with a float16 weight holding a zero group
                reason="int4 in float16: an all-zero group stores a subnormal scale (5.96e-8) and its zero point "
                "apart, so the group comes back as 6e-8, not 0 (zeros do not stay zeros); torchao 0.18 does the "
                "same (its scale and zero point are cast to the weight's dtype) and the twin copies it",
                evidence="torchao 0.18.0 quantization/quantize_/workflows/int4/int4_tensor.py:172-173; measured "
                "on the twin, int4 group 128, float16: an all-zero (1, 128) weight stores scale 5.96e-8 and zero "
                "point 5.36e-7 and comes back as 5.96e-8 everywhere (relative error infinite); a zero 128x128 "
                "block inside a (128, 256) weight comes back as 5.96e-8",
            ),
        ),
        notes="twin of torchao's Int4WeightOnlyConfig (plain packing), Int8WeightOnlyConfig and "
        "Int8DynamicActivationInt8WeightConfig; checkpoints interchangeable with TorchAoHfQuantizer",
    ),
)
