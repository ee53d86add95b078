"""Integer codes packed into int32 words, as GPTQ (gptqmodel 7.6) and AWQ GEMM (AutoAWQ) store them.

GPTQ, 2, 4 and 8 bits: ``32 / bits`` codes per word, the first code in the lowest bits. ``qweight``
packs along the input dimension (rows of the ``(in, out)`` code matrix), ``qzeros`` along the
output dimension.

GPTQ, 3 bits: 32 codes fill three words, ``10 | 1 | 10 | 1 | 10``: word 0 holds codes 0-9 at bits
0, 3, ..., 27 and the low two bits of code 10 at bit 30; word 1 holds the top bit of code 10 at bit
0, codes 11-20 at bits 1, 4, ..., 28 and the low bit of code 21 at bit 31; word 2 holds the top two
bits of code 21 at bits 0-1 and codes 22-31 at bits 2, 5, ..., 29.

AWQ GEMM, 4 bits: both ``qweight`` ``(in, out / 8)`` and ``qzeros`` pack along the output dimension,
eight codes per word in the interleaved order ``[0, 2, 4, 6, 1, 3, 5, 7]``: nibble ``j`` of word ``c``
holds column ``8 c + AWQ_ORDER[j]``.

Words are computed in int64 and wrapped to int32 (two's complement), as both libraries do.
"""

from __future__ import annotations

import torch

AWQ_ORDER = (0, 2, 4, 6, 1, 3, 5, 7)
AWQ_REVERSE_ORDER = (0, 4, 1, 5, 2, 6, 3, 7)
GPTQ_BITS = (2, 3, 4, 8)
_MASK32 = (1 << 32) - 1


def _to_int32(words: torch.Tensor) -> torch.Tensor:
    """int64 words holding 32-bit patterns -> int32 with the same bits."""
    words = words & _MASK32
    return torch.where(words >= 1 << 31, words - (1 << 32), words).to(torch.int32)


def _shifts(count: int, step: int, offset: int, device: torch.device) -> torch.Tensor:
    return torch.arange(count, dtype=torch.int64, device=device) * step + offset


