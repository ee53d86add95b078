"""A calibrated-only method builds a quantizer for pre_quantized=False instead of refusing it."""

from __future__ import annotations

from qconform.specs.model import Capabilities
from tests.planted import PlantedBug
from tests.planted.bases_contract import ContractConfig, ContractQuantizer, contract_spec, register

KEY = "planted-contract-calibration-not-enforced"
CONTROL = "planted-control-contract-calibrated"


class CalibratedConfig(ContractConfig):
    KEY = KEY


class ControlCalibratedConfig(ContractConfig):
    KEY = CONTROL


class CalibratedQuantizer(ContractQuantizer):
    requires_calibration = True


class LaxCalibratedQuantizer(CalibratedQuantizer):
    def __init__(self, quantization_config, **kwargs):
        asked = kwargs.pop("pre_quantized", True)
        super().__init__(quantization_config, pre_quantized=True)  # the bug: the check never sees False
        self.pre_quantized = asked


register(KEY, CalibratedConfig, LaxCalibratedQuantizer)
register(CONTROL, ControlCalibratedConfig, CalibratedQuantizer)
PRE_QUANTIZED_ONLY = Capabilities(quantizes_on_the_fly=False)
SPECS = (
    contract_spec(KEY, CalibratedConfig, capabilities=PRE_QUANTIZED_ONLY, requires_calibration=True),
    contract_spec(CONTROL, ControlCalibratedConfig, capabilities=PRE_QUANTIZED_ONLY, requires_calibration=True),
)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_calibration_is_required_as_declared",),
    description="pre_quantized=False accepted on a calibration method",
    control=CONTROL,
    message=r"pre_quantized=False on a method that requires calibration must raise ValueError",
)
