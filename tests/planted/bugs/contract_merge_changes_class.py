"""from_dict builds the base class: a checkpoint of this method merges into another method's config."""

from __future__ import annotations

from tests.planted import PlantedBug
from tests.planted.bases_contract import ContractConfig, ContractQuantizer, contract_spec, register

KEY = "planted-contract-merge-changes-class"


class DowncastingConfig(ContractConfig):
    KEY = KEY

    @classmethod
    def from_dict(cls, config_dict, return_unused_kwargs=False, **kwargs):
        return ContractConfig.from_dict(config_dict, return_unused_kwargs, **kwargs)  # the bug


register(KEY, DowncastingConfig, type("DowncastingQuantizer", (ContractQuantizer,), {}))
SPECS = (contract_spec(KEY, DowncastingConfig),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_merge_keeps_checkpoint_class",),
    description="merge gives another config class",
    control=ContractConfig.KEY,
    message=(
        r"merge_quantization_configs does not give the checkpoint's config class|"
        r"quantized with ContractConfig but you are passing a DowncastingConfig"  # transformers' merge sees it first
    ),
)
