"""to_dict holds a torch.dtype, which config.json cannot hold."""

from __future__ import annotations

import torch

from tests.planted import PlantedBug
from tests.planted.bases import GroupedConfig, config_spec, register

KEY = "planted-config-dtype-in-dict"


class DtypeConfig(GroupedConfig):
    KEY = KEY

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.compute_dtype = torch.float16  # the bug: not serialised to a string


register(KEY, DtypeConfig)
SPECS = (config_spec(KEY, DtypeConfig),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_to_dict_is_json",),
    description="to_dict holds a torch.dtype",
    message=r"to_dict\(\) is not plain JSON.*dtype",
)