def pack_rows(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Pack an ``(n, m)`` code matrix along dim 0 into ``(n * bits / 32, m)`` int32 words (GPTQ order)."""
    if bits not in GPTQ_BITS:
        raise ValueError(f"bits must be one of {GPTQ_BITS}, got {bits}")
    n, m = codes.shape
    if n % 32:
        raise ValueError(f"the packed dimension ({n}) must be a multiple of 32")
    x = codes.to(torch.int64) & ((1 << bits) - 1)
    if bits != 3:
        per_word = 32 // bits
        grouped = x.reshape(n // per_word, per_word, m)
        words = (grouped << _shifts(per_word, bits, 0, x.device).view(1, -1, 1)).sum(dim=1)
        return _to_int32(words)
    x = x.reshape(n // 32, 32, m)
    ten = _shifts(10, 3, 0, x.device).view(1, -1, 1)
    word0 = (x[:, 0:10] << ten).sum(1) | (x[:, 10] << 30)
    word1 = ((x[:, 10] >> 2) & 1) | (x[:, 11:21] << (ten + 1)).sum(1) | (x[:, 21] << 31)
    word2 = ((x[:, 21] >> 1) & 3) | (x[:, 22:32] << (ten + 2)).sum(1)
    return _to_int32(torch.stack([word0, word1, word2], dim=1).reshape(n // 32 * 3, m))


def unpack_rows(words: torch.Tensor, bits: int) -> torch.Tensor:
    """Inverse of ``pack_rows``: ``(n * bits / 32, m)`` int32 -> ``(n, m)`` int32 codes in ``[0, 2**bits)``."""
    if bits not in GPTQ_BITS:
        raise ValueError(f"bits must be one of {GPTQ_BITS}, got {bits}")
    w = words.to(torch.int64) & _MASK32
    rows, m = w.shape
    if bits != 3:
        per_word = 32 // bits
        codes = (w.unsqueeze(1) >> _shifts(per_word, bits, 0, w.device).view(1, -1, 1)) & ((1 << bits) - 1)
        return codes.reshape(rows * per_word, m).to(torch.int32)
    w = w.reshape(rows // 3, 3, 1, m)
    word0, word1, word2 = w[:, 0], w[:, 1], w[:, 2]
    ten = _shifts(10, 3, 0, w.device).view(1, -1, 1)
    codes = torch.cat(
        [
            (word0 >> ten) & 7,
            ((word0 >> 30) & 3) | ((word1 & 1) << 2),
            (word1 >> (ten + 1)) & 7,
            ((word1 >> 31) & 1) | ((word2 & 3) << 1),
            (word2 >> (ten + 2)) & 7,
        ],
        dim=1,
    )
    return codes.reshape(rows // 3 * 32, m).to(torch.int32)


def pack_cols(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Pack along dim 1 (GPTQ ``qzeros``): ``(g, m)`` -> ``(g, m * bits / 32)``."""
    return pack_rows(codes.T, bits).T.contiguous()


def unpack_cols(words: torch.Tensor, bits: int) -> torch.Tensor:
    return unpack_rows(words.T, bits).T.contiguous()


def ones_word(bits: int) -> int:
    """The packed word whose every field is 1: what GPTQ v1 subtracts from 2, 4 and 8-bit ``qzeros``."""
    return sum(1 << (bits * j) for j in range(32 // bits))


def zeros_v2_to_v1(qzeros: torch.Tensor, bits: int) -> torch.Tensor:
    """GPTQ checkpoint format v1 stores ``zero - 1``, computed as gptqmodel 7.6 does.

    2, 4 and 8 bits: one subtraction of ``ones_word`` per packed int32 word, so a zero point of 0
    (asymmetric only) borrows from its neighbour field; adding the word back restores it exactly.
    3 bits: each field is decremented modulo 8 (a field may straddle two words).
    """
    if bits == 3:
        return pack_cols((unpack_cols(qzeros, 3) - 1) & 7, 3)
    return _to_int32(qzeros.to(torch.int64) - ones_word(bits))


def zeros_v1_to_v2(qzeros: torch.Tensor, bits: int) -> torch.Tensor:
    """Inverse of ``zeros_v2_to_v1`` (what gptqmodel does when it loads a v1 checkpoint)."""
    if bits == 3:
        return pack_cols((unpack_cols(qzeros, 3) + 1) & 7, 3)
    return _to_int32(qzeros.to(torch.int64) + ones_word(bits))


def pack_awq(codes: torch.Tensor, bits: int = 4) -> torch.Tensor:
    """AWQ GEMM: ``(n, m)`` 4-bit codes -> ``(n, m / 8)`` int32, columns interleaved by ``AWQ_ORDER``."""
    if bits != 4:
        raise ValueError(f"the AWQ GEMM layout is 4-bit, got {bits}")
    n, m = codes.shape
    if m % 8:
        raise ValueError(f"the packed dimension ({m}) must be a multiple of 8")
    x = (codes.to(torch.int64) & 15).reshape(n, m // 8, 8)[:, :, list(AWQ_ORDER)]
    return _to_int32((x << _shifts(8, 4, 0, x.device)).sum(dim=-1))


def unpack_awq(words: torch.Tensor, bits: int = 4) -> torch.Tensor:
    """Inverse of ``pack_awq``: ``(n, m / 8)`` int32 -> ``(n, m)`` int32 codes in natural column order."""
    if bits != 4:
        raise ValueError(f"the AWQ GEMM layout is 4-bit, got {bits}")
    w = words.to(torch.int64) & _MASK32
    nibbles = (w.unsqueeze(-1) >> _shifts(8, 4, 0, w.device)) & 15
    return nibbles[:, :, list(AWQ_REVERSE_ORDER)].reshape(w.shape[0], -1).to(torch.int32)
