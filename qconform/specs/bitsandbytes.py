"""bitsandbytes 4-bit (NF4/FP4) and 8-bit (LLM.int8), dispatched on ``load_in_4bit``/``load_in_8bit``.

Facts from transformers' ``quantizers/quantizer_bnb_{4,8}bit.py`` and ``BitsAndBytesConfig``: both
quantize on the fly and reload; a device map that puts modules on "cpu" or "disk" beside an
accelerator is refused unless ``llm_int8_enable_fp32_cpu_offload``; 4-bit weights take half a byte,
8-bit ones a byte. No loading attributes: the class is not among ``LOADING_ATTRIBUTES_CONFIG_TYPES``.
"""

from __future__ import annotations

from hypothesis import strategies as st

from qconform.inputs.strategies import dtype_names, optional, skip_lists
from qconform.specs import across_devices
from qconform.specs._common import ACCELERATE
from qconform.specs.model import (
    Capabilities,
    Inputs,
    InvalidConfig,
    KnownDeviation,
    OffloadRule,
    Oracles,
    Promises,
    QuantizerSpec,
    Requirement,
    Tolerances,
)

BITSANDBYTES = Requirement("bitsandbytes", "bitsandbytes", "0.46.1", "pip install -U 'bitsandbytes>=0.46.1'")
OFFLOAD = OffloadRule(places=("cpu", "disk"), beside_accelerator=True, unless="llm_int8_enable_fp32_cpu_offload")


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


def rel_error_4bit(config) -> float:
    """Worst relative Frobenius error measured over qconform's weights (every kind, shape, scale, dtype;
    bitsandbytes 0.50.2 and its twin agree): NF4 0.20 at block 64 and 0.28 at block 4096, FP4 0.30 and
    0.34 (Cauchy-tailed weights: one huge entry sets a whole block's absmax); FP4 has few levels near
    zero. The bounds leave about a quarter of headroom above the worst seen."""
    return 0.45 if config.bnb_4bit_quant_type == "fp4" else 0.35


# worst weight error measured over qconform's weights: 0.034 (outlier columns: 100x entries set the row's scale)
REL_ERROR_8BIT = 0.04


def configs_8bit() -> st.SearchStrategy:
    return st.builds(
        _config,
        load_in_8bit=st.just(True),
        llm_int8_threshold=st.floats(0.0, 20.0, allow_nan=False),
        llm_int8_has_fp16_weight=st.booleans(),
        llm_int8_skip_modules=skip_lists(),
        llm_int8_enable_fp32_cpu_offload=st.booleans(),
    )


def _invalid(flag: str) -> st.SearchStrategy[InvalidConfig]:
    on = {flag: True}
    cases = [
        InvalidConfig({**on, "llm_int8_threshold": "6.0"}, "llm_int8_threshold"),
        InvalidConfig({**on, "llm_int8_skip_modules": "lm_head"}, "llm_int8_skip_modules"),
        InvalidConfig({**on, "llm_int8_enable_fp32_cpu_offload": "yes"}, "llm_int8_enable_fp32_cpu_offload"),
        InvalidConfig({**on, "llm_int8_has_fp16_weight": 1}, "llm_int8_has_fp16_weight"),
        InvalidConfig({**on, "bnb_4bit_compute_dtype": 16}, "bnb_4bit_compute_dtype"),
        InvalidConfig({**on, "bnb_4bit_quant_storage": "int3"}, "bnb_4bit_quant_storage"),
        InvalidConfig({**on, "bnb_4bit_quant_type": 4}, "bnb_4bit_quant_type"),
        InvalidConfig({**on, "bnb_4bit_use_double_quant": "no"}, "bnb_4bit_use_double_quant"),
        InvalidConfig({"load_in_4bit": True, "load_in_8bit": True}, "load_in_8bit"),
        InvalidConfig({flag: "yes"}, flag),
    ]
    return st.sampled_from(cases)


def _tied_head_skip_list(cls: str, error: str) -> KnownDeviation:
    return KnownDeviation(
        check="test_skip_list_respected",
        params="opt",
        reason="an explicit llm_int8_skip_modules replaces the default skips, so OPT's tied lm_head becomes a "
        f"{cls} that is handed the input embedding's full-precision tensor; then {error} (on the CPU; on CUDA "
        "the forward fails too)",
        evidence="transformers/quantizers/base.py get_modules_to_not_convert (default skips, tied weights "
        "included, only when skip_modules is None); measured with llm_int8_skip_modules=['fc1'] on qconform's "
        "tiny OPT (tie_word_embeddings=True); on the H100 (transformers 5.17) the same check fails with an "
        "AssertionError (4-bit) and the same AttributeError (8-bit): reports/probes/h100-sm_90-2026-11-22.json",
    )


