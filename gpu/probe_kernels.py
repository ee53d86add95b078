"""Which gptqmodel kernel loads a twin-written GPTQ or AWQ checkpoint on CUDA, how long it takes, and how
its logits compare with gptqmodel's pure-torch kernel on the same checkpoint.

transformers passes ``backend`` to gptqmodel as a loading attribute (``GPTQConfig.get_loading_attributes``);
``auto`` picks by hardware and shape (Machete on Hopper, which builds from downloaded CUTLASS sources, or
Marlin, which builds a C++/CUDA extension on first use). One backend per process, so that a kernel build
that hangs or fails is that backend's result alone.

    python gpu/probe_kernels.py gptq triton llama     # prints one JSON line
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qconform.discovery.targets import discover
from qconform.inputs.configs import build
from qconform.support import lifecycle
from qconform.support.metrics import rel_frobenius

REFERENCE = {"gptq": "torch", "awq": "torch_awq"}  # gptqmodel's pure-torch kernel for each format


def load(method: str, backend: str, arch: str):
    spec = discover().targets[method].spec
    config = build(spec.inputs.default_config, spec)
    path, _ = lifecycle.checkpoint_for(spec, config, arch)
    loading = type(config)(**{"bits": 4, "backend": backend})
    start = time.perf_counter()
    with lifecycle.quiet():
        model = lifecycle.model_class(arch).from_pretrained(path, device_map={"": "cuda"}, quantization_config=loading)
    logits = lifecycle.logits(model.eval(), arch)
    torch.cuda.synchronize()
    kernels = sorted(
        {type(m).__name__ for m in model.modules() if "QuantLinear" in type(m).__name__ or "Linear" in type(m).__name__}
    )
    return logits, time.perf_counter() - start, kernels


def main(method: str, backend: str, arch: str) -> None:
    row = {"method": method, "backend": backend, "arch": arch}
    try:
        logits, seconds, kernels = load(method, backend, arch)
        row.update(load_and_forward_s=round(seconds, 2), modules=kernels, finite=bool(torch.isfinite(logits).all()))
        reference, _, _ = load(method, REFERENCE[method], arch)
        row["rel_gap_to_torch_kernel"] = rel_frobenius(reference, logits)
    except BaseException as exc:
        row["error"] = f"{type(exc).__name__}: {exc}"[:500]
        row["trace"] = traceback.format_exc()[-1200:]
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
