"""post_init refuses bad values with a message that does not say which field is wrong."""

from __future__ import annotations

from hypothesis import strategies as st

from tests.planted import PlantedBug
from tests.planted.bases_contract import INVALID, ContractConfig, ContractQuantizer, contract_spec, register

KEY = "planted-contract-invalid-config-unnamed"


class VagueConfig(ContractConfig):
    KEY = KEY

    def post_init(self):
        try:
            super().post_init()
        except ValueError:
            raise ValueError("invalid quantization settings") from None  # the bug: no field named


register(KEY, VagueConfig, type("VagueQuantizer", (ContractQuantizer,), {}))
# one invalid case: with two, hypothesis reports an ExceptionGroup whose record keeps no clause to match
SPECS = (contract_spec(KEY, VagueConfig, invalid_configs=lambda: st.just(INVALID[0])),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_invalid_config_refused",),
    description="post_init's error does not name the field",
    control=ContractConfig.KEY,
    message=r"refused \{.*\}, but its message does not name",
)
