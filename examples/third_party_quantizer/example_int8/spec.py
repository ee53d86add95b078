"""What example-int8 promises, for qconform (loaded through the ``qconform.specs`` entry point)."""

from __future__ import annotations

from hypothesis import strategies as st

import example_int8
from qconform import Capabilities, Inputs, Oracles, Promises, QuantizerSpec, Tolerances

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
            # per-channel absmax: one outlier sets its row's scale, so the rest of that row loses precision;
            # measured: 0.023 on weights with outlier columns, 0.03 of the row norm on a row with a planted outlier
            tolerances=Tolerances(rel_error=0.05),
        ),
        oracles=Oracles(
            codec="example_int8.codec:Int8Codec",  # a qconform.WeightCodec: numerics one weight at a time
        ),
    ),
)
