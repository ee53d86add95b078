"""FP4 formats: MXFP4 (gpt-oss experts), NVFP4 (Blackwell, on the fly only), Four Over Six, FP-Quant.

Facts from ``quantizer_{mxfp4,nvfp4,fouroversix,fp_quant}.py`` and their configs. MXFP4 runs on CPU
with triton >= 3.5, ``kernels`` and a hub kernel, and dequantizes a checkpoint where those are missing (qconform
loads its tiny gpt-oss checkpoints that way: the hub kernel is out of reach offline); NVFP4 refuses
pre-quantized checkpoints; FP-Quant needs a GPU or XPU and loads in bfloat16.
"""

from __future__ import annotations

from hypothesis import strategies as st

from qconform.inputs.strategies import skip_lists
from qconform.specs._common import (
    H100_RUN,
    KERNELS,
    MERGE_MUTATES_CHECKPOINT_OBJECT,
    config_builder,
    unchecked_dequantize_flag,
)
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
)

mxfp4 = config_builder("Mxfp4Config")
nvfp4 = config_builder("NVFP4Config")
fouroversix = config_builder("FourOverSixConfig")
fp_quant = config_builder("FPQuantConfig")


def fp_quant_configs() -> st.SearchStrategy:
    mx = st.builds(
        fp_quant,
        forward_dtype=st.just("mxfp4"),
        forward_method=st.sampled_from(["abs_max", "quest"]),
        backward_dtype=st.sampled_from(["bf16", "mxfp8", "mxfp4"]),
        hadamard_group_size=st.sampled_from([32, 64, 128]),
        pseudoquantization=st.just(True),  # real kernels (qutlass) need a Blackwell GPU: none here
        store_master_weights=st.booleans(),
        transform_init=st.sampled_from(["hadamard", "identity", "gsr"]),
    )
    nv = st.builds(
        fp_quant,
        forward_dtype=st.just("nvfp4"),
        hadamard_group_size=st.sampled_from([16, 32, 64, 128]),
        pseudoquantization=st.just(True),
        modules_to_not_convert=skip_lists(),
    )
    return mx | nv


# seen on the H100 run of 2026-12-06 (fp_quant 0.3.2, pseudoquantization, transformers 5.17; the code is unchanged
# in 5.25): reports/runs/h100-sm_90-fbgemm.json
FP_QUANT_DEVIATIONS = (
    KnownDeviation(
        check="test_keep_in_fp32_modules_stay_full_precision",
        reason="FPQuantHfQuantizer never computes modules_to_not_convert from the model (no "
        "get_modules_to_not_convert call): fp_quant's replace_with_fp_quant_linear gets the config's list alone, so "
        "_keep_in_fp32_modules are quantized",
        evidence="transformers quantizers/quantizer_fp_quant.py:108-119, integrations/fp_quant.py:144 "
        "(modules_to_not_convert=config.modules_to_not_convert); observed: o_proj (llama) and fc2 (opt) quantized",
    ),
    KnownDeviation(
        check="test_skip_list_respected",
        reason="the skip list reaches fp_quant unexpanded: a module prefix such as 'model.layers.0' leaves that "
        "block's Linears quantized (transformers' should_convert_module matches prefixes), and skipping OPT's fc1 "
        "alone gave non-finite logits",
        evidence="integrations/fp_quant.py:144; observed on H100: modules_to_not_convert=['model.layers.0'] left "
        "q_proj..down_proj of layer 0 quantized; ['fc1'] on the tiny OPT: non-finite logits",
        strict=False,  # only some drawn skip lists show it
    ),
    KnownDeviation(
        check="test_memory_estimate_matches_footprint",
        reason="FPQuantHfQuantizer does not override param_element_size, so the memory estimate counts quantized "
        "weights at their bfloat16 size",
        evidence="quantizer_fp_quant.py (no param_element_size); observed: estimate 2686448 B, loaded model "
        "736696 B (3.6x)",
    ),
    KnownDeviation(
        check="test_error_within_bound_per_row",
        reason="a weight row of values near float16's maximum comes out of the pseudo-quantized forward with a "
        "relative error of 0.97 (every other planted row within 0.13): the FP4 emulation loses such rows",
        evidence="observed on H100, bfloat16 tiny llama and opt: row 7 (near_fp16_max) of every layer-1 Linear, "
        "error 8.22e4 against a row norm of 8.47e4 (bound 0.2)",
    ),
)


