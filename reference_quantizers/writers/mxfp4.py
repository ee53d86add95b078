"""MXFP4 checkpoints of the tiny gpt-oss, in the layout transformers' ``Mxfp4HfQuantizer`` reads.

transformers converts only gpt-oss experts to MXFP4 and quantizes them on the fly through a hub kernel
(``integrations/mxfp4.py``: ``quantize_to_mxfp4`` calls ``downcast_to_mxfp_torch`` of
kernels-community/gpt-oss-triton-kernels), which is out of reach offline; it has no quantize function of its
own. Its reading side is plain torch: ``_convert_moe_packed_tensors`` (integrations/mxfp4.py:228-284) takes, for
each expert weight ``<experts>.<proj>`` (``gate_up_proj`` [E, H, 2I], ``down_proj`` [E, I, H]: [experts, in, out]),

- ``<proj>_blocks`` uint8 [E, out, in/32, 16]: per output, blocks of 32 consecutive inputs (the reduction dim),
  two e2m1 codes a byte, the even element in the low nibble (``sub[:, 0::2] = lut[blk & 0x0F]``);
- ``<proj>_scales`` uint8 [E, out, in/32]: the block's power-of-two scale as an e8m0 exponent biased by 127
  (``torch.ldexp(sub, scales - 127)``),

and gives back ``out.transpose(1, 2)``, the parameter's [E, in, out]. e2m1 codes are sign (bit 3) and
magnitude index into 0, 0.5, 1, 1.5, 2, 3, 4, 6 (``FP4_VALUES``). This writer quantizes as the hub kernel's
``downcast_to_mxfp_torch`` does by default (DequantScaleRoundingMode.ROUND_UP): the scale is amax / 6 rounded
up to a power of two, so no element clips, and each element rounds to the nearest e2m1 value (ties to even
here; the kernel's bit trick breaks exact ties away from zero). Every other tensor is saved as the tiny model
holds it. transformers loads such a checkpoint with ``Mxfp4Config(dequantize=True)`` anywhere, torch only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from reference_quantizers.writers.cache import config_object, package_versions, state_dict_checkpoint

BLOCK = 32  # elements per shared scale (OCP MX)
E8M0_BIAS = 127
E2M1_VALUES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)  # magnitudes of codes 0-7; bit 3 is the sign
E2M1_MAX = E2M1_VALUES[-1]


def mxfp4_config(config: Any = None) -> Any:
    """An ``Mxfp4Config`` for ``config`` (None: its defaults; a dict: its fields)."""
    return config_object("Mxfp4Config", config)


def block_exponents(blocks: torch.Tensor) -> torch.Tensor:
    """Each block's scale exponent (int32, unbiased): ceil(log2(amax / 6)), so amax / 2**e <= 6; an all-zero
    block gets the smallest e8m0 exponent. ``blocks``: float, last dim the block's 32 elements."""
    target = blocks.abs().amax(dim=-1).float() / E2M1_MAX
    mantissa, exponent = torch.frexp(target)  # target = mantissa * 2**exponent, mantissa in [0.5, 1)
    exponent = torch.where(mantissa == 0.5, exponent - 1, exponent)  # already a power of two
    exponent = torch.where(target > 0, exponent, torch.full_like(exponent, -E8M0_BIAS))
    return exponent.clamp(-E8M0_BIAS, E8M0_BIAS)


def e2m1_codes(values: torch.Tensor) -> torch.Tensor:
    """4-bit e2m1 codes (uint8, 0-15) of ``values`` already divided by their scale: nearest magnitude, ties to
    the even code, saturating at 6."""
    grid = torch.tensor(E2M1_VALUES, dtype=torch.float32, device=values.device)
    midpoints = (grid[1:] + grid[:-1]) / 2
    magnitude = values.abs().float().clamp(max=E2M1_MAX).contiguous()
    index = torch.bucketize(magnitude, midpoints)  # a tie goes to the lower magnitude
    tie = magnitude == midpoints[index.clamp(max=len(midpoints) - 1)]
    index = torch.where(tie & (index % 2 == 1), index + 1, index)
    return (index | torch.where(values < 0, 8, 0)).to(torch.uint8)


