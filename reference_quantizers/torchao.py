"""Twin of torchao (``torchao``): int4 weight-only, int8 weight-only, int8 dynamic activation + int8 weight.

The stored tensors are torchao's tensor subclasses as transformers saves them: flattened into
``<module>._weight_<part>`` entries (``flatten_tensor_state_dict``) with a safetensors metadata entry
per parameter saying which subclass and attributes to rebuild it with. The twin's Linear holds those
entries under the same names, and writes the same metadata, so a twin checkpoint loads through
``TorchAoHfQuantizer`` with torchao and the other way round:

- ``int4_weight_only``: ``Int4WeightOnlyConfig(group_size)`` with its default ``plain`` packing
  (``Int4Tensor``): ``_weight_qdata`` (out, in/2) int8, ``_weight_scale`` and ``_weight_zero_point``
  (in/group, out) in the model's dtype;
- ``int8_weight_only``: ``Int8WeightOnlyConfig()`` (``Int8Tensor``, per-row symmetric):
  ``_weight_qdata`` (out, in) int8, ``_weight_scale`` (out, 1) float32, ``_weight_zero_point``
  (out, 1) int8 zeros;
- ``int8_dynamic_activation_int8_weight``: ``Int8DynamicActivationInt8WeightConfig()``: the same
  tensors, and activations quantized per token in the forward.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import torch
from torch import nn

from reference_quantizers.base import (
    Layout,
    ReferenceConfig,
    ReferenceLinear,
    ReferenceQuantizer,
    register_twin,
)
from reference_quantizers.formats import int4_grouped, int8
from reference_quantizers.loading import QuantizeIntoModuleOp

INT4 = "int4_weight_only"
INT8 = "int8_weight_only"
INT8_DYNAMIC = "int8_dynamic_activation_int8_weight"
SCHEMES = (INT4, INT8, INT8_DYNAMIC)

QDATA, SCALE, ZERO_POINT = "_weight_qdata", "_weight_scale", "_weight_zero_point"


class RefTorchAoConfig(ReferenceConfig):
    KEY = "ref-torchao"

    def __init__(
        self,
        scheme: str = INT8,
        group_size: int = 128,
        modules_to_not_convert: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.scheme = scheme
        self.group_size = group_size
        super().__init__(modules_to_not_convert=modules_to_not_convert, **kwargs)

    def post_init(self) -> None:
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {self.scheme!r}")
        if not isinstance(self.group_size, int) or isinstance(self.group_size, bool) or self.group_size <= 0:
            raise ValueError(f"group_size must be a positive integer, got {self.group_size!r}")

    @classmethod
    def from_real(cls, config: Any) -> RefTorchAoConfig:
        """The twin of a ``TorchAoConfig`` whose ``quant_type`` is one of the three schemes with torchao's defaults."""
        from torchao.quantization import (
            Int4WeightOnlyConfig,
            Int8DynamicActivationInt8WeightConfig,
            Int8WeightOnlyConfig,
            MappingType,
            PerRow,
        )

        quant_type, skip = config.quant_type, config.modules_to_not_convert
        name = type(quant_type).__name__
        if isinstance(quant_type, Int4WeightOnlyConfig):
            if (quant_type.int4_packing_format, quant_type.int4_choose_qparams_algorithm) != ("plain", "tinygemm"):
                raise ValueError(
                    f"{name}: the twin reproduces int4_packing_format='plain' with the default qparams algorithm, "
                    f"got {quant_type.int4_packing_format!r} / {quant_type.int4_choose_qparams_algorithm!r}"
                )
            return cls(scheme=INT4, group_size=quant_type.group_size, modules_to_not_convert=skip)
        if isinstance(quant_type, Int8WeightOnlyConfig):
            if not isinstance(quant_type.granularity, PerRow):
                raise ValueError(f"{name}: the twin reproduces granularity=PerRow(), got {quant_type.granularity!r}")
            return cls(scheme=INT8, modules_to_not_convert=skip)
        if isinstance(quant_type, Int8DynamicActivationInt8WeightConfig):
            granularity = quant_type.granularity
            per_row = (
                granularity is None
                or isinstance(granularity, PerRow)
                or (isinstance(granularity, list) and all(isinstance(g, PerRow) for g in granularity))
            )
            if not per_row or quant_type.act_mapping_type != MappingType.SYMMETRIC or quant_type.reduce_range:
                raise ValueError(
                    f"{name}: the twin reproduces PerRow granularity, symmetric activations and reduce_range=False"
                )
            return cls(scheme=INT8_DYNAMIC, modules_to_not_convert=skip)
        raise ValueError(f"the twin reproduces {SCHEMES}; no twin scheme for torchao's {name}")

    def to_real(self) -> Any:
        """The ``TorchAoConfig`` this twin config reproduces (needs torchao)."""
        from torchao.quantization import (
            Int4WeightOnlyConfig,
            Int8DynamicActivationInt8WeightConfig,
            Int8WeightOnlyConfig,
        )
        from transformers import TorchAoConfig

        quant_type = {
            INT4: lambda: Int4WeightOnlyConfig(group_size=self.group_size),
            INT8: Int8WeightOnlyConfig,
            INT8_DYNAMIC: Int8DynamicActivationInt8WeightConfig,
        }[self.scheme]()
        return TorchAoConfig(quant_type=quant_type, modules_to_not_convert=self.modules_to_not_convert)


