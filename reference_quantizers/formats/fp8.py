"""FP8 E4M3 weights with one float32 scale per block (DeepSeek-V3 / transformers FineGrainedFP8).

Stored: ``weight`` (float8_e4m3fn, same shape as the weight) and ``weight_scale_inv`` (float32,
one per ``block_m x block_n`` tile, partial tiles at the edges included). ``weight = fp8 * scale_inv``.
"""

from __future__ import annotations

import torch

FP8 = torch.float8_e4m3fn
FP8_MAX = torch.finfo(FP8).max  # 448.0


def tile_grid(shape: tuple[int, int], block: tuple[int, int]) -> tuple[int, int]:
    """Number of tiles along rows and columns, counting partial edge tiles."""
    return (-(-shape[0] // block[0]), -(-shape[1] // block[1]))


def _pad_to_tiles(weight: torch.Tensor, block: tuple[int, int]) -> torch.Tensor:
    rows, cols = tile_grid(tuple(weight.shape), block)
    pad_r, pad_c = rows * block[0] - weight.shape[0], cols * block[1] - weight.shape[1]
    return torch.nn.functional.pad(weight, (0, pad_c, 0, pad_r))


def quantize_blockwise(
    weight: torch.Tensor, block: tuple[int, int], power_of_two: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """(fp8 weight, float32 scale_inv per tile). An all-zero tile gets scale_inv 1 so zeros stay zeros.

    ``power_of_two`` (``scale_fmt="ue8m0"``): each scale_inv is rounded up to a power of two first and
    the weight divided by exactly that, so it fits an E8M0 scale (an exponent byte).
    """
    bm, bn = block
    padded = _pad_to_tiles(weight.to(torch.float32), block)
    rows, cols = padded.shape[0] // bm, padded.shape[1] // bn
    tiles = padded.reshape(rows, bm, cols, bn)
    max_abs = tiles.abs().amax(dim=(1, 3))
    scale = torch.where(max_abs > 0, FP8_MAX / torch.where(max_abs > 0, max_abs, 1.0), 1.0)
    scale_inv = (1.0 / scale).to(torch.float32)
    if power_of_two:
        scale_inv = torch.pow(2.0, torch.ceil(torch.log2(scale_inv.clamp(min=torch.finfo(torch.float32).tiny))))
        scale = 1.0 / scale_inv
    quantized = (tiles * scale[:, None, :, None]).clamp(-FP8_MAX, FP8_MAX).to(FP8)
    quantized = quantized.reshape(padded.shape)[: weight.shape[0], : weight.shape[1]].contiguous()
    return quantized, scale_inv


def dequantize_blockwise(
    quantized: torch.Tensor, scale_inv: torch.Tensor, block: tuple[int, int], dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """``fp8 * scale_inv`` with each tile's scale broadcast over the tile, cropped to the weight's shape."""
    rows, cols = quantized.shape
    scale = scale_inv.to(torch.float32).repeat_interleave(block[0], 0).repeat_interleave(block[1], 1)
    return (quantized.to(torch.float32) * scale[:rows, :cols]).to(dtype)


def quantize_activations_per_token_group(x: torch.Tensor, group: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """Dynamic activation quantization: (fp8 values like x, float32 scale per token and group of channels).

    As the finegrained-fp8 kernel that transformers' ``FP8Linear`` calls on CUDA quantizes each
    ``block_size[1]``-wide tile of a row inline (``fp8_act_quant_inline``): in float32,
    ``scale = absmax / 448`` and ``q = fp8(x / max(scale, 1e-12))``, saturating at +-448. An all-zero
    group keeps scale 0 (its values are 0). A last partial group is padded with zeros.
    """
    *lead, channels = x.shape
    pad = (-channels) % group
    padded = torch.nn.functional.pad(x.to(torch.float32), (0, pad)).reshape(*lead, -1, group)
    scale = padded.abs().amax(dim=-1, keepdim=True) / FP8_MAX
    quantized = (padded / scale.clamp(min=1e-12)).clamp(-FP8_MAX, FP8_MAX).to(FP8)
    return quantized.reshape(*lead, -1)[..., :channels], scale.squeeze(-1)


def dequantize_activations_per_token_group(quantized: torch.Tensor, scale: torch.Tensor, group: int) -> torch.Tensor:
    """float32 ``q * scale`` with each token's group scale broadcast over its channels."""
    channels = quantized.shape[-1]
    return quantized.to(torch.float32) * scale.repeat_interleave(group, dim=-1)[..., :channels]


def block_fp8_linear(
    x: torch.Tensor,
    weight: torch.Tensor,
    scale_inv: torch.Tensor,
    block: tuple[int, int],
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """W8A8 block-FP8 linear: activations quantized per token and ``block[1]`` channels, both sides scaled.

    The fused kernel accumulates ``dot(q_x, q_w) * scale_x * scale_w`` tile by tile in float32; here the
    same products are formed from the dequantized operands in one float32 matmul (same terms, another
    summation order), then cast to x's dtype before the bias is added, as ``finegrained_fp8_linear`` does.
    """
    q, scale = quantize_activations_per_token_group(x, block[1])
    x_deq = dequantize_activations_per_token_group(q, scale, block[1])
    y = torch.nn.functional.linear(x_deq, dequantize_blockwise(weight, scale_inv, block)).to(x.dtype)
    if bias is not None:
        y = y + bias.to(y.dtype)
    return y
