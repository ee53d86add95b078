"""validate_environment never checks for the backend it needs: loading fails later, with no hint."""

from __future__ import annotations

from tests.planted import PlantedBug
from tests.planted.bases_contract import (
    PLANTED_BACKEND,
    ContractConfig,
    ContractQuantizer,
    ControlBackendConfig,
    contract_spec,
    register,
)

KEY = "planted-contract-validation-silent-backend-missing"


class SilentConfig(ContractConfig):
    KEY = KEY


register(KEY, SilentConfig, type("SilentQuantizer", (ContractQuantizer,), {}))  # the bug: no required_module
SPECS = (contract_spec(KEY, SilentConfig, requirements=(PLANTED_BACKEND,)),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_missing_package_is_named",),
    description="validation silent with its backend missing",
    control=ControlBackendConfig.KEY,
    message=r"with a required package missing, validation must raise an error naming it",
    bare=False,
    bare_reason="which package the method needs is the spec's declaration (requirements)",
)
