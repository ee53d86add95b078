"""adjust_max_memory gives every device 50% more than its budget, so device_map="auto" overfills them."""

from __future__ import annotations

from tests.planted import PlantedBug
from tests.planted.bases_contract import ContractConfig, LinearWeightsQuantizer, contract_spec, register

KEY = "planted-contract-adjust-max-memory-grows"


class GreedyConfig(ContractConfig):
    KEY = KEY


class GreedyQuantizer(LinearWeightsQuantizer):
    def adjust_max_memory(self, max_memory):
        return {key: value * 1.5 for key, value in max_memory.items()}  # the bug


register(KEY, GreedyConfig, GreedyQuantizer)
SPECS = (contract_spec(KEY, GreedyConfig, quantized_element_size=1.0),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_adjust_max_memory_never_raises_a_budget", "test_auto_device_map_within_budgets"),
    description="adjust_max_memory grows a budget",
    control=ContractConfig.KEY,
    message=(
        r"adjust_max_memory must keep every device and never raise a budget|"
        r"device_map='auto' placed more on a device than its max_memory"
    ),
)
