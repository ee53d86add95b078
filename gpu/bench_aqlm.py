"""Time the AQLM twin on one weight: its learner, its dequantization against aqlm's, and a
forward against aqlm's ``QuantizedLinear`` kernels.

aqlm has no quantizer to time against (its learner, beam search and fine-tuning, lives in the AQLM research
code, not in the package), so the learner row is the twin's alone (greedy residual k-means, 10 Lloyd
iterations per codebook). Dequantization: the twin's ``dequantize`` against ``aqlm.utils._dequantize_weight``
(bit-exactness reported). Forward: ``QuantizedLinear`` picks its kernel by device and codebook shape (on
CUDA: its C++/CUDA extension for 1x16 and 2x8 groups of 8, which it compiles at import with nvcc, else
Triton); the twin dequantizes and multiplies. A kernel that fails to build or run is reported as such.

    python gpu/bench_aqlm.py                          # 4096 x 4096 bfloat16 on CUDA (float16 for forwards)
    python gpu/bench_aqlm.py --size 256 --device cpu  # a quick check of the script itself

Prints a table; writes ``$OUT/bench_aqlm.json``.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
from pathlib import Path
from typing import Any

import torch
from bench_torchao import parse_args, same_bits, timed

SCHEMES = ((2, 8, 8), (1, 16, 8), (2, 6, 8))  # (num_codebooks, nbits, in_group_size), out_group_size 1


def bench_scheme(weight: torch.Tensor, scheme: tuple[int, int, int], args: Any) -> list[dict[str, Any]]:
    from reference_quantizers.formats import additive_codebooks as ac

    num_codebooks, nbits, in_group = scheme
    label = f"{num_codebooks}x{nbits} g{in_group}"
    rows: list[dict[str, Any]] = []
    seconds, stored = timed(lambda: ac.quantize(weight, num_codebooks, nbits, in_group, 1), args.device, 1, 3)
    again = ac.quantize(weight, num_codebooks, nbits, in_group, 1)
    approx = ac.dequantize(**stored)
    rel = float((approx.float() - weight.float()).norm() / weight.float().norm())
    rows.append(
        {"case": f"learn {label}", "twin_s": seconds, "deterministic": same_bits(stored, again), "rel_error": rel}
    )

    row: dict[str, Any] = {"case": f"dequantize {label}"}
    row["twin_s"], ours = timed(lambda: {"w": ac.dequantize(**stored)}, args.device, args.warmup, args.repeats)
    try:
        from aqlm.utils import _dequantize_weight, unpack_int_data

        def theirs() -> dict[str, torch.Tensor]:
            codes = unpack_int_data(stored["codes"], nbits)
            return {"w": _dequantize_weight(codes, stored["codebooks"], stored["scales"])}

        row["real_s"], real = timed(theirs, args.device, args.warmup, args.repeats)
        row["ratio"], row["bit_exact"] = row["twin_s"] / row["real_s"], same_bits(real, ours)
    except Exception as exc:
        row["real_note"] = f"{type(exc).__name__}: {exc}"[:300]
    rows.append(row)

    half = torch.float16 if args.device.startswith("cuda") else torch.float32  # aqlm's CPU kernel: float32 only
    stored_half = {k: v.to(half) if v.is_floating_point() else v for k, v in stored.items()}
    for tokens in (1, 16):
        x = torch.randn(tokens, weight.shape[1], device=args.device, dtype=half)
        row = {"case": f"forward {label} x{tokens} tokens"}

        def twin_forward(x: torch.Tensor = x) -> dict[str, torch.Tensor]:
            return {"y": torch.nn.functional.linear(x, ac.dequantize(**stored_half))}

        row["twin_s"], ours = timed(twin_forward, args.device, args.warmup, args.repeats)
        try:
            from aqlm import QuantizedLinear

            out_features, in_features = weight.shape
            layer = QuantizedLinear(in_features, out_features, in_group, 1, num_codebooks, nbits, bias=False)
            layer = layer.to(device=args.device, dtype=half)
            for name, tensor in stored_half.items():
                setattr(layer, name, torch.nn.Parameter(tensor.clone(), requires_grad=False))
            with torch.no_grad():
                row["real_s"], real = timed(lambda x=x, f=layer: {"y": f(x)}, args.device, args.warmup, args.repeats)
            row["ratio"] = row["twin_s"] / row["real_s"]
            row["rel_diff"] = float((real["y"].float() - ours["y"].float()).norm() / ours["y"].float().norm())
        except Exception as exc:
            row["real_note"] = f"{type(exc).__name__}: {exc}"[:300]
        rows.append(row)
    return rows


def main() -> None:
    import transformers

    args = parse_args(__doc__)
    dtype = getattr(torch, args.dtype)
    weight = (torch.randn(args.size, args.size, generator=torch.Generator().manual_seed(0)) * 0.02).to(dtype)
    weight = weight.to(args.device)
    rows = []
    print(f"{'case':<36} {'twin':>12} {'real':>12} {'ratio':>7}  notes")
    for scheme in SCHEMES:
        for row in bench_scheme(weight, scheme, args):
            rows.append(row)
            real = f"{row['real_s'] * 1e3:9.3f} ms" if "real_s" in row else "           -"
            ratio = f"{row['ratio']:7.2f}" if "ratio" in row else "      -"
            notes = {k: v for k, v in row.items() if k not in ("case", "twin_s", "real_s", "ratio")}
            print(f"{row['case']:<36} {row['twin_s'] * 1e3:9.3f} ms {real} {ratio}  {notes}", flush=True)
    versions = {"python": platform.python_version(), "torch": torch.__version__}
    versions["transformers"] = transformers.__version__
    for package in ("aqlm", "triton", "numba"):
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
    out = Path(os.environ.get("OUT", ".")) / "bench_aqlm.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
