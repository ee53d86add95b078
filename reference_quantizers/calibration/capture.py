"""Activations of a model's Linear layers, captured with forward hooks, and the layers' order.

Capturing one layer stops the forward pass right after that layer's input is seen (a hook raises a
private exception), so sequential quantization costs a prefix of a forward per layer, as in
optimum's GPTQ, which stops at the first block the same way.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


class _Captured(Exception):
    """Raised by the capture hook to stop the forward pass once the input is recorded."""


def decoder_blocks(model: nn.Module) -> str:
    """Name of the ModuleList holding the decoder blocks (``model.layers``, ``model.decoder.layers``, ...)."""
    count = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) > 0 and (count is None or len(module) == count):
            return name
    raise ValueError(f"no ModuleList of decoder blocks found in {type(model).__name__}")


def block_linears(model: nn.Module, skip: Iterable[str] = ()) -> list[str]:
    """Names of the ``nn.Linear`` layers inside the decoder blocks, in module order (the quantization order)."""
    from transformers.quantizers.quantizers_utils import should_convert_module

    prefix = decoder_blocks(model) + "."
    skip = list(skip) or None
    return [
        name
        for name, module in model.named_modules()
        if type(module) is nn.Linear and name.startswith(prefix) and should_convert_module(name, skip)
    ]


class _DtypeGuard:
    """Around a Linear whose weight dtype differs from its input's (``_keep_in_fp32_modules`` in a float16
    model): cast the input to the weight's dtype and the output back. Not every architecture casts for
    itself, and calibration must run the forward pass."""

    def __init__(self) -> None:
        self.incoming: dict[int, torch.dtype] = {}

    def before(self, module: nn.Module, args: tuple) -> tuple | None:
        x, weight = args[0], module.weight
        if isinstance(x, torch.Tensor) and x.is_floating_point() and x.dtype != weight.dtype:
            self.incoming[id(module)] = x.dtype
            return (x.to(weight.dtype), *args[1:])
        return None

    def after(self, module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor | None:
        dtype = self.incoming.pop(id(module), None)
        return None if dtype is None else output.to(dtype)


@torch.no_grad()
def capture_inputs(
    model: nn.Module, names: list[str], batches: list[torch.Tensor], *, stop_after: str | None = None
) -> dict[str, list[torch.Tensor]]:
    """Inputs of each named module, one tensor per batch of token ids.

    ``stop_after``: stop each forward as soon as that module's input is recorded.
    """
    seen: dict[str, list[torch.Tensor]] = {name: [] for name in names}
    handles = []

    def hook(name: str):
        def record(module: nn.Module, args: tuple) -> None:
            seen[name].append(args[0].detach())
            if name == stop_after:
                raise _Captured

        return record

    guard = _DtypeGuard()
    for module in model.modules():  # first, so that the capture hooks see what the Linear computes with
        if isinstance(module, nn.Linear):
            handles.append(module.register_forward_pre_hook(guard.before))
            handles.append(module.register_forward_hook(guard.after))
    for name in names:
        handles.append(model.get_submodule(name).register_forward_pre_hook(hook(name)))
    device = next(model.parameters()).device
    try:
        for ids in batches:
            try:
                ids = ids.to(device)
                model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False)
            except _Captured:
                pass
    finally:
        for handle in handles:
            handle.remove()
    return seen
