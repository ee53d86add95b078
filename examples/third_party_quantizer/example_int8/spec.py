"""What example-int8 promises, for qconform (loaded through the ``qconform.specs`` entry point)."""

from __future__ import annotations

from hypothesis import strategies as st

import example_int8
from qconform import Capabilities, Inputs, Promises, QuantizerSpec, Tolerances

SPECS = (
    QuantizerSpec(
        method=example_int8.KEY,
        inputs=Inputs(
            default_config=example_int8.ExampleInt8Config,
            configs=lambda: st.builds(
                example_int8.ExampleInt8Config,
                modules_to_not_convert=st.none()
                | st.lists(st.sampled_from(["lm_head", "q_proj", "down_proj"]), unique=True),
            ),
        ),
        promises=Promises(
            capabilities=Capabilities(quantizes_on_the_fly=True, serializable=True, deterministic=True),
            quantized_element_size=1.0,
            tolerances=Tolerances(rel_error=0.02),
        ),
    ),
)
