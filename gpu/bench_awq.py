"""Time the AWQ twin against AutoAWQ and gptqmodel on one layer: 4096 x 4096, 128 rows of 512 tokens.

AutoAWQ's default calibration is 128 samples of up to 512 tokens; the same activations (bfloat16,
per-channel scales log-normal) go to both. Timed (torch.cuda.synchronize, median of repeats after a
warm-up):

- scale search over the 20-point grid for one Linear: the twin's ``search_scales`` against AutoAWQ's
  ``_compute_best_scale`` (module2inspect = the Linear, as AutoAWQ does for single-Linear groups; on a GPU
  its state-dict snapshot is a copy, so the search is the real one);
- round to nearest + packing: the twin's ``quantize_gemm`` against AutoAWQ's ``pseudo_quantize_tensor`` +
  ``WQLinear_GEMM.from_linear`` (a Python loop over input columns) and gptqmodel's ``pack_awq``;
- dequantization: the twin's against AutoAWQ's and gptqmodel's ``dequantize_gemm``.

Agreement (same scales chosen, bit-exact packed tensors) is reported per row. AutoAWQ is archived
upstream; carry it as ``autoawq==0.2.9`` installed with ``--no-deps``.

    python gpu/bench_awq.py
    python gpu/bench_awq.py --size 256 --tokens 64 --rows 4 --device cpu --repeats 1   # a quick check

Writes ``$OUT/bench_awq.json``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import traceback
from pathlib import Path
from typing import Any

import torch
from bench_torchao import timed


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--rows", type=int, default=128)
    parser.add_argument("--group-size", type=int, default=128)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float16", help="AutoAWQ quantizes float16 models")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    return parser.parse_args()


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return sorted(a) == sorted(b) and all(torch.equal(a[k].cpu(), b[k].cpu()) for k in a)


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version(), "torch": torch.__version__}
    for package in ("transformers", "gptqmodel", "autoawq"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    return found


def main() -> None:
    from reference_quantizers.formats import awq as A

    args = parse_args()
    dtype = getattr(torch, args.dtype)
    out = Path(os.environ.get("OUT", ".")) / "bench_awq.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        **{k: getattr(args, k) for k in ("size", "tokens", "rows", "group_size", "dtype", "device")},
        "device_name": torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor(),
        "versions": versions(),
        "rows_out": [],
    }

    def record(row: dict[str, Any]) -> None:
        result["rows_out"].append(row)
        out.write_text(json.dumps(result, indent=2))
        notes = {k: v for k, v in row.items() if k not in ("case", "twin_s")}
        print(f"{row['case']:<28} twin {row['twin_s'] * 1e3:9.1f} ms  {notes}", flush=True)

    generator = torch.Generator(device=args.device).manual_seed(0)
    channel = torch.exp(0.5 * torch.randn(args.size, generator=generator, device=args.device))
    x = (torch.randn(args.rows * args.tokens, args.size, generator=generator, device=args.device) * channel).to(dtype)
    linear = torch.nn.Linear(args.size, args.size, bias=False, device=args.device, dtype=dtype)
    linear.weight.data = (torch.randn(args.size, args.size, generator=generator, device=args.device) * 0.02).to(dtype)
    group = args.group_size

    # 1. scale search
    row: dict[str, Any] = {"case": "scale search (n_grid 20)"}
    row["twin_s"], (scales, ratio) = timed(
        lambda: A.search_scales(x, [linear.weight], group), args.device, args.warmup, args.repeats
    )
    row["ratio"] = ratio
    try:
        from awq.quantize.quantizer import AwqQuantizer

        awq = object.__new__(AwqQuantizer)  # set what the search reads; no model or dataset needed
        awq.__dict__.update(w_bit=4, group_size=group, zero_point=True, duo_scaling=False)
        awq.__dict__.update(max_chunk_memory=1 << 30, n_parallel_calib_samples=None)
        w_mean = torch.zeros(args.size, device=args.device)  # unused without duo_scaling
        x_mean = x.abs().float().mean(0).to(dtype)

        def theirs() -> torch.Tensor:
            with torch.no_grad():
                return awq._compute_best_scale(x, w_mean, x_mean, linear, [linear], linear(x), {})

        row["autoawq_s"], expected = timed(theirs, args.device, args.warmup, args.repeats)
        row["ratio_vs_autoawq"] = row["twin_s"] / row["autoawq_s"]
        row["scales_max_rel_diff"] = float(
            ((scales.cpu() - expected.cpu().float()).abs() / expected.cpu().float()).max()
        )
    except Exception as exc:
        row["autoawq_error"] = f"{type(exc).__name__}: {exc}"[:400]
        traceback.print_exc()
    record(row)

    # 2. round to nearest + packing
    weight = linear.weight.detach()
    row = {"case": "quantize + pack (GEMM)"}
    row["twin_s"], stored = timed(lambda: A.quantize_gemm(weight, group), args.device, args.warmup, args.repeats)
    try:
        from types import SimpleNamespace

        from awq.modules.linear.gemm import WQLinear_GEMM
        from awq.quantize.quantizer import AwqQuantizer

        def autoawq() -> dict[str, torch.Tensor]:
            settings = SimpleNamespace(group_size=group, zero_point=True, w_bit=4)
            values, s, z = AwqQuantizer.pseudo_quantize_tensor(settings, weight.clone())
            holder = torch.nn.Linear(args.size, args.size, bias=False, device=args.device, dtype=dtype)
            holder.weight.data = values
            packed = WQLinear_GEMM.from_linear(holder, 4, group, scales=s.t().contiguous(), zeros=z.t().contiguous())
            return {k: getattr(packed, k) for k in ("qweight", "qzeros", "scales")}

        row["autoawq_s"], theirs_stored = timed(autoawq, args.device, 0, 1)
        row["ratio_vs_autoawq"] = row["twin_s"] / row["autoawq_s"]
        row["bit_exact_autoawq"] = same(stored, theirs_stored)
    except Exception as exc:
        row["autoawq_error"] = f"{type(exc).__name__}: {exc}"[:400]
    try:
        from gptqmodel.quantization.awq.utils.packing_utils import pack_awq

        _, codes, s, z = A.pseudo_quantize(weight, group)

        def gptqmodel_pack() -> dict[str, torch.Tensor]:
            qweight, qzeros = pack_awq(codes.T.contiguous(), z.to(torch.int32).T.contiguous(), 4)
            return {"qweight": qweight, "qzeros": qzeros}

        twin_pack_s, ours = timed(lambda: A.pack_gemm(codes, s, z), args.device, args.warmup, args.repeats)
        row["twin_pack_only_s"] = twin_pack_s
        row["gptqmodel_pack_s"], packed = timed(gptqmodel_pack, args.device, args.warmup, args.repeats)
        row["bit_exact_gptqmodel_pack"] = same({k: ours[k] for k in packed}, packed)
    except Exception as exc:
        row["gptqmodel_error"] = f"{type(exc).__name__}: {exc}"[:400]
    record(row)

    # 3. dequantization
    row = {"case": "dequantize"}
    row["twin_s"], ours = timed(lambda: A.dequantize_gemm(stored, group), args.device, args.warmup, args.repeats)
    for name, module in (
        ("autoawq", "awq.utils.packing_utils"),
        ("gptqmodel", "gptqmodel.quantization.awq.utils.packing_utils"),
    ):
        try:
            dequantize = importlib.import_module(module).dequantize_gemm
            row[f"{name}_s"], theirs = timed(
                lambda f=dequantize: f(stored["qweight"], stored["qzeros"], stored["scales"], 4, group),
                args.device,
                args.warmup,
                args.repeats,
            )
            row[f"bit_exact_{name}"] = bool(torch.equal(theirs.T.cpu(), ours.cpu()))
        except Exception as exc:
            row[f"{name}_error"] = f"{type(exc).__name__}: {exc}"[:400]
    record(row)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
