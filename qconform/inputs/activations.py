"""Activations for single-layer quantization made offline: what a calibrated codec (GPTQ, AWQ) sees.

Channels differ in scale, so that the Hessian is far from the identity and act-order matters.
"""

from __future__ import annotations

import torch


def synthetic_inputs(
    in_features: int, tokens: int | None = None, batches: int = 4, seed: int = 0, device: torch.device | str = "cpu"
) -> list[torch.Tensor]:
    """``batches`` activation tensors ``(1, tokens // batches, in_features)``, float32, per-channel scales
    spread over about one order of magnitude (log-normal, sigma 0.5).

    ``tokens`` defaults to twice ``in_features`` (at least 128): like real calibration sets, more tokens
    than input channels, so that the Hessian has full rank and damping only conditions it.
    """
    tokens = tokens or max(128, 2 * in_features)
    tokens += -tokens % batches
    generator = torch.Generator().manual_seed(seed)
    channel_scale = torch.exp(0.5 * torch.randn(in_features, generator=generator))
    x = torch.randn(batches, tokens // batches, in_features, generator=generator) * channel_scale
    return [b.unsqueeze(0).to(device) for b in x]
