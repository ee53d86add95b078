"""to_dict writes a legacy ``quant_method`` nobody registered: a saved model is not recognised on reload."""

from __future__ import annotations

from tests.planted import PlantedBug
from tests.planted.bases_contract import ContractConfig, ContractQuantizer, contract_spec, register

KEY = "planted-contract-saved-method-unknown"


class LegacyNameConfig(ContractConfig):
    KEY = KEY

    def to_dict(self):
        return {**super().to_dict(), "quant_method": f"{KEY}-legacy"}  # the bug


register(KEY, LegacyNameConfig, type("LegacyNameQuantizer", (ContractQuantizer,), {}))
SPECS = (contract_spec(KEY, LegacyNameConfig),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_supports_quant_method", "test_dispatch_follows_config"),
    description="a saved config names an unregistered method",
    control=ContractConfig.KEY,
    message=r"supports_quant_method is not False for an unregistered method|legacy",
)
