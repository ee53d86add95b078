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
    message=r"param_element_size disagrees with the bytes per quantized element.*0\.5",
    bare=False,
    bare_reason="the claim is wrong only against the declared format: this quantizer stores nothing quantized, so no "
    "footprint contradicts it (contract_element_size_claims_one_stores_two is the case a bare run sees)",
)
