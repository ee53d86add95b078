"""example-int8: int8 weights, one float32 scale per output channel, quantized when the model loads."""

from __future__ import annotations

import torch
from torch import nn
from transformers.core_model_loading import ConversionOps
from transformers.quantizers import HfQuantizer
from transformers.quantizers.auto import (
    AUTO_QUANTIZER_MAPPING,
    register_quantization_config,
    register_quantizer,
)
from transformers.quantizers.quantizers_utils import get_module_from_name, should_convert_module
from transformers.utils.quantization_config import QuantizationConfigMixin

KEY = "example-int8"


class ExampleInt8Config(QuantizationConfigMixin):
    def __init__(self, modules_to_not_convert: list[str] | None = None, **kwargs):
        self.quant_method = KEY
        self.modules_to_not_convert = modules_to_not_convert


class Int8Linear(nn.Module):
    def __init__(self, in_features: int, out_features: int, bias: bool, dtype: torch.dtype, weight_dtype: torch.dtype):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        # full precision until the loader quantizes it on the fly; int8 when loading a quantized checkpoint
        self.weight = nn.Parameter(torch.empty(out_features, in_features, dtype=weight_dtype), requires_grad=False)
        self.weight_scale = nn.Parameter(torch.empty(out_features, 1, dtype=torch.float32), requires_grad=False)
        self.bias = nn.Parameter(torch.empty(out_features, dtype=dtype)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = (self.weight.to(torch.float32) * self.weight_scale).to(x.dtype)
        return nn.functional.linear(x, weight, self.bias)


def quantize(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    scale = weight.to(torch.float32).abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127
    return torch.round(weight.to(torch.float32) / scale).clamp(-127, 127).to(torch.int8), scale


class Int8Quantize(ConversionOps):
    def __init__(self, hf_quantizer):
        self.hf_quantizer = hf_quantizer

    def convert(self, input_dict, full_layer_name=None, model=None, **kwargs):
        (key, value), *_ = input_dict.items()
        value = value[0] if isinstance(value, list) else value
        name = full_layer_name or key
        module, _ = get_module_from_name(model, name)
        module._is_hf_initialized = True
        q, scale = quantize(value)
        return {name: q, name.rsplit(".", 1)[0] + ".weight_scale": scale.to(value.device)}


class ExampleInt8Quantizer(HfQuantizer):
    requires_calibration = False

    @property
    def quantized_element_size(self) -> float:
        return 1.0

    def param_element_size(self, model, param_name, param):
        return 1.0 if self.param_needs_quantization(model, param_name) else param.element_size()

    def param_needs_quantization(self, model, param_name, **kwargs) -> bool:
        module, name = get_module_from_name(model, param_name)
        return isinstance(module, Int8Linear) and name == "weight" and not self.pre_quantized

    def get_quantize_ops(self):
        return Int8Quantize(self)

    def _process_model_before_weight_loading(self, model, **kwargs):
        # the user's list, plus tied weights and the output embedding, which must stay full precision
        skip = self.get_modules_to_not_convert(
            model, self.quantization_config.modules_to_not_convert, model._keep_in_fp32_modules, add_default_skips=True
        )
        for name, module in list(model.named_modules()):
            if type(module) is nn.Linear and should_convert_module(name, skip):
                dtype = module.weight.dtype
                weight_dtype = torch.int8 if self.pre_quantized else dtype
                with torch.device("meta"):
                    new = Int8Linear(
                        module.in_features, module.out_features, module.bias is not None, dtype, weight_dtype
                    )
                model.set_submodule(name, new)

    def is_serializable(self, *args, **kwargs) -> bool:
        return True

    @property
    def is_trainable(self) -> bool:
        return False


if KEY not in AUTO_QUANTIZER_MAPPING:
    register_quantization_config(KEY)(ExampleInt8Config)
    register_quantizer(KEY)(ExampleInt8Quantizer)
