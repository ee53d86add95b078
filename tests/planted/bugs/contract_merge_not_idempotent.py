"""from_dict appends "lm_head" to the skip list on every load, so merging the merged config changes it.

This module also declares the specs of the contract controls (``tests.planted.bases_contract``).
"""

from __future__ import annotations

from tests.planted import PlantedBug
from tests.planted.bases_contract import ContractConfig, ContractQuantizer, contract_spec, register

KEY = "planted-contract-merge-not-idempotent"


class GrowingSkipListConfig(ContractConfig):
    KEY = KEY

    @classmethod
    def from_dict(cls, config_dict, return_unused_kwargs=False, **kwargs):
        config = super().from_dict(config_dict, return_unused_kwargs, **kwargs)
        config.modules_to_not_convert = [*(config.modules_to_not_convert or []), "lm_head"]  # the bug
        return config


register(KEY, GrowingSkipListConfig, type("GrowingSkipListQuantizer", (ContractQuantizer,), {}))
SPECS = (contract_spec(KEY, GrowingSkipListConfig),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_merge_is_idempotent",),
    description="merging the merged config again changes it",
    control=ContractConfig.KEY,
    message=r"merging the merged \(saved\) config again with the same argument changed it",
)
