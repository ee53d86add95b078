"""optimum-quanto qfloat8 weights: an all-zero output row dequantizes to NaN.

What breaks: the absmax scale of a row is max|w| / 448, which is 0 for an all-zero row, and quantize_symmetric
divides by it without a guard: the row's FP8 data is 0 / 0 = NaN and it dequantizes to NaN, so the Linear's
outputs in that column are NaN. QuantoConfig(weights="float8") in transformers goes through the same quantize.
Found by: qconform check test_finite_weights_give_finite_results
Spec entry: qconform/specs/quanto.py:SPECS (quanto, test_finite_weights_give_finite_results)
Severity: silent wrong results or data loss
Affected releases: transformers 5.17.0, 5.19.0, 5.21.1, 5.23.0, 5.25.0
  (exit codes measured by releases.sh: 5.17.0: 1, 5.19.0: 1, 5.21.1: 1, 5.23.0: 1, 5.25.0: 1;
  with optimum-quanto 0.2.7, torch 2.13.0+cpu)
Expected: a zero row stays zero; a finite input gives a finite output.
Exit: 1 while the deviation holds, 0 once fixed, 2 if optimum-quanto is missing or unusable here.
"""

import sys

import torch

try:
    from optimum.quanto import freeze, qfloat8, quantize
except ImportError as error:
    print(f"backend unusable: {error}")
    sys.exit(2)


def main() -> int:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(128, 128, bias=False))
    with torch.no_grad():
        model[0].weight[:32] = 0  # 32 all-zero output rows
    quantize(model, weights=qfloat8)
    freeze(model)
    with torch.no_grad():
        dequantized = model[0].weight.dequantize()
        output = model(torch.randn(4, 128))
    bad_rows = (~dequantized.isfinite()).any(dim=1).sum().item()
    bad_outputs = (~output.isfinite()).sum().item()
    print(
        f"qfloat8, Linear(128, 128) with 32 zero rows: {bad_rows}/128 rows dequantize to NaN, "
        f"{bad_outputs}/{output.numel()} outputs non-finite"
    )
    return 1 if bad_rows or bad_outputs else 0


if __name__ == "__main__":
    sys.exit(main())
