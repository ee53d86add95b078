"""Correct small quantizers that lifecycle and numerics planted bugs subclass: the FP8 twin under new keys.

``ControlLinear`` is the FP8 twin's format with the plain forward (a matmul with the dequantized
weight, no activation quantization), so forward checks hold it to the compute dtype's rounding.
``ControlQuantizer`` claims trainability, so the backward check applies. A bug module subclasses
one of them, breaks one contract, and registers the result under its own key with ``planted``.
"""

from __future__ import annotations

from typing import Any

import torch
from hypothesis import strategies as st

from qconform.specs.model import Capabilities, Inputs, Oracles, Promises, QuantizerSpec, Tolerances
from reference_quantizers.base import ReferenceLinear, register_twin, replace_linears
from reference_quantizers.fp8 import RefFp8Config, RefFp8Linear, RefFp8Quantizer

CONTROL = "planted-control-fp8"
CONTROL_UNSERIALIZABLE = "planted-control-fp8-unserializable"


class ControlLinear(RefFp8Linear):
    forward = ReferenceLinear.forward  # the dequantized matmul


class ControlQuantizer(RefFp8Quantizer):
    """Correct where transformers' base is not: a tied module (OPT's lm_head) is never replaced, even when
    an explicit skip list drops the default skips (a quantized copy would get the embedding's tensor)."""

    linear_class = ControlLinear

    @property
    def is_trainable(self) -> bool:
        return True

    def _process_model_before_weight_loading(self, model: Any, **kwargs: Any) -> Any:
        listed = self.quantization_config.modules_to_not_convert
        skip = self.get_modules_to_not_convert(model, listed, model._keep_in_fp32_modules)
        tied = {k.removesuffix(".weight") for pair in model.all_tied_weights_keys.items() for k in pair}
        self.modules_to_not_convert = sorted(set(skip) | tied)
        replace_linears(model, self, self.modules_to_not_convert)
        return model


def config_class(key: str) -> type[RefFp8Config]:
    """The FP8 twin's config under ``key`` (its quant_method)."""
    return type(f"Config_{key.replace('-', '_')}", (RefFp8Config,), {"KEY": key})


def planted(key: str, quantizer: type[ControlQuantizer] = ControlQuantizer) -> type[RefFp8Config]:
    """Register ``quantizer`` (a subclass of the control) under ``key``; return the config class."""
    config = config_class(key)
    register_twin(config, quantizer)
    return config


def configs(config: type[RefFp8Config]) -> st.SearchStrategy[Any]:
    return st.builds(config, weight_block_size=st.sampled_from([(128, 128), (64, 64), (32, 128)]))


def spec(key: str, config: type[RefFp8Config], module: str, quantizer: str, **changes: Any) -> QuantizerSpec:
    """The control's spec for ``key``: codec ``module:quantizer.codec``, twin ref-fp8; ``changes`` override."""
    base = QuantizerSpec(
        method=key,
        inputs=Inputs(
            default_config=config,
            configs=lambda: configs(config),
        ),
        promises=Promises(
            capabilities=Capabilities(dequantizable=True, deterministic=True, trainable=True),
            quantized_element_size=1.0,
            tolerances=Tolerances(rel_error=0.08, logits_drift=0.15),
        ),
        oracles=Oracles(
            reference_twin="ref-fp8",
            codec=f"{module}:{quantizer}.codec",
        ),
    )
    return base.replace(**changes)


def codec_only(**changes: Any) -> dict[str, Any]:
    """Spec changes for a bug in the format alone: no model is loaded (lifecycle checks skip)."""
    return {"capabilities": Capabilities(quantizes_on_the_fly=False, deterministic=True), **changes}


class UnserializableControlQuantizer(ControlQuantizer):
    def is_serializable(self, *args: Any, **kwargs: Any) -> bool:
        return False


ControlConfig = planted(CONTROL)
UnserializableControlConfig = planted(CONTROL_UNSERIALIZABLE, UnserializableControlQuantizer)
_HERE = __name__
CONTROL_SPECS = (
    spec(CONTROL, ControlConfig, _HERE, "ControlQuantizer"),
    spec(
        CONTROL_UNSERIALIZABLE,
        UnserializableControlConfig,
        _HERE,
        "UnserializableControlQuantizer",
        capabilities=Capabilities(serializable=False, dequantizable=True, deterministic=True),
    ),
)


def nudge(tensor: torch.Tensor, factor: float) -> torch.Tensor:
    return (tensor.to(torch.float32) * factor).to(tensor.dtype)
