"""The fingerprint of this machine and its software, recorded with every run."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import socket
import sys
from collections.abc import Iterable
from typing import Any

CORE_DISTRIBUTIONS = ("torch", "transformers", "accelerate", "safetensors", "hypothesis", "pytest")
BACKEND_DISTRIBUTIONS = (
    "bitsandbytes",
    "gptqmodel",
    "optimum",
    "autoawq",
    "optimum-quanto",
    "hqq",
    "torchao",
    "compressed-tensors",
    "aqlm",
    "triton",
    "kernels",
)


def distribution_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def accelerators() -> list[dict[str, Any]]:
    """CUDA devices with name and compute capability; empty without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return []
    devices = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        devices.append(
            {
                "index": index,
                "name": props.name,
                "compute_capability": f"{props.major}.{props.minor}",
                "memory_gib": round(props.total_memory / 2**30, 1),
            }
        )
    return devices


def fingerprint(extra_distributions: Iterable[str] = ()) -> dict[str, Any]:
    """Python, OS, CPU, accelerators, and the version (or absence: None) of each relevant package."""
    import torch

    names = list(dict.fromkeys([*CORE_DISTRIBUTIONS, *BACKEND_DISTRIBUTIONS, *extra_distributions]))
    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "hostname": socket.gethostname(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_cuda": torch.version.cuda,
        "accelerators": accelerators(),
        "packages": {name: distribution_version(name) for name in names},
    }


def environment_label(env: dict[str, Any]) -> str:
    """A short column name for hardware matrices, e.g. ``cpu x86_64`` or ``NVIDIA H100 80GB HBM3 sm_90``."""
    accs = env.get("accelerators") or []
    if accs:
        first = accs[0]
        count = f"{len(accs)}x " if len(accs) > 1 else ""
        return f"{count}{first['name']} sm_{first['compute_capability'].replace('.', '')}"
    return f"cpu {env.get('machine', '?')}"
