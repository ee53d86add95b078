"""torchao: weight-only and dynamic-activation quantization through torchao's config objects.

Facts from ``quantizers/quantizer_torchao.py`` and ``TorchAoConfig``: quantizes on the fly and
reloads; weights of 4-bit types take half a byte, 8-bit ones a byte; ``adjust_max_memory`` keeps 90%.
"""

from __future__ import annotations

from hypothesis import strategies as st

from qconform.inputs.strategies import powers_of_two, skip_lists
from qconform.specs import across_devices
from qconform.specs.model import (
    Inputs,
    InvalidConfig,
    KnownDeviation,
    Oracles,
    Promises,
    QuantizerSpec,
    Requirement,
    Tolerances,
)

TORCHAO = Requirement("torchao", "torchao", "0.15.0", "pip install 'torchao>=0.15.0'")


def _config(quant_type=None, **kwargs):
    from transformers import TorchAoConfig

    if quant_type is None:
        from torchao.quantization import Int8WeightOnlyConfig

        quant_type = Int8WeightOnlyConfig()
    return TorchAoConfig(quant_type=quant_type, **kwargs)


def _quant_type(name: str, group_size: int):
    import torchao.quantization as q

    if name == "Int4WeightOnlyConfig":
        return q.Int4WeightOnlyConfig(group_size=group_size)
    return getattr(q, name)()


def configs() -> st.SearchStrategy:
    names = st.sampled_from(
        [
            "Int8WeightOnlyConfig",
            "Int8DynamicActivationInt8WeightConfig",
            "Int4WeightOnlyConfig",
            "Float8WeightOnlyConfig",
        ]
    )
    return st.builds(
        _config,
        quant_type=st.builds(_quant_type, names, powers_of_two(32, 128)),
        modules_to_not_convert=skip_lists(),
        include_input_output_embeddings=st.booleans(),
        untie_embedding_weights=st.booleans(),
    )


def rel_error_integer(scheme: str, group_size: int) -> float:
    """Relative Frobenius bound of torchao's integer weight formats (used by the twin, which reproduces them):
    worst measured over qconform's weights (every kind, shape, magnitude and dtype; 3 seeds), with about a
    quarter of headroom: int8 per row 0.0345 (outlier columns set the row's scale), with or without dynamic
    int8 activations; int4 in groups (asymmetric, float zero point) 0.17 at 32, 0.24 at 64, 0.33 at 128
    (heavy tails and outlier columns in a group). All-zero float16 weights aside: see the twin's spec."""
    if scheme == "int4_weight_only":
        return {32: 0.22, 64: 0.3}.get(group_size, 0.42)
    return 0.045


def element_size(config) -> float:
    """True storage of the weight format: 4-bit types half a byte, 8-bit ones a byte."""
    name = type(config.quant_type).__name__
    return 0.5 if name.startswith(("Int4", "UInt4")) else 1.0


def invalid() -> st.SearchStrategy[InvalidConfig]:
    return st.sampled_from(
        [
            InvalidConfig({"quant_type": "int4_weight_only"}, "quant_type"),
            InvalidConfig({"quant_type": 4}, "quant_type"),
        ]
    )


_PARAM_NAMES = (
    "is matched against parameter names ('model.layers.0.self_attn.q_proj.weight'), and a module-name suffix "
    "such as 'q_proj' never matches one (full names and prefixes do), so those modules are quantized"
)
MEASURED_DEVIATIONS = (
    KnownDeviation(
        check="test_skip_list_respected",
        reason=f"modules_to_not_convert {_PARAM_NAMES}",
        evidence="transformers/quantizers/quantizer_torchao.py:111 (should_convert_module(param_name, ...)); "
        "quantizers_utils.py:37 matches suffixes against the name as given; measured: ['q_proj'] leaves every "
        "q_proj quantized, ['model.layers.0.self_attn.q_proj'] keeps that one",
    ),
    KnownDeviation(
        check="test_keep_in_fp32_modules_stay_full_precision",
        reason=f"a model's _keep_in_fp32_modules (module-name suffixes, such as T5's 'wo') join the same list, "
        f"which {_PARAM_NAMES}",
        evidence="transformers/quantizers/quantizer_torchao.py:94-111; measured with _keep_in_fp32_modules="
        "['o_proj'] on tiny llama and ['fc2'] on tiny OPT: all of them quantized",
    ),
    KnownDeviation(
        check="test_finite_weights_give_finite_results",
        reason="Float8WeightOnlyConfig: an all-zero output row gets scale 0 and its FP8 data 0/0 = NaN, so the "
        "row dequantizes to NaN and the Linear's forward returns NaN",
        evidence="torchao 0.18.0 quantize_(Linear(128, 128, float16) with 32 zero rows, Float8WeightOnlyConfig()): "
        "Float8Tensor.scale is 0 for those rows, dequantize() has 32/128 NaN rows, forward gives NaN",
    ),
    KnownDeviation(
        check="test_linear_forward_matches_dequantized_matmul",
        reason="Int8WeightOnlyConfig (per row) multiplies the activations by the unscaled int8 codes in the "
        "activation dtype and applies the scales afterwards: in float16 the intermediate overflows to inf for "
        "activations of a few hundred, although the true output is small",
        evidence="torchao 0.18.0 quantization/quantize_/workflows/int8/int8_tensor.py:347-353 (torch.mm(x, "
        "qdata.t().to(output_dtype)) * scale); measured: Linear(256, 128, float16), x ~ 30 N(0, 1): output inf "
        "where the exact result is at most 42",
    ),
)


SPECS = (
    QuantizerSpec(
        method="torchao",
        requirements=(TORCHAO,),
        inputs=Inputs(
            default_config=_config,
            configs=configs,
            invalid_configs=invalid,
        ),
        promises=Promises(
            quantized_element_size=element_size,
            tolerances=Tolerances(across_devices=across_devices.TORCHAO),
        ),
        oracles=Oracles(
            reference_twin="ref-torchao",
            codec="qconform.backends.torchao:TorchAoCodec",
        ),
        known_deviations=(
            *MEASURED_DEVIATIONS,
            KnownDeviation(
                check="test_missing_package_is_named",
                reason="loading a torchao checkpoint without torchao fails with a bare ModuleNotFoundError from "
                "TorchAoConfig.from_dict, which says neither that torchao is needed for this model nor how to "
                "install it (validate_environment, which has the message, is never reached)",
                evidence="transformers/utils/quantization_config.py:1546 (from torchao.core.config import "
                "config_from_dict) -> ModuleNotFoundError: No module named 'torchao'",
            ),
        ),
    ),
)
