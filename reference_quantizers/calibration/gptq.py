"""Sequential GPTQ of a whole model, the way optimum drives gptqmodel for transformers.

Layers are quantized one at a time in module order inside each decoder block (``true_sequential``),
blocks in order; each layer's Hessian comes from its inputs with every earlier layer already
quantized, and its weight is replaced by the quantized value before the next layer is calibrated.
Layers outside the decoder blocks (embeddings, ``lm_head``) stay in full precision, as in optimum.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from reference_quantizers.calibration.capture import block_linears, capture_inputs, decoder_blocks
from reference_quantizers.formats import gptq as gptq_numerics


@torch.no_grad()
def quantize_model(
    model: nn.Module, config: Any, batches: list[torch.Tensor], names: list[str] | None = None
) -> dict[str, dict[str, torch.Tensor]]:
    """GPTQ the named Linears (default: every Linear of the decoder blocks) in place, in module order;
    their weights become their quantized values. Returns the checkpoint tensors per layer name.

    ``config.true_sequential`` False: the Linears of one block are calibrated together, on inputs taken
    before any of them is quantized (optimum's other mode).
    """
    params = config.gptq_params()
    wanted = [n for n in block_linears(model, config.modules_to_not_convert or ()) if names is None or n in names]
    steps = [[name] for name in wanted] if config.true_sequential else _by_block(wanted, decoder_blocks(model))
    stored: dict[str, dict[str, torch.Tensor]] = {}
    for step in steps:
        inputs = capture_inputs(model, step, batches, stop_after=step[-1] if len(step) == 1 else None)
        for name in step:
            linear = model.get_submodule(name)
            h = gptq_numerics.hessian(inputs[name], linear.in_features, device=linear.weight.device)
            result = gptq_numerics.quantize(linear.weight, h, params)
            linear.weight.data = result.dequantize().to(linear.weight.dtype)
            stored[name] = gptq_numerics.pack_gptq(result, config.bits, config.format)
    return stored


def _by_block(names: list[str], blocks: str) -> list[list[str]]:
    """Names grouped by decoder block (``<blocks>.<index>.``), blocks in order."""
    groups: dict[str, list[str]] = {}
    for name in names:
        index = name[len(blocks) + 1 :].split(".", 1)[0]
        groups.setdefault(index, []).append(name)
    return list(groups.values())
