"""bitsandbytes' 4-bit blockwise formats (NF4, FP4) and the 8-bit "double quantization" of their scales.

A weight is flattened (row-major) and cut into blocks of ``blocksize`` values (the last block may be
short). Each block keeps its largest magnitude ``absmax`` (float32); each value becomes the index of the
nearest entry of a 16-entry code (values in [-1, 1]) after dividing by ``absmax``. Two indices pack into
one byte, the first in the high nibble: ``weight = code[index] * absmax``. (QLoRA, arXiv:2305.14314.)

Double quantization stores the float32 ``absmax`` in 8 bits: subtract their mean (``offset``), cut them
into blocks of 256, and code each block against bitsandbytes' signed 8-bit "dynamic" map with its own
float32 scale (``nested_absmax``): ``absmax = dynamic[q] * nested_absmax + offset``.

Rounding follows bitsandbytes' CPU path bit for bit: its PyTorch kernel for the 4-bit indices
(``backends/default/ops.py``) and its C++ kernel for the 8-bit ones (``csrc/cpu_ops.cpp``), which picks
the code through a 65536-entry table over [-1, 1] rather than by exact nearest value. Its CUDA kernels
round some values differently; ``CUDA_DIFFERENCES`` lists how.
"""

from __future__ import annotations

import functools
import math

import torch

BLOCKSIZES = (32, 64, 128, 256, 512, 1024, 2048, 4096)
NESTED_BLOCKSIZE = 256

#: NormalFloat4: quantiles of N(0, 1) normalised to [-1, 1], in index order (bitsandbytes' table).
NF4 = (
    -1.0,
    -0.6961928009986877,
    -0.5250730514526367,
    -0.39491748809814453,
    -0.28444138169288635,
    -0.18477343022823334,
    -0.09105003625154495,
    0.0,
    0.07958029955625534,
    0.16093020141124725,
    0.24611230194568634,
    0.33791524171829224,
    0.44070982933044434,
    0.5626170039176941,
    0.7229568362236023,
    1.0,
)

#: FP4 (1 sign, 2 exponent, 1 mantissa bit, bitsandbytes' bias) in index order, before division by 12.
#: Index 8 is "-0", but bitsandbytes' table holds +0.0 there (its CPU kernels decode it as +0.0 too).
FP4_UNSCALED = (0.0, 0.0625, 8.0, 12.0, 4.0, 6.0, 2.0, 3.0, 0.0, -0.0625, -8.0, -12.0, -4.0, -6.0, -2.0, -3.0)

#: FP4 indices by increasing value, as bitsandbytes' CPU path ranks them: it places +0 (index 0) before
#: -0 (index 8), so values in (-0.0026, 0] get +0 and values in (0, 0.0026] get -0.
FP4_RANK = (11, 10, 13, 12, 15, 14, 9, 0, 8, 1, 6, 7, 4, 5, 2, 3)

#: Where bitsandbytes' CUDA kernels (csrc/kernels.cu) pick other indices than its CPU path and this module.
CUDA_DIFFERENCES = (
    "FP4 sign of zero: CUDA sets the sign bit for small negative values (x < 0), the CPU path for small positive ones",
    "FP4 thresholds: CUDA compares against float literals (0.583333f, 0.8333333f, 0.20833333f, 0.00260417f) "
    "that differ by 1-2 ulp from the float32 midpoints between code values",
    "all-zero block: CUDA multiplies by 1/0 and gets NaN, which its NF4 search sends to index 0 (-1.0 * 0); "
    "the CPU path clamps absmax to 1e-38 and picks the code of 0",
    "short last block: CUDA multiplies by 1/absmax, the CPU path divides by absmax",
    "nested 8-bit codes: CUDA finds the nearest code by binary search; the CPU kernel looks it up in a "
    "65536-entry table over [-1, 1], which differs from the nearest code for about 0.2% of values",
)


def code(quant_type: str, device: torch.device | str = "cpu") -> torch.Tensor:
    """The 16 code values in index order (float32), as stored in a checkpoint's ``weight.quant_map``."""
    return _tables(quant_type, torch.device(device))[0].clone()  # each layer its own (safetensors drops shared ones)


