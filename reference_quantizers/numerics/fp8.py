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


def quantize_blockwise(weight: torch.Tensor, block: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(fp8 weight, float32 scale_inv per tile). An all-zero tile gets scale_inv 1 so zeros stay zeros."""
    bm, bn = block
    padded = _pad_to_tiles(weight.to(torch.float32), block)
    rows, cols = padded.shape[0] // bm, padded.shape[1] // bn
    tiles = padded.reshape(rows, bm, cols, bn)
    max_abs = tiles.abs().amax(dim=(1, 3))
    scale = torch.where(max_abs > 0, FP8_MAX / torch.where(max_abs > 0, max_abs, 1.0), 1.0)
    quantized = (tiles * scale[:, None, :, None]).clamp(-FP8_MAX, FP8_MAX).to(FP8)
    quantized = quantized.reshape(padded.shape)[: weight.shape[0], : weight.shape[1]].contiguous()
    return quantized, (1.0 / scale).to(torch.float32)


def dequantize_blockwise(
    quantized: torch.Tensor, scale_inv: torch.Tensor, block: tuple[int, int], dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """``fp8 * scale_inv`` with each tile's scale broadcast over the tile, cropped to the weight's shape."""
    rows, cols = quantized.shape
    scale = scale_inv.to(torch.float32).repeat_interleave(block[0], 0).repeat_interleave(block[1], 1)
    return (quantized.to(torch.float32) * scale[:rows, :cols]).to(dtype)


def quantize_activations_per_token_group(x: torch.Tensor, group: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """Dynamic activation quantization: one scale per token and group of ``group`` channels."""
    *lead, channels = x.shape
    pad = (-channels) % group
    padded = torch.nn.functional.pad(x.to(torch.float32), (0, pad)).reshape(*lead, -1, group)
    max_abs = padded.abs().amax(dim=-1, keepdim=True)
    scale = torch.where(max_abs > 0, max_abs / FP8_MAX, 1.0)
    quantized = (padded / scale).clamp(-FP8_MAX, FP8_MAX).to(FP8)
    return quantized.reshape(*lead, -1)[..., :channels], scale.squeeze(-1)
