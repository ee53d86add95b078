"""update_device_map puts everything on the CPU, whatever device map the user gave."""

from __future__ import annotations

from tests.planted import PlantedBug
from tests.planted.bases_contract import ContractConfig, ContractQuantizer, contract_spec, register

KEY = "planted-contract-device-map-ignores-user"


class CpuOnlyConfig(ContractConfig):
    KEY = KEY


class CpuOnlyQuantizer(ContractQuantizer):
    def update_device_map(self, device_map):
        return {"": "cpu"}  # the bug


register(KEY, CpuOnlyConfig, CpuOnlyQuantizer)
SPECS = (contract_spec(KEY, CpuOnlyConfig),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_explicit_device_map_unchanged",),
    description="device map ignores the user's",
    control=ContractConfig.KEY,
    message=r"update_device_map did not return the user's device map",
)
