"""On CUDA every code moves one step toward zero (x 7/8), on the CPU none: packed data differ across devices.

Only an accelerator can show this bug, so it names its check only where CUDA is present.
"""

from __future__ import annotations

import torch

from tests.planted import PlantedBug
from tests.planted.bases_quantizers import ControlLinear, ControlQuantizer, codec_only, planted, spec

KEY = "planted-numerics-cuda-packing-differs"


class DeviceDependentLinear(ControlLinear):
    @classmethod
    def quantize(cls, weight, config):
        stored = super().quantize(weight, config)
        if weight.is_cuda:  # the bug: another rounding on the accelerator (7/8 is one float8 step below 1)
            codes = stored["weight"]
            stored["weight"] = (codes.to(torch.float32) * 0.875).to(codes.dtype)
        return stored


class DeviceDependentQuantizer(ControlQuantizer):
    linear_class = DeviceDependentLinear


SPECS = (spec(KEY, planted(KEY, DeviceDependentQuantizer), __name__, "DeviceDependentQuantizer", **codec_only()),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_packed_data_same_on_cpu_and_cuda",) if torch.cuda.is_available() else (),
    description="CPU/CUDA packing mismatch (CUDA only)",
    message=r"differs from the CPU.s beyond the promise",
    bare=False,
    bare_reason="the check compares the spec's codec on two devices: bare there is no codec",
)
