"""The config says it belongs to the control's method, so the dispatch builds the control's quantizer."""

from __future__ import annotations

from tests.planted import PlantedBug
from tests.planted.bases_contract import ContractConfig, ContractQuantizer, contract_spec, register

KEY = "planted-contract-dispatch-wrong-quantizer"


class MislabelledConfig(ContractConfig):
    KEY = ContractConfig.KEY  # the bug: quant_method names another registered method


register(KEY, MislabelledConfig, type("UnreachedQuantizer", (ContractQuantizer,), {}))
SPECS = (contract_spec(KEY, MislabelledConfig),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_dispatch_follows_config",),
    description="the dispatch picks another quantizer",
    control=ContractConfig.KEY,
    message=r"dispatches a \S+ config \(.*\) to another quantizer",
)
