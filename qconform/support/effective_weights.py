"""What a loaded Linear computes as its weight, read from its forward alone: no codec, no spec needed.

A quantized Linear is affine in its input for weight-only formats: ``module(x) = x @ W.T + b``. Feeding
the identity and a zero row, ``module(e_j) - module(0)`` is column j of the weight it really multiplies
by, whatever its packing, kernel or tensor subclass. That is the reading any quantizer offers; where a
target is dequantizable, ``dequantize()`` gives a second one.

Limits, each checked against the arithmetic of the formats qconform meets:
- dynamic activation quantization per token or per token group (int8 absmax, FP8): a one-hot row's
  absmax is its one value, so it quantizes exactly (1 -> code 127 or 448 -> 1), and the reading is
  exact; a zero row must then be handled by the quantizer (0/0 otherwise, which a check rightly fails);
- static activation scales (a calibrated per-tensor input scale) are not exact at 1: the reading is
  the weight times the input's rounding of 1, off by at most the activation format's step;
- outlier decomposition on activations (LLM.int8's threshold 6.0) sees no outlier in a one-hot row;
- the compute dtype rounds the output: the reading holds the weight as the module computes with it
  (float16 compute gives a float16-rounded weight), and an overflowing product shows as inf;
- a bias is zeroed during the reading (see ``effective_weight``): a module that folds its bias into
  stored tensors at load time, where zeroing ``bias`` does not reach, reads as weight plus rounding of b.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def probe_inputs(in_features: int, dtype: torch.dtype, device: str | torch.device) -> torch.Tensor:
    """The identity and one zero row, as one batch of ``in_features + 1`` tokens: (1, in + 1, in)."""
    eye = torch.eye(in_features, dtype=dtype)
    return torch.cat([eye, torch.zeros(1, in_features, dtype=dtype)]).unsqueeze(0).to(device)


def effective_weight(
    module: nn.Module, in_features: int, dtype: torch.dtype, device: str | torch.device
) -> torch.Tensor:
    """The (out x in) weight ``module`` multiplies by, in float64: ``module(e_j) - module(0)`` for each j.

    A plain ``bias`` is zeroed for the reading (and restored): in float16, ``(w + b) - b`` would round a
    small weight away (a subnormal-range row under a bias of 0.02 reads as zero)."""
    bias = getattr(module, "bias", None)
    saved = bias.detach().clone() if isinstance(bias, torch.Tensor) else None
    try:
        with torch.no_grad():
            if saved is not None:
                bias.zero_()
            out = module(probe_inputs(in_features, dtype, device))[0].to(torch.float64).cpu()
    finally:
        if saved is not None:
            with torch.no_grad():
                bias.copy_(saved)
    return (out[:in_features] - out[in_features]).T.contiguous()


def effective_weights(model: nn.Module, names: Iterable[str]) -> dict[str, torch.Tensor]:
    """Each named Linear's effective weight, probed in the model's dtype on its device."""
    readings = {}
    for name in names:
        module = model.get_submodule(name)
        in_features = _in_features(module)
        readings[name] = effective_weight(module, in_features, model.dtype, model.device)
    return readings


def _in_features(module: nn.Module) -> int:
    """The input width a replaced Linear declares (every backend here keeps ``in_features``)."""
    width = getattr(module, "in_features", None)
    if not isinstance(width, int):
        raise TypeError(f"{type(module).__name__} does not say its in_features: its input width is unknown")
    return width


def dequantized_weights(model: nn.Module, names: Iterable[str]) -> dict[str, torch.Tensor]:
    """The weights ``model.dequantize()`` gives back (float64, on the CPU); the model is changed in place."""
    model.dequantize(dtype=model.dtype)
    return {name: model.get_submodule(name).weight.detach().to(torch.float64).cpu() for name in names}
