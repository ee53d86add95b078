"""HQQ: half-quadratic quantization through the hqq package (``quantizers/quantizer_hqq.py``, ``HqqConfig``).

``HqqConfig`` itself needs hqq (it builds hqq's ``BaseQuantizeConfig``). transformers 5.23's quantizer
has no ``get_quantize_ops``, so loading with it raises NotImplementedError (lifecycle checks report it).
"""

from __future__ import annotations

from hypothesis import strategies as st

from qconform.spec import InvalidConfig, KnownDeviation, QuantizerSpec, Requirement
from qconform.strategies import optional, powers_of_two


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


def element_size(config) -> float | None:
    """HQQ stores nbits per weight (scales and zeros per group come on top)."""
    params = config.quant_config.get("weight_quant_params") if isinstance(config.quant_config, dict) else None
    return params["nbits"] / 8 if params else None


SPECS = (
    QuantizerSpec(
        method="hqq",
        default_config=_config,
        configs=configs,
        invalid_configs=invalid,
        requirements=(Requirement("hqq", "hqq", "0.2.1", "pip install 'hqq>=0.2.1'"),),
        quantized_element_size=element_size,
        reference_twin="ref-hqq",
        codec="qconform.backends.hqq:HqqCodec",
        known_deviations=(
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
