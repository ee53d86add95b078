"""update_device_map(None) sends the model to a GPU index no machine here has."""

from __future__ import annotations

from tests.planted import PlantedBug
from tests.planted.bases_contract import ContractConfig, ContractQuantizer, contract_spec, register

KEY = "planted-contract-default-device-map-absent"


class FarGpuConfig(ContractConfig):
    KEY = KEY


class FarGpuQuantizer(ContractQuantizer):
    def update_device_map(self, device_map):
        return {"": "cuda:63"} if device_map is None else device_map  # the bug


register(KEY, FarGpuConfig, FarGpuQuantizer)
SPECS = (contract_spec(KEY, FarGpuConfig),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_default_device_map_exists_here",),
    description="default device map names a device that does not exist",
    control=ContractConfig.KEY,
    message=r"update_device_map\(None\) names devices this machine does not have",
)
