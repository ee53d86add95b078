"""optimum-quanto through its own functions: the optimizer and ``quantize_weight`` that ``QLinear.freeze`` runs.

Stored names are those of ``QLinear.state_dict()`` without the module prefix. Quantizing uses quanto's
kernel-agnostic tensors (``optimized=False``): the bytes ``freeze`` would store, without building
quanto's CUDA extension for its AWQ/Marlin/TinyGemm kernels. Dequantizing runs on the CPU (quanto's
C++ ``unpack`` extension is built there on first use, about 30 to 100 s, then cached with the package).
"""

from __future__ import annotations

from typing import Any

import torch

QTYPES = {"int8": "qint8", "float8": "qfloat8_e4m3fn", "int4": "qint4", "int2": "qint2"}


class QuantoCodec:
    def _layer(self, shape: tuple[int, int], dtype: torch.dtype, config: Any) -> Any:
        """quanto's QLinear for this shape, on the meta device: it decides the optimizer and the group size."""
        from optimum.quanto import QLinear

        with torch.device("meta"):
            return QLinear(shape[1], shape[0], bias=False, dtype=dtype, weights=QTYPES[config.weights])

    def quantize(self, weight: torch.Tensor, config: Any) -> dict[str, torch.Tensor]:
        from optimum.quanto.tensor import SymmetricOptimizer, quantize_weight

        layer = self._layer(tuple(weight.shape), weight.dtype, config)
        qtype, group_size = layer.weight_qtype, layer.weight_group_size
        if isinstance(layer.optimizer, SymmetricOptimizer):
            scale, shift = layer.optimizer(weight, qtype=qtype, axis=0), None
        else:
            scale, shift = layer.optimizer(weight, qtype=qtype, axis=0, group_size=group_size)
        qweight = quantize_weight(
            weight, qtype=qtype, axis=0, scale=scale, shift=shift, group_size=group_size, optimized=False
        )
        stored: dict[str, torch.Tensor] = {}
        qweight.save_to_state_dict(stored, "weight.", keep_vars=False)
        ones = torch.ones((), dtype=weight.dtype, device=weight.device)
        return {**stored, "input_scale": ones, "output_scale": ones.clone()}

    def dequantize(
        self, stored: dict[str, torch.Tensor], config: Any, shape: tuple[int, int], dtype: torch.dtype
    ) -> torch.Tensor:
        from optimum.quanto.tensor import WeightQBitsTensor, WeightQBytesTensor

        device = next(iter(stored.values())).device
        state = {key: value.cpu() for key, value in stored.items()}
        layer = self._layer(shape, state["weight._scale"].dtype, config)
        common = {"qtype": layer.weight_qtype, "axis": 0, "size": torch.Size(shape), "stride": (shape[1], 1)}
        if layer.weight_qtype.bits == 8:
            qweight = WeightQBytesTensor.load_from_state_dict(
                state, "weight.", activation_qtype=None, missing_keys=[], **common
            )
        else:
            qweight = WeightQBitsTensor.load_from_state_dict(
                state, "weight.", group_size=layer.weight_group_size, missing_keys=[], **common
            )
        return qweight.dequantize().to(device=device, dtype=dtype)

    def unsupported(self, shape: tuple[int, int], dtype: torch.dtype, config: Any, device: str) -> str | None:
        if shape[0] < 2:
            return "quanto quantizes a single-row weight per tensor (a different layout), not per row"
        return None
