"""torchao Int8WeightOnlyConfig in float16: the forward overflows to inf although the true output is small.

What breaks: the per-row int8 weight-only forward multiplies the activations by the unscaled int8 codes in the
activation dtype and applies the row scales afterwards (torch.mm(x, qdata.t().to(output_dtype)) * scale). In
float16 the intermediate (codes up to 127 times activations of a few tens, summed over the input width) exceeds
65504 and becomes inf, although the exact result is a few tens. The same Linear in full precision, or
dequantized, gives finite outputs.
Found by: qconform check test_linear_forward_matches_dequantized_matmul
Spec entry: qconform/specs/torchao.py:MEASURED_DEVIATIONS (test_linear_forward_matches_dequantized_matmul)
Severity: silent wrong results or data loss
Affected releases: transformers 5.17.0, 5.19.0, 5.21.1, 5.23.0, 5.25.0
  (exit codes measured by releases.sh: 5.17.0: 1, 5.19.0: 1, 5.21.1: 1, 5.23.0: 1, 5.25.0: 1;
  with torchao 0.18.0, torch 2.13.0+cpu)
Expected: a finite input whose exact output is finite gives a finite output close to x @ dequantized(W).T.
Exit: 1 while the deviation holds, 0 once fixed, 2 if torchao is missing or unusable here.
"""

import sys

import torch

try:
    from torchao.quantization import Int8WeightOnlyConfig, quantize_
except ImportError as error:
    print(f"backend unusable: {error}")
    sys.exit(2)


def main() -> int:
    torch.manual_seed(0)
    linear = torch.nn.Linear(256, 128, bias=False, dtype=torch.float16)
    quantize_(linear, Int8WeightOnlyConfig())
    x = 30 * torch.randn(8, 256, dtype=torch.float16)
    with torch.no_grad():
        exact = x.float() @ linear.weight.dequantize().float().t()
        output = linear(x)
    bad = (~output.isfinite()).sum().item()
    print(
        f"Int8WeightOnly, float16 Linear(256, 128), x ~ 30 N(0, 1): {bad}/{output.numel()} outputs non-finite; "
        f"the exact result is at most {exact.abs().max().item():.3g}"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
