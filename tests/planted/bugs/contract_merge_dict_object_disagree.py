"""from_dict ignores ``group_size``: a config.json dict and the same config object merge differently."""

from __future__ import annotations

from tests.planted import PlantedBug
from tests.planted.bases_contract import ContractConfig, ContractQuantizer, contract_spec, register

KEY = "planted-contract-merge-dict-object-disagree"


class DefaultGroupConfig(ContractConfig):
    KEY = KEY

    @classmethod
    def from_dict(cls, config_dict, return_unused_kwargs=False, **kwargs):
        config_dict = {k: v for k, v in config_dict.items() if k != "group_size"}  # the bug
        return super().from_dict(config_dict, return_unused_kwargs, **kwargs)


register(KEY, DefaultGroupConfig, type("DefaultGroupQuantizer", (ContractQuantizer,), {}))
SPECS = (contract_spec(KEY, DefaultGroupConfig),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_merge_dict_and_object_agree",),
    description="a dict and the equivalent object merge differently",
    control=ContractConfig.KEY,
    message=r"a config\.json dict and the equivalent object merge differently",
)
