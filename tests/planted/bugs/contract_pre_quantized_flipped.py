"""The quantizer inverts ``pre_quantized``: it treats a checkpoint as full precision and the reverse."""

from __future__ import annotations

from tests.planted import PlantedBug
from tests.planted.bases_contract import ContractConfig, ContractQuantizer, contract_spec, register

KEY = "planted-contract-pre-quantized-flipped"


class FlippedConfig(ContractConfig):
    KEY = KEY


class FlippedQuantizer(ContractQuantizer):
    def __init__(self, quantization_config, **kwargs):
        super().__init__(quantization_config, **kwargs)
        self.pre_quantized = not self.pre_quantized  # the bug


register(KEY, FlippedConfig, FlippedQuantizer)
SPECS = (contract_spec(KEY, FlippedConfig),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_get_hf_quantizer_on_tiny_model",),
    description="get_hf_quantizer ends with the wrong pre_quantized",
    control=ContractConfig.KEY,
    message=r"breaks what it documents.*pre_quantized is",
)
