"""Calibration data made offline: token batches for tiny models, activation sets for single layers.

GPTQ and AWQ need activations. Nothing here is fetched: token ids are drawn from a seeded generator
(a tiny random model has no preferred text). Single-layer codecs use
``qconform.inputs.activations.synthetic_inputs``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Calibration:
    """``samples`` sequences of ``length`` random token ids (seeded), fed one sequence per forward."""

    samples: int = 8
    length: int = 32
    seed: int = 0

    def batches(self, vocab_size: int) -> list[torch.Tensor]:
        generator = torch.Generator().manual_seed(self.seed)
        ids = torch.randint(0, vocab_size, (self.samples, self.length), generator=generator)
        return [row.unsqueeze(0) for row in ids]

    def key(self) -> str:
        return f"n{self.samples}-l{self.length}-s{self.seed}"
