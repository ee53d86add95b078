"""bitsandbytes 4-bit on CPU: dequantize_4bit applies the wrong absmax when blocks straddle rows.

What breaks: the native CPU dequantize_4bit gets the weight as rows of n = in_features; when n is even but not
a multiple of the blocksize (a block of 64 straddles two rows), it applies the wrong block's absmax. The codes
and absmax that quantize_4bit stored are right (dequantizing them by hand gives the format's error); the
weight dequantize_4bit returns is not. A Linear(96, 200) quantized by transformers goes through the same path.
Found by: qconform checks test_codec_matches_twin and test_error_within_bound (cpu)
Spec entry: qconform/specs/bitsandbytes.py:DEVIATIONS_4BIT (test_codec_matches_twin and test_error_within_bound, cpu)
Severity: silent wrong results or data loss
Affected releases: transformers 5.17.0, 5.19.0, 5.21.1, 5.23.0, 5.25.0
  (exit codes measured by releases.sh: 5.17.0: 1, 5.19.0: 1, 5.21.1: 1, 5.23.0: 1, 5.25.0: 1;
  with bitsandbytes 0.50.2, torch 2.13.0+cpu)
Expected: dequantize_4bit(quantize_4bit(W)) equals the stored codes times their block's absmax.
Exit: 1 while the deviation holds, 0 once fixed, 2 if bitsandbytes is missing or unusable here.
"""

import sys

import torch

try:
    import bitsandbytes.functional as F
except ImportError as error:
    print(f"backend unusable: {error}")
    sys.exit(2)


def by_hand(packed: torch.Tensor, state) -> torch.Tensor:
    """The stored 4-bit codes (high nibble first) looked up in the NF4 table, times their block's absmax."""
    codes = torch.stack([packed.flatten() >> 4, packed.flatten() & 15], dim=1).flatten().long()
    values = state.code.float()[codes]
    blocks = values.reshape(-1, state.blocksize) * state.absmax.float()[:, None]
    return blocks.flatten()[: state.shape.numel()].reshape(state.shape)


def main() -> int:
    torch.manual_seed(0)
    weight = torch.randn(200, 96)  # 96 columns: even, not a multiple of the blocksize 64
    packed, state = F.quantize_4bit(weight, blocksize=64, quant_type="nf4")
    library = F.dequantize_4bit(packed, state).reshape(weight.shape).float()
    hand = by_hand(packed, state)

    def rel(x: torch.Tensor) -> float:
        return ((x - weight).norm() / weight.norm()).item()

    differ = (library != hand).sum().item()
    print(
        f"nf4 {tuple(weight.shape)}: dequantize_4bit error {rel(library):.3g}, the same codes and absmax by hand "
        f"{rel(hand):.3g}; {differ}/{weight.numel()} values differ"
    )
    return 1 if not torch.allclose(library, hand, rtol=1e-2, atol=1e-3) else 0


if __name__ == "__main__":
    sys.exit(main())
