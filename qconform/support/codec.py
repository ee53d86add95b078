"""A method's weight format seen through one implementation: the seam between specs and numerics checks.

A ``WeightCodec`` turns one full-precision weight into the tensors a checkpoint stores (named and
laid out as in the checkpoint, without the module prefix) and back. Real backends get a codec in
``qconform.backends`` (calling the backend's own functions); every reference twin gets one from its
Linear class (``reference_quantizers.codec``). Specs name their codec as ``"module:attribute"`` so
that reading a spec never imports a backend.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch

from qconform.specs.model import QuantizerSpec, load_object


@runtime_checkable
class WeightCodec(Protocol):
    """One weight through a method's format and back, without a model: what the numerics checks drive.

    Loading a model tests a method's plumbing; its numbers are best tested one weight at a time, with hypothesis
    drawing realistic and hostile weights (outliers, zero blocks, tiny values) and shrinking a failure to the
    smallest weight that shows it. A spec names its codec in ``Oracles.codec`` as ``"module:attribute"`` (an
    instance, or a class or factory called without arguments); with one, the numerics checks bound the error
    against full precision (``Tolerances``), compare the twin and the real backend, and CPU with an accelerator.

    ``quantize(weight, config)``: ``weight`` is a full-precision (out_features, in_features) tensor; returns the
    tensors a checkpoint stores for it, named as in the checkpoint without the module prefix (``{"weight": ...,
    "weight_scale": ...}``), on ``weight``'s device. Being what is saved, they are what is compared bit for bit.

    ``dequantize(stored, config, shape, dtype)``: the weight those tensors represent, as a ``shape`` tensor of
    ``dtype`` (what the quantized Linear computes with, up to its compute dtype's rounding).

    ``unsupported(shape, dtype, config, device)``: why the codec cannot take such a weight here (a shape not
    divisible by the block, a dtype the kernel lacks, a device), or None; a check then skips with that reason
    instead of counting the codec's refusal as a failure.
    """

    def quantize(self, weight: torch.Tensor, config: Any) -> dict[str, torch.Tensor]:
        """Stored tensors for ``weight`` (out_features x in_features) under ``config``, on weight's device."""
        ...

    def dequantize(
        self, stored: dict[str, torch.Tensor], config: Any, shape: tuple[int, int], dtype: torch.dtype
    ) -> torch.Tensor:
        """The weight the stored tensors represent, of ``shape`` and ``dtype``."""
        ...

    def unsupported(self, shape: tuple[int, int], dtype: torch.dtype, config: Any, device: str) -> str | None:
        """Why this codec cannot take such a weight here (shape, dtype, device), or None."""
        ...


def load_codec(spec: QuantizerSpec) -> WeightCodec | None:
    """The spec's codec, or None when it names none; import errors propagate (a missing backend)."""
    if spec.oracles.codec is None:
        return None
    obj = load_object(spec.oracles.codec)
    codec = obj if isinstance(obj, WeightCodec) and not isinstance(obj, type) else obj()
    if not isinstance(codec, WeightCodec):
        raise TypeError(f"{spec.oracles.codec} is not a WeightCodec")
    return codec
