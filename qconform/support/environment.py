"""The fingerprint of this machine and its software, and calls into a process that hides a package or the
accelerator (the hiding itself: ``qconform.support.hiding``)."""

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


# --- hiding the accelerator; hiding a package is qconform.support.hiding ---------------------------------


def without_accelerator_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """Environment variables under which torch sees no CUDA (or ROCm/XPU) device."""
    env = dict(os.environ if env is None else env)
    env.update({"CUDA_VISIBLE_DEVICES": "", "HIP_VISIBLE_DEVICES": "", "ZE_AFFINITY_MASK": ""})
    return env


def accelerator_present() -> bool:
    import torch

    xpu = getattr(torch, "xpu", None)
    return torch.cuda.is_available() or bool(xpu is not None and xpu.is_available())


def run_hidden(
    function: str,
    request: Any,
    *,
    modules: Iterable[str] = (),
    distributions: Iterable[str] = (),
    hide_accelerator: bool = False,
    timeout: float = 300,
) -> Any:
    """Call ``function`` (``module:name``, taking and returning JSON data) in a fresh interpreter.

    Or in a child forked from a snapshot of this process where that is as faithful
    (``qconform.support.fork_server``). That interpreter hides ``modules``/``distributions`` before importing
    anything else and, with ``hide_accelerator``, sees no accelerator. Its ``sys.path`` is this one's, so plugin
    modules load the same way. Raises RuntimeError with the child's output when it does not answer.
    """
    import json
    import subprocess

    from qconform.support import fork_server

    server = None if hide_accelerator and accelerator_present() else fork_server.server_for(modules, distributions)
    if server is not None:  # a child of a snapshot that never asked about these names: a second, not six
        return server.call(function, request, list(modules), list(distributions), timeout)
    payload = {
        "function": function,
        "request": request,
        "modules": sorted(set(modules)),
        "distributions": sorted(set(distributions)),
    }
    env = without_accelerator_env() if hide_accelerator else dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    done = subprocess.run(
        [sys.executable, "-c", _CHILD],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    marker = _ANSWER_MARKER
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(marker):
            return json.loads(line[len(marker) :])
    raise RuntimeError(
        f"the hidden-environment child (exit {done.returncode}) gave no answer:\n"
        f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )


_ANSWER_MARKER = "QCONFORM-ANSWER:"
_CHILD = f"""
import json, sys
payload = json.loads(sys.stdin.read())
from qconform.support.hiding import hide_packages
hide_packages(payload["modules"], payload["distributions"])
from qconform.specs.model import load_object
answer = load_object(payload["function"])(payload["request"])
sys.stdout.write("\\n{_ANSWER_MARKER}" + json.dumps(answer) + "\\n")
sys.stdout.flush()
"""
