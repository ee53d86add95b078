"""A config class named like transformers' EetqConfig: merge compares class names, so it mixes them silently."""

from __future__ import annotations

from tests.planted import PlantedBug
from tests.planted.bases_contract import ContractConfig, ContractQuantizer, contract_spec, register

KEY = "planted-contract-merge-accepts-another-class"


class EetqConfig(ContractConfig):  # the bug: the name of another method's config class
    KEY = KEY


register(KEY, EetqConfig, type("ImpostorQuantizer", (ContractQuantizer,), {}))
SPECS = (contract_spec(KEY, EetqConfig),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_merge_refuses_another_class",),
    description="merge accepts a config of another class",
    control=ContractConfig.KEY,
    message=r"merging configs of two classes must raise ValueError",
)
