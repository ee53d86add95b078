"""Time the GPTQ twin against gptqmodel on one layer: 4096 x 4096, 128 rows of 2048 tokens.

For each configuration both implementations get the same weight and the same calibration activations
(128 batches of (1, 2048, 4096), per-channel scales log-normal, bfloat16 on the device). Timed, with
torch.cuda.synchronize, median of repeats after a warm-up:

- twin: Hessian (``numerics.gptq.hessian``), GPTQ (``numerics.gptq.quantize``), packing (``pack_gptq``), total;
- gptqmodel: ``GPTQ.add_batch`` for every batch, ``hf_quantize``, and its packer (``TorchLinear.pack``, on
  the CPU as optimum does). gptqmodel runs twice: with its eager column loop
  (``GPTQMODEL_DISABLE_GPTQ_CUDA=1``, the twin's algorithm op for op) and with its fused CUDA block update,
  a JIT extension that needs nvcc (reported as unavailable if it does not build).

Agreement is reported per configuration: how many codes differ from gptqmodel's, and whether scales,
zeros and g_idx are equal. The JSON is rewritten after every row, so a run cut short keeps what it measured.

    python gpu/bench_gptq.py                                   # 4096 x 4096 on CUDA
    python gpu/bench_gptq.py --size 256 --tokens 64 --rows 8 --device cpu --repeats 1   # a quick check

Writes ``$OUT/bench_gptq.json``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import statistics
import time
import traceback
from pathlib import Path
from typing import Any

import torch
from bench_torchao import timed

CONFIGS = (
    {"bits": 4, "group_size": 128, "sym": True, "desc_act": False, "act_group_aware": True},  # GPTQConfig(bits=4)
    {"bits": 4, "group_size": 128, "sym": False, "desc_act": True, "act_group_aware": False},
    {"bits": 3, "group_size": -1, "sym": True, "desc_act": False, "act_group_aware": False},
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--tokens", type=int, default=2048, help="tokens per calibration row")
    parser.add_argument("--rows", type=int, default=128, help="calibration rows (batches of one sequence)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--with-eager", action="store_true", help="also time gptqmodel without its CUDA block update")
    return parser.parse_args()


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def calibration(args: argparse.Namespace, dtype: torch.dtype) -> list[torch.Tensor]:
    generator = torch.Generator(device=args.device).manual_seed(0)
    scale = torch.exp(0.5 * torch.randn(args.size, generator=generator, device=args.device))
    return [
        (torch.randn(1, args.tokens, args.size, generator=generator, device=args.device) * scale).to(dtype)
        for _ in range(args.rows)
    ]


def twin_rows(weight: torch.Tensor, inputs: list[torch.Tensor], config: dict, args: argparse.Namespace) -> tuple:
    from reference_quantizers.formats import gptq as G
    from reference_quantizers.gptq import RefGptqConfig

    params = RefGptqConfig(**config).gptq_params()
    row: dict[str, Any] = {}
    row["hessian_s"], h = timed(lambda: G.hessian(inputs, args.size), args.device, args.warmup, args.repeats)
    row["gptq_s"], result = timed(lambda: G.quantize(weight, h, params), args.device, args.warmup, args.repeats)
    row["pack_s"], stored = timed(
        lambda: G.pack_gptq(result, config["bits"], "gptq"), args.device, args.warmup, args.repeats
    )

    def total() -> dict[str, torch.Tensor]:
        return G.pack_gptq(G.quantize(weight, G.hessian(inputs, args.size), params), config["bits"], "gptq")

    row["total_s"], _ = timed(total, args.device, 0, args.repeats)
    row["damp"] = result.damp
    return row, result, stored


def gptqmodel_run(weight: torch.Tensor, inputs: list[torch.Tensor], config: dict, args: argparse.Namespace) -> tuple:
    """gptqmodel's GPTQ as optimum drives it; returns (row, Q, scale, zero, g_idx, packed tensors)."""
    from gptqmodel.quantization.gptq import GPTQ

    from qconform.backends.gptq import _qcfg, _torch_linear

    real = _real_config(config)
    row: dict[str, Any] = {}
    last: dict[str, Any] = {}

    def calibrate_and_quantize() -> None:
        linear = torch.nn.Linear(args.size, args.size, bias=False, device=args.device, dtype=weight.dtype)
        linear.weight.data = weight.clone()
        gptq = GPTQ(linear, qcfg=_qcfg(real))
        gptq.quantizer.configure(bits=real.bits, sym=real.sym, perchannel=True)
        sync(args.device)
        start = time.perf_counter()
        for batch in inputs:
            gptq.add_batch(batch, None)
        # hf_quantize finalises the Hessian itself: an explicit finalize_hessian() placed it on the CPU on the
        # H100 (torch.equal across devices, RuntimeError), which the suite's codec never hit
        sync(args.device)
        middle = time.perf_counter()
        scale, zero, g_idx, *_ = gptq.hf_quantize(
            percdamp=real.damp_percent, group_size=real.group_size, actorder=real.desc_act
        )
        sync(args.device)
        last.update(linear=linear, scale=scale, zero=zero, g_idx=g_idx, hessian=middle - start)
        last["gptq"] = time.perf_counter() - middle

    hessian, gptq_times = [], []
    for index in range(args.warmup + args.repeats):
        calibrate_and_quantize()
        if index >= args.warmup:
            hessian.append(last["hessian"])
            gptq_times.append(last["gptq"])
    row["hessian_s"], row["gptq_s"] = statistics.median(hessian), statistics.median(gptq_times)

    def pack() -> dict[str, torch.Tensor]:
        module = _torch_linear(real, (args.size, args.size))
        module.pack(last["linear"].cpu(), last["scale"].cpu(), last["zero"].cpu(), last["g_idx"].cpu())
        return {name: getattr(module, name) for name in ("qweight", "qzeros", "scales", "g_idx")}

    row["pack_s"], packed = timed(pack, args.device, 1, 1)  # the warm-up builds its CPU extension, if it can
    row["total_s"] = row["hessian_s"] + row["gptq_s"] + row["pack_s"]
    return row, last, packed


