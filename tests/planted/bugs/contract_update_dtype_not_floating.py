"""update_dtype answers int8, which is the storage type, not a dtype the model can be built in."""

from __future__ import annotations

import torch

from tests.planted import PlantedBug
from tests.planted.bases_contract import ContractConfig, ContractQuantizer, contract_spec, register

KEY = "planted-contract-update-dtype-not-floating"


class Int8DtypeConfig(ContractConfig):
    KEY = KEY


class Int8DtypeQuantizer(ContractQuantizer):
    def update_dtype(self, dtype):
        return torch.int8  # the bug


register(KEY, Int8DtypeConfig, Int8DtypeQuantizer)
SPECS = (contract_spec(KEY, Int8DtypeConfig),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_update_dtype_supported",),
    description="update_dtype returns a non-floating dtype",
    control=ContractConfig.KEY,
    message=r"update_dtype must hand back a floating dtype",
)
