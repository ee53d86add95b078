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
