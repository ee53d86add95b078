"""AWQ of a whole model: scale search per group of Linears that share an input, folded into the op before them.

Like AutoAWQ, inputs are the full-precision model's (the chain of activations is not re-run through
quantized layers), scales are searched per group, folded, and then every Linear is quantized to
nearest. Groups come from ``scaling_groups``: for each decoder block, (operation before, Linears
after) pairs, with the same pairs AutoAWQ uses for Llama- and OPT-like blocks. A Linear in no group
(for example ``o_proj`` when grouped-query attention gives ``v_proj`` another width) is quantized
without scaling.

Difference from AutoAWQ, on purpose: the search loss is measured on the outputs of the group's
Linears, not on the output of the enclosing module (attention or MLP), which keeps the twin
independent of each architecture's forward signature.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from reference_quantizers.calibration.capture import capture_inputs, decoder_blocks
from reference_quantizers.formats import awq as awq_numerics

# (operation before, Linears after), relative to a decoder block; first match of the first Linear wins
_PATTERNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("input_layernorm", ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj")),
    ("self_attn.v_proj", ("self_attn.o_proj",)),
    ("post_attention_layernorm", ("mlp.gate_proj", "mlp.up_proj")),
    ("mlp.up_proj", ("mlp.down_proj",)),
    ("self_attn_layer_norm", ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj")),
    ("self_attn.v_proj", ("self_attn.out_proj",)),
    ("final_layer_norm", ("fc1",)),
    ("fc1", ("fc2",)),
)


def scaling_groups(model: nn.Module) -> list[tuple[str, list[str]]]:
    """(operation before, [Linears]) for every decoder block, full names; only foldable pairs."""
    prefix = decoder_blocks(model)
    groups = []
    for index in range(len(model.get_submodule(prefix))):
        block = f"{prefix}.{index}"
        for before, after in _PATTERNS:
            try:
                op = model.get_submodule(f"{block}.{before}")
                linears = [model.get_submodule(f"{block}.{name}") for name in after]
            except AttributeError:
                continue
            width = op.out_features if isinstance(op, nn.Linear) else op.weight.shape[0]
            if all(type(lin) is nn.Linear and lin.in_features == width for lin in linears):
                groups.append((f"{block}.{before}", [f"{block}.{name}" for name in after]))
    return groups


@torch.no_grad()
def fold_scales(op: nn.Module, linears: list[nn.Linear], s: torch.Tensor) -> None:
    """``op``'s output divided by ``s``, the Linears' inputs multiplied by it: the function is unchanged."""
    s = s.to(op.weight.device)
    if isinstance(op, nn.Linear):
        op.weight.div_(s.view(-1, 1).to(op.weight.dtype))
    else:  # a norm: LayerNorm or RMSNorm with an elementwise weight
        op.weight.div_(s.to(op.weight.dtype))
    if getattr(op, "bias", None) is not None:
        op.bias.div_(s.to(op.bias.dtype))
    for linear in linears:
        linear.weight.mul_(s.view(1, -1).to(linear.weight.dtype))


@torch.no_grad()
def quantize_model(
    model: nn.Module, config: Any, batches: list[torch.Tensor], skip: list[str]
) -> dict[str, dict[str, torch.Tensor]]:
    """Search and fold AWQ scales, then quantize every Linear not in ``skip``; returns checkpoint tensors per name."""
    from transformers.quantizers.quantizers_utils import should_convert_module

    names = [n for n, m in model.named_modules() if type(m) is nn.Linear and should_convert_module(n, skip or None)]
    groups = [(op, [n for n in after if n in names]) for op, after in scaling_groups(model)]
    groups = [(op, after) for op, after in groups if after]
    inputs = capture_inputs(model, [after[0] for _, after in groups], batches)
    for op_name, after in groups:
        linears = [model.get_submodule(name) for name in after]
        x = torch.cat([batch.reshape(-1, batch.shape[-1]) for batch in inputs[after[0]]])
        s, _ = awq_numerics.search_scales(
            x, [lin.weight for lin in linears], config.group_size, config.bits, config.n_grid, config.duo_scaling
        )
        fold_scales(model.get_submodule(op_name), linears, s)
    return {name: awq_numerics.quantize_gemm(model.get_submodule(name).weight, config.group_size) for name in names}