def no_validation(config: str, line: str) -> KnownDeviation:
    return KnownDeviation(
        check="test_invalid_config_refused",
        reason=f"{config} has no post_init: values outside the documented choices are accepted",
        evidence=f"transformers/utils/quantization_config.py:{line} ({config})",
    )


SPECS = (
    QuantizerSpec(
        method="mxfp4",
        # what runs here is the dequantize path, and Mxfp4HfQuantizer.validate_environment returns right after its
        # torch check when dequantize=True (quantizer_mxfp4.py:56-57): no triton, kernels or accelerate needed
        requirements=(),
        inputs=Inputs(
            default_config=mxfp4,
            configs=lambda: st.builds(mxfp4, modules_to_not_convert=skip_lists(), dequantize=st.booleans()),
            dtypes=("float16", "bfloat16", "float32"),
            architectures=("gpt_oss",),
            checkpoint_writer="reference_quantizers.writers.mxfp4:prequantized_checkpoint",
            # without dequantize a checkpoint is swizzled for the hub kernel kernels-community/gpt-oss-triton-kernels
            # (Mxfp4Deserialize, integrations/mxfp4.py:132-173), which offline machines cannot fetch
            loading_overrides={"cpu": {"dequantize": True}, "cuda": {"dequantize": True}},
        ),
        promises=Promises(
            loading_attributes=("dequantize",),
            prequantized_fallback="dequantize",
            # e2m1 with one power-of-two scale per 32 inputs: the tiny gpt-oss experts come back within 0.119
            # (relative Frobenius) of the originals, the logits within 0.138 (tests/reference/test_writer_mxfp4.py)
            tolerances=Tolerances(rel_error=0.15),
        ),
        oracles=Oracles(
            reference_twin="ref-mxfp4",
        ),
        known_deviations=(
            MERGE_MUTATES_CHECKPOINT_OBJECT,
            unchecked_dequantize_flag("Mxfp4Config", 1812),
            KnownDeviation(
                check="test_save_reload_bit_identical",
                params="cuda",
                reason="dequantized on CUDA, the experts come out in bfloat16 while config.json keeps the checkpoint's "
                "float32, so the saved model reloads its experts in float32 and gives other logits",
                evidence=f"{H100_RUN}: reloaded gpt_oss model gives different logits (largest difference 0.78); every "
                "expert tensor bfloat16 before, float32 after",
            ),
        ),
        notes="what runs here is the dequantize fallback of a real MXFP4 checkpoint, not MXFP4 compute: "
        "reference_quantizers.writers.mxfp4 writes the tiny gpt-oss with its experts as *_blocks (e2m1 codes, two a "
        "byte, low nibble first, blocks of 32 inputs) and *_scales (e8m0, bias 127), and every load passes "
        "dequantize=True, so Mxfp4Dequantize (integrations/mxfp4.py:96-125) turns them back into float experts and "
        "transformers then drops the quantization config (quantizers/base.py:220-221): the loaded model is a plain "
        "gpt-oss. MXFP4 converts only gpt-oss experts (integrations/mxfp4.py:523, isinstance(module, GptOssMLP)), "
        "hence the gpt_oss architecture. Quantizing on the fly, and loading without dequantize, need triton>=3.5 "
        "(>=3.4 on CUDA), kernels and the hub kernel kernels-community/gpt-oss-triton-kernels "
        "(integrations/mxfp4.py:519 get_kernel), which an offline run cannot fetch",
    ),
    QuantizerSpec(
        method="nvfp4",
        requirements=(KERNELS,),
        inputs=Inputs(
            default_config=nvfp4,
            configs=lambda: st.builds(nvfp4, modules_to_not_convert=skip_lists()),
            devices=("cuda",),
        ),
        promises=Promises(
            capabilities=Capabilities(needs_accelerator=True, serializable=False, loads_prequantized=False),
            quantized_element_size=0.5,
        ),
        oracles=Oracles(
            reference_twin="ref-nvfp4",
        ),
        notes="on the fly only ('Loading pre-quantized NVFP4 checkpoints is not supported yet.', "
        "quantizer_nvfp4.py:54), on a CUDA device_map with kernels installed; the GEMM comes from the hub "
        "(hub_kernels.py:337, kernels-community/nvfp4-gemm), so a GPU run needs that kernel in the hub cache",
    ),
    QuantizerSpec(
        method="fouroversix",
        requirements=(Requirement("fouroversix", "fouroversix", None, "pip install fouroversix --no-build-isolation"),),
        inputs=Inputs(
            default_config=fouroversix,
            configs=lambda: st.builds(
                fouroversix,
                dtype=st.sampled_from(["nvfp4", "mxfp4"]),
                scale_rule=st.sampled_from(["mse", "mae", "abs_max", "static_6", "static_4"]),
                keep_master_weights=st.booleans(),
                output_dtype=st.sampled_from(["bfloat16", "float16"]),
            ),
            invalid_configs=lambda: st.sampled_from(
                [InvalidConfig({"dtype": "int4"}, "dtype"), InvalidConfig({"scale_rule": "median"}, "scale_rule")]
            ),
        ),
        known_deviations=(
            no_validation("FourOverSixConfig", "1869"),
            KnownDeviation(
                check="test_missing_package_is_named",
                reason="is_fouroversix_available() returns the tuple from _is_package_available, which is always "
                "truthy, so validate_environment never notices that fouroversix is missing (seen on 5.17.0, "
                "fixed by 5.23.0)",
                evidence="transformers 5.17.0 utils/import_utils.py:1331-1332 (return _is_package_available(...))",
                when=("transformers", "<5.23"),
            ),
        ),
        notes="fouroversix 1.0.5 is an sdist that does not build here: with build isolation its setup imports "
        "torch (ModuleNotFoundError: No module named 'torch'), and with --no-build-isolation its metadata step did "
        "not finish in 400 s on 2 CPU cores (CUDA extension); a GPU machine with a prebuilt wheel quantizes on the fly",
    ),
    QuantizerSpec(
        method="fp_quant",
        # qutlass (real FP4 GEMMs) only for pseudoquantization=False, which needs a Blackwell GPU
        requirements=(Requirement("fp_quant", "fp_quant", "0.3.2", "pip install fp_quant"),),
        inputs=Inputs(
            default_config=lambda: fp_quant(pseudoquantization=True),
            configs=fp_quant_configs,
            invalid_configs=lambda: st.sampled_from(
                [
                    InvalidConfig({"forward_dtype": "int4"}, "forward_dtype"),
                    InvalidConfig({"backward_dtype": "fp16"}, "backward_dtype"),
                    InvalidConfig({"transform_init": "random"}, "transform_init"),
                    InvalidConfig({"forward_dtype": "nvfp4", "hadamard_group_size": 8}, "hadamard_group_size"),
                    InvalidConfig({"forward_dtype": "nvfp4", "forward_method": "quest"}, "forward_method"),
                ]
            ),
            devices=("cuda",),
            dtypes=("bfloat16",),
        ),
        promises=Promises(
            # trainable is left to the quantizer: FPQuantHfQuantizer.is_trainable() returns the config's
            # store_master_weights, False by default (quantizer_fp_quant.py:123), and no run has trained it here
            capabilities=Capabilities(needs_accelerator=True),
        ),
        known_deviations=FP_QUANT_DEVIATIONS,
        notes="checked with pseudoquantization=True (fp_quant's Triton kernels: the FP4 rounding emulated in "
        "bfloat16, quantizer_fp_quant.py:48-68): the real kernels (qutlass>=0.2.0) need a Blackwell GPU, which no "
        "machine here has; on a GPU with fp_quant>=0.3.2 and triton it quantizes on the fly, in bfloat16, so no "
        "checkpoint writer is needed; validate_environment refuses a machine without CUDA or XPU",
    ),
)
