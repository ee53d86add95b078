"""from_dict drops ``group_size``: a checkpoint saved with group 32 reloads with the default 64."""

from __future__ import annotations

from tests.planted import PlantedBug
from tests.planted.bases import GroupedConfig, config_spec, register

KEY = "planted-config-from-dict-drops-field"


class DropsFieldConfig(GroupedConfig):
    KEY = KEY

    def __init__(self, bits: int = 4, group_size: int = 32, **kwargs):
        super().__init__(bits=bits, group_size=group_size, **kwargs)

    @classmethod
    def from_dict(cls, config_dict, return_unused_kwargs=False, **kwargs):
        config_dict = {k: v for k, v in config_dict.items() if k != "group_size"}  # the bug
        return super().from_dict(config_dict, return_unused_kwargs, **kwargs)


register(KEY, DropsFieldConfig)
SPECS = (config_spec(KEY, lambda: DropsFieldConfig(group_size=16)),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_round_trip_same_class_and_dict",),
    description="from_dict drops a field",
    control=GroupedConfig.KEY,
    message=r"to_dict -> JSON -> from_dict changed the config",
)
