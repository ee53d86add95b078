"""post_init forgets to check group_size: a group of 0 is accepted and fails deep inside quantization."""

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
    bare=False,
    bare_reason="which values a config must refuse is the spec's declaration (invalid_configs): bare, none is known",
)
