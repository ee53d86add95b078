"""Time the torchao twin against torchao quantizing one weight; the harness the bitnet and
fp8 benchmarks share.

Each case quantizes the same ``size x size`` bfloat16 weight with the twin (its Linear's ``quantize``)
and with torchao's own constructor of the tensor subclass that ``quantize_`` builds
(``Int8Tensor.from_hp``, ``Int4Tensor.from_hp``), after warm-up, synchronising the device around every
call, and keeps the median of the repeats. The twin/real ratio is the figure to watch (round 1 bounded it at 3).
The stored tensors are compared bit for bit on the device. int4 needs mslk (CUDA); without it the row
says why.

    python gpu/bench_torchao.py                          # 4096 x 4096 on CUDA
    python gpu/bench_torchao.py --size 256 --device cpu  # a quick check of the script itself

Prints a table; writes ``$OUT/bench_torchao.json`` (``OUT`` defaults to the current directory).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

Case = tuple[str, Callable[[torch.Tensor], dict[str, torch.Tensor]], Callable[[torch.Tensor], dict[str, torch.Tensor]]]


def timed(fn: Callable[[], Any], device: str, warmup: int, repeats: int) -> tuple[float, Any]:
    """Median seconds of ``repeats`` calls after ``warmup`` calls, and the last result."""
    result = None
    for _ in range(warmup):
        result = fn()
    samples = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        result = fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), result


def same_bits(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    """Same names, dtypes, shapes and bytes (compared on the CPU, so tensors of two devices compare)."""
    if sorted(a) != sorted(b):
        return False
    for name in a:
        x, y = a[name].cpu(), b[name].cpu()
        if x.dtype != y.dtype or x.shape != y.shape:
            return False
        if not torch.equal(x.reshape(-1).view(torch.uint8), y.reshape(-1).view(torch.uint8)):
            return False
    return True


def parse_args(doc: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20)
    return parser.parse_args()


def run(name: str, cases: list[Case], args: argparse.Namespace, packages: tuple[str, ...] = ()) -> None:
    """Time each (label, twin, real) case on one weight, print a table, write ``$OUT/bench_<name>.json``."""
    import transformers

    dtype = getattr(torch, args.dtype)
    weight = (torch.randn(args.size, args.size, generator=torch.Generator().manual_seed(0)) * 0.02).to(dtype)
    weight = weight.to(args.device)
    rows = []
    print(f"{'case':<40} {'twin':>12} {'real':>12} {'ratio':>7}  bit-exact")
    for label, twin, real in cases:
        row: dict[str, Any] = {"case": label}
        row["twin_s"], twin_stored = timed(lambda f=twin: f(weight), args.device, args.warmup, args.repeats)
        try:
            row["real_s"], real_stored = timed(lambda f=real: f(weight), args.device, args.warmup, args.repeats)
            row["ratio"] = row["twin_s"] / row["real_s"]
            row["bit_exact"] = same_bits(real_stored, twin_stored)
        except Exception as exc:  # a backend failing on this machine is a result to report
            row["real_note"] = f"{type(exc).__name__}: {exc}"[:300]
        rows.append(row)
        real_ms = f"{row['real_s'] * 1e3:9.3f} ms" if "real_s" in row else "           -"
        ratio = f"{row['ratio']:7.2f}" if "ratio" in row else "      -"
        tail = str(row.get("bit_exact", row.get("real_note", "")))
        print(f"{label:<40} {row['twin_s'] * 1e3:9.3f} ms {real_ms} {ratio}  {tail}", flush=True)

    versions = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    for package in packages:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    result = {
        "size": args.size,
        "dtype": args.dtype,
        "device": args.device,
        "device_name": torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor(),
        "warmup": args.warmup,
        "repeats": args.repeats,
        "versions": versions,
        "rows": rows,
    }
    out = Path(os.environ.get("OUT", ".")) / f"bench_{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


def cases() -> list[Case]:
    from reference_quantizers.torchao import INT4, INT8, INT8_DYNAMIC, RefTorchAoConfig, RefTorchAoLinear

    def real(scheme: str, group_size: int) -> Callable[[torch.Tensor], dict[str, torch.Tensor]]:
        def quantize(weight: torch.Tensor) -> dict[str, torch.Tensor]:
            from torchao.quantization import Int4Tensor, Int8Tensor, MappingType, PerRow
            from torchao.quantization.quantize_.workflows import QuantizeTensorToInt8Kwargs

            if scheme == INT4:  # what Int4WeightOnlyConfig(group_size) builds (plain packing)
                tensor = Int4Tensor.from_hp(weight, [1, group_size])
            else:  # Int8WeightOnlyConfig / Int8DynamicActivationInt8WeightConfig (the latter adds act kwargs)
                act = QuantizeTensorToInt8Kwargs(PerRow(), MappingType.SYMMETRIC) if scheme == INT8_DYNAMIC else None
                tensor = Int8Tensor.from_hp(weight, PerRow(), act_quant_kwargs=act)
            return {
                "_weight_qdata": tensor.qdata,
                "_weight_scale": tensor.scale,
                "_weight_zero_point": tensor.zero_point,
            }

        return quantize

    found = []
    for scheme, group_size in ((INT8, 128), (INT8_DYNAMIC, 128), (INT4, 128), (INT4, 32)):
        config = RefTorchAoConfig(scheme=scheme, group_size=group_size)
        label = f"torchao {scheme}" + (f" g{group_size}" if scheme == INT4 else "")
        found.append((label, lambda w, c=config: RefTorchAoLinear.quantize(w, c), real(scheme, group_size)))
    return found


if __name__ == "__main__":
    run("torchao", cases(), parse_args(__doc__), packages=("torchao", "mslk-cuda"))
