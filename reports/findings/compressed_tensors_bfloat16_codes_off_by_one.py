"""compressed-tensors on CPU: int8 codes of a bfloat16 weight are not those of w / scale (8% one step off).

What breaks: compressed-tensors' quantize computes the ratio x / scale in the weight's dtype. On the CPU, for a
bfloat16 weight, that ratio is rounded to bfloat16 (8 significant bits) before it is rounded to an integer, so
about 8% of the int8 codes land one step from round(w / scale), and the quantization error rises (1024x1024
normal weights: 0.0084 against 0.0079 for the exact ratio). On CUDA the codes are those of the exact ratio
(measured by qconform on an H200), so a checkpoint's codes depend on the device that wrote it. float32 weights
are not affected.
Found by: qconform check test_packed_data_same_on_cpu_and_cuda (and test_codec_matches_twin on CUDA)
Spec entry: qconform/specs/compressed_tensors.py:BFLOAT16_CODES_DEPEND_ON_DEVICE
Severity: silent wrong results or data loss
Affected releases: transformers 5.17.0, 5.19.0, 5.21.1, 5.23.0, 5.25.0
  (exit codes measured by releases.sh: 5.17.0: 1, 5.19.0: 1, 5.21.1: 1, 5.23.0: 1, 5.25.0: 1;
  with compressed-tensors 0.20.1, torch 2.13.0+cpu)
Expected: codes == clamp(round(w / scale) + zero_point), the ratio computed exactly (in float32), on every device.
Exit: 1 while the deviation holds, 0 once fixed, 2 if compressed-tensors is missing or unusable here.
"""

import sys

import torch

try:
    from compressed_tensors.quantization import QuantizationArgs
    from compressed_tensors.quantization.lifecycle.forward import quantize
    from compressed_tensors.quantization.utils import calculate_qparams
except ImportError as error:
    print(f"backend unusable: {error}")
    sys.exit(2)


def main() -> int:
    torch.manual_seed(0)
    args = QuantizationArgs(num_bits=8, type="int", symmetric=True, strategy="channel")
    weight = torch.randn(256, 256).bfloat16()
    scale, zero_point = calculate_qparams(weight.amin(dim=-1, keepdim=True), weight.amax(dim=-1, keepdim=True), args)
    codes = quantize(weight, scale, zero_point, args, dtype=torch.int8).float()
    exact = torch.clamp(torch.round(weight.float() / scale.float()) + zero_point.float(), -128, 127)
    differ = (codes != exact).sum().item()

    def rel(c: torch.Tensor) -> float:
        return (((c - zero_point.float()) * scale.float() - weight.float()).norm() / weight.float().norm()).item()

    print(
        f"int8 per channel, bfloat16 (256, 256) on CPU: {differ}/{codes.numel()} codes differ from round(w / scale) "
        f"(largest by {(codes - exact).abs().max().item():.0f}); error {rel(codes):.4f} against {rel(exact):.4f}"
    )
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
