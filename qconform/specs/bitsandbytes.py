"""bitsandbytes 4-bit (NF4/FP4) and 8-bit (LLM.int8), dispatched on ``load_in_4bit``/``load_in_8bit``."""

from __future__ import annotations

from hypothesis import strategies as st

from qconform.spec import Capabilities, QuantizerSpec, Requirement, Tolerances
from qconform.strategies import dtype_names, optional, skip_lists

BITSANDBYTES = Requirement("bitsandbytes", "bitsandbytes", "0.46.1", "pip install -U 'bitsandbytes>=0.46.1'")
ACCELERATE = Requirement("accelerate", "accelerate", "1.1.0")


def _config(**kwargs):
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(**kwargs)


def configs_4bit() -> st.SearchStrategy:
    return st.builds(
        _config,
        load_in_4bit=st.just(True),
        bnb_4bit_quant_type=st.sampled_from(["nf4", "fp4"]),
        bnb_4bit_use_double_quant=st.booleans(),
        bnb_4bit_compute_dtype=optional(dtype_names()),
        bnb_4bit_quant_storage=optional(st.sampled_from(["uint8", "float16", "bfloat16", "float32"])),
        llm_int8_skip_modules=skip_lists(),
        llm_int8_enable_fp32_cpu_offload=st.booleans(),
    )


def configs_8bit() -> st.SearchStrategy:
    return st.builds(
        _config,
        load_in_8bit=st.just(True),
        llm_int8_threshold=st.floats(0.0, 20.0, allow_nan=False),
        llm_int8_has_fp16_weight=st.booleans(),
        llm_int8_skip_modules=skip_lists(),
        llm_int8_enable_fp32_cpu_offload=st.booleans(),
    )


SPECS = (
    QuantizerSpec(
        method="bitsandbytes_4bit",
        default_config=lambda: _config(load_in_4bit=True),
        configs=configs_4bit,
        requirements=(BITSANDBYTES, ACCELERATE),
        capabilities=Capabilities(trainable=True, dequantizable=True, deterministic=True),
        quantized_element_size=0.5,
        reference_twin="ref-bitsandbytes_4bit",
        tolerances=Tolerances(rel_error=0.15),
    ),
    QuantizerSpec(
        method="bitsandbytes_8bit",
        default_config=lambda: _config(load_in_8bit=True),
        configs=configs_8bit,
        requirements=(BITSANDBYTES, ACCELERATE),
        capabilities=Capabilities(trainable=True, dequantizable=True, deterministic=True),
        quantized_element_size=1.0,
        reference_twin="ref-bitsandbytes_8bit",
        tolerances=Tolerances(rel_error=0.02),
    ),
)
