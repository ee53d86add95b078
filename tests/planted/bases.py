"""Correct minimal building blocks that planted bugs subclass (config side)."""

from __future__ import annotations

from transformers.quantizers import HfQuantizer
from transformers.quantizers.auto import register_quantization_config, register_quantizer
from transformers.utils.quantization_config import QuantizationConfigMixin

from qconform.specs.model import Capabilities, Inputs, Promises, QuantizerSpec


class GroupedConfig(QuantizationConfigMixin):
    """A correct config with a few typed fields; subclasses set ``KEY``."""

    KEY = "planted-control-config"

    def __init__(self, bits: int = 4, group_size: int = 64, modules_to_not_convert: list | None = None, **kwargs):
        self.quant_method = self.KEY
        self.bits = bits
        self.group_size = group_size
        self.modules_to_not_convert = modules_to_not_convert


class ConfigOnlyQuantizer(HfQuantizer):
    """A quantizer that touches nothing: enough for config-level checks."""

    def is_serializable(self):
        return True

    @property
    def is_trainable(self):
        return False


def register(key: str, config_class: type, quantizer_class: type = ConfigOnlyQuantizer) -> None:
    from transformers.quantizers.auto import AUTO_QUANTIZER_MAPPING

    if key in AUTO_QUANTIZER_MAPPING:
        return
    register_quantization_config(key)(config_class)
    register_quantizer(key)(type(f"{config_class.__name__}Quantizer", (quantizer_class,), {}))


def config_spec(key: str, config_class: type) -> QuantizerSpec:
    return QuantizerSpec(
        method=key,
        inputs=Inputs(
            default_config=config_class,
        ),
        promises=Promises(
            capabilities=Capabilities(quantizes_on_the_fly=False),
        ),
    )


register(GroupedConfig.KEY, GroupedConfig)
