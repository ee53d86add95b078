"""Time the quanto, hqq and eetq twins against their real backends quantizing one weight.

Each case quantizes the same ``size x size`` bfloat16 weight with the twin's codec and with the real
backend's (``qconform.backends``), after warm-up, synchronising the device around every call, and
keeps the median of the repeats. The twin/real ratio is the figure to watch (round 1 bounded it at 3). The
stored tensors of the two are also compared bit for bit on this device. EETQ has no runnable backend
(see its spec), so only the twin is timed. ``quanto freeze`` times optimum-quanto's own
``QLinear.freeze()`` (what transformers runs; it also repacks for quanto's kernels) beside the
kernel-agnostic quantization the codec uses.

    python gpu/bench_weight_only.py                        # 4096 x 4096 on CUDA
    python gpu/bench_weight_only.py --size 256 --device cpu  # a quick check of the script itself

Prints a table; writes ``$OUT/bench_weight_only.json`` (``OUT`` defaults to the current directory).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_torchao import same_bits, timed


def cases() -> list[dict[str, Any]]:
    """(label, twin codec + config, real codec + config or the reason there is none)."""
    from transformers import HqqConfig

    from qconform.backends.hqq import HqqCodec
    from qconform.backends.quanto import QuantoCodec
    from reference_quantizers.eetq import RefEetqConfig, RefEetqQuantizer
    from reference_quantizers.hqq import RefHqqConfig, RefHqqQuantizer
    from reference_quantizers.quanto import RefQuantoConfig, RefQuantoQuantizer

    found = []
    for weights in ("int8", "float8", "int4", "int2"):
        config = RefQuantoConfig(weights=weights)
        found.append(
            {
                "label": f"quanto {weights}",
                "twin": (RefQuantoQuantizer.codec(), config),
                "real": (QuantoCodec(), config),
                "freeze": weights != "float8",  # float8 freeze builds quanto's CUDA extension (Marlin)
            }
        )
    for nbits, group_size, axis in ((4, 64, 1), (3, 64, 0), (2, 32, 1), (8, 128, 1)):
        real = HqqConfig(nbits=nbits, group_size=group_size, axis=axis)
        found.append(
            {
                "label": f"hqq {nbits}-bit g{group_size} axis{axis}",
                "twin": (RefHqqQuantizer.codec(), RefHqqConfig.from_real(real)),
                "real": (HqqCodec(), real),
            }
        )
    found.append(
        {
            "label": "eetq int8",
            "twin": (RefEetqQuantizer.codec(), RefEetqConfig()),
            "real": "EETQ is fetched from the Hub by `kernels` at run time and refuses sm90+; not runnable",
        }
    )
    return found


def quanto_freeze(weight: torch.Tensor, weights: str) -> Callable[[], Any]:
    from optimum.quanto import QLinear

    qtype = {"int8": "qint8", "int4": "qint4", "int2": "qint2"}[weights]

    def run() -> Any:
        out_features, in_features = weight.shape
        layer = QLinear(in_features, out_features, bias=False, dtype=weight.dtype, device=weight.device, weights=qtype)
        layer.weight.data.copy_(weight)
        layer.freeze()
        return layer

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()

    import transformers

    dtype = getattr(torch, args.dtype)
    weight = (torch.randn(args.size, args.size, generator=torch.Generator().manual_seed(0)) * 0.02).to(dtype)
    weight = weight.to(args.device)
    rows = []
    for case in cases():
        row: dict[str, Any] = {"case": case["label"]}
        twin_codec, twin_config = case["twin"]
        row["twin_s"], twin_stored = timed(
            lambda c=twin_codec, k=twin_config: c.quantize(weight, k), args.device, args.warmup, args.repeats
        )
        if isinstance(case["real"], str):
            row["real_note"] = case["real"]
        else:
            real_codec, real_config = case["real"]
            try:
                row["real_s"], real_stored = timed(
                    lambda c=real_codec, k=real_config: c.quantize(weight, k), args.device, args.warmup, args.repeats
                )
                row["ratio"] = row["twin_s"] / row["real_s"]
                row["bit_exact"] = same_bits(real_stored, twin_stored)
            except Exception as exc:  # a backend failing on this machine is a result to report
                row["real_note"] = f"{type(exc).__name__}: {exc}"[:300]
        if case.get("freeze"):
            try:
                row["real_freeze_s"], _ = timed(
                    quanto_freeze(weight, case["label"].split()[1]), args.device, args.warmup, args.repeats
                )
                row["ratio_vs_freeze"] = row["twin_s"] / row["real_freeze_s"]
            except Exception as exc:
                row["freeze_note"] = f"{type(exc).__name__}: {exc}"[:300]
        rows.append(row)
        print(_line(row), flush=True)

    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor()
    result = {
        "size": args.size,
        "dtype": args.dtype,
        "device": args.device,
        "device_name": device_name,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            **_backend_versions(),
        },
        "rows": rows,
    }
    out = Path(os.environ.get("OUT", ".")) / "bench_weight_only.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


def _backend_versions() -> dict[str, str | None]:
    import importlib.metadata

    found = {}
    for name in ("optimum-quanto", "hqq"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def _line(row: dict[str, Any]) -> str:
    def ms(key: str) -> str:
        return f"{row[key] * 1e3:9.2f} ms" if key in row else " " * 12

    ratio = f"{row['ratio']:6.2f}x" if "ratio" in row else "   -   "
    exact = {True: "bit-exact", False: "DIFFERENT"}.get(row.get("bit_exact"), "")
    extra = f" freeze {ms('real_freeze_s').strip()} ({row['ratio_vs_freeze']:.2f}x)" if "ratio_vs_freeze" in row else ""
    note = row.get("real_note") or row.get("freeze_note")
    note = f"  [{note}]" if note else ""
    return f"{row['case']:28s} twin {ms('twin_s')}  real {ms('real_s')}  {ratio} {exact:9s}{extra}{note}"


if __name__ == "__main__":
    main()
