"""torchao through its own ``quantize_`` and its own safetensors flattening (the names transformers saves).

Stored tensors are named as ``TorchAoHfQuantizer.get_state_dict_and_metadata`` writes them for a
module's ``weight``: ``_weight_qdata``, ``_weight_scale``, ``_weight_zero_point`` (whatever parts the
tensor subclass has).
"""

from __future__ import annotations

from typing import Any

import torch

_PREFIX = "m."  # torchao's flattening needs a module prefix; stored names carry none


def _quantized_weight(weight: torch.Tensor, config: Any) -> torch.Tensor:
    """torchao's tensor subclass for ``weight`` under ``config.quant_type``, through ``quantize_`` on a Linear."""
    from torchao.quantization import quantize_

    out_features, in_features = weight.shape
    linear = torch.nn.Linear(in_features, out_features, bias=False, dtype=weight.dtype, device=weight.device)
    linear.weight = torch.nn.Parameter(weight.detach().clone(), requires_grad=False)
    quantize_(linear, config.quant_type)
    if type(linear.weight.data) is torch.Tensor:
        raise ValueError(f"torchao left a {tuple(weight.shape)} weight unquantized under {config.quant_type}")
    return linear.weight.data


class TorchAoCodec:
    def quantize(self, weight: torch.Tensor, config: Any) -> dict[str, torch.Tensor]:
        from torchao.prototype.safetensors.safetensors_support import flatten_tensor_state_dict

        flat, _ = flatten_tensor_state_dict({f"{_PREFIX}weight": _quantized_weight(weight, config)})
        return {name.removeprefix(_PREFIX): tensor for name, tensor in flat.items()}

    def dequantize(
        self, stored: dict[str, torch.Tensor], config: Any, shape: tuple[int, int], dtype: torch.dtype
    ) -> torch.Tensor:
        """Rebuild the tensor subclass as loading does (metadata from a same-shaped template), then read it.

        ``stored`` may also be a torchao-quantized module's state dict, whose ``weight`` is the subclass.

        ``Int8Tensor`` has ``dequantize``; ``Int4Tensor`` has none, so its weight is read through its own
        matmul (mslk's kernel) against the identity.
        """
        from torchao.prototype.safetensors.safetensors_support import (
            flatten_tensor_state_dict,
            unflatten_tensor_state_dict,
        )

        device = next(iter(stored.values())).device
        if "weight" in stored and type(stored["weight"]) is not torch.Tensor:  # a quantized module's state dict
            weight = stored["weight"]
        else:
            template = _quantized_weight(torch.zeros(shape, dtype=dtype, device=device), config)
            _, metadata = flatten_tensor_state_dict({f"{_PREFIX}weight": template})
            rebuilt, _ = unflatten_tensor_state_dict({_PREFIX + k: v for k, v in stored.items()}, metadata)
            weight = rebuilt[f"{_PREFIX}weight"]
        if "dequantize" in type(weight).__dict__:
            return weight.dequantize(dtype)
        identity = torch.eye(shape[1], dtype=weight.dtype, device=device)
        return torch.nn.functional.linear(identity, weight).t().contiguous().to(dtype)

    def unsupported(self, shape: tuple[int, int], dtype: torch.dtype, config: Any, device: str) -> str | None:
        name = type(config.quant_type).__name__
        if name == "Int4WeightOnlyConfig":
            group = config.quant_type.group_size
            if shape[1] % group:
                return f"torchao leaves a weight of width {shape[1]} unquantized (not a multiple of group_size {group})"
            packing = str(
                getattr(config.quant_type.int4_packing_format, "value", config.quant_type.int4_packing_format)
            )
            if packing != "plain":
                return f"int4_packing_format={packing!r} is packed for CUDA kernels; the codec covers 'plain'"
            if device != "cuda":
                return "torchao's plain int4 (Int4Tensor) is read only by mslk's CUDA matmul: no CPU dequantization"
            try:
                from mslk.quantize.shuffle import int4_row_quantize_zp  # noqa: F401
            except Exception as error:  # ImportError, or a CUDA library that fails to load
                return f"torchao's plain int4 (Int4Tensor) quantizes through mslk, which does not import: {error}"
        return None
