"""Loading helpers shared by twins: quantizing on the fly into formats whose tensors are not ``weight``, ties.

transformers' loader hands a checkpoint's ``<module>.weight`` to the quantizer only when the module has
a ``weight`` parameter. Until then such a format's Linear holds only a full-precision placeholder
``weight`` (so a memory estimate counts each weight once, at the quantized element size), and
``QuantizeIntoModuleOp`` swaps it for the stored tensors (``codes``, ``weight_packed``, ...).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from reference_quantizers.base import QuantizeLinearOp


class QuantizeIntoModuleOp(QuantizeLinearOp):
    """Quantize, then put the stored tensors on the module in place of its placeholder ``weight``."""

    def convert(
        self,
        input_dict: dict[str, Any],
        full_layer_name: str | None = None,
        model: nn.Module | None = None,
        **kwargs: Any,
    ) -> dict[str, torch.Tensor]:
        stored = super().convert(input_dict, full_layer_name=full_layer_name, model=model, **kwargs)
        name = full_layer_name or next(iter(input_dict))
        module = model.get_submodule(name.rsplit(".", 1)[0])
        del module._parameters["weight"]
        for key, tensor in stored.items():
            module.register_parameter(key.rsplit(".", 1)[1], nn.Parameter(tensor, requires_grad=False))
        if kwargs.get("missing_keys") is not None:
            kwargs["missing_keys"].discard(name)
        return {}
