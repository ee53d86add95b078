"""How each codec's stored tensors on CUDA differ from the CPU's, and from its twin's on CUDA.

The suite's cross-device check says whether they differ; this probe says how, on larger weights, so that
each spec can declare what it promises across devices with measured figures: per stored tensor the
count of differing elements and the largest difference; the fraction of dequantized elements that
differ and the distance between the two dequantized weights; each side's error against the weight.
For 8-bit row formats it also reports how far ``weight / scale`` sits from a rounding boundary where the
codes differ (a tie decided differently by two float paths shows as a distance near 0).

    python gpu/probe_cross_device.py [KEY ...]   # CUDA machine; writes $OUT/probe_cross_device-KEY....json
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qconform.discovery.targets import discover
from qconform.support.codec import load_codec
from qconform.support.metrics import compare_stored, rel_frobenius

DEVICE = os.environ.get("PROBE_DEVICE", "cuda")  # cpu: a dry run of the script itself
SIZE = int(os.environ.get("PROBE_SIZE", "1024"))
KEYS = (
    "bitsandbytes_4bit",
    "bitsandbytes_8bit",
    "compressed-tensors",
    "torchao",
    "bitnet",
    "quanto",
    "hqq",
    "gptq",
    "awq",
    "aqlm",
    "fp8",
    "eetq",
)


def configs(key: str, spec: Any) -> list[Any]:
    """The default config, and for bitsandbytes 4-bit each quant type with and without nested absmax."""
    default = spec.inputs.default_config()
    if key.endswith("bitsandbytes_4bit"):
        cls = type(default)
        return [
            cls(load_in_4bit=True, bnb_4bit_quant_type=t, bnb_4bit_use_double_quant=dq)
            for t in ("nf4", "fp4")
            for dq in (False, True)
        ]
    return [default]


def dequantized_gap(a: torch.Tensor, b: torch.Tensor) -> dict[str, float]:
    a64, b64 = a.double().cpu(), b.double().cpu()
    differ = ~((a64 == b64) | (a64.isnan() & b64.isnan()))
    return {"dequantized_differ_fraction": differ.float().mean().item(), "dequantized_rel_gap": rel_frobenius(a64, b64)}


def tie_distance(weight: torch.Tensor, cpu: dict[str, torch.Tensor], cuda: dict[str, torch.Tensor]) -> dict[str, Any]:
    """For int8 codes of the weight's shape with one scale per row: where the codes differ, how far
    ``weight / step`` is from the nearest .5 (under the step convention that reproduces the CPU codes best)."""
    w = weight.double().cpu()
    codes = [n for n, t in cpu.items() if t.dtype == torch.int8 and tuple(t.shape) == tuple(w.shape)]
    scales = [n for n, t in cpu.items() if t.dtype.is_floating_point and t.numel() == w.shape[0]]
    if not codes or not scales:
        return {}
    c_cpu, c_cuda = cpu[codes[0]].cpu().long(), cuda[codes[0]].cpu().long()
    s = cpu[scales[0]].double().cpu().reshape(-1, 1)
    best = None
    for label, step in (("w/scale", s), ("w*127/scale", s / 127)):
        t = w / torch.where(step == 0, 1.0, step)
        agree = (t.round().clamp(-128, 127).long() == c_cpu).float().mean().item()
        if best is None or agree > best[1]:
            best = (label, agree, t)
    label, agree, t = best
    differ = c_cpu != c_cuda
    frac = (t - t.floor() - 0.5).abs()
    return {
        "codes": codes[0],
        "scale": scales[0],
        "convention": label,
        "convention_reproduces_cpu_codes": agree,
        "differ": int(differ.sum()),
        "max_distance_from_tie_where_differ": float(frac[differ].max()) if differ.any() else None,
        "median_distance_from_tie_overall": float(frac.median()),
    }


def probe(targets: dict, key: str, size: int, dtype: torch.dtype) -> list[dict[str, Any]]:
    rows = []
    target = targets.get(key)
    if target is None:
        return [{"key": key, "note": "not registered"}]
    spec = target.spec
    missing = spec.missing_requirements()
    if missing:
        return [{"key": key, "note": "; ".join(missing)}]
    codec = load_codec(spec)
    twin = targets.get(spec.oracles.reference_twin) if spec.oracles.reference_twin else None
    twin_codec = load_codec(twin.spec) if twin is not None else None
    weight = (torch.randn(size, size, generator=torch.Generator().manual_seed(0)) * 0.02).to(dtype)
    for config in configs(key, spec):
        row: dict[str, Any] = {"key": key, "config": config.to_dict(), "shape": [size, size], "dtype": str(dtype)}
        try:
            reason = codec.unsupported((size, size), dtype, config, DEVICE)
            if reason:
                row["note"] = reason
                rows.append(row)
                continue
            cpu = codec.quantize(weight, config)
            cuda = codec.quantize(weight.to(DEVICE), config)
            cuda_cpu = {k: v.cpu() for k, v in cuda.items()}
            row["stored_cpu_vs_cuda"] = [m.line for m in compare_stored(cpu, cuda_cpu)]
            d_cpu = codec.dequantize(cpu, config, (size, size), dtype)
            d_cuda = codec.dequantize(cuda, config, (size, size), dtype)
            row.update(dequantized_gap(d_cpu, d_cuda))
            row["rel_error_cpu"] = rel_frobenius(weight, d_cpu.cpu())
            row["rel_error_cuda"] = rel_frobenius(weight, d_cuda.cpu())
            row["ties"] = tie_distance(weight, cpu, cuda_cpu)
            if twin_codec is not None and hasattr(twin.config_class, "from_real"):
                twin_config = twin.config_class.from_real(config)
                t_cuda = twin_codec.quantize(weight.to(DEVICE), twin_config)
                t_cpu = twin_codec.quantize(weight, twin_config)
                row["twin_vs_real_on_cuda"] = [
                    m.line for m in compare_stored(cuda_cpu, {k: v.cpu() for k, v in t_cuda.items()})
                ]
                row["twin_vs_real_on_cpu"] = [m.line for m in compare_stored(cpu, t_cpu)]
                td = twin_codec.dequantize(t_cuda, twin_config, (size, size), dtype)
                row["twin_vs_real_on_cuda_dequantized"] = dequantized_gap(d_cuda, td)
                row["twin_cpu_vs_cuda"] = [
                    m.line for m in compare_stored(t_cpu, {k: v.cpu() for k, v in t_cuda.items()})
                ]
                row["twin_ties"] = tie_distance(weight, t_cpu, {k: v.cpu() for k, v in t_cuda.items()})
        except Exception as exc:  # a backend failing here is a finding
            row["error"] = f"{type(exc).__name__}: {exc}"[:400]
            row["trace"] = traceback.format_exc()[-1500:]
        print(json.dumps(row)[:1500], flush=True)
        rows.append(row)
    return rows


def main(keys: list[str]) -> None:
    targets = discover().targets
    rows = []
    for key in keys:
        for size, dtype in ((SIZE, torch.bfloat16), (SIZE, torch.float32)):
            rows += probe(targets, key, size, dtype)
    out = Path(os.environ.get("OUT", ".")) / f"probe_cross_device-{'-'.join(keys)}.json"
    out.write_text(
        json.dumps({"device": torch.cuda.get_device_name() if DEVICE == "cuda" else DEVICE, "rows": rows}, indent=1)
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:] or list(KEYS))
