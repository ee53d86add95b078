"""FP8 weights: fine-grained blocks (``fp8``), MX blocks of 32 (``mxfp8``, same quantizer), and fbgemm.

Facts from ``quantizer_finegrained_fp8.py``, ``quantizer_fbgemm_fp8.py`` and the configs: quantizing
on the fly needs a GPU or XPU (fbgemm: compute capability >= 9.0 and fbgemm-gpu); a fine-grained
checkpoint on a machine without one is dequantized instead (``dequantize`` is a loading attribute);
weights take a byte.
"""

from __future__ import annotations

from hypothesis import strategies as st

from qconform.inputs.strategies import optional, skip_lists
from qconform.specs._common import ACCELERATE, MERGE_MUTATES_CHECKPOINT_OBJECT, TWO_GPU_RUN
from qconform.specs.model import (
    MODEL_LOADING_CHECKS,
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

ON_GPU = Capabilities(needs_accelerator=True, trainable=True)

NOT_TRAINABLE_BEFORE_5_23 = KnownDeviation(
    check="test_backward_gives_finite_gradients",
    when=("transformers", "<5.23"),
    reason="FineGrainedFP8HfQuantizer.is_trainable is False in transformers 5.17 (True in 5.23, which the spec "
    "states): fine-tuning on FP8 weights is refused",
    evidence="reports/probes/h100-sm_90-2026-11-22.json (transformers 5.17: 'the spec declares the method "
    "trainable but "
    "hf_quantizer.is_trainable is False'); transformers 5.23 quantizers/quantizer_finegrained_fp8.py:163-164",
)

SKIP_LIST_REPLACED = KnownDeviation(
    check="test_merge_takes_loading_attributes_from_argument",
    reason="FineGrainedFP8Config declares modules_to_not_convert a loading attribute, so the argument's list "
    "(None unless given) replaces the checkpoint's: passing FineGrainedFP8Config(dequantize=True) to load a "
    "checkpoint drops the list of modules that checkpoint stores unquantized",
    evidence="transformers/utils/quantization_config.py:1746 (get_loading_attributes) and "
    "transformers/quantizers/auto.py:273 (setattr on the checkpoint's config)",
)


def _fine_grained(**kwargs):
    from transformers import FineGrainedFP8Config

    return FineGrainedFP8Config(**kwargs)


def _mx(**kwargs):
    return _fine_grained(**{"quant_method": "mxfp8", "weight_block_size": (1, 32), "scale_fmt": "ue8m0", **kwargs})


def _fbgemm(**kwargs):
    from transformers import FbgemmFp8Config

    return FbgemmFp8Config(**kwargs)


def fp8_configs() -> st.SearchStrategy:
    return st.builds(
        _fine_grained,
        activation_scheme=st.sampled_from(["dynamic", "static"]),
        weight_block_size=st.sampled_from([(128, 128), (64, 64), (1, 128)]),
        dequantize=st.booleans(),
        modules_to_not_convert=skip_lists(),
        scale_fmt=st.sampled_from(["float", "ue8m0"]),
        expert_dtype=st.sampled_from(["fp8", "fp4"]),
    )


def mxfp8_configs() -> st.SearchStrategy:
    return st.builds(_mx, dequantize=st.booleans(), modules_to_not_convert=skip_lists())


def fbgemm_configs() -> st.SearchStrategy:
    return st.builds(
        _fbgemm,
        activation_scale_ub=st.sampled_from([1200.0, 600.0, 2400.0]),
        modules_to_not_convert=optional(st.sampled_from([["lm_head"], ["lm_head", "down_proj"]])),
    )


def fine_grained_invalid() -> st.SearchStrategy[InvalidConfig]:
    return st.sampled_from(
        [
            InvalidConfig({"activation_scheme": "per-tensor-ish"}, "activation_scheme"),
            InvalidConfig({"weight_block_size": (128,)}, "weight_block_size"),
            InvalidConfig({"weight_block_size": (0, 128)}, "weight_block_size"),
        ]
    )


BLOCK_SIZE_BECOMES_LIST = KnownDeviation(
    check="test_round_trip_keeps_types",
    reason="FineGrainedFP8Config declares weight_block_size as tuple[int, int] (default (128, 128)) but neither "
    "post_init nor from_dict converts what config.json gives back: a saved and reloaded config holds a list, "
    "so comparisons with a tuple (== (128, 128)) change their answer after a round trip",
    evidence="transformers 5.23 utils/quantization_config.py:1707 (weight_block_size: tuple[int, int] = (128, 128)) "
    "and :1723 (stored as given); measured: (128, 128) -> [128, 128] through to_dict/JSON/from_dict",
)

SCALES_DIFFER_BETWEEN_LOADS = KnownDeviation(
    check="test_split_over_two_gpus_matches_one",
    reason="two loads of the same tiny llama with FineGrainedFP8Config give different weight_scale_inv for k_proj and "
    "v_proj (out_features 32: part of one 128x128 block), so the model split over two GPUs stores other scales "
    "than the one on one GPU; the values change from run to run, as uninitialised memory would (not established)",
    evidence=TWO_GPU_RUN
    + ": layers.0 k_proj 0.078 and v_proj 5.7e3 apart, layers.1 k_proj 0.078; an earlier run the same day: "
    "layers.0 k_proj and v_proj 5.73e3 apart",
    params="llama",
    when=("transformers", "==5.17.*"),
    strict=False,
)

_NO_KERNELS = (
    "FineGrainedFP8's CUDA forward needs the `kernels` package (0.16.x), which fetches compiled kernels from the "
    "Hugging Face hub; validate_environment does not ask for it, so the model loads and its first forward raises "
    "ImportError (qconform's GPU machines have neither the package nor a network)"
)
_NO_KERNELS_EVIDENCE = (
    "reports/runs/h200x2-sm_90.json and reports/probes/h100-sm_90-2026-11-22.json (transformers 5.17): ImportError "
    "'finegrained-fp8 kernel unavailable: `kernels` is either not installed or uses an incompatible version' at "
    "the first forward of every CUDA model check"
)
CAPABILITY_TRAINABLE_BEFORE_5_23 = KnownDeviation(
    check="test_declared_capabilities_agree_with_the_quantizer",
    when=("transformers", "<5.23"),
    reason=NOT_TRAINABLE_BEFORE_5_23.reason,
    evidence="reports/probes/h100-sm_90-2026-12-06.json (transformers 5.17): 'trainable: the spec declares True, "
    "the quantizer says False (FineGrainedFP8HfQuantizer.is_trainable is False)'",
)
# auto-round 0.16.1 (auto_round/modeling/fp8_quant.py:162-180), once imported where CUDA is available, replaces
# transformers' replace_with_fp8_linear with its own, which passes dtype=None to FP8Linear: transformers 5.17's
# FP8Linear takes no dtype, so every FineGrainedFP8 model built later in that process fails
AUTO_ROUND_REPLACES_FP8_LINEAR = tuple(
    KnownDeviation(
        check,
        reason="auto-round, imported earlier in the same process on a CUDA machine, replaced transformers' "
        "replace_with_fp8_linear with its own, which passes dtype=None to FP8Linear; transformers 5.17's FP8Linear "
        "has no dtype argument, so preprocess_model raises TypeError",
        evidence="auto-round 0.16.1 auto_round/modeling/fp8_quant.py:162-180 (apply_fp8_expert_replacement_patch at "
        "import, when torch.cuda.is_available()); reports/probes/h100-sm_90-2026-12-06.json: TypeError: "
        "FP8Linear.__init__() got an unexpected keyword argument 'dtype' (raised in auto_round/modeling/"
        "fp8_quant.py:74); reports/runs/h200-sm_90.json of 2026-12-06: the same in test_is_serializable_agrees_"
        "with_spec (fp8, mxfp8) and test_output_embedding_stays_full_precision (fp8): any check that builds an FP8 "
        "model in a worker that ran an auto-round check first",
        when=("auto-round", ">=0.16"),
        raises=(TypeError,),
        strict=False,  # only where an earlier check in that xdist worker imported auto_round
        params=params,
    )
    for check, params in (
        ("test_param_element_size", None),  # its id names no device
        ("test_auto_device_map_within_budgets", None),
        *((check, "cuda") for check in MODEL_LOADING_CHECKS),  # the patch applies where CUDA is available
    )
)
FORWARD_NEEDS_KERNELS = (
    *(
        KnownDeviation(
            check,
            _NO_KERNELS,
            _NO_KERNELS_EVIDENCE,
            "cuda",
            when=("transformers", "==5.17.*"),
            unless_installed="kernels",
        )
        for check in (
            "test_forward_runs_deterministically",
            "test_save_reload_bit_identical",
            "test_skip_list_respected",
            "test_linear_forward_matches_dequantized_matmul",
            "test_logits_drift_vs_full_precision",
            # the hostile-weight family (new since those runs): reports/probes/h100-sm_90-2026-12-06.json
            "test_hostile_rows_give_finite_outputs",
            "test_zero_rows_stay_zero",
            "test_error_within_bound_per_row",
        )
    ),
    KnownDeviation(  # runs on CUDA only: its id names no device
        "test_split_over_two_gpus_matches_one",
        _NO_KERNELS,
        _NO_KERNELS_EVIDENCE,
        raises=(ImportError,),
        when=("transformers", "==5.17.*"),
        unless_installed="kernels",
    ),
)

# FineGrainedFP8Config's two dispatch keys: E4M3 blocks with weight_scale_inv (fp8) and MX blocks (mxfp8)
SHARED_FP8_DEVIATIONS = (MERGE_MUTATES_CHECKPOINT_OBJECT, SKIP_LIST_REPLACED, BLOCK_SIZE_BECOMES_LIST)
FP8 = QuantizerSpec(
    method="fp8",
    requirements=(ACCELERATE,),
    inputs=Inputs(
        default_config=_fine_grained,
        configs=fp8_configs,
        invalid_configs=fine_grained_invalid,
        devices=("cuda",),
    ),
    promises=Promises(
        loading_attributes=("dequantize",),
        capabilities=ON_GPU,
        quantized_element_size=1.0,
        prequantized_fallback="dequantize",
        tolerances=Tolerances(rel_error=0.08, forward_rel_error=0.05),
    ),
    oracles=Oracles(
        reference_twin="ref-fp8",
        codec="qconform.backends.fp8:FineGrainedFp8Codec",
    ),
    known_deviations=(
        *SHARED_FP8_DEVIATIONS,
        NOT_TRAINABLE_BEFORE_5_23,
        CAPABILITY_TRAINABLE_BEFORE_5_23,
        SCALES_DIFFER_BETWEEN_LOADS,
        *FORWARD_NEEDS_KERNELS,
        *AUTO_ROUND_REPLACES_FP8_LINEAR,
    ),
)
MXFP8_SAVE_DROPS_CONFIG = KnownDeviation(
    check="test_saved_config_keeps_every_argument",
    params="cuda",
    when=("transformers", "==5.17.*"),
    reason="an MXFP8 model (FineGrainedFP8Config(quant_method='mxfp8')) saved and reloaded comes back with no "
    "quantization_config at all: the reloaded LlamaConfig has none (the fp8 key keeps it)",
    evidence="reports/probes/h100-sm_90-2026-12-06.json and reports/runs/h100-sm_90-fbgemm.json (transformers 5.17): "
    "AttributeError: 'LlamaConfig' object has no attribute 'quantization_config' after save_pretrained and "
    "from_pretrained; not run on a GPU with a later transformers",
    raises=(AttributeError,),
)
MXFP8 = FP8.replace(
    method="mxfp8",
    default_config=_mx,
    configs=mxfp8_configs,
    reference_twin="ref-mxfp8",
    codec=None,  # no codec for the MX layout yet
    tolerances=Tolerances(),
    known_deviations=(
        *SHARED_FP8_DEVIATIONS,
        NOT_TRAINABLE_BEFORE_5_23,
        CAPABILITY_TRAINABLE_BEFORE_5_23,
        *FORWARD_NEEDS_KERNELS,
        *AUTO_ROUND_REPLACES_FP8_LINEAR,
        MXFP8_SAVE_DROPS_CONFIG,
    ),
)

# seen on the H100 run with fbgemm-gpu-genai 1.6.0 (reports/runs/h100-sm_90-fbgemm.json, transformers 5.17)
FBGEMM_OPT_FORWARD = tuple(
    KnownDeviation(
        check,
        params="cuda-opt",
        reason="an FbgemmFp8 OPT model fails its first forward: a bfloat16 activation meets a float32 parameter "
        "(OPT's LayerNorms and biases stay float32 where the quantizer set bfloat16); the Llama model runs",
        evidence="reports/runs/h100-sm_90-fbgemm.json of 2026-12-06: RuntimeError: expected scalar type Float but "
        "found BFloat16 (torch/nn/functional.py, layer_norm) in every model check on the tiny OPT",
    )
    for check in (
        "test_forward_runs_deterministically",
        "test_save_reload_bit_identical",
        "test_skip_list_respected",
        "test_logits_drift_vs_full_precision",
        "test_hostile_rows_give_finite_outputs",
        "test_zero_rows_stay_zero",
        "test_error_within_bound_per_row",
    )
)

# fbgemm-gpu-genai (the wheel with the FP8 GEMMs) installs the same fbgemm_gpu import as fbgemm-gpu
FBGEMM = Requirement("fbgemm_gpu", "fbgemm-gpu", None, "pip install fbgemm-gpu-genai", ("fbgemm-gpu-genai",))

SPECS = (
    FP8,
    MXFP8,
    QuantizerSpec(
        method="fbgemm_fp8",
        requirements=(
            Requirement("fbgemm_gpu", "fbgemm-gpu", None, "pip install fbgemm-gpu-genai", ("fbgemm-gpu-genai",)),
            ACCELERATE,
        ),
        inputs=Inputs(
            default_config=_fbgemm,
            configs=fbgemm_configs,
            invalid_configs=lambda: st.sampled_from(
                [InvalidConfig({"activation_scale_ub": -1.0}, "activation_scale_ub")]
            ),
            devices=("cuda",),
            dtypes=("bfloat16",),
        ),
        promises=Promises(
            loading_attributes=("activation_scale_ub",),
            capabilities=Capabilities(needs_accelerator=True),
            quantized_element_size=1.0,
        ),
        known_deviations=(
            MERGE_MUTATES_CHECKPOINT_OBJECT,
            *FBGEMM_OPT_FORWARD,
            KnownDeviation(
                check="test_invalid_config_refused",
                reason="FbgemmFp8Config has no post_init: nothing is validated (a negative activation_scale_ub "
                "is accepted)",
                evidence="transformers/utils/quantization_config.py:1284-1312 (FbgemmFp8Config)",
            ),
        ),
    ),
)
