"""validate_environment never checks for an installed backend; hiding it in a subprocess shows the silence.

Its control checks with ``importlib.util.find_spec``, so it passes only if the package is hidden faithfully.
"""

from __future__ import annotations

from tests.planted import PlantedBug
from tests.planted.bases_contract import (
    HIDDEN_BACKEND,
    ContractConfig,
    ContractQuantizer,
    ControlHiddenConfig,
    contract_spec,
    register,
)

KEY = "planted-contract-validation-silent-hidden-package"


class SilentHiddenConfig(ContractConfig):
    KEY = KEY


register(KEY, SilentHiddenConfig, type("SilentHiddenQuantizer", (ContractQuantizer,), {}))  # the bug
SPECS = (contract_spec(KEY, SilentHiddenConfig, requirements=(HIDDEN_BACKEND,)),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_missing_package_is_named",),
    description="validation silent with an installed backend hidden",
    control=ControlHiddenConfig.KEY,
    message=r"with a required package missing, validation must raise an error naming it",
    bare=False,
    bare_reason="which package the method needs is the spec's declaration (requirements)",
)
