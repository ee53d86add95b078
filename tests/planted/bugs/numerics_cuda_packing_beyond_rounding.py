"""The CUDA packing bug of ``numerics_cuda_packing_differs`` under a spec that promises only rounding differences
across devices: a code moved one step everywhere is far more than a tie decided differently, so the
cross-device check still fails it (a weaker promise is not a blank cheque).
"""

from __future__ import annotations

import torch

from qconform.specs.model import ROUNDING, AcrossDevices, Tolerances
from tests.planted import PlantedBug
from tests.planted.bases_quantizers import codec_only, planted, spec
from tests.planted.bugs.numerics_cuda_packing_differs import DeviceDependentQuantizer

KEY = "planted-numerics-cuda-packing-beyond-rounding"
PROMISE = AcrossDevices(ROUNDING, reason="planted: claims rounding differences only", evidence="tests/planted")

SPECS = (
    spec(
        KEY,
        planted(KEY, DeviceDependentQuantizer),
        "tests.planted.bugs.numerics_cuda_packing_differs",
        "DeviceDependentQuantizer",
        **codec_only(tolerances=Tolerances(rel_error=0.08, logits_drift=0.15, across_devices=PROMISE)),
    ),
)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_packed_data_same_on_cpu_and_cuda",) if torch.cuda.is_available() else (),
    description="CPU/CUDA packing mismatch under a 'rounding' promise (CUDA only)",
    message=r"differs from the CPU.s beyond the promise .rounding.",
    bare=False,
    bare_reason="the check compares the spec's codec on two devices, against the promise the spec declares",
)