class RefTorchAoLinear(ReferenceLinear):
    """Holds ``_weight_qdata`` / ``_weight_scale`` / ``_weight_zero_point`` exactly as a torchao checkpoint does.

    Quantizing on the fly, the loader hands over a full-precision ``weight``: until then the module
    holds only that placeholder, and ``QuantizeIntoModuleOp`` swaps it for the stored tensors (as torchao
    swaps the weight for its tensor subclass), so a memory estimate counts each weight once.
    """

    element_size = 1.0
    quantizes_into_module = True

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool,
        config: RefTorchAoConfig,
        *,
        pre_quantized: bool,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_features, out_features, bias, config, pre_quantized=pre_quantized, dtype=dtype)
        self.dtype = dtype or torch.get_default_dtype()  # the high-precision dtype torchao records

    @classmethod
    def layout(cls, config: RefTorchAoConfig, out_features: int, in_features: int) -> Layout:
        if config.scheme == INT4:
            groups = in_features // config.group_size
            return {
                QDATA: ((out_features, in_features // 2), torch.int8),
                SCALE: ((groups, out_features), None),
                ZERO_POINT: ((groups, out_features), None),
            }
        return {
            QDATA: ((out_features, in_features), torch.int8),
            SCALE: ((out_features, 1), torch.float32),
            ZERO_POINT: ((out_features, 1), torch.int8),
        }

    @classmethod
    def quantize(cls, weight: torch.Tensor, config: RefTorchAoConfig) -> dict[str, torch.Tensor]:
        if config.scheme == INT4:
            q, scale, zero = int4_grouped.quantize(weight, config.group_size)
            return {QDATA: int4_grouped.pack(q), SCALE: scale.to(weight.dtype), ZERO_POINT: zero.to(weight.dtype)}
        q, scale, zero_point = int8.quantize_per_row(weight)
        return {QDATA: q, SCALE: scale, ZERO_POINT: zero_point}

    @classmethod
    def unsupported(cls, shape: tuple[int, int], dtype: torch.dtype, config: RefTorchAoConfig) -> str | None:
        if config.scheme == INT4 and shape[1] % config.group_size:
            return f"torchao leaves a weight of width {shape[1]} unquantized: not a multiple of group_size"
        return None

    def dequantize(self) -> torch.Tensor:
        q, scale, zero = getattr(self, QDATA), getattr(self, SCALE), getattr(self, ZERO_POINT)
        if self.config.scheme == INT4:
            return int4_grouped.dequantize(int4_grouped.unpack(q), scale, zero, self.dtype)
        return int8.dequantize(q, scale, zero, self.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.scheme == INT8:
            return int8.weight_only_linear(x, getattr(self, QDATA), getattr(self, SCALE), self.bias)
        if self.config.scheme == INT8_DYNAMIC:
            return int8.dynamic_activation_linear(x, getattr(self, QDATA), getattr(self, SCALE), self.bias)
        return super().forward(x)

    def subclass_metadata(self) -> dict[str, Any]:
        """The JSON torchao's ``TensorSubclassAttributeJSONEncoder`` writes for this weight's tensor subclass."""
        dtype = {"_type": "torch.dtype", "_data": str(self.dtype).removeprefix("torch.")}
        if self.config.scheme == INT4:
            data = {
                "activation_dtype": {"_type": "torch.dtype", "_data": "bfloat16"},
                "block_size": [1, self.config.group_size],
                "shape": [self.out_features, self.in_features],
            }
            return {"_type": "Int4Tensor", "_data": data, "_tensor_data_names": ["qdata", "scale", "zero_point"]}
        act_quant_kwargs = None
        if self.config.scheme == INT8_DYNAMIC:
            act_quant_kwargs = {
                "_type": "QuantizeTensorToInt8Kwargs",
                "_data": {
                    "granularity": {"_type": "PerRow", "_data": {"dim": -1}},
                    "mapping_type": {"_type": "MappingType", "_data": "SYMMETRIC"},
                    "reduce_range": False,
                },
            }
        data = {"act_quant_kwargs": act_quant_kwargs, "reduce_range": False, "block_size": [1, self.in_features]}
        data["dtype"] = dtype
        return {"_type": "Int8Tensor", "_data": data, "_tensor_data_names": ["zero_point", "qdata", "scale"]}


class RefTorchAoQuantizer(ReferenceQuantizer):
    linear_class = RefTorchAoLinear
    element_sizes: ClassVar[dict[str, float]] = {INT4: 0.5, INT8: 1.0, INT8_DYNAMIC: 1.0}

    @property
    def quantized_element_size(self) -> float:
        return self.element_sizes[self.quantization_config.scheme]

    def get_quantize_ops(self) -> QuantizeIntoModuleOp:
        return QuantizeIntoModuleOp(self)

    def modules_to_skip(self, model: Any) -> list[str]:
        config = self.quantization_config
        skip = super().modules_to_skip(model)
        if config.scheme == INT4:  # torchao leaves weights whose width is not a multiple of the group as they are
            skip += [n for n, m in model.named_modules() if type(m) is nn.Linear and m.in_features % config.group_size]
        return skip

    def get_state_dict_and_metadata(self, model: Any) -> tuple[None, dict[str, str]]:
        """The model's own state dict (its names are torchao's flattened names) and torchao's metadata."""
        metadata: dict[str, str] = {}
        names = []
        quantized = {f"{name}.weight": m for name, m in model.named_modules() if isinstance(m, RefTorchAoLinear)}
        for key in model.state_dict():
            prefix, _, part = key.rpartition(".")
            if part in (QDATA, SCALE, ZERO_POINT):
                key = f"{prefix}.weight"
                if key in metadata:
                    continue
                metadata[key] = json.dumps(quantized[key].subclass_metadata())
            else:
                metadata[key] = json.dumps({"_type": "Tensor"})
            names.append(key)
        metadata["tensor_names"] = json.dumps(names)
        return None, metadata


register_twin(RefTorchAoConfig, RefTorchAoQuantizer)
