"""An 8-bit method says its weights take half a byte: device maps put twice too much on each GPU."""

from __future__ import annotations

from tests.planted import PlantedBug
from tests.planted.bases_contract import ContractConfig, LinearWeightsQuantizer, contract_spec, register

KEY = "planted-contract-wrong-element-size"


class HalfByteConfig(ContractConfig):
    KEY = KEY


class HalfByteQuantizer(LinearWeightsQuantizer):
    @property
    def quantized_element_size(self):
        return 0.5  # the bug: the format stores a byte per weight


register(KEY, HalfByteConfig, HalfByteQuantizer)
SPECS = (contract_spec(KEY, HalfByteConfig, quantized_element_size=1.0),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_param_element_size",),
    description="wrong bytes per quantized element",
    control=ContractConfig.KEY,
)
