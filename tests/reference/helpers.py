"""What the twins' tests share: stored tensors compared bit for bit, a tiny model's logits, and a saved
checkpoint relabelled for the other side's quantizer (twin <-> real backend)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from qconform.inputs.tiny_models import sample_input_ids


def bits(tensor: torch.Tensor) -> torch.Tensor:
    """The raw bytes, on the CPU: bit-exact means bit-exact (NaN payloads, signed zeros)."""
    return tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8)


def assert_same_tensors(expected: dict[str, torch.Tensor], actual: dict[str, torch.Tensor]) -> None:
    """Same names, dtypes, shapes and bits."""
    assert sorted(expected) == sorted(actual)
    for name, tensor in expected.items():
        other = actual[name]
        assert (tensor.dtype, tensor.shape) == (other.dtype, other.shape), name
        assert torch.equal(bits(tensor), bits(other)), name


def logits(model: nn.Module, arch: str = "llama") -> torch.Tensor:
    """The model's logits for qconform's fixed sample ids of ``arch``."""
    with torch.no_grad():
        return model(sample_input_ids(arch).to(model.device)).logits


def relabel(src: Path, dst: Path, config: Any) -> Path:
    """A copy of a saved checkpoint whose config.json names another quantizer (the other side's config)."""
    shutil.copytree(src, dst)
    data = json.loads((dst / "config.json").read_text())
    data["quantization_config"] = config.to_dict()
    (dst / "config.json").write_text(json.dumps(data))
    return dst
