"""param_element_size counts Linear weights at a quarter byte although nothing is quantized."""

from __future__ import annotations

import torch

from tests.planted import PlantedBug
from tests.planted.bases_contract import ContractConfig, ContractQuantizer, ControlPlainConfig, contract_spec, register

KEY = "planted-contract-memory-estimate-off"


class OptimisticConfig(ContractConfig):
    KEY = KEY


class OptimisticQuantizer(ContractQuantizer):
    def param_element_size(self, model, param_name, param):
        module_name = param_name.rpartition(".")[0]
        if isinstance(model.get_submodule(module_name), torch.nn.Linear):
            return 0.25  # the bug: the weights stay in full precision
        return param.element_size()


register(KEY, OptimisticConfig, OptimisticQuantizer)
SPECS = (contract_spec(KEY, OptimisticConfig),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_memory_estimate_matches_footprint", "test_param_element_size"),
    description="memory estimate far from the loaded model",
    control=ControlPlainConfig.KEY,
    message=(
        r"the memory estimate from param_element_size is off|"
        r"param_element_size disagrees with the bytes per quantized element"
    ),
    bare_misses=("test_memory_estimate_matches_footprint",),
    bare_reason="the quantizer overrides no get_quantize_ops: bare it is found not to quantize on the fly, so the "
    "footprint check has no path (test_param_element_size catches it bare)",
)
