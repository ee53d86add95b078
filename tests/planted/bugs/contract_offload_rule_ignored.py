"""validate_environment accepts modules on cpu/disk beside a GPU without ``allow_offload``."""

from __future__ import annotations

from tests.planted import PlantedBug
from tests.planted.bases_contract import ContractConfig, ContractQuantizer, contract_spec, register

KEY = "planted-contract-offload-rule-ignored"


class OffloadConfig(ContractConfig):
    KEY = KEY


class PermissiveQuantizer(ContractQuantizer):
    def validate_environment(self, *args, **kwargs):
        return  # the bug: no offload rule


register(KEY, OffloadConfig, PermissiveQuantizer)
SPECS = (contract_spec(KEY, OffloadConfig),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_offload_rule",),
    description="offload rule ignored",
    control=ContractConfig.KEY,
    message=r"validate_environment accepted modules on .* beside an accelerator",
    bare=False,
    bare_reason="which device maps must be refused is the spec's declaration (offload_rule)",
)
