"""Each round trip nests the extra kwargs once more, so config.json grows on every save."""

from __future__ import annotations

from tests.planted import PlantedBug
from tests.planted.bases import GroupedConfig, config_spec, register

KEY = "planted-config-grows"


class GrowingConfig(GroupedConfig):
    KEY = KEY

    def __init__(self, **kwargs):
        extra = kwargs.pop("extra", {})
        super().__init__(**{k: v for k, v in kwargs.items() if k in ("bits", "group_size", "modules_to_not_convert")})
        self.extra = {**extra, "saved": extra.get("saved", 0) + 1}  # the bug: every load changes it


register(KEY, GrowingConfig)
SPECS = (config_spec(KEY, GrowingConfig),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_round_trip_idempotent",),
    description="round trip is not idempotent",
    message=r"a second round trip changed the config",
)
