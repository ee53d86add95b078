"""post_init forgets to check group_size: a group of 0 is accepted and fails deep inside quantization.

Bare, the cases come from the signature: a group_size of the wrong type ("4", 4.5) is accepted the same way."""

from __future__ import annotations

from tests.planted import PlantedBug
from tests.planted.bases_contract import ContractConfig, ContractQuantizer, contract_spec, register

KEY = "planted-contract-invalid-config-accepted"


class LaxConfig(ContractConfig):
    KEY = KEY

    def post_init(self):
        if self.bits not in (4, 8):
            raise ValueError(f"bits must be 4 or 8, got {self.bits!r}")  # the bug: group_size unchecked


register(KEY, LaxConfig, type("LaxQuantizer", (ContractQuantizer,), {}))
SPECS = (contract_spec(KEY, LaxConfig),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_invalid_config_refused",),
    description="post_init accepts an invalid value",
    control=ContractConfig.KEY,
    message=r"accepted \{.*\}, which is invalid for",
)