@functools.cache
def _tables(quant_type: str, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(code, midpoints between consecutive code values in increasing order, index of each value in that
    order as uint8), built once per device."""
    if quant_type == "nf4":
        values, rank = torch.tensor(NF4, dtype=torch.float32), torch.arange(16)
    elif quant_type == "fp4":
        values, rank = torch.tensor(FP4_UNSCALED, dtype=torch.float32) / 12.0, torch.tensor(FP4_RANK)
    else:
        raise ValueError(f"quant_type must be 'nf4' or 'fp4', got {quant_type!r}")
    ordered = values[rank]
    midpoints = (ordered[:-1] + ordered[1:]) / 2
    return values.to(device), midpoints.to(device), rank.to(torch.uint8).to(device)


def _blockwise_absmax(flat: torch.Tensor, blocksize: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(float32 absmax per block, float32 values divided by their block's absmax).

    Full blocks multiply by the reciprocal of absmax (clamped to 1e-38 so that a zero block stays zero);
    a short last block divides by its absmax, clamped the same way and stored clamped, as bitsandbytes does.
    (bitsandbytes then clamps the quotients to [-1, 1]; no code is chosen differently without.)
    """
    full = flat.numel() - flat.numel() % blocksize
    blocks = flat[:full].view(-1, blocksize)
    absmax = torch.linalg.vector_norm(blocks, ord=math.inf, dim=1).float()  # the largest |value| of each block
    scaled = (blocks * (1.0 / absmax.clamp(min=1e-38))[:, None]).view(-1)  # float32 whatever the weight's dtype
    if full < flat.numel():
        tail = flat[full:].float()
        tail_absmax = tail.abs().amax().clamp(min=1e-38)
        absmax = torch.cat([absmax, tail_absmax[None]])
        scaled = torch.cat([scaled, tail / tail_absmax])
    return absmax, scaled


def quantize_4bit(weight: torch.Tensor, blocksize: int, quant_type: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(packed uint8 of shape ((n + 1) // 2, 1), float32 absmax per block) for any float weight."""
    if blocksize not in BLOCKSIZES:
        raise ValueError(f"blocksize must be one of {BLOCKSIZES}, got {blocksize}")
    absmax, scaled = _blockwise_absmax(weight.reshape(-1), blocksize)
    if scaled.numel() % 2:  # an odd count ends with the code of 0
        scaled = torch.nn.functional.pad(scaled, (0, 1))
    _, midpoints, rank = _tables(quant_type, weight.device)
    positions = torch.bucketize(scaled, midpoints, out_int32=True)
    # NF4's indices are in increasing order of value; FP4's are not
    indices = positions.to(torch.uint8) if quant_type == "nf4" else rank[positions]
    return pack_nibbles(indices), absmax


def pack_nibbles(indices: torch.Tensor) -> torch.Tensor:
    """Two 4-bit indices per byte (an even count), the first in the high nibble; shape (bytes, 1)."""
    pairs = indices.view(-1, 2)
    return ((pairs[:, 0] << 4) | pairs[:, 1]).unsqueeze(1)


def unpack_nibbles(packed: torch.Tensor, count: int) -> torch.Tensor:
    """The first ``count`` 4-bit indices of ``packed`` (any storage dtype, read as bytes), as int64."""
    data = packed.contiguous().view(torch.uint8).reshape(-1)
    return torch.stack([data >> 4, data & 0x0F], dim=1).reshape(-1)[:count].long()


def dequantize_4bit(
    packed: torch.Tensor,
    absmax: torch.Tensor,
    blocksize: int,
    quant_type: str,
    shape: tuple[int, ...],
    dtype: torch.dtype,
) -> torch.Tensor:
    """``code[index] * absmax`` in float32, reshaped and cast to ``dtype`` (the weight's original dtype).

    bitsandbytes' CPU decoder gives the same except where it is wrong or signs a zero otherwise: the
    twin's spec lists those cases as known deviations.
    """
    count = math.prod(shape)
    values = _tables(quant_type, packed.device)[0][unpack_nibbles(packed, count)]
    scales = absmax.float().repeat_interleave(blocksize)[:count]
    return (values * scales).reshape(shape).to(dtype)


def as_storage(packed: torch.Tensor, storage: torch.dtype) -> torch.Tensor:
    """The packed bytes viewed as ``storage`` elements, shape (bytes / itemsize, 1) (bitsandbytes' quant_storage)."""
    return packed.reshape(-1).view(storage).unsqueeze(1)


# --- the 8-bit dynamic map and the nested quantization of absmax ---------------------------


@functools.cache
def _dynamic_map_values() -> tuple[float, ...]:
    """bitsandbytes' signed 8-bit dynamic map (``create_dynamic_map()``), sorted: 256 values in [-1, 1].

    For each exponent e = 0..6 the fraction bits left over give evenly spaced means in [0.1, 1],
    scaled by 10**(e - 6), with both signs; then 0 and 1 (arXiv:1511.04561).
    """
    values: list[float] = []
    exponent_bits, non_sign_bits = 7, 7
    for e in range(exponent_bits):
        items = 2 ** (e + non_sign_bits - exponent_bits) + 1
        bounds = torch.linspace(0.1, 1, items, dtype=torch.float32)
        means = (bounds[:-1] + bounds[1:]) / 2.0
        scaled = (10 ** (-(exponent_bits - 1) + e)) * means
        values += scaled.tolist() + (-scaled).tolist()
    values += [0.0, 1.0]
    return tuple(sorted(values))


def dynamic_map(device: torch.device | str = "cpu") -> torch.Tensor:
    """The 256-entry code of the nested absmax, as stored in ``weight.nested_quant_map``."""
    return _dynamic_tables(torch.device(device))[0].clone()


LUT_SIZE = 65536


@functools.cache
def _dynamic_tables(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(the dynamic map, bitsandbytes' CPU lookup table of it), built once per device.

    The table gives, for each of 65536 points evenly spread over [-1, 1], the nearest code's index.
    """
    code_8bit = torch.tensor(_dynamic_map_values(), dtype=torch.float32)
    midpoints = 0.5 * (code_8bit[:-1] + code_8bit[1:])
    grid = -1.0 + (2.0 * torch.arange(LUT_SIZE, dtype=torch.float32)) / (LUT_SIZE - 1)
    table = torch.searchsorted(midpoints, grid)  # the number of midpoints below each point
    return code_8bit.to(device), table.to(device)


def quantize_blockwise_8bit(
    values: torch.Tensor, blocksize: int = NESTED_BLOCKSIZE
) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 dynamic-map indices, float32 absmax per block) of a float32 vector, as bitsandbytes' CPU kernel.

    Each value is divided by its block's absmax (multiplied by the float32 reciprocal), clamped to
    [-1, 1], mapped to one of 65536 table points (truncating ``(x + 1) / 2 * 65535 + 0.5``) and coded
    with that point's nearest code. An all-zero block codes to index 0.
    """
    flat = values.reshape(-1).float()
    pad = (-flat.numel()) % blocksize
    blocks = torch.nn.functional.pad(flat, (0, pad)).reshape(-1, blocksize)
    absmax = blocks.abs().amax(dim=1)
    scaled = (blocks * (1.0 / absmax)[:, None]).clamp(-1, 1)
    points = ((scaled + 1.0) * 0.5 * (LUT_SIZE - 1) + 0.5).to(torch.int64)  # truncation, as the C++ cast
    indices = _dynamic_tables(flat.device)[1][points.clamp(0, LUT_SIZE - 1)]
    indices = torch.where((absmax == 0)[:, None], 0, indices)
    return indices.reshape(-1)[: flat.numel()].to(torch.uint8), absmax


def dequantize_blockwise_8bit(
    indices: torch.Tensor, absmax: torch.Tensor, code_8bit: torch.Tensor, blocksize: int = NESTED_BLOCKSIZE
) -> torch.Tensor:
    """``code[index] * absmax`` per block, float32."""
    scales = absmax.float().repeat_interleave(blocksize)[: indices.numel()]
    return code_8bit.float()[indices.long()] * scales


def double_quantize(absmax: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(uint8 indices, float32 nested absmax, float32 offset) of the 4-bit format's absmax.

    The offset is the float32 mean taken on the absmax's own device, as bitsandbytes takes it (a mean on
    another device may sum in another order and differ in the last bit).
    """
    offset = absmax.mean()
    indices, nested_absmax = quantize_blockwise_8bit(absmax - offset)
    return indices, nested_absmax, offset


def double_dequantize(
    indices: torch.Tensor, nested_absmax: torch.Tensor, code_8bit: torch.Tensor, offset: torch.Tensor | float
) -> torch.Tensor:
    """The 4-bit format's float32 absmax back from its 8-bit form."""
    return dequantize_blockwise_8bit(indices, nested_absmax, code_8bit) + offset
