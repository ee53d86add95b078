"""Spec of the GPTQ twin."""

from __future__ import annotations

from hypothesis import strategies as st

from qconform.inputs.strategies import skip_lists
from qconform.specs import across_devices
from qconform.specs.gptq import ALL_POSITIVE_GROUPS_CLIP, rel_error_gptq
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


def _configs() -> st.SearchStrategy:
    from reference_quantizers.gptq import RefGptqConfig

    return st.builds(
        RefGptqConfig,
        bits=st.sampled_from([2, 3, 4, 8]),
        group_size=st.sampled_from([-1, 32, 64, 128]),
        damp_percent=st.sampled_from([0.01, 0.1, 0.5]),
        desc_act=st.booleans(),
        act_group_aware=st.booleans(),
        sym=st.booleans(),
        format=st.sampled_from(["gptq", "gptq_v2"]),
        modules_to_not_convert=skip_lists(),
    )


def _default():
    from reference_quantizers.gptq import RefGptqConfig

    return RefGptqConfig()  # GPTQConfig(bits=4)'s defaults: group 128, symmetric, GAR order, format v1


def _invalid() -> st.SearchStrategy[InvalidConfig]:
    return st.sampled_from(
        [
            InvalidConfig({"bits": 5}, "bits"),
            InvalidConfig({"group_size": 0}, "group_size"),
            InvalidConfig({"damp_percent": 1.5}, "damp_percent"),
            InvalidConfig({"format": "gptq_v3"}, "format"),
            InvalidConfig({"dataset": "c4"}, "dataset"),
        ]
    )


def _element_size(config) -> float:
    group = 128 if config.group_size == -1 else config.group_size
    return config.bits / 8 + (2 + config.bits / 8) / group


FP16_SCALES_OVERFLOW = KnownDeviation(
    check="test_finite_weights_give_finite_results",
    reason="scales are stored in float16: a group whose range exceeds about 65504 x the largest code "
    "(qconform's 'huge' magnitude, 1e3, with heavy tails or outlier columns) gets an infinite scale; "
    "gptqmodel 7.6 stores them the same way (the twin is bit-exact with it)",
    evidence="gptqmodel/nn_modules/qlinear/__init__.py pack_block (scales.to(dtype=t.float16))"
    "; measured: 'huge' heavy_tailed and outlier_columns 128x128 "
    "weights give inf scales at every bit width, the other magnitudes none",
)


SPECS = (
    QuantizerSpec(
        method="ref-gptq",
        inputs=Inputs(
            default_config=_default,
            configs=_configs,
            invalid_configs=_invalid,
            checkpoint_writer="reference_quantizers.calibration.checkpoints:prequantized_checkpoint",
        ),
        promises=Promises(
            capabilities=Capabilities(dequantizable=True, deterministic=True),
            quantized_element_size=_element_size,
            tolerances=Tolerances(rel_error=rel_error_gptq, logits_drift=0.3, across_devices=across_devices.GPTQ),
        ),
        oracles=Oracles(
            mirrors="gptq",
            codec="reference_quantizers.gptq:RefGptqQuantizer.codec",
        ),
        known_deviations=(FP16_SCALES_OVERFLOW, ALL_POSITIVE_GROUPS_CLIP),
        notes="twin of gptq: GPTQ as gptqmodel 7.6 runs it (Hessian, damping, lazy 128-column blocks, groups, "
        "act-order and GAR orders), packed as gptqmodel writes qweight/qzeros/scales/g_idx (v1 and v2 zero "
        "points, 3-bit 10|1|10|1|10 words). Equal to gptqmodel bit for bit on the CPU: single layers (codec, "
        "synthetic calibration set) and whole tiny models against optimum's on-the-fly GPTQ on the same tokens. "
        "Quantizes on the fly by calibrating on the loaded model (dataset: token-id lists, default 8x32 seeded "
        "random tokens); only the decoder blocks' Linears, as optimum. rel_error covers 2-bit configs.",
    ),
)
