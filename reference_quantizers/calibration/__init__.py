"""Calibration for the twins of calibrated methods (GPTQ, AWQ): data, activation capture, checkpoint writers.

Everything is offline: token ids come from a seeded generator, models are qconform's tiny models.

- ``data``: ``Calibration`` (seeded token batches) and ``synthetic_inputs`` (activations for one layer)
- ``capture``: forward hooks that record the inputs of Linear layers; the decoder blocks' Linears
- ``gptq``: layer-by-layer sequential GPTQ of a whole model, as optimum runs it
- ``awq``: AWQ scale search per group of Linears sharing an input, folded into the preceding op
- ``install``: a twin's quantized Linears put in place of ``nn.Linear`` layers
- ``writers``: ``write_gptq_checkpoint`` / ``write_awq_checkpoint``
- ``checkpoints``: ``prequantized_checkpoint(method_key, arch, config)``, cached tiny checkpoints for checks
"""

from __future__ import annotations

from qconform.inputs.activations import synthetic_inputs
from reference_quantizers.calibration.data import Calibration

__all__ = ["Calibration", "synthetic_inputs"]
