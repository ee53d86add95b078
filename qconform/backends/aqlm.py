"""AQLM through the ``aqlm`` package: its code packing and its dequantization (``aqlm.utils``).

The ``aqlm`` package only runs quantized layers: its codebook learner (beam search, fine-tuning) lives
in the research repository, not in the package. ``quantize`` therefore learns codes with the twin's
simple learner (``reference_quantizers.formats.additive_codebooks``) and stores them with aqlm's
``pack_int_data``; ``dequantize`` is aqlm's own ``_dequantize_weight``, what ``QuantizedLinear`` computes
on the CPU outside its numba kernel.
"""

from __future__ import annotations

from typing import Any

import torch

TWIN = "ref-aqlm"  # the dispatch key whose quantizer's codec learns the codes


def twin_learner() -> Any:
    """The registered twin's codec; a clear error where no twin is registered (reference_quantizers absent)."""
    from transformers.quantizers.auto import AUTO_QUANTIZER_MAPPING

    quantizer = AUTO_QUANTIZER_MAPPING.get(TWIN)
    if quantizer is None or not hasattr(quantizer, "codec"):
        raise LookupError(f"AQLM codes are learnt by the {TWIN!r} twin, which is not registered here")
    return quantizer.codec()


class AqlmCodec:
    def quantize(self, weight: torch.Tensor, config: Any) -> dict[str, torch.Tensor]:
        from aqlm.utils import pack_int_data, unpack_int_data

        nbits = config.nbits_per_codebook
        learned = twin_learner().quantize(weight, config)
        codes = unpack_int_data(learned["codes"], nbits)  # the twin stores aqlm's layout: re-packed by aqlm itself
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
