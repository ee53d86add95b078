"""What several spec modules share: packages many methods need, config builders, and deviations that
transformers' shared code gives several methods at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from qconform.specs.model import InvalidConfig, KnownDeviation, Requirement

ACCELERATE = Requirement("accelerate", "accelerate", "1.1.0")
KERNELS = Requirement("kernels", "kernels", "0.18.2", "pip install 'kernels>=0.18.2,<0.19'")


def config_builder(name: str) -> Callable[..., Any]:
    """A factory of transformers' config class ``name``, imported only when called (specs stay cheap to read)."""

    def build(**kwargs: Any) -> Any:
        import transformers.utils.quantization_config as qc

        return getattr(qc, name)(**kwargs)

    build.__name__ = f"build_{name}"
    return build


def invalid_cases(*cases: InvalidConfig) -> Callable[[], st.SearchStrategy[InvalidConfig]]:
    """A spec's ``invalid_configs``: a strategy over the given cases."""
    return lambda: st.sampled_from(list(cases))


MERGE_MUTATES_CHECKPOINT_OBJECT = KnownDeviation(
    check="test_merge_leaves_inputs_unchanged",
    params="object",
    reason="when the checkpoint's quantization config is already an object, merge_quantization_configs writes "
    "the argument's loading attributes into it and returns it, instead of a new config (from_pretrained "
    "deep-copies its config first, so only direct callers of the merge see it)",
    evidence="transformers/quantizers/auto.py:271-273 (setattr(quantization_config, attr, val) on the input)",
)


def unchecked_dequantize_flag(config: str, line: int) -> KnownDeviation:
    """A config that stores ``dequantize`` as given (found bare: no spec declares invalid configs for it)."""
    return KnownDeviation(
        check="test_invalid_config_refused",
        reason=f"{config} stores dequantize as given, without checking its type: a string such as 'false' is "
        "truthy and switches dequantizing on",
        evidence=f"transformers/utils/quantization_config.py:{line} ({config}.__init__: self.dequantize = "
        f"dequantize); observed: {config}(dequantize='yes') accepted",
    )


# the H100 run that the deviations it found cite
H100_RUN = "reports/probes/h100-sm_90-2026-12-06.json (H100, transformers 5.17)"

# the two-GPU run that the multi-GPU deviations cite
TWO_GPU_RUN = (
    "reports/runs/h200x2-sm_90.json and reports/probes/h200x2-sm_90/multi-gpu-*.json (2 H200, transformers 5.17)"
)
