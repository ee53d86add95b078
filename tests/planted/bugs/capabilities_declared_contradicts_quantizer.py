"""A spec promises dequantize() for a quantizer that has none: the dequantize checks would run on a false premise."""

from __future__ import annotations

from qconform.specs.model import Capabilities
from tests.planted import PlantedBug
from tests.planted.bases_contract import ContractConfig, ContractQuantizer, contract_spec, register

KEY = "planted-capabilities-declared-contradicts-quantizer"
CONTROL = "planted-control-capabilities-dequantizes"


class NoDequantizeConfig(ContractConfig):
    KEY = KEY


class DequantizesConfig(ContractConfig):
    KEY = CONTROL


class NoDequantizeQuantizer(ContractQuantizer):
    """The bug: no ``_dequantize`` (HfQuantizer's raises NotImplementedError), while its spec says dequantizable."""


class DequantizingQuantizer(ContractQuantizer):
    def _dequantize(self, model, dtype=None):
        return model  # nothing was quantized, so the model is already plain


register(KEY, NoDequantizeConfig, NoDequantizeQuantizer)
register(CONTROL, DequantizesConfig, DequantizingQuantizer)
DEQUANTIZABLE = Capabilities(quantizes_on_the_fly=True, loads_prequantized=True, dequantizable=True)
SPECS = (
    contract_spec(KEY, NoDequantizeConfig, capabilities=DEQUANTIZABLE),
    contract_spec(CONTROL, DequantizesConfig, capabilities=DEQUANTIZABLE),
)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_declared_capabilities_agree_with_the_quantizer",),
    description="the spec declares dequantizable, the quantizer has no _dequantize",
    control=CONTROL,
    message=r"the spec contradicts what the quantizer says about itself.*dequantizable",
    bare=False,
    bare_reason="the bug is the spec's false promise: with no spec there is nothing to contradict",
)
