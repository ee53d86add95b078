"""hqq through ``HQQLinear``: quantize a weight as hqq's own layer does, store what its ``state_dict`` writes.

The config is transformers' ``HqqConfig`` (its ``quant_config`` is hqq's ``BaseQuantizeConfig``). The
layer's compute dtype is the weight's dtype (transformers 5.17's HQQ quantizer passed the model's
dtype), so ``scale`` and ``zero`` are stored in it. transformers itself cannot quantize with hqq
(its quantizer has no ``get_quantize_ops``): this codec calls the package directly.
"""

from __future__ import annotations

from typing import Any

import torch


def _weight_params(config: Any) -> dict[str, Any]:
    params = config.quant_config.get("weight_quant_params")
    if params is None:
        raise ValueError("per-layer HQQ configs (dynamic_config) are not supported by this codec")
    return params


def _group_size(shape: tuple[int, int], params: dict[str, Any]) -> int:
    if params["group_size"] is not None:
        return params["group_size"]
    return shape[1] if params["axis"] == 1 else shape[0]  # HQQLinear.initialize's rule


class HqqCodec:
    def quantize(self, weight: torch.Tensor, config: Any) -> dict[str, torch.Tensor]:
        from hqq.core.quantize import HQQLinear

        layer = HQQLinear.from_weights(
            weight, None, config.quant_config, compute_dtype=weight.dtype, device=str(weight.device), del_orig=True
        )
        return {key: value for key, value in layer.state_dict().items() if key != "bias"}

    def dequantize(
        self, stored: dict[str, torch.Tensor], config: Any, shape: tuple[int, int], dtype: torch.dtype
    ) -> torch.Tensor:
        from hqq.core.quantize import HQQLinear

        device = str(stored["W_q"].device)
        layer = HQQLinear(None, None, compute_dtype=stored["scale"].dtype, device=device, initialize=False)
        layer.load_state_dict(dict(stored))
        return layer.dequantize().to(dtype)

    def unsupported(self, shape: tuple[int, int], dtype: torch.dtype, config: Any, device: str) -> str | None:
        params = _weight_params(config)
        group_size = _group_size(shape, params)
        numel = shape[0] * shape[1]
        if numel % group_size:
            return f"hqq needs the group size {group_size} to divide the weight's {numel} values"
        rows = numel // group_size if params["axis"] == 1 else group_size
        per_byte = {4: 2, 2: 4, 1: 8}.get(params["nbits"], 1)
        if rows % per_byte:
            return f"hqq packs {per_byte} rows of codes per byte and the grouped weight has {rows} rows"
        columns = numel // rows
        word_bytes = 4 if params["nbits"] == 3 else 1
        if params.get("view_as_float") and (columns * word_bytes) % dtype.itemsize:
            return f"view_as_float: rows of {columns} packed codes do not hold a whole number of {dtype} values"
        return None
