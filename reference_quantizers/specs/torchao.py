"""Spec of the torchao twin (int4 weight-only, int8 weight-only, int8 dynamic activation + int8 weight)."""

from __future__ import annotations

from hypothesis import strategies as st

from qconform.spec import Capabilities, QuantizerSpec, Tolerances
from qconform.strategies import powers_of_two, skip_lists

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


SPECS = (
    QuantizerSpec(
        method="ref-torchao",
        default_config=_default,
        configs=_configs,
        capabilities=Capabilities(dequantizable=True, deterministic=True),
        quantized_element_size=_element_size,
        mirrors="torchao",
        codec="reference_quantizers.torchao:RefTorchAoQuantizer.codec",
        # int8 per-row weights: ~1% of the weight's norm; int4 in groups of 128: ~10%
        tolerances=Tolerances(rel_error=0.15),
        notes="twin of torchao's Int4WeightOnlyConfig (plain packing), Int8WeightOnlyConfig and "
        "Int8DynamicActivationInt8WeightConfig; checkpoints interchangeable with TorchAoHfQuantizer",
    ),
)
