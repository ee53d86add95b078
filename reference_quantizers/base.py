"""The plumbing every twin shares, so that a twin module holds only its format.

A twin is three small classes:

- a ``ReferenceConfig`` subclass (the config; ``quant_method`` is the twin's dispatch key),
- a ``ReferenceLinear`` subclass (the format: which tensors are stored, how a weight becomes them,
  how they become a weight again),
- a ``ReferenceQuantizer`` subclass naming the two.

Loading follows transformers' own conventions (5.17 and 5.23): before weights load, eligible
``nn.Linear`` modules become the twin's Linear on the meta device, with the stored tensors as
parameters. Quantizing on the fly, the loader hands each full-precision ``weight`` to
``QuantizeLinearOp``, which returns the stored tensors. Loading a pre-quantized checkpoint, the
stored tensors load by name. Saving writes ``state_dict()`` (its names are the format's
checkpoint names; formats whose checkpoint names are not attribute names override
``ReferenceQuantizer.get_state_dict_and_metadata`` and ``get_weight_conversions``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn
from transformers.core_model_loading import ConversionOps
from transformers.quantizers import HfQuantizer
from transformers.quantizers.auto import (
    AUTO_QUANTIZATION_CONFIG_MAPPING,
    AUTO_QUANTIZER_MAPPING,
    register_quantization_config,
    register_quantizer,
)
from transformers.quantizers.quantizers_utils import get_module_from_name, should_convert_module
from transformers.utils.quantization_config import QuantizationConfigMixin

# a dtype of None: the dtype of the Linear being replaced (formats whose scales follow the model's dtype)
Layout = dict[str, tuple[tuple[int, ...], torch.dtype | None]]


class ReferenceConfig(QuantizationConfigMixin):
    """Base of twin configs. Subclasses set ``KEY`` and call ``super().__init__`` last."""

    KEY: ClassVar[str] = ""

    @classmethod
    def from_real(cls, config: Any) -> ReferenceConfig:
        """The twin config equivalent to the real method's config (override where fields differ)."""
        fields = {k: v for k, v in config.to_dict().items() if k != "quant_method"}
        return cls(**fields)

    def __init__(self, modules_to_not_convert: list[str] | None = None, **kwargs: Any) -> None:
        kwargs.pop("quant_method", None)
        self.quant_method = self.KEY
        self.modules_to_not_convert = modules_to_not_convert
        self.post_init()

    def post_init(self) -> None:
        """Validate fields; raise ValueError naming the field."""


class ReferenceLinear(nn.Module):
    """A Linear whose weight lives in a quantized format; forward is a matmul with the dequantized weight.

    Subclasses implement ``layout`` (names, shapes and dtypes of the stored tensors), ``quantize``
    (a full-precision weight -> stored tensors) and ``dequantize`` (stored tensors -> weight).
    """

    #: bytes per weight element of the stored format, scales included, for memory estimates
    element_size: ClassVar[float] = 1.0
    #: a format whose stored tensors all arrive after quantizing (``loading.QuantizeIntoModuleOp`` puts them on
    #: the module): until then, a module quantizing on the fly holds only the full-precision ``weight``
    quantizes_into_module: ClassVar[bool] = False

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool,
        config: ReferenceConfig,
        *,
        pre_quantized: bool,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features, self.config = in_features, out_features, config
        layout = self.layout(config, out_features, in_features)
        if self.quantizes_into_module and not pre_quantized:
            layout = {"weight": ((out_features, in_features), None)}
        for name, (shape, stored_dtype) in layout.items():
            if name == "weight" and not pre_quantized:
                # the loader fills this with the full-precision weight and hands it to QuantizeLinearOp
                shape, stored_dtype = (out_features, in_features), dtype or torch.get_default_dtype()
            stored_dtype = stored_dtype or dtype or torch.get_default_dtype()
            self.register_parameter(name, nn.Parameter(torch.empty(shape, dtype=stored_dtype), requires_grad=False))
        self.bias = nn.Parameter(torch.empty(out_features, dtype=dtype)) if bias else None

    # --- the format: subclasses implement these three ------------------------------------

    @classmethod
    def layout(cls, config: Any, out_features: int, in_features: int) -> Layout:
        raise NotImplementedError

    @classmethod
    def quantize(cls, weight: torch.Tensor, config: Any) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def dequantize(self) -> torch.Tensor:
        """The weight, shape (out_features, in_features), in the format's compute dtype."""
        raise NotImplementedError

    @classmethod
    def unsupported(cls, shape: tuple[int, int], dtype: torch.dtype, config: Any) -> str | None:
        """Why this format cannot hold such a weight (e.g. a width not divisible by the group), or None."""
        return None

    # --- shared behaviour ----------------------------------------------------------------

    def stored(self) -> dict[str, torch.Tensor]:
        names = self.layout(self.config, self.out_features, self.in_features)
        return {name: getattr(self, name) for name in names}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(
            x, self.dequantize().to(x.dtype), None if self.bias is None else self.bias.to(x.dtype)
        )

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class QuantizeLinearOp(ConversionOps):
    """The loader's on-the-fly step: one full-precision weight in, the format's stored tensors out."""

    def __init__(self, hf_quantizer: ReferenceQuantizer) -> None:
        self.hf_quantizer = hf_quantizer

    def convert(
        self,
        input_dict: dict[str, Any],
        full_layer_name: str | None = None,
        model: nn.Module | None = None,
        **kwargs: Any,
    ) -> dict[str, torch.Tensor]:
        (key, value), *_ = input_dict.items()
        weight = value[0] if isinstance(value, list) else value
        name = full_layer_name or key
        module, _ = get_module_from_name(model, name)
        prefix = name.rsplit(".", 1)[0]
        stored = module.quantize(weight, self.hf_quantizer.quantization_config)
        module._is_hf_initialized = True
        return {f"{prefix}.{k}": v.to(weight.device) for k, v in stored.items()}


