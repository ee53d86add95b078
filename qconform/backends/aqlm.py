"""AQLM through the ``aqlm`` package: its code packing and its dequantization (``aqlm.utils``).

The ``aqlm`` package only runs quantized layers: its codebook learner (beam search, fine-tuning) lives
in the research repository, not in the package. ``quantize`` therefore learns codes with the twin's
simple learner (``reference_quantizers.numerics.additive_codebooks``) and stores them with aqlm's
``pack_int_data``; ``dequantize`` is aqlm's own ``_dequantize_weight``, what ``QuantizedLinear`` computes
on the CPU outside its numba kernel.
"""

from __future__ import annotations

from typing import Any

import torch


class AqlmCodec:
    def quantize(self, weight: torch.Tensor, config: Any) -> dict[str, torch.Tensor]:
        from aqlm.utils import pack_int_data

        from reference_quantizers.numerics import additive_codebooks

        nbits = config.nbits_per_codebook
        learned = additive_codebooks.quantize(
            weight, config.num_codebooks, nbits, config.in_group_size, config.out_group_size
        )
        codes = additive_codebooks.read_codes(learned["codes"], nbits)
        return {**learned, "codes": pack_int_data(codes, nbits)}

    def dequantize(
        self, stored: dict[str, torch.Tensor], config: Any, shape: tuple[int, int], dtype: torch.dtype
    ) -> torch.Tensor:
        from aqlm.utils import _dequantize_weight, unpack_int_data

        codes = unpack_int_data(stored["codes"], config.nbits_per_codebook)
        return _dequantize_weight(codes, stored["codebooks"], stored["scales"]).to(dtype)

    def unsupported(self, shape: tuple[int, int], dtype: torch.dtype, config: Any, device: str) -> str | None:
        out_features, in_features = shape
        if out_features % config.out_group_size or in_features % config.in_group_size:
            return (
                f"aqlm's QuantizedLinear needs out_features % {config.out_group_size} == 0 and "
                f"in_features % {config.in_group_size} == 0, got {shape}"
            )
        return None