def _real_config(config: dict) -> Any:
    from transformers import GPTQConfig

    return GPTQConfig(**config)


def agreement(result: Any, last: dict, packed: dict[str, torch.Tensor], config: dict) -> dict[str, Any]:
    from reference_quantizers.formats import gptq as G

    twin_v2 = G.pack_gptq(result, config["bits"], "gptq_v2")
    codes_twin = G.unpack_gptq({k: v.cpu() for k, v in twin_v2.items()}, config["bits"], "gptq_v2")[0]
    codes_real = G.unpack_gptq(packed, config["bits"], "gptq_v2")[0]
    return {
        "values_equal": bool(
            torch.equal(result.values.to(last["linear"].weight.dtype).cpu(), last["linear"].weight.cpu())
        ),
        "codes_differing": int((codes_twin != codes_real).sum()),
        "codes_total": codes_twin.numel(),
        "scales_equal": bool(torch.equal(result.scales.cpu(), last["scale"].T.float().cpu())),
        "zeros_equal": bool(torch.equal(result.zeros.cpu(), last["zero"].T.float().cpu())),
        "g_idx_equal": bool(torch.equal(result.g_idx.cpu(), last["g_idx"].cpu())),
        "packed_equal": all(torch.equal(twin_v2[k].cpu(), packed[k].cpu()) for k in packed),
    }


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version(), "torch": torch.__version__}
    for package in ("transformers", "gptqmodel", "optimum"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    return found


def main() -> None:
    args = parse_args()
    dtype = getattr(torch, args.dtype)
    out = Path(os.environ.get("OUT", ".")) / "bench_gptq.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "size": args.size,
        "tokens": args.tokens,
        "rows": args.rows,
        "dtype": args.dtype,
        "device": args.device,
        "device_name": torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor(),
        "warmup": args.warmup,
        "repeats": args.repeats,
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "versions": versions(),
        "rows_out": [],
    }

    def write() -> None:
        out.write_text(json.dumps(result, indent=2))

    weight = (torch.randn(args.size, args.size, generator=torch.Generator().manual_seed(1)) * 0.02).to(dtype)
    weight = weight.to(args.device)
    inputs = calibration(args, dtype)
    print(f"{'config':<44} {'impl':<18} {'hessian':>10} {'gptq':>10} {'pack':>10} {'total':>10}  notes")
    modes = [("gptqmodel fused", "0")] + ([("gptqmodel eager", "1")] if args.with_eager else [])
    for config in CONFIGS:
        label = ",".join(f"{k}={v}" for k, v in config.items() if k != "act_group_aware") + (
            ",gar" if config["act_group_aware"] else ""
        )
        row, twin_result, _ = twin_rows(weight, inputs, config, args)
        entries = [{"config": config, "impl": "twin", **row}]
        for impl, disable in modes:
            os.environ["GPTQMODEL_DISABLE_GPTQ_CUDA"] = disable
            try:
                real_row, last, packed = gptqmodel_run(weight, inputs, config, args)
                entries.append(
                    {"config": config, "impl": impl, **real_row, **agreement(twin_result, last, packed, config)}
                )
            except Exception as exc:
                entries.append({"config": config, "impl": impl, "error": f"{type(exc).__name__}: {exc}"[:400]})
                traceback.print_exc()
            if impl == "gptqmodel fused" and "error" not in entries[-1]:
                from gptqmodel.quantization.gptq_cuda import block_update_available

                entries[-1]["fused_kernel_built"] = bool(args.device.startswith("cuda") and block_update_available())
        for entry in entries:
            result["rows_out"].append(entry)
            write()
            times = " ".join(
                f"{entry[k] * 1e3:8.1f}ms" if k in entry else f"{'-':>10}"
                for k in ("hessian_s", "gptq_s", "pack_s", "total_s")
            )
            notes = {k: v for k, v in entry.items() if k not in ("config", "impl") and not k.endswith("_s")}
            print(f"{label:<44} {entry['impl']:<18} {times}  {notes}", flush=True)
    write()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
