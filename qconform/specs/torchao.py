"""torchao: weight-only and dynamic-activation quantization through torchao's config objects.

Facts from ``quantizers/quantizer_torchao.py`` and ``TorchAoConfig``: quantizes on the fly and
reloads; weights of 4-bit types take half a byte, 8-bit ones a byte; ``adjust_max_memory`` keeps 90%.
"""

from __future__ import annotations

from hypothesis import strategies as st

from qconform.spec import InvalidConfig, KnownDeviation, QuantizerSpec, Requirement
from qconform.strategies import powers_of_two, skip_lists

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
SUFFIX_SKIPS_IGNORED = (
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
)


SPECS = (
    QuantizerSpec(
        method="torchao",
        default_config=_config,
        configs=configs,
        invalid_configs=invalid,
        requirements=(TORCHAO,),
        quantized_element_size=element_size,
        reference_twin="ref-torchao",
        codec="qconform.backends.torchao:TorchAoCodec",
        known_deviations=(
            *SUFFIX_SKIPS_IGNORED,
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