CPU_REPACK = (
    "on a CPU with AVX512-BF16, Linear4bit's first forward repacks its weight in place for the CPU kernel "
    "(absmax cast to bfloat16 and transposed, quant_state.packing_format_for_cpu)"
)
DEVIATIONS_4BIT = (
    KnownDeviation(
        check="test_save_reload_bit_identical",
        params="cpu",
        reason=f"{CPU_REPACK}; state_dict converts it back only approximately, so a model saved after a forward "
        "reloads to other logits",
        evidence="bitsandbytes 0.50.2 nn/modules.py Linear4bit.forward (_convert_weight_packed_for_cpu) and "
        "_save_to_state_dict (_convert_weight_packed_for_cpu_inverse, a 'best-effort inverse' in functional.py); "
        "measured on tiny llama: 4096/4096 logits differ after reload (largest by 0.288), every absmax changed",
    ),
    KnownDeviation(
        check="test_dequantize_matches_quantized",
        params="cpu",
        reason=f"{CPU_REPACK}; model.dequantize() after a forward reads the repacked weight as the standard "
        "layout, so the dequantized model computes garbage",
        evidence="transformers integrations/bitsandbytes.py dequantize_and_replace -> dequantize_bnb_weight "
        "ignores packing_format_for_cpu; measured: dequantized logits 1.35 (relative) from the quantized ones "
        "after one forward (0.21 from full precision when dequantized before any forward)",
    ),
    KnownDeviation(
        check="test_codec_matches_twin",
        params="cpu",
        reason="the native CPU dequantize_4bit gets the weight as rows of n = in_features; when n is even but "
        "not a multiple of the blocksize (blocks straddle rows), it applies the wrong absmax: codes and absmax "
        "are right, the dequantized weight is not",
        evidence="bitsandbytes 0.50.2 backends/cpu/ops.py:139-190 (only odd n falls back to the generic path); "
        "measured, nf4 blocksize 64: relative error 0.246 for a (200, 96) weight and 0.227-0.26 for (128, 160), "
        "0.092 when the same codes and absmax are dequantized by hand; twin gap 0.99 x the peak",
    ),
    KnownDeviation(
        check="test_error_within_bound",
        params="cpu",
        reason="the CPU dequantize_4bit error above (rows not a multiple of the blocksize): relative error far "
        "above the format's",
        evidence="as for test_codec_matches_twin: measured relative error 1.59 for a (200, 96) float16 weight",
    ),
    KnownDeviation(
        check="test_linear_forward_matches_dequantized_matmul",
        params="cpu",
        reason=f"{CPU_REPACK}: the CPU kernel then computes with bfloat16 block scales, not the stored float32 "
        "ones, so the forward is up to a few tenths of a percent from the matmul with the dequantized weight",
        evidence="bitsandbytes 0.50.2 functional.py _convert_weight_packed_for_cpu (absmax .to(torch.bfloat16)); "
        "measured (ci profile): relative gap 0.0034 in float32, 0.0030 in float16, 0.0023 in bfloat16",
    ),
    _tied_head_skip_list("Linear4bit", "its forward fails (AssertionError in fix_4bit_weight_quant_state_from_module)"),
)
DEVIATIONS_8BIT = (
    _tied_head_skip_list("Linear8bitLt", "loading fails (AttributeError: 'Parameter' object has no attribute 'CB')"),
    KnownDeviation(
        check="test_finite_weights_give_finite_results",
        reason="Int8Params casts the weight to float16 before quantizing, so a bfloat16 or float32 weight beyond "
        "float16's range (|w| > 65504) gets an infinite row scale (SCB) and dequantizes to NaN",
        evidence="bitsandbytes 0.50.2 nn/modules.py:742 (Int8Params._quantize: .to(dtype=torch.float16)); measured: "
        "'huge' heavy-tailed and outlier-column 128x128 bfloat16 weights give 87/128 and 90/128 infinite SCB",
    ),
    KnownDeviation(
        check="test_saved_config_keeps_every_argument",
        reason="a model quantized with llm_int8_has_fp16_weight=True saves, but does not load back: for a "
        "pre-quantized checkpoint replace_with_bnb_linear sets int8 data on Linear8bitLt's weight, which "
        "has_fp16_weights=True made a parameter requiring gradients",
        evidence="transformers integrations/bitsandbytes.py:203-206 (new_module.weight.data = ...to(torch.int8)); "
        "measured on tiny llama (CPU, bitsandbytes 0.50.2): RuntimeError 'data set to a tensor that requires "
        "gradients must be floating point or complex dtype' on reload; only drawn configs with the flag on fail",
        raises=(RuntimeError,),
        strict=False,
    ),
)


SPECS = (
    QuantizerSpec(
        method="bitsandbytes_4bit",
        requirements=(BITSANDBYTES, ACCELERATE),
        inputs=Inputs(
            skip_field="llm_int8_skip_modules",
            default_config=lambda: _config(load_in_4bit=True),
            configs=configs_4bit,
            invalid_configs=lambda: _invalid("load_in_4bit"),
        ),
        promises=Promises(
            capabilities=Capabilities(trainable=True, dequantizable=True, deterministic=True),
            quantized_element_size=0.5,
            offload_rule=OFFLOAD,
            tolerances=Tolerances(
                rel_error=rel_error_4bit, memory_rel=0.15, across_devices=across_devices.BITSANDBYTES_4BIT
            ),
        ),
        oracles=Oracles(
            reference_twin="ref-bitsandbytes_4bit",
            codec="qconform.backends.bitsandbytes:Bnb4bitCodec",
        ),
        known_deviations=DEVIATIONS_4BIT,
    ),
    QuantizerSpec(
        method="bitsandbytes_8bit",
        requirements=(BITSANDBYTES, ACCELERATE),
        inputs=Inputs(
            skip_field="llm_int8_skip_modules",
            default_config=lambda: _config(load_in_8bit=True),
            configs=configs_8bit,
            invalid_configs=lambda: _invalid("load_in_8bit"),
        ),
        promises=Promises(
            capabilities=Capabilities(trainable=True, dequantizable=True, deterministic=True),
            quantized_element_size=1.0,
            offload_rule=OFFLOAD,
            tolerances=Tolerances(
                rel_error=REL_ERROR_8BIT,
                memory_rel=0.15,
                forward_rel_error=0.05,
                across_devices=across_devices.BITSANDBYTES_8BIT,
            ),
        ),
        oracles=Oracles(
            reference_twin="ref-bitsandbytes_8bit",
            codec="qconform.backends.bitsandbytes:Bnb8bitCodec",
        ),
        known_deviations=DEVIATIONS_8BIT,
    ),
)