class ReferenceQuantizer(HfQuantizer):
    """An HfQuantizer for a twin: pure PyTorch, runs wherever PyTorch runs."""

    linear_class: ClassVar[type[ReferenceLinear]] = ReferenceLinear
    requires_calibration = False

    @property
    def quantized_element_size(self) -> float:
        return self.linear_class.element_size

    def param_element_size(self, model: Any, param_name: str, param: torch.Tensor) -> float:
        # transformers 5.17 has no quantized_element_size hook: say it here for both versions
        if self.param_needs_quantization(model, param_name):
            return self.quantized_element_size
        return param.element_size()

    def param_needs_quantization(self, model: Any, param_name: str, **kwargs: Any) -> bool:
        module, tensor_name = get_module_from_name(model, param_name)
        return isinstance(module, self.linear_class) and tensor_name == "weight" and not self.pre_quantized

    def get_quantize_ops(self) -> ConversionOps:
        return QuantizeLinearOp(self)

    @classmethod
    def codec(cls) -> Any:
        """This twin's WeightCodec (specs name it as ``"module:Quantizer.codec"``)."""
        from reference_quantizers.codec import TwinCodec

        return TwinCodec(cls.linear_class)

    def modules_to_skip(self, model: Any) -> list[str]:
        """What the config lists (or transformers' default skips where it lists nothing) and the model's
        ``_keep_in_fp32_modules``; a twin whose method skips more adds to it."""
        return self.get_modules_to_not_convert(
            model, self.quantization_config.modules_to_not_convert, model._keep_in_fp32_modules
        )

    def _process_model_before_weight_loading(self, model: Any, **kwargs: Any) -> Any:

        # an explicit list replaces transformers' default skips, but a tied Linear (OPT's lm_head) can never
        # hold a quantized format of its own: the input embedding shares its weight
        self.modules_to_not_convert = sorted(set(self.modules_to_skip(model)) | set(tied_modules(model)))
        replace_linears(model, self, self.modules_to_not_convert)
        return model

    def _process_model_after_weight_loading(self, model: Any, **kwargs: Any) -> Any:
        return model

    def is_serializable(self, *args: Any, **kwargs: Any) -> bool:
        return True

    @property
    def is_trainable(self) -> bool:
        return False

    def _dequantize(self, model: Any, dtype: torch.dtype | str | None = None) -> Any:
        if isinstance(dtype, str):  # transformers passes model.config.dtype, a string in 5.x
            dtype = getattr(torch, dtype)
        for name, module in list(model.named_modules()):
            if isinstance(module, self.linear_class):
                linear = nn.Linear(module.in_features, module.out_features, bias=module.bias is not None)
                weight = module.dequantize()
                linear.weight = nn.Parameter(weight.to(dtype or weight.dtype), requires_grad=False)
                if module.bias is not None:
                    linear.bias = nn.Parameter(module.bias.detach().to(dtype or module.bias.dtype))
                model.set_submodule(name, linear.to(weight.device))
        return model


def replace_linears(model: nn.Module, quantizer: ReferenceQuantizer, skip: list[str] | None) -> int:
    """Swap every eligible nn.Linear for the twin's Linear on the meta device; return how many."""
    count = 0
    for name, module in list(model.named_modules()):
        if type(module) is not nn.Linear or not should_convert_module(name, skip):
            continue
        with torch.device("meta"):
            new = quantizer.linear_class(
                module.in_features,
                module.out_features,
                module.bias is not None,
                quantizer.quantization_config,
                pre_quantized=quantizer.pre_quantized,
                dtype=module.weight.dtype,
            )
        model.set_submodule(name, new)
        count += 1
    return count


def register_twin(config_class: type[ReferenceConfig], quantizer_class: type[ReferenceQuantizer]) -> None:
    """Register a twin under ``config_class.KEY`` in transformers' dispatch (idempotent)."""
    key = config_class.KEY
    if AUTO_QUANTIZER_MAPPING.get(key) is quantizer_class:
        return
    if key in AUTO_QUANTIZER_MAPPING or key in AUTO_QUANTIZATION_CONFIG_MAPPING:
        raise ValueError(f"another quantizer is already registered under {key!r}")
    register_quantization_config(key)(config_class)
    register_quantizer(key)(quantizer_class)


def tied_modules(model: nn.Module) -> list[str]:
    """Modules whose weight is tied to another parameter (either side of the tie): such a Linear cannot hold
    a quantized format of its own."""
    tied = getattr(model, "all_tied_weights_keys", None) or {}
    return sorted({name.removesuffix(".weight") for pair in tied.items() for name in pair})
