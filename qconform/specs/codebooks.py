"""Pre-quantized codebook and outlier formats: AQLM, VPTQ, SpQR, and HIGGS (which also quantizes).

Facts from ``quantizer_{aqlm,vptq,spqr,higgs}.py`` and their configs. VPTQ, SpQR and HIGGS need a
CUDA GPU at validation; SpQR loads in float16 only, HIGGS in float16 or bfloat16.
"""

from __future__ import annotations

from hypothesis import strategies as st

from qconform.inputs.strategies import skip_lists
from qconform.specs import across_devices
from qconform.specs._common import ACCELERATE, H100_RUN, config_builder, invalid_cases
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
    cannot_load,
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
                params="cuda",
                reason="AQLM's CUDA kernels take float16 and bfloat16 activations only, and the backward check trains "
                "in the checkpoint's float32: the model loads, then its forward raises NotImplementedError",
                evidence=f"{H100_RUN}: NotImplementedError: AQLM CUDA kernels only support float16 and "
                "bfloat16. Got float",
                raises=(NotImplementedError,),
            ),
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
            checkpoint_writer="reference_quantizers.writers.vptq:prequantized_checkpoint",
            devices=("cuda",),
        ),
        promises=Promises(
            capabilities=ON_GPU_PRE_QUANTIZED,
            requires_calibration=True,
            # 2 bits per weight (256 centroids of 4 weights) learnt on 1-8k vectors per tiny Linear
            tolerances=Tolerances(rel_error=0.35),
        ),
        known_deviations=(
            *(
                KnownDeviation(
                    check,
                    reason="VptqConfig's defaults describe no layer (empty config_for_layers and shared_layer_config), "
                    "and preprocess_model crashes on them with TypeError instead of refusing the config",
                    evidence=f"{H100_RUN}: TypeError: 'NoneType' object is not subscriptable in "
                    "replace_with_vptq_linear",
                    raises=(TypeError,),
                )
                for check in ("test_param_element_size", "test_auto_device_map_within_budgets")
            ),
            *cannot_load(
                reason="replace_with_vptq_linear indexes model._modules with a dotted module name, so any model whose "
                "Linears sit below its top level (every causal LM) fails to load with KeyError",
                evidence="transformers 5.17 and 5.25 integrations/vptq.py:71 (model._modules[module_name]"
                ".requires_grad_(False)); reproduced on the CPU with torch.cuda.is_available patched: KeyError "
                "'model.layers.0.self_attn.q_proj'",
                raises=(KeyError,),
            ),
        ),
        notes="validate_environment refuses without CUDA (RuntimeError('GPU is required to run VTPQ quantized "
        "model.'), quantizer_vptq.py), so the model checks run on the GPU machine only. vptq ships no quantizer, "
        "so reference_quantizers.writers.vptq writes the checkpoints: one group, no residual, no outliers, "
        "enable_norm and enable_perm, 256 centroids of vector_len 4 from a plain-torch k-means, indices packed "
        "as vptq.utils.pack.pack_index packs them, every converted Linear in config_for_layers. Verified on the "
        "CPU (2026-12-06, vptq 0.0.5.post1 source from its cp312 wheel, on its pure-torch path): vptq's own "
        "ops.dequant reproduces the writer's decode bit for bit on every Linear of both tiny models, its "
        "pack_index packs the same words, VQuantLinear.forward matches the dequantized matmul; relative "
        "Frobenius error 0.25-0.29 per Linear, logits drift about 0.46-0.48 with the decoded weights (hence "
        "rel_error 0.35, drift bound 0.7). On the GPU machine vptq's kernels do not load (libcudart.so.12) and "
        "it runs its torch path. Every load is expected to fail there: replace_with_vptq_linear (transformers "
        "5.17 and 5.25, integrations/vptq.py:71) indexes model._modules with a dotted module name, KeyError "
        "'model.layers.0.self_attn.q_proj' (reproduced on the CPU with torch.cuda.is_available patched; with "
        "that line fixed the checkpoints load and give the drift above)",
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
            checkpoint_writer="reference_quantizers.writers.spqr:prequantized_checkpoint",
            devices=("cuda",),
            dtypes=("float16",),
        ),
        promises=Promises(
            capabilities=ON_GPU_PRE_QUANTIZED,
            requires_calibration=True,
        ),
        known_deviations=(
            # first: where both apply (a model check passing another dtype), this one decides
            *(
                KnownDeviation(
                    check,
                    reason="SpQRHfQuantizer.update_dtype raises ValueError for any dtype but float16 instead of "
                    "choosing float16, as other quantizers do: a caller passing bfloat16 or float32 fails",
                    evidence=f"quantizer_spqr.py:51-56; {H100_RUN}: ValueError: You cannot use any "
                    "type other than torch.float16 for SpQR",
                    raises=(ValueError,),
                )
                for check in (
                    "test_param_element_size",
                    "test_auto_device_map_within_budgets",
                    "test_linear_forward_matches_dequantized_matmul",
                )
            ),
            *cannot_load(
                reason="transformers calls spqr_quant's QuantizedLinear.create_placeholder, which spqr_quant 0.2.0 "
                "(its only release) spells create_placehodler, so no SpQR model loads (AttributeError); past it, "
                "integrations/spqr.py:64 indexes model._modules with a dotted name (KeyError)",
                evidence="transformers 5.17 and 5.25 integrations/spqr.py (QuantizedLinear.create_placeholder); "
                "spqr_quant 0.2.0 inference.py (def create_placehodler); reproduced on the CPU with "
                "torch.cuda.is_available patched and the kernel module stubbed",
                raises=(AttributeError,),
            ),
        ),
        notes="validate_environment refuses without CUDA (RuntimeError('GPU is required to run SpQR quantized "
        "model.'), quantizer_spqr.py) and update_dtype accepts float16 only, so the model checks run on the GPU "
        "machine only. spqr_quant 0.2.0 holds the inference layer and CUDA kernels but no quantizer, and its "
        "packer is C++ built by nvcc at import, so reference_quantizers.writers.spqr quantizes (3-bit 16x16 "
        "tiles, 3-bit second-order statistics, 1% float16 outliers in CSR, columns permuted by decreasing norm) "
        "and packs (a port of tensor_compress_interleaved) itself, float16 checkpoints. Verified on the CPU "
        "(2026-12-06): its decode, a port of spqr_quant's host dequantize_compressed, gives relative Frobenius "
        "error 0.145-0.147 on every Linear of both tiny models, logits drift 0.23 (llama) and 0.30 (opt) with the "
        "decoded weights; tests/reference/test_writer_spqr_vptq.py compares with spqr_quant's own packer, "
        "dequantizer and kernels where it imports (the GPU machine). Expected there from the sources, not yet "
        "measured there: every load fails, transformers (5.17 and 5.25) calls QuantizedLinear.create_placeholder, "
        "which spqr_quant 0.2.0 spells create_placehodler (AttributeError), and then indexes model._modules with a "
        "dotted name (KeyError, integrations/spqr.py:64), both reproduced on the CPU with torch.cuda.is_available "
        "patched and the kernel module stubbed; with both fixed the checkpoints load (OPT's biases unexpected: "
        "QuantizedLinear has none). QuantizedLinear.forward also computes the first sequence of a batch only",
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
