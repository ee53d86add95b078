"""Pre-quantized codebook and outlier formats: AQLM, VPTQ, SpQR, and HIGGS (which also quantizes).

Facts from ``quantizer_{aqlm,vptq,spqr,higgs}.py`` and their configs. VPTQ, SpQR and HIGGS need a
CUDA GPU at validation; SpQR loads in float16 only, HIGGS in float16 or bfloat16.
"""

from __future__ import annotations

from hypothesis import strategies as st

from qconform.inputs.strategies import skip_lists
from qconform.specs import across_devices
from qconform.specs._common import ACCELERATE, config_builder, invalid_cases
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

PRE_QUANTIZED = Capabilities(quantizes_on_the_fly=False)
ON_GPU_PRE_QUANTIZED = Capabilities(quantizes_on_the_fly=False, needs_accelerator=True)


aqlm = config_builder("AqlmConfig")
vptq = config_builder("VptqConfig")
spqr = config_builder("SpQRConfig")
higgs = config_builder("HiggsConfig")


def aqlm_configs() -> st.SearchStrategy:
    return st.builds(
        aqlm,
        in_group_size=st.sampled_from([8, 16]),
        out_group_size=st.sampled_from([1, 2]),
        num_codebooks=st.sampled_from([1, 2]),
        nbits_per_codebook=st.sampled_from([8, 16]),
        linear_weights_not_to_quantize=st.sampled_from([None, ["lm_head.weight"], ["model.embed_tokens.weight"]]),
    )


def higgs_configs() -> st.SearchStrategy:
    return st.builds(
        higgs,
        bits=st.sampled_from([2, 3, 4]),
        p=st.sampled_from([1, 2]),
        group_size=st.sampled_from([64, 128, 256]),
        hadamard_size=st.sampled_from([256, 512, 1024]),
        modules_to_not_convert=skip_lists(),
    )


_SKIPS_BY_WEIGHT_PATH = (
    "AqlmHfQuantizer matches linear_weights_not_to_quantize, which lists weight paths ('lm_head.weight', as "
    "the config documents and AQLM checkpoints write), against module names ('lm_head'), and adds no default "
    "skips: every Linear is replaced, the listed ones included"
)
_SKIPS_EVIDENCE = (
    "transformers 5.23 integrations/aqlm.py:35 (documents parameter paths) and :45 (should_convert_module("
    "module_name, modules_to_not_convert)); quantizers/quantizer_aqlm.py:53-57"
)

_FLOAT32_ON_CUDA = (
    "AqlmHfQuantizer does not override update_dtype, so a float32 model (the checkpoint's dtype) is accepted on "
    "CUDA, where aqlm's kernels refuse float32 at the first forward (NotImplementedError): validation passes a "
    "model that cannot run"
)
_FLOAT32_EVIDENCE = (
    "transformers 5.23 quantizers/quantizer_aqlm.py (no update_dtype: HfQuantizer.update_dtype returns the dtype "
    "unchanged); aqlm 1.1.7 inference_kernels/cuda_kernel.cpp:19 ('AQLM CUDA kernels only support float16 and "
    "bfloat16'); reports/probes/h100-sm_90-2026-11-22.json and "
    "reports/probes/h200x2-sm_90/multi-gpu-1-torch_awq.json, tiny llama in float32"
)
FLOAT32_REFUSED_ON_CUDA = (
    *(
        KnownDeviation(check, _FLOAT32_ON_CUDA, _FLOAT32_EVIDENCE, params="cuda-llama")
        for check in (
            "test_forward_runs_deterministically",
            "test_save_reload_bit_identical",
            "test_logits_drift_vs_full_precision",
        )
    ),
    # runs on CUDA only, so its id names no device
    KnownDeviation("test_split_over_two_gpus_matches_one", _FLOAT32_ON_CUDA, _FLOAT32_EVIDENCE, params="llama"),
    # the forward check draws the dtype: only float32 draws fail
    KnownDeviation(
        "test_linear_forward_matches_dequantized_matmul", _FLOAT32_ON_CUDA, _FLOAT32_EVIDENCE, "cuda", strict=False
    ),
)

