"""compressed-tensors: checkpoints written by llm-compressor (``quantizer_compressed_tensors.py``).

Pre-quantized only; ``dequantize`` and ``use_optimized_inference`` are loading attributes.
"""

from __future__ import annotations

from hypothesis import strategies as st

from qconform.spec import Capabilities, InvalidConfig, QuantizerSpec, Requirement
from qconform.specs._common import MERGE_MUTATES_CHECKPOINT_OBJECT


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


SPECS = (
    QuantizerSpec(
        method="compressed-tensors",
        default_config=_config,
        configs=configs,
        invalid_configs=invalid,
        loading_attributes=("dequantize", "use_optimized_inference"),
        requirements=(
            Requirement(
                "compressed_tensors", "compressed-tensors", "0.15.0", "pip install 'compressed-tensors>=0.15.0'"
            ),
        ),
        capabilities=Capabilities(quantizes_on_the_fly=False, trainable=True),
        requires_calibration=True,
        reference_twin="ref-compressed-tensors",
        codec="qconform.backends.compressed_tensors:CompressedTensorsCodec",
        checkpoint_writer="reference_quantizers.writers.compressed_tensors:prequantized_checkpoint",
        known_deviations=(MERGE_MUTATES_CHECKPOINT_OBJECT,),
    ),
)
