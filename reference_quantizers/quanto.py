"""Twin of quanto (``QuantoConfig``): optimum-quanto's int8, float8, int4 and int2 weights, weight-only.

The stored tensors are what optimum-quanto's ``QLinear`` writes in its ``state_dict`` after ``freeze``:
``weight._data`` (``weight._data._data`` when packed), ``weight._scale``, ``weight._shift`` (4 and 2
bits), ``input_scale`` and ``output_scale`` (ones: activations are not quantized). Those names are not
attribute names, so the Linear keeps them as ``weight``, ``weight_scale`` and ``weight_shift`` and the
quantizer renames them on load and on save. transformers' own quanto quantizer cannot save
(``is_serializable`` is False); this twin can, in the format optimum-quanto's ``requantize`` reads.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from transformers.core_model_loading import WeightRenaming

from reference_quantizers.base import Layout, ReferenceConfig, ReferenceLinear, ReferenceQuantizer, register_twin
from reference_quantizers.codec import TwinCodec
from reference_quantizers.formats import quanto

WEIGHTS = ("int8", "float8", "int4", "int2")
ELEMENT_SIZE = {"int8": 1.0, "float8": 1.0, "int4": 0.5, "int2": 0.25}


class RefQuantoConfig(ReferenceConfig):
    KEY = "ref-quanto"

    def __init__(
        self,
        weights: str = "int8",
        activations: str | None = None,
        modules_to_not_convert: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.weights = weights
        self.activations = activations
        super().__init__(modules_to_not_convert=modules_to_not_convert, **kwargs)

    def post_init(self) -> None:
        if self.weights not in WEIGHTS:
            raise ValueError(f"weights must be one of {WEIGHTS}, got {self.weights!r}")
        if self.activations is not None:
            raise ValueError(
                f"activations must be None (transformers' quanto integration is weight-only), got {self.activations!r}"
            )


class RefQuantoLinear(ReferenceLinear):
    element_size = 1.0  # int8/float8; the quantizer reports the configured format's size

    #: attribute -> name in quanto's state dict
    SYMMETRIC_NAMES: ClassVar[dict[str, str]] = {"weight": "weight._data", "weight_scale": "weight._scale"}
    AFFINE_NAMES: ClassVar[dict[str, str]] = {
        "weight": "weight._data._data",
        "weight_scale": "weight._scale",
        "weight_shift": "weight._shift",
    }

    @classmethod
    def checkpoint_names(cls, config: RefQuantoConfig) -> dict[str, str]:
        return cls.SYMMETRIC_NAMES if config.weights in quanto.SYMMETRIC else cls.AFFINE_NAMES

    @classmethod
    def layout(cls, config: RefQuantoConfig, out_features: int, in_features: int) -> Layout:
        unit = {"input_scale": ((), None), "output_scale": ((), None)}
        if config.weights in quanto.SYMMETRIC:
            data_dtype = quanto.SYMMETRIC[config.weights][0]
            data = ((out_features, in_features), data_dtype)
            return {"weight": data, "weight_scale": ((out_features, 1), None), **unit}
        bits = quanto.AFFINE_BITS[config.weights]
        rows = quanto.affine_rows((out_features, in_features), quanto.group_size_for(in_features))
        return {
            "weight": (quanto.packed_shape(rows, bits), torch.uint8),
            "weight_scale": ((rows[0], 1), None),
            "weight_shift": ((rows[0], 1), None),
            **unit,
        }

    @classmethod
    def quantize(cls, weight: torch.Tensor, config: RefQuantoConfig) -> dict[str, torch.Tensor]:
        ones = torch.ones((), dtype=weight.dtype, device=weight.device)
        if config.weights in quanto.SYMMETRIC:
            data, scale = quanto.quantize_symmetric(weight, config.weights)
            return {"weight": data, "weight_scale": scale, "input_scale": ones, "output_scale": ones.clone()}
        bits = quanto.AFFINE_BITS[config.weights]
        codes, scale, shift = quanto.quantize_affine(weight, bits, quanto.group_size_for(weight.shape[1]))
        return {
            "weight": quanto.pack(codes, bits),
            "weight_scale": scale,
            "weight_shift": shift,
            "input_scale": ones,
            "output_scale": ones.clone(),
        }

    def dequantize(self) -> torch.Tensor:
        if self.config.weights in quanto.SYMMETRIC:
            return quanto.dequantize_symmetric(self.weight, self.weight_scale)
        bits = quanto.AFFINE_BITS[self.config.weights]
        codes = quanto.unpack(self.weight, bits, self.weight_scale.shape[0])
        shape = (self.out_features, self.in_features)
        return quanto.dequantize_affine(codes, self.weight_scale, self.weight_shift, shape)

    @classmethod
    def unsupported(cls, shape: tuple[int, int], dtype: torch.dtype, config: RefQuantoConfig) -> str | None:
        if shape[0] < 2:
            return "quanto quantizes a single-row weight per tensor (a different layout), not per row"
        return None


class RefQuantoCodec(TwinCodec):
    """The twin's codec, speaking quanto's state-dict names like the real backend's codec."""

    def quantize(self, weight: torch.Tensor, config: RefQuantoConfig) -> dict[str, torch.Tensor]:
        names = self.linear_class.checkpoint_names(config)
        return {names.get(key, key): value for key, value in super().quantize(weight, config).items()}

    def linear_from(
        self, stored: dict[str, torch.Tensor], config: Any, shape: tuple[int, int], bias: torch.Tensor | None = None
    ) -> ReferenceLinear:
        attributes = {name: attr for attr, name in self.linear_class.checkpoint_names(config).items()}
        return super().linear_from({attributes.get(k, k): v for k, v in stored.items()}, config, shape, bias)


class QuantoCheckpointName(WeightRenaming):
    """A rename from quanto's state-dict name to the twin's attribute (a type of its own, to find it again)."""

    __slots__ = ()


class RefQuantoQuantizer(ReferenceQuantizer):
    linear_class = RefQuantoLinear

    @property
    def quantized_element_size(self) -> float:
        return ELEMENT_SIZE[self.quantization_config.weights]

    @classmethod
    def codec(cls) -> RefQuantoCodec:
        return RefQuantoCodec(cls.linear_class)

    def get_weight_conversions(self) -> list[WeightRenaming]:
        if not self.pre_quantized:
            return []
        names = self.linear_class.checkpoint_names(self.quantization_config)
        # longest checkpoint name first, so that no shorter one renames a part of it
        ordered = sorted(names.items(), key=lambda item: -len(item[1]))
        return [QuantoCheckpointName(stored.replace(".", r"\."), attribute) for attribute, stored in ordered]

    def get_state_dict_and_metadata(self, model: Any) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        names = self.linear_class.checkpoint_names(self.quantization_config)
        renamed = {}
        for prefix, module in model.named_modules():
            if isinstance(module, self.linear_class):
                renamed.update({f"{prefix}.{attr}": f"{prefix}.{stored}" for attr, stored in names.items()})
        return {renamed.get(key, key): value for key, value in model.state_dict().items()}, {}

    def _process_model_after_weight_loading(self, model: Any, **kwargs: Any) -> Any:
        # save_pretrained reverses the conversions used at loading; ours are reversed by get_state_dict_and_metadata
        conversions = getattr(model, "_weight_conversions", None)
        if conversions:
            model._weight_conversions = [c for c in conversions if not isinstance(c, QuantoCheckpointName)]
        return model


register_twin(RefQuantoConfig, RefQuantoQuantizer)
