"""Int8 symmetric weight-only quantization per output channel, in EETQ's checkpoint layout.

EETQ (NetEase-FuXi/EETQ, FasterTransformer's ``symmetric_quantize``; transformers calls its
``quant_weights`` on ``weight.T``) quantizes the ``(in, out)`` matrix per column (= output channel)::

    scale = max|w| / 128                       (float32; stored as float16)
    code  = clamp(round(w / scale), -128, 127)  (C ``round``: halves away from zero;
                                                 an all-zero column gives code 127 and scale 0)

and then rearranges the int8 matrix for its CUTLASS mixed-precision GEMM on Turing/Ampere/Ada
(``preprocess_weights_for_mixed_gemm``, the same for sm75 to sm89; EETQ refuses other archs):

1. within every block of 16 rows (input channels) the rows are reordered 0 1 8 9 2 3 10 11 4 5 12 13
   6 7 14 15 (the ``ldmatrix`` order of int8 B operands);
2. the matrix is transposed to column-major (one output channel after another);
3. columns are interleaved in pairs: for channels ``2c`` and ``2c+1`` the tiles of 64 input values
   alternate (``ColumnMajorTileInterleave<64, 2>``);
4. every byte gets ``+128`` (two's complement wrap: an xor with 0x80) and in every 4-byte word the
   middle two bytes swap.

The result is stored with the original ``(in, out)`` shape; its bytes only make sense to the kernel.
The steps need ``in`` and ``out`` to be multiples of 64.
"""

from __future__ import annotations

import torch

ROW_ORDER = (0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15)
INVERSE_ROW_ORDER = tuple(sorted(range(16), key=ROW_ORDER.__getitem__))
WORD_ORDER = (0, 2, 1, 3)  # its own inverse
TILE = 64  # ThreadblockK of the int8 B layout; also the smallest dimension the steps handle correctly


def round_half_away(x: torch.Tensor) -> torch.Tensor:
    """C's ``round``: to the nearest integer, halves away from zero (torch.round sends halves to even)."""
    whole = torch.trunc(x)
    return whole + torch.where((x - whole).abs() >= 0.5, torch.sign(x), torch.zeros_like(x))


def quantize(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(codes int8 ``(in, out)`` in plain row-major order, scale float32 ``(out,)``) of an ``(out, in)`` weight."""
    columns = weight.t().float()
    col_max = columns.abs().amax(dim=0)
    scale = col_max * (1.0 / 128)
    scaled = columns / scale
    # 0/0 in an all-zero column is NaN, which C's std::min(127.f, NaN) turns into 127
    codes = torch.where(scaled.isnan(), 127.0, round_half_away(scaled).clamp(-128, 127))
    return codes.to(torch.int8), scale


def dequantize(codes: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The ``(out, in)`` float32 weight from plain ``(in, out)`` codes (exact: 8-bit times 11-bit)."""
    return codes.t().float() * scale.float()[:, None]


def to_cutlass_layout(codes: torch.Tensor) -> torch.Tensor:
    """Steps 1-4 above on plain ``(in, out)`` int8 codes; the result has the same shape and dtype."""
    k, n = codes.shape
    rows = codes.reshape(k // 16, 16, n)[:, list(ROW_ORDER), :]
    columns = rows.reshape(k, n).t()
    tiles = columns.reshape(n // 2, 2, k // TILE, TILE).permute(0, 2, 1, 3)
    words = tiles.reshape(-1, 4)[:, list(WORD_ORDER)]
    return (words.contiguous().view(torch.uint8) ^ 0x80).view(torch.int8).reshape(k, n)


def from_cutlass_layout(stored: torch.Tensor) -> torch.Tensor:
    """The plain ``(in, out)`` codes back from the kernel's layout (inverse of ``to_cutlass_layout``)."""
    k, n = stored.shape
    words = (stored.contiguous().view(torch.uint8) ^ 0x80).view(torch.int8).reshape(-1, 4)[:, list(WORD_ORDER)]
    columns = words.reshape(n // 2, k // TILE, 2, TILE).permute(0, 2, 1, 3).reshape(n, k)
    rows = columns.t().reshape(k // 16, 16, n)[:, list(INVERSE_ROW_ORDER), :]
    return rows.reshape(k, n).contiguous()


def unsupported_shape(shape: tuple[int, int]) -> str | None:
    out_features, in_features = shape
    if out_features % TILE or in_features % TILE:
        return (
            f"EETQ's CUTLASS layout needs both dimensions to be multiples of {TILE} (got {shape}): its column "
            "interleave overwrites data otherwise"
        )
    return None
