"""Reading the loading attributes resets the argument's ``backend``: merging changes the user's config."""

from __future__ import annotations

from tests.planted import PlantedBug
from tests.planted.bases_contract import ContractConfig, ContractQuantizer, LoadingConfig, loading_spec, register

KEY = "planted-contract-merge-mutates-input"


class DrainingLoadingConfig(LoadingConfig):
    KEY = KEY

    def get_loading_attributes(self):
        attributes = super().get_loading_attributes()
        self.backend = "auto"  # the bug
        self.max_input_length = None
        return attributes


register(KEY, DrainingLoadingConfig, type("DrainingLoadingQuantizer", (ContractQuantizer,), {}))
SPECS = (loading_spec(KEY, DrainingLoadingConfig),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_merge_leaves_inputs_unchanged",),
    description="merge mutates an input",
    control=ContractConfig.KEY,
    message=r"merge_quantization_configs changed one of its inputs",
)
