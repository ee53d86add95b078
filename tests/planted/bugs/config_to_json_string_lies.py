"""to_json_string(use_diff=False) hides a field that to_dict has."""

from __future__ import annotations

import json

from tests.planted import PlantedBug
from tests.planted.bases import GroupedConfig, config_spec, register

KEY = "planted-config-json-string"


class HidingConfig(GroupedConfig):
    KEY = KEY

    def to_json_string(self, use_diff: bool = True) -> str:
        data = self.to_dict()
        data.pop("bits")  # the bug
        return json.dumps(data, indent=2, sort_keys=True) + "\n"


register(KEY, HidingConfig)
SPECS = (config_spec(KEY, HidingConfig),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_to_json_string_parses",),
    description="to_json_string disagrees",
    message=r"to_json_string\(use_diff=False\) disagrees with to_dict\(\)",
)
