"""torchao Float8WeightOnlyConfig: an all-zero output row dequantizes to NaN and the Linear returns NaN.

What breaks: the per-row FP8 scale is max|w| / 448, which is 0 for an all-zero row, and its FP8 data is then
0 / 0 = NaN: the row dequantizes to NaN and every output of the Linear's forward in that column is NaN. Zero rows
are common (pruned heads, padded vocabularies). TorchAoConfig(quant_type=Float8WeightOnlyConfig()) in
transformers goes through the same quantize_.
Found by: qconform check test_finite_weights_give_finite_results
Spec entry: qconform/specs/torchao.py:MEASURED_DEVIATIONS (test_finite_weights_give_finite_results)
Severity: silent wrong results or data loss
Affected releases: transformers 5.17.0, 5.19.0, 5.21.1, 5.23.0, 5.25.0
  (exit codes measured by releases.sh: 5.17.0: 1, 5.19.0: 1, 5.21.1: 1, 5.23.0: 1, 5.25.0: 1;
  with torchao 0.18.0, torch 2.13.0+cpu)
Expected: a finite weight quantizes to finite values (a zero row stays zero) and a finite input gives a finite output.
Exit: 1 while the deviation holds, 0 once fixed, 2 if torchao is missing or unusable here.
"""

import sys

import torch

try:
    from torchao.quantization import Float8WeightOnlyConfig, quantize_
except ImportError as error:
    print(f"backend unusable: {error}")
    sys.exit(2)


def main() -> int:
    torch.manual_seed(0)
    linear = torch.nn.Linear(128, 128, bias=False, dtype=torch.float16)
    with torch.no_grad():
        linear.weight[:32] = 0  # 32 all-zero output rows
    try:
        quantize_(linear, Float8WeightOnlyConfig())
    except Exception as error:  # a torchao build without FP8 on this CPU
        print(f"backend unusable: Float8WeightOnlyConfig failed here: {type(error).__name__}: {error}")
        return 2
    with torch.no_grad():
        dequantized = linear.weight.dequantize()
        output = linear(torch.randn(4, 128, dtype=torch.float16))
    bad_rows = (~dequantized.isfinite()).any(dim=1).sum().item()
    bad_outputs = (~output.isfinite()).sum().item()
    print(
        f"Float8WeightOnly, float16 Linear(128, 128) with 32 zero rows: {bad_rows}/128 rows dequantize to "
        f"NaN, {bad_outputs}/{output.numel()} outputs non-finite"
    )
    return 1 if bad_rows or bad_outputs else 0


if __name__ == "__main__":
    sys.exit(main())
