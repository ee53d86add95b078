"""get_loading_attributes leaves out ``backend``: the backend a user asks for at load time is ignored."""

from __future__ import annotations

from tests.planted import PlantedBug
from tests.planted.bases_contract import ContractQuantizer, LoadingConfig, loading_spec, register

KEY = "planted-contract-merge-loses-loading-attribute"


class ForgetfulLoadingConfig(LoadingConfig):
    KEY = KEY

    def get_loading_attributes(self):
        return {k: v for k, v in super().get_loading_attributes().items() if k != "backend"}  # the bug


register(KEY, ForgetfulLoadingConfig, type("ForgetfulLoadingQuantizer", (ContractQuantizer,), {}))
SPECS = (loading_spec(KEY, ForgetfulLoadingConfig),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_merge_takes_loading_attributes_from_argument",),
    description="merge loses a loading attribute",
    control=LoadingConfig.KEY,
    message=r"loading attributes must come from the argument",
    bare=False,
    bare_reason="bare, the loading attributes are read from get_loading_attributes(), the very method that drops one",
)
