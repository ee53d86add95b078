"""A tuple field comes back as a list from config.json: values do not keep their types."""

from __future__ import annotations

from tests.planted import PlantedBug
from tests.planted.bases import GroupedConfig, config_spec, register

KEY = "planted-config-tuple-field"


class TupleConfig(GroupedConfig):
    KEY = KEY

    def __init__(self, block: tuple | list = (128, 128), **kwargs):
        super().__init__(**kwargs)
        self.block = block  # the bug: stored as given, so JSON turns the tuple into a list


register(KEY, TupleConfig)
SPECS = (config_spec(KEY, TupleConfig),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_round_trip_keeps_types",),
    description="tuple field becomes a list",
    message=r"values change type through config\.json",
)