SPECS = (
    QuantizerSpec(
        method="aqlm",
        requirements=(Requirement("aqlm", "aqlm", None, "pip install 'aqlm[gpu,cpu]'"), ACCELERATE),
        inputs=Inputs(
            default_config=aqlm,
            configs=aqlm_configs,
            invalid_configs=invalid_cases(
                InvalidConfig({"in_group_size": 8.0}, "in_group_size"),
                InvalidConfig({"num_codebooks": "1"}, "num_codebooks"),
                InvalidConfig({"nbits_per_codebook": None}, "nbits_per_codebook"),
                InvalidConfig({"linear_weights_not_to_quantize": "lm_head.weight"}, "linear_weights_not_to_quantize"),
            ),
            checkpoint_writer="reference_quantizers.writers.aqlm:prequantized_checkpoint",
        ),
        promises=Promises(
            capabilities=PRE_QUANTIZED,
            requires_calibration=True,
            tolerances=Tolerances(rel_error=1.0, twin_atol=2**-6, across_devices=across_devices.AQLM),
        ),
        oracles=Oracles(
            reference_twin="ref-aqlm",
            codec="qconform.backends.aqlm:AqlmCodec",
        ),
        known_deviations=(
            KnownDeviation(
                check="test_backward_gives_finite_gradients",
                params="opt",
                reason="a backward through the tiny OPT (tied embeddings) reaches aqlm's QuantizedLinear.weight, "
                "which the module does not have",
                evidence="qconform CPU run 2026-12-06 (transformers 5.25, torch 2.13), aqlm 1.1.7: "
                "AttributeError: QuantizedLinear has no attribute `weight`",
                raises=(AttributeError,),
            ),
            KnownDeviation(
                check="test_output_embedding_stays_full_precision",
                reason=_SKIPS_BY_WEIGHT_PATH + ": the output embedding becomes a QuantizedLinear whose codes the "
                "checkpoint does not hold",
                evidence=_SKIPS_EVIDENCE,
            ),
            *(
                KnownDeviation(
                    check=check,
                    params="opt",
                    reason=_SKIPS_BY_WEIGHT_PATH + "; with tied embeddings (OPT) tie_weights then reads "
                    "lm_head.weight, which the QuantizedLinear lacks",
                    evidence=_SKIPS_EVIDENCE + "; measured: AttributeError 'QuantizedLinear has no attribute weight' "
                    "on tiny OPT",
                    raises=(AttributeError,),
                )
                for check in (
                    "test_forward_runs_deterministically",
                    "test_save_reload_bit_identical",
                    "test_logits_drift_vs_full_precision",
                    "test_split_over_two_gpus_matches_one",
                )
            ),
            *FLOAT32_REFUSED_ON_CUDA,
        ),
    ),
    QuantizerSpec(
        method="vptq",
        requirements=(ACCELERATE, Requirement("vptq", "vptq", "0.0.4", "pip install -U vptq")),
        inputs=Inputs(
            default_config=vptq,
            invalid_configs=invalid_cases(
                InvalidConfig({"enable_proxy_error": True}, "enable_proxy_error"),
                InvalidConfig(
                    {"config_for_layers": {"model.layers.0.mlp.up_proj": {"is_indice_packed": False}}},
                    "is_indice_packed",
                ),
            ),
            devices=("cuda",),
        ),
        promises=Promises(
            capabilities=ON_GPU_PRE_QUANTIZED,
            requires_calibration=True,
        ),
        notes="validate_environment refuses without CUDA (RuntimeError('GPU is required to run VTPQ quantized "
        "model.'), quantizer_vptq.py), so no CPU run reaches a model; pip resolves vptq 0.0.5.post1 here (with "
        "gradio and sentence-transformers; not installed) and it ships no offline writer: its checkpoints come "
        "from the VPTQ algorithm's repository, so a GPU run also needs a checkpoint writer (none yet)",
    ),
    QuantizerSpec(
        method="spqr",
        requirements=(ACCELERATE, Requirement("spqr_quant", "spqr_quant", None, "pip install 'spqr_quant[gpu]'")),
        inputs=Inputs(
            default_config=spqr,
            invalid_configs=invalid_cases(
                InvalidConfig({"bits": 4}, "bits"),
                InvalidConfig({"beta1": 8}, "beta1"),
                InvalidConfig({"beta2": "16"}, "beta2"),
                InvalidConfig({"shapes": []}, "shapes"),
            ),
            devices=("cuda",),
            dtypes=("float16",),
        ),
        promises=Promises(
            capabilities=ON_GPU_PRE_QUANTIZED,
            requires_calibration=True,
        ),
        notes="validate_environment refuses without CUDA (RuntimeError('GPU is required to run SpQR quantized "
        "model.'), quantizer_spqr.py) and update_dtype accepts float16 only; spqr_quant 0.2.0 installs here but "
        "holds only the inference layer and CUDA kernels (no quantizer, no writer), so a GPU run also needs a "
        "checkpoint writer (none yet)",
    ),
    QuantizerSpec(
        method="higgs",
        requirements=(
            ACCELERATE,
            Requirement("flute", "flute-kernel", "0.4.1", "pip install 'flute-kernel>=0.3.0'"),
            Requirement(
                "fast_hadamard_transform", "fast_hadamard_transform", None, "pip install fast_hadamard_transform"
            ),
        ),
        inputs=Inputs(
            default_config=higgs,
            configs=higgs_configs,
            invalid_configs=invalid_cases(
                InvalidConfig({"bits": 5}, "bits"),
                InvalidConfig({"group_size": 32}, "group_size"),
                InvalidConfig({"hadamard_size": 320, "group_size": 256}, "hadamard_size"),
            ),
            devices=("cuda",),
            dtypes=("float16", "bfloat16"),
        ),
        promises=Promises(
            capabilities=Capabilities(needs_accelerator=True),
        ),
    ),
)
