"""Getting a method's ``WeightCodec`` and its twin for the numerics checks, and what weights a codec takes.

A codec that cannot be had here is a skip with its reason (not installed, not declared), never a failure.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from qconform.discovery.targets import Target
from qconform.inputs.configs import build
from qconform.inputs.weights import DTYPES, IRREGULAR_SHAPES, REGULAR_SHAPES
from qconform.support import outcomes
from qconform.support.codec import WeightCodec, load_codec
from qconform.support.outcomes import NOT_INSTALLED


def codec_of(spec) -> WeightCodec:
    """The spec's codec; a skip where it names none or its backend cannot be imported here."""
    if spec.oracles.codec is None:
        pytest.skip(f"{spec.method} names no codec in its spec (codec=None)")
    missing = spec.missing_requirements()
    if missing:
        outcomes.skip(NOT_INSTALLED, "; ".join(missing))
    try:
        return load_codec(spec)
    except ImportError as exc:
        outcomes.skip(NOT_INSTALLED, f"the codec of {spec.method} cannot be imported here: {exc}")


def supported(codecs: list[tuple[WeightCodec, Any]], devices: list[str]) -> list[tuple]:
    """(shape, dtype name) pairs every codec takes on every device, regular shapes first."""
    return [
        (shape, dtype)
        for shape in REGULAR_SHAPES + IRREGULAR_SHAPES
        for dtype in DTYPES
        if all(codec.unsupported(shape, DTYPES[dtype], config, d) is None for codec, config in codecs for d in devices)
    ]


def require_support(codec: WeightCodec, spec, devices: list[str]) -> None:
    """Skip where the codec takes no weight at all on these devices (with the default config)."""
    config = build(spec.inputs.default_config, spec)
    if not supported([(codec, config)], devices):
        reason = codec.unsupported(REGULAR_SHAPES[0], torch.float32, config, devices[-1])
        pytest.skip(f"the codec of {spec.method} takes none of qconform's weights on {'/'.join(devices)}: {reason}")


def roundtrip(codec: WeightCodec, weight: torch.Tensor, config: Any) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    stored = codec.quantize(weight, config)
    return stored, codec.dequantize(stored, config, tuple(weight.shape), weight.dtype)


def twin_pair(target: Target, targets: dict[str, Target]) -> tuple[Target, Target]:
    """(real method, its twin), whichever of the two this target is."""
    spec = target.spec
    if spec.oracles.mirrors:
        real_key, twin_key = spec.oracles.mirrors, target.key
    elif spec.oracles.reference_twin:
        real_key, twin_key = target.key, spec.oracles.reference_twin
    else:
        pytest.skip(f"{target.key} declares neither a reference twin nor a method it mirrors")
    for key in (real_key, twin_key):
        if key not in targets:
            pytest.skip(f"{key} is not registered in transformers' dispatch in this run")
    return targets[real_key], targets[twin_key]
