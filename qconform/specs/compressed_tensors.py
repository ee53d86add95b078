"""compressed-tensors: checkpoints written by llm-compressor (``quantizer_compressed_tensors.py``).

Pre-quantized only; ``dequantize`` and ``use_optimized_inference`` are loading attributes.
"""

from __future__ import annotations

from hypothesis import strategies as st

from qconform.specs._common import MERGE_MUTATES_CHECKPOINT_OBJECT, TWO_GPU_RUN
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


def _group(num_bits: int = 8, strategy: str = "channel", group_size: int | None = None, symmetric: bool = True):
    weights = {"num_bits": num_bits, "type": "int", "symmetric": symmetric, "strategy": strategy}
    if strategy == "group":
        weights["group_size"] = group_size or 128
    return {"group_0": {"targets": ["Linear"], "weights": weights}}


def _config(config_groups=None, **kwargs):
    from transformers import CompressedTensorsConfig

    groups = _group() if config_groups is None else config_groups
    return CompressedTensorsConfig(config_groups=groups, **{"format": "int-quantized", "ignore": ["lm_head"], **kwargs})


def configs() -> st.SearchStrategy:
    groups = st.builds(
        _group,
        num_bits=st.sampled_from([4, 8]),
        strategy=st.sampled_from(["channel", "group"]),
        group_size=st.sampled_from([32, 64, 128]),
        symmetric=st.booleans(),
    )
    return st.builds(
        _config,
        config_groups=groups,
        format=st.sampled_from(["int-quantized", "pack-quantized", "naive-quantized"]),
        ignore=st.sampled_from([["lm_head"], [], ["lm_head", "re:.*down_proj"]]),
        dequantize=st.booleans(),
        use_optimized_inference=st.booleans(),
    )


def invalid() -> st.SearchStrategy[InvalidConfig]:
    bad_bits = {"group_0": {"targets": ["Linear"], "weights": {"num_bits": "eight", "type": "int"}}}
    bad_strategy = {"group_0": {"targets": ["Linear"], "weights": {"num_bits": 8, "type": "int", "strategy": "row"}}}
    return st.sampled_from(
        [
            InvalidConfig({"config_groups": bad_bits}, "num_bits"),
            InvalidConfig({"config_groups": bad_strategy}, "strategy"),
        ]
    )


_BFLOAT16_ON_CPU = (
    "compressed-tensors 0.20 quantizes a bfloat16 weight to different int8 codes on the CPU and on CUDA: on CUDA the "
    "codes are those of the exact ratio (relative error 0.00811, as torchao's), on the CPU 7.9% of them are one step "
    "off (0.00848), so a checkpoint's codes depend on the device that wrote it"
)
_BFLOAT16_EVIDENCE = (
    "compressed_tensors/quantization/lifecycle/forward_helpers.py:536 (scaled = x / scale, in the weight's dtype); "
    "reports/probes/h200x2-sm_90/probe_cross_device-compressed-tensors.json, 1024x1024 bfloat16: 82838/1048576 "
    "codes one step apart, up to 0.249 from a "
    "tie, dequantized weights 0.0077 apart (0.91 of the quantization error); float32: identical"
)
BFLOAT16_CODES_DEPEND_ON_DEVICE = (
    KnownDeviation("test_packed_data_same_on_cpu_and_cuda", _BFLOAT16_ON_CPU, _BFLOAT16_EVIDENCE, strict=False),
    KnownDeviation(
        "test_codec_matches_twin",
        _BFLOAT16_ON_CPU + "; the twin reproduces the CPU's codes on both devices",
        _BFLOAT16_EVIDENCE,
        params="cuda",
        strict=False,
    ),
)

NO_FORWARD_ON_TWO_GPUS = KnownDeviation(
    check="test_split_over_two_gpus_matches_one",
    reason="a compressed-tensors model dispatched over two GPUs cannot run: its first forward fails in accelerate's "
    "forward wrapper, which looks for the root module's _hf_hook and finds none (AttributeError); its stored tensors "
    "are those of the one-GPU model. The twin ref-compressed-tensors splits and matches",
    evidence=TWO_GPU_RUN + ": accelerate hooks.py:187 (module._hf_hook.pre_forward) from LlamaForCausalLM and "
    "OPTForCausalLM; compressed-tensors warns 'The provided format int-quantized does not match the inferred "
    "format pack-quantized'",
    raises=(AttributeError,),
    when=("transformers", "==5.17.*"),
)

SPECS = (
    QuantizerSpec(
        method="compressed-tensors",
        requirements=(
            Requirement(
                "compressed_tensors", "compressed-tensors", "0.15.0", "pip install 'compressed-tensors>=0.15.0'"
            ),
        ),
        inputs=Inputs(
            default_config=_config,
            configs=configs,
            invalid_configs=invalid,
            checkpoint_writer="reference_quantizers.writers.compressed_tensors:prequantized_checkpoint",
        ),
        promises=Promises(
            loading_attributes=("dequantize", "use_optimized_inference"),
            capabilities=Capabilities(quantizes_on_the_fly=False, trainable=True),
            requires_calibration=True,
        ),
        oracles=Oracles(
            reference_twin="ref-compressed-tensors",
            codec="qconform.backends.compressed_tensors:CompressedTensorsCodec",
        ),
        known_deviations=(
            MERGE_MUTATES_CHECKPOINT_OBJECT,
            *BFLOAT16_CODES_DEPEND_ON_DEVICE,
            NO_FORWARD_ON_TWO_GPUS,
            KnownDeviation(
                check="test_error_within_bound",
                reason="a one-row weight with outlier columns: its min-max scale spends the int8 range on the "
                "outliers, and the error lands just above the declared 0.2 (only some drawn examples)",
                evidence="qconform CPU run 2026-12-06 (transformers 5.25, torch 2.13), compressed-tensors 0.20: "
                "(1, 64) outlier_columns, relative error 0.2051",
                strict=False,
            ),
        ),
    ),
)
