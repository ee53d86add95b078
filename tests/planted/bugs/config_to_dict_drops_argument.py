"""to_dict leaves out one constructor argument: every save loses it, yet dict -> config -> dict is stable.

``accumulate_in_fp32`` (a flag a kernel would read) is stored by the constructor but not written by
``to_dict``, so from_dict rebuilds the config with the default. Comparing dicts with dicts cannot see it
(both sides lack the key); comparing the rebuilt config's attributes with the arguments does.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from reference_quantizers.base import register_twin
from reference_quantizers.fp8 import RefFp8Config
from tests.planted import PlantedBug
from tests.planted.bases_quantizers import CONTROL, ControlQuantizer, spec

KEY = "planted-config-to-dict-drops-argument"


class DropsArgumentConfig(RefFp8Config):
    KEY = KEY

    def __init__(
        self, weight_block_size: tuple[int, int] | list[int] = (128, 128), accumulate_in_fp32: bool = False, **kwargs
    ) -> None:
        self.accumulate_in_fp32 = accumulate_in_fp32
        super().__init__(weight_block_size=weight_block_size, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        written = super().to_dict()
        written.pop("accumulate_in_fp32", None)  # the bug
        return written


class DropsArgumentQuantizer(ControlQuantizer):
    """The control quantizer, under this key (the config is where the bug lies)."""


register_twin(DropsArgumentConfig, DropsArgumentQuantizer)
SPECS = (
    spec(
        KEY,
        DropsArgumentConfig,
        __name__,
        "DropsArgumentQuantizer",
        configs=lambda: st.builds(
            DropsArgumentConfig,
            weight_block_size=st.sampled_from([(128, 128), (64, 64)]),
            accumulate_in_fp32=st.booleans(),
        ),
    ),
)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_round_trip_keeps_every_argument", "test_saved_config_keeps_every_argument"),
    description="to_dict leaves out a constructor argument",
    control=CONTROL,
    message=r"accumulate_in_fp32: True -> False",
)
