"""adjust_max_memory forgets the disk: offloading that the user allowed is no longer possible."""

from __future__ import annotations

from tests.planted import PlantedBug
from tests.planted.bases_contract import ContractConfig, ContractQuantizer, contract_spec, register

KEY = "planted-contract-adjust-max-memory-drops-key"


class ForgetfulConfig(ContractConfig):
    KEY = KEY


class ForgetfulQuantizer(ContractQuantizer):
    def adjust_max_memory(self, max_memory):
        return {key: value for key, value in max_memory.items() if key != "disk"}  # the bug


register(KEY, ForgetfulConfig, ForgetfulQuantizer)
SPECS = (contract_spec(KEY, ForgetfulConfig),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_adjust_max_memory_never_raises_a_budget",),
    description="adjust_max_memory drops a device",
    control=ContractConfig.KEY,
    message=r"adjust_max_memory must keep every device and never raise a budget",
)
