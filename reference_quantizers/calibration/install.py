"""Put a twin's quantized Linears into a model in place of its ``nn.Linear`` layers."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from reference_quantizers.base import ReferenceLinear


def install(
    model: nn.Module,
    linear_class: type[ReferenceLinear],
    config: Any,
    names: list[str],
    stored: dict[str, dict[str, torch.Tensor]] | None = None,
) -> None:
    """Replace each named Linear: empty on the meta device (to load a checkpoint), or holding ``stored[name]``."""
    for name in names:
        module = model.get_submodule(name)
        with torch.device("meta"):
            new = linear_class(
                module.in_features,
                module.out_features,
                module.bias is not None,
                config,
                pre_quantized=True,
                dtype=module.weight.dtype,
            )
        if stored is not None:
            new = new.to_empty(device=module.weight.device)
            for key, tensor in stored[name].items():
                setattr(new, key, nn.Parameter(tensor.to(module.weight.device), requires_grad=False))
            if module.bias is not None:
                new.bias = nn.Parameter(module.bias.detach(), requires_grad=False)
        model.set_submodule(name, new)
