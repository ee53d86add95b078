"""A method that needs a GPU validates happily without one, and fails only once weights are on the way."""

from __future__ import annotations

from qconform.specs.model import Capabilities
from tests.planted import PlantedBug
from tests.planted.bases_contract import ContractConfig, ContractQuantizer, ControlAcceleratorConfig, register
from tests.planted.bases_contract import contract_spec as _spec

KEY = "planted-contract-no-accelerator-silent"


class GpuOnlyConfig(ContractConfig):
    KEY = KEY


register(KEY, GpuOnlyConfig, type("UncheckedGpuQuantizer", (ContractQuantizer,), {}))  # the bug: needs_cuda False
SPECS = (
    _spec(
        KEY,
        GpuOnlyConfig,
        capabilities=Capabilities(quantizes_on_the_fly=True, needs_accelerator=True, loads_prequantized=False),
        devices=("cuda",),
    ),
)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_no_accelerator_is_refused_clearly",),
    description="validation silent without the accelerator it needs",
    control=ControlAcceleratorConfig.KEY,
    message=r"without an accelerator, validation must refuse clearly",
    bare=False,
    bare_reason="the quantizer loads and runs on the CPU (it quantizes nothing), so bare it needs no accelerator: only "
    "the spec's needs_accelerator makes its silence a bug",
)
