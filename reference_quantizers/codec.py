"""Every twin's ``WeightCodec`` comes from its Linear class: quantize and dequantize one weight."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:  # base builds a twin's codec from this module
    from reference_quantizers.base import ReferenceLinear


class TwinCodec:
    """The codec of a twin, built on its ``ReferenceLinear`` subclass."""

    def __init__(self, linear_class: type[ReferenceLinear]) -> None:
        self.linear_class = linear_class

    def quantize(self, weight: torch.Tensor, config: Any) -> dict[str, torch.Tensor]:
        return self.linear_class.quantize(weight, config)

    def dequantize(
        self, stored: dict[str, torch.Tensor], config: Any, shape: tuple[int, int], dtype: torch.dtype
    ) -> torch.Tensor:
        return self.linear_from(stored, config, shape).dequantize().to(dtype)

    def linear_from(
        self, stored: dict[str, torch.Tensor], config: Any, shape: tuple[int, int], bias: torch.Tensor | None = None
    ) -> ReferenceLinear:
        """A quantized Linear holding ``stored`` (for forward checks)."""
        out_features, in_features = shape
        with torch.device("meta"):
            linear = self.linear_class(in_features, out_features, bias is not None, config, pre_quantized=True)
        device = next(iter(stored.values())).device
        linear = linear.to_empty(device=device)
        for name, tensor in stored.items():
            setattr(linear, name, torch.nn.Parameter(tensor, requires_grad=False))
        if bias is not None:
            linear.bias = torch.nn.Parameter(bias)
        return linear

    def unsupported(self, shape: tuple[int, int], dtype: torch.dtype, config: Any, device: str) -> str | None:
        return self.linear_class.unsupported(shape, dtype, config)
