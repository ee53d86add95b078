"""Spec of the compressed-tensors twin (int 1-8 bit packed or not, FP8, min-max scales)."""

from __future__ import annotations

from hypothesis import strategies as st

from qconform.specs.compressed_tensors import BFLOAT16_CODES_DEPEND_ON_DEVICE
from qconform.specs.model import Capabilities, Inputs, InvalidConfig, Oracles, Promises, QuantizerSpec, Tolerances


@st.composite
def _schemes(draw: st.DrawFn):
    from reference_quantizers.compressed_tensors import RefCompressedTensorsConfig

    kind = draw(st.sampled_from(["int", "float"]))
    strategy = draw(st.sampled_from(["tensor", "channel", "group"]))
    if kind == "int":
        bits, symmetric = draw(st.sampled_from([2, 3, 4, 8])), draw(st.booleans())
        fmt = draw(st.sampled_from(["pack-quantized", "naive-quantized", "int-quantized"]))
    else:
        bits, symmetric, fmt = 8, True, draw(st.sampled_from(["float-quantized", "naive-quantized"]))
    return RefCompressedTensorsConfig.from_scheme(
        num_bits=bits,
        type=kind,
        strategy=strategy,
        group_size=draw(st.sampled_from([32, 64, 128])),
        symmetric=symmetric,
        activations=draw(st.sampled_from([None, "int", "float"])),
        format=fmt,
        ignore=draw(st.sampled_from([["lm_head"], [], ["lm_head", "re:.*down_proj"]])),
    )


def _default():
    from reference_quantizers.compressed_tensors import RefCompressedTensorsConfig

    return RefCompressedTensorsConfig()  # W4A16: int4, symmetric, groups of 128, pack-quantized


def _element_size(config) -> float:
    return config.weights.num_bits / 8 if config.packed else 1.0


def _invalid() -> st.SearchStrategy[InvalidConfig]:
    def group(**weights):
        return {"group_0": {"targets": ["Linear"], "weights": {"num_bits": 4, "type": "int", **weights}}}

    return st.sampled_from(
        [
            InvalidConfig({"config_groups": group(num_bits="eight")}, "num_bits"),
            InvalidConfig({"config_groups": group(strategy="row")}, "strategy"),
            InvalidConfig({"config_groups": group(type="float", num_bits=4)}, "num_bits"),
            InvalidConfig({"config_groups": group(strategy="group", group_size=0)}, "group_size"),
            InvalidConfig({"config_groups": group(), "format": "packed"}, "format"),
        ]
    )


SPECS = (
    QuantizerSpec(
        method="ref-compressed-tensors",
        inputs=Inputs(
            default_config=_default,
            configs=_schemes,
            invalid_configs=_invalid,
        ),
        promises=Promises(
            capabilities=Capabilities(dequantizable=True, deterministic=True),
            quantized_element_size=_element_size,
            tolerances=Tolerances(rel_error=1.0),
        ),
        oracles=Oracles(
            mirrors="compressed-tensors",
            codec="reference_quantizers.compressed_tensors:RefCompressedTensorsQuantizer.codec",
        ),
        known_deviations=tuple(d for d in BFLOAT16_CODES_DEPEND_ON_DEVICE if d.check == "test_codec_matches_twin"),
        notes="twin of compressed-tensors: the config is compressed-tensors' quantization_config (one group), "
        "checkpoints interchange with CompressedTensorsHfQuantizer by quant_method alone; scales, zero points, "
        "quantized values and int32 packing equal compressed-tensors 0.20's (calculate_qparams on min-max, "
        "quantize, pack_to_int32) bit for bit on the CPU. Dynamic per-token activations are quantized and "
        "dequantized before the matmul, as compressed-tensors does when it runs a model it decompressed.",
    ),
)