def quantize_matrices(matrices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(blocks, scales) of [experts, out, in] weights: blocks uint8 [E, out, in/32, 16], scales uint8
    [E, out, in/32] (e8m0, biased by 127), in transformers' checkpoint layout (see the module docstring)."""
    *lead, inputs = matrices.shape
    if inputs % BLOCK:
        raise ValueError(f"MXFP4 blocks {BLOCK} inputs; these weights have {inputs}")
    grouped = matrices.detach().float().reshape(*lead, inputs // BLOCK, BLOCK)
    exponent = block_exponents(grouped)
    codes = e2m1_codes(torch.ldexp(grouped, -exponent.unsqueeze(-1)))
    packed = codes[..., 0::2] | (codes[..., 1::2] << 4)
    return packed.contiguous(), (exponent + E8M0_BIAS).to(torch.uint8)


def dequantize_matrices(blocks: torch.Tensor, scales: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """[experts, out, in] weights back from (blocks, scales): this writer's reading of the layout, written apart
    from transformers' ``convert_moe_packed_tensors`` so that the two can be compared."""
    grid = torch.tensor(E2M1_VALUES, dtype=torch.float32, device=blocks.device)
    codes = torch.stack((blocks & 0x0F, blocks >> 4), dim=-1).flatten(-2).long()
    values = grid[codes & 7] * torch.where(codes >= 8, -1.0, 1.0)
    values = torch.ldexp(values, (scales.long() - E8M0_BIAS).unsqueeze(-1))
    return values.flatten(-2).to(dtype)


def expert_modules_to_quantize(model: nn.Module, config: Any) -> dict[str, tuple[torch.Tensor, bool]]:
    """The expert weights transformers would convert under ``config`` (``replace_with_mxfp4_linear``: gpt-oss'
    experts not in the quantizer's ``get_modules_to_not_convert``), by parameter name."""
    from transformers.quantizers.quantizer_mxfp4 import Mxfp4HfQuantizer
    from transformers.quantizers.quantizers_utils import should_convert_module

    from qconform.inputs.tiny_models import expert_weights

    skip = Mxfp4HfQuantizer(config).get_modules_to_not_convert(
        model, config.modules_to_not_convert, model._keep_in_fp32_modules
    )
    return {
        name: found
        for name, found in expert_weights(model).items()
        if should_convert_module(name.rpartition(".")[0], skip)
    }


def quantized_state_dict(model: nn.Module, config: Any) -> dict[str, torch.Tensor]:
    """``model``'s state dict with each converted expert weight ``<proj>`` replaced by ``<proj>_blocks`` and
    ``<proj>_scales``."""
    from qconform.inputs.tiny_models import expert_matrices

    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    experts = expert_modules_to_quantize(model, config)
    if not experts:
        raise ValueError(
            f"{type(model).__name__} has no expert weights MXFP4 converts (transformers converts only gpt-oss "
            "experts, integrations/mxfp4.py replace_with_mxfp4_linear)"
        )
    for name, (weight, transposed) in experts.items():
        blocks, scales = quantize_matrices(expert_matrices(weight, transposed))
        del state[name]
        state[f"{name}_blocks"], state[f"{name}_scales"] = blocks, scales
    return state


def prequantized_checkpoint(
    method_key: str = "mxfp4",
    arch: str = "gpt_oss",
    config: Any = None,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> Path:
    """The cached MXFP4 checkpoint of the tiny ``arch`` (gpt-oss: the only one with experts MXFP4 converts)
    under ``config``'s skip list."""
    if method_key != "mxfp4":
        raise ValueError(f"the MXFP4 writer writes 'mxfp4' checkpoints, not {method_key!r}")
    loaded = mxfp4_config(config)
    fields = loaded.to_dict()  # quant_method and modules_to_not_convert: dequantize is a loading attribute
    fields["quant_method"] = str(getattr(fields["quant_method"], "value", fields["quant_method"]))

    return state_dict_checkpoint(
        method_key,
        arch,
        fields,
        lambda model: (quantized_state_dict(model, loaded), {}),
        seed=seed,
        dtype=dtype,
        depends_on={
            "layout": "blocks [E, out, in/32, 16] low nibble first; scales e8m0 +127; ROUND_UP scale, ties to even",
            "versions": package_versions(),
        },
    )
