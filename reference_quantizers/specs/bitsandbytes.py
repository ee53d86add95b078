"""Specs of the bitsandbytes twins (4-bit NF4/FP4 and 8-bit LLM.int8)."""

from __future__ import annotations

from hypothesis import strategies as st

from qconform.inputs.strategies import dtype_names, powers_of_two, skip_lists
from qconform.specs import across_devices
from qconform.specs.bitsandbytes import REL_ERROR_8BIT, rel_error_4bit
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


def _configs_4bit() -> st.SearchStrategy:
    from reference_quantizers.bnb_4bit import STORAGES, RefBnb4bitConfig

    return st.builds(
        RefBnb4bitConfig,
        bnb_4bit_quant_type=st.sampled_from(["nf4", "fp4"]),
        bnb_4bit_use_double_quant=st.booleans(),
        bnb_4bit_compute_dtype=dtype_names(),
        bnb_4bit_quant_storage=st.sampled_from(STORAGES),
        bnb_4bit_blocksize=powers_of_two(32, 4096),
        modules_to_not_convert=skip_lists(),
    )


def _default_4bit():
    from reference_quantizers.bnb_4bit import RefBnb4bitConfig

    return RefBnb4bitConfig()


def _invalid_4bit() -> st.SearchStrategy[InvalidConfig]:
    return st.sampled_from(
        [
            InvalidConfig({"bnb_4bit_quant_type": "nf3"}, "bnb_4bit_quant_type"),
            InvalidConfig({"bnb_4bit_use_double_quant": "no"}, "bnb_4bit_use_double_quant"),
            InvalidConfig({"bnb_4bit_compute_dtype": "int8"}, "bnb_4bit_compute_dtype"),
            InvalidConfig({"bnb_4bit_quant_storage": "int3"}, "bnb_4bit_quant_storage"),
            InvalidConfig({"bnb_4bit_blocksize": 48}, "bnb_4bit_blocksize"),
        ]
    )


def _element_size_4bit(config) -> float:
    return 0.5 + config.absmax_bytes_per_weight()


#: bitsandbytes' CPU dequantization differs from the twin's for some shapes (the stored tensors agree bit for bit).
CPU_DEQUANTIZE = KnownDeviation(
    check="test_codec_matches_twin",
    params="cpu",
    reason="bitsandbytes 0.50.2 dequantize_4bit on the CPU (csrc/cpu_ops.cpp, dequantizeBlockwise4bitCpu): (1) its "
    "AVX-512 branch reads absmax[row * (in_features // blocksize) + column // blocksize], right only when the block "
    "size divides in_features, yet takes it whenever in_features % 16 == 0: (200, 96) and (128, 160) decode with "
    "other rows' scales; (2) its scalar branch (in_features % 16 != 0, or no AVX-512) decodes FP4 index 8 as -0.0 "
    "where its table (quant_map) and AVX-512 branch give +0.0: the same values, other bits",
    evidence="qconform --quantizer=bitsandbytes_4bit,ref-bitsandbytes_4bit -k test_codec_matches_twin: stored tensors "
    "equal over 26 examples, then (200, 96) nf4: 'dequantized weight: 17314/19200 elements differ'; fp4 (96, 200): "
    "'62/19200 elements differ, largest difference 0 (same values, different bit patterns)'; "
    "tests/reference/test_bitsandbytes_4bit.py::test_bitsandbytes_cpu_dequantizes_rows_that_split_blocks",
)


def _configs_8bit() -> st.SearchStrategy:
    from reference_quantizers.bnb_8bit import RefBnb8bitConfig

    return st.builds(
        RefBnb8bitConfig,
        llm_int8_threshold=st.floats(0.0, 20.0, allow_nan=False),
        modules_to_not_convert=skip_lists(),
    )


def _invalid_8bit() -> st.SearchStrategy[InvalidConfig]:
    return st.sampled_from(
        [
            InvalidConfig({"llm_int8_threshold": -1.0}, "llm_int8_threshold"),
            InvalidConfig({"llm_int8_threshold": "6.0"}, "llm_int8_threshold"),
            InvalidConfig({"llm_int8_has_fp16_weight": True}, "llm_int8_has_fp16_weight"),
        ]
    )


def _default_8bit():
    from reference_quantizers.bnb_8bit import RefBnb8bitConfig

    return RefBnb8bitConfig()


SPECS = (
    QuantizerSpec(
        method="ref-bitsandbytes_4bit",
        inputs=Inputs(
            default_config=_default_4bit,
            configs=_configs_4bit,
            invalid_configs=_invalid_4bit,
        ),
        promises=Promises(
            capabilities=Capabilities(dequantizable=True, deterministic=True),
            quantized_element_size=_element_size_4bit,
            tolerances=Tolerances(rel_error=rel_error_4bit, across_devices=across_devices.REF_BITSANDBYTES_4BIT),
        ),
        oracles=Oracles(
            mirrors="bitsandbytes_4bit",
            codec="reference_quantizers.bnb_4bit:RefBnb4bitQuantizer.codec",
        ),
        known_deviations=(CPU_DEQUANTIZE,),
        notes="twin of bitsandbytes 4-bit (NF4/FP4, block sizes 32-4096, double quantization); quantizes "
        "bit for bit as bitsandbytes 0.50.2 on the CPU; checkpoints interchangeable with Bnb4BitHfQuantizer",
    ),
    QuantizerSpec(
        method="ref-bitsandbytes_8bit",
        inputs=Inputs(
            default_config=_default_8bit,
            configs=_configs_8bit,
            invalid_configs=_invalid_8bit,
        ),
        promises=Promises(
            capabilities=Capabilities(dequantizable=True, deterministic=True),
            quantized_element_size=1.0,
            tolerances=Tolerances(rel_error=REL_ERROR_8BIT, forward_rel_error=0.05),
        ),
        oracles=Oracles(
            mirrors="bitsandbytes_8bit",
            codec="reference_quantizers.bnb_8bit:RefBnb8bitQuantizer.codec",
        ),
        known_deviations=(
            KnownDeviation(
                check="test_finite_weights_give_finite_results",
                reason="the twin quantizes from a float16 copy of the weight, as bitsandbytes' Int8Params does (it "
                "reproduces it bit for bit): a bfloat16 or float32 weight beyond float16's range (|w| > 65504) gets "
                "an infinite row absmax (SCB) and dequantizes to NaN",
                evidence="reference_quantizers/formats/llm_int8.py:29-32 (values.to(torch.float16) before the "
                "absmax), mirroring bitsandbytes 0.50.2 nn/modules.py:742; measured: 'huge' heavy-tailed and "
                "outlier-column 128x128 bfloat16 weights give 87/128 and 90/128 infinite SCB",
            ),
        ),
        notes="twin of bitsandbytes LLM.int8 (row-wise int8, outlier threshold); quantizes and multiplies bit "
        "for bit as bitsandbytes 0.50.2 on the CPU; checkpoints interchangeable with Bnb8BitHfQuantizer",
    ),
)
