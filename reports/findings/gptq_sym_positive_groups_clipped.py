"""gptqmodel GPTQ, sym=True: a group whose values are all positive is clipped at about half its maximum.

What breaks: Quantizer.find_params mirrors the range (xmin = -xmax) only when the group's minimum is negative.
An all-positive group keeps the range [0, max] with the symmetric zero point (maxq + 1) / 2 in the middle of
the codes, so every value above about half the maximum is clipped there: a positive constant group comes back
as 7/15 of itself at 4 bits, while the same group negated is quantized well. GPTQ.quantize calls find_params
for every group, so GPTQConfig(sym=True) models carry this (the original GPTQ code does the same).
Found by: qconform check test_error_within_bound
Spec entry: qconform/specs/gptq.py:ALL_POSITIVE_GROUPS_CLIP
Severity: silent wrong results or data loss
Affected releases: transformers 5.17.0, 5.19.0, 5.21.1, 5.23.0, 5.25.0
  (exit codes measured by releases.sh: 5.17.0: 1, 5.19.0: 1, 5.21.1: 1, 5.23.0: 1, 5.25.0: 1;
  with gptqmodel 7.6.0, optimum 2.3.0, torch 2.13.0+cpu)
Expected: symmetric quantization treats w and -w alike: both within the 4-bit format's error (about 0.1).
Exit: 1 while the deviation holds, 0 once fixed, 2 if gptqmodel is missing or unusable here.
"""

import sys

import torch

try:
    from gptqmodel import QuantizeConfig
    from gptqmodel.quantization.quantizer import Quantizer, quantize
except ImportError as error:
    print(f"backend unusable: {error}")
    sys.exit(2)

BOUND = 0.1  # 4-bit symmetric, groups of 32: uniform rows in [0.1, 1.1] come back within a few percent


def round_trip(weight: torch.Tensor) -> torch.Tensor:
    """Per-row (one group of 32 per row) 4-bit symmetric quantize-dequantize, as GPTQ does for each group."""
    quantizer = Quantizer(QuantizeConfig(bits=4, sym=True, group_size=32, offload_to_disk=False))
    quantizer.configure(perchannel=True)
    quantizer.find_params(weight, weight=True)
    return quantize(weight, quantizer.scale, quantizer.zero, quantizer.maxq, False)


def main() -> int:
    torch.manual_seed(0)
    positive = torch.rand(64, 32) + 0.1
    positive[0] = 0.5  # a constant group

    def rel(weight: torch.Tensor) -> float:
        return ((round_trip(weight) - weight).norm() / weight.norm()).item()

    constant = round_trip(positive[:1])[0, 0].item()
    errors = rel(positive), rel(-positive)
    print(
        f"4-bit sym: relative error {errors[0]:.3g} for positive groups, {errors[1]:.3g} for the same "
        f"groups negated (bound {BOUND}); constant 0.5 comes back as {constant:.4g}"
    )
    return 1 if max(errors) > BOUND else 0


if __name__ == "__main__":
    sys.exit(main())
