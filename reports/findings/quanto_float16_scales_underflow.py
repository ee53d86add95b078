"""optimum-quanto qint8 weights in float16: small rows get subnormal or zero scales and come back wrong or as zeros.

What breaks: the int8 (and float8) absmax scale max|w| / qmax is computed and stored in the weight's dtype. In
float16 a row whose largest entry is about 1e-5 gets a subnormal scale (a few significant bits), so the row
comes back several percent off; at about 1e-6 the scale underflows to 0 and the row comes back as zeros
(relative error 1). The same rows in float32 or bfloat16 stay within int8's error (below 0.01).
Found by: qconform check test_error_within_bound
Spec entry: qconform/specs/quanto.py:FLOAT16_SCALES_UNDERFLOW
Severity: silent wrong results or data loss
Affected releases: transformers 5.17.0, 5.19.0, 5.21.1, 5.23.0, 5.25.0
  (exit codes measured by releases.sh: 5.17.0: 1, 5.19.0: 1, 5.21.1: 1, 5.23.0: 1, 5.25.0: 1;
  with optimum-quanto 0.2.7, torch 2.13.0+cpu)
Expected: per-row relative error within int8's (0.045, qconform's bound) whatever the weight's dtype.
Exit: 1 while the deviation holds, 0 once fixed, 2 if optimum-quanto is missing or unusable here.
"""

import sys

import torch

try:
    from optimum.quanto import freeze, qint8, quantize
except ImportError as error:
    print(f"backend unusable: {error}")
    sys.exit(2)

BOUND = 0.045


def row_errors(weight: torch.Tensor) -> torch.Tensor:
    """Relative error of each row after quanto's int8 weight quantization of a Linear holding ``weight``."""
    model = torch.nn.Sequential(torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False, dtype=weight.dtype))
    with torch.no_grad():
        model[0].weight.copy_(weight)
    quantize(model, weights=qint8)
    freeze(model)
    dequantized = model[0].weight.dequantize().float()
    return (dequantized - weight.float()).norm(dim=1) / weight.float().norm(dim=1)


def main() -> int:
    torch.manual_seed(0)
    base = torch.randn(3, 128)
    base /= base.abs().amax(dim=1, keepdim=True)
    weight = base * torch.tensor([[1e-2], [1e-5], [1e-6]])  # rows whose largest |w| is 1e-2, 1e-5, 1e-6
    errors = {dtype: row_errors(weight.to(dtype)) for dtype in (torch.float16, torch.float32)}
    print(
        "qint8 per-row relative error for rows of max |w| 1e-2, 1e-5, 1e-6: "
        + "; ".join(
            f"{str(dtype).removeprefix('torch.')} " + ", ".join(f"{e:.3g}" for e in errors[dtype].tolist())
            for dtype in errors
        )
        + f" (bound {BOUND})"
    )
    return 1 if (errors[torch.float16] > BOUND).any() else 0


if __name__ == "__main__":
    sys.exit(main())
