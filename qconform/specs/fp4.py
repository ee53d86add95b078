"""FP4 formats: MXFP4 (gpt-oss experts), NVFP4 (Blackwell, on the fly only), Four Over Six, FP-Quant.

Facts from ``quantizer_{mxfp4,nvfp4,fouroversix,fp_quant}.py`` and their configs. MXFP4 runs on CPU
with triton >= 3.5 and ``kernels``, and dequantizes a checkpoint where those are missing; NVFP4 refuses
pre-quantized checkpoints; FP-Quant needs a GPU or XPU and loads in bfloat16.
"""

from __future__ import annotations

from hypothesis import strategies as st

from qconform.inputs.strategies import skip_lists
from qconform.specs._common import KERNELS, MERGE_MUTATES_CHECKPOINT_OBJECT, config_builder
from qconform.specs.model import (
    Capabilities,
    Inputs,
    InvalidConfig,
    KnownDeviation,
    Oracles,
    Promises,
    QuantizerSpec,
    Requirement,
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
        pseudoquantization=st.booleans(),
        store_master_weights=st.booleans(),
        transform_init=st.sampled_from(["hadamard", "identity", "gsr"]),
    )
    nv = st.builds(
        fp_quant,
        forward_dtype=st.just("nvfp4"),
        hadamard_group_size=st.sampled_from([16, 32, 64, 128]),
        pseudoquantization=st.booleans(),
        modules_to_not_convert=skip_lists(),
    )
    return mx | nv


def no_validation(config: str, line: str) -> KnownDeviation:
    return KnownDeviation(
        check="test_invalid_config_refused",
        reason=f"{config} has no post_init: values outside the documented choices are accepted",
        evidence=f"transformers/utils/quantization_config.py:{line} ({config})",
    )


SPECS = (
    QuantizerSpec(
        method="mxfp4",
        requirements=(Requirement("triton", "triton", "3.5.0", "pip install 'triton>=3.5'"), KERNELS),
        inputs=Inputs(
            default_config=mxfp4,
            configs=lambda: st.builds(mxfp4, modules_to_not_convert=skip_lists(), dequantize=st.booleans()),
            dtypes=("float16", "bfloat16", "float32"),
        ),
        promises=Promises(
            loading_attributes=("dequantize",),
            prequantized_fallback="dequantize",
        ),
        oracles=Oracles(
            reference_twin="ref-mxfp4",
        ),
        known_deviations=(MERGE_MUTATES_CHECKPOINT_OBJECT,),
        notes="MXFP4 converts only gpt-oss experts (integrations/mxfp4.py:523, isinstance(module, GptOssMLP)): "
        "qconform's tiny llama and opt have none, so a checkpoint of them holds no MXFP4 tensor; lifecycle and "
        "numerics need a tiny gpt-oss architecture. Quantizing needs triton>=3.5 and the hub kernel "
        "kernels-community/gpt-oss-triton-kernels (integrations/mxfp4.py:519), not reachable offline",
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
        requirements=(
            Requirement("fp_quant", "fp_quant", "0.3.2", "pip install fp_quant"),
            Requirement("qutlass", "qutlass", "0.2.0", "pip install qutlass (from github.com/IST-DASLab/qutlass)"),
        ),
        inputs=Inputs(
            default_config=fp_quant,
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
        notes="a GPU run needs fp_quant>=0.3.2 and qutlass>=0.2.0 (CUDA builds); it quantizes on the fly there, in "
        "bfloat16, so no checkpoint writer is needed",
    ),
)
