"""Time the bitsandbytes twins against bitsandbytes quantizing one weight, and measure where
their stored tensors differ (the evidence for the CUDA known deviations).

4-bit (block size 64, as transformers uses): the twin's ``RefBnb4bitLinear.quantize`` (every checkpoint
tensor, JSON quant state included) against bitsandbytes' ``quantize_4bit`` followed by
``QuantState.as_dict(packed=True)`` (what ``Params4bit`` + ``Linear4bit._save_to_state_dict`` do), and
against ``quantize_4bit`` alone. 8-bit: ``RefBnb8bitLinear.quantize`` against ``Int8Params``' steps (float16
copy, ``int8_vectorwise_quant``). Median of the repeats after warm-up, the device synchronised around each
call (harness: ``bench_torchao.timed``). The ratio twin / bitsandbytes is the figure to watch (round 1 bounded it at 3).

    python gpu/bench_bitsandbytes.py                          # 4096 x 4096 bfloat16 on CUDA
    python gpu/bench_bitsandbytes.py --size 256 --device cpu  # a quick check of the script itself

Prints a table; writes ``$OUT/bench_bitsandbytes.json``.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from bench_torchao import parse_args, same_bits, timed

BLOCKSIZE = 64
FOUR_BIT = (("nf4", False), ("fp4", False), ("nf4", True), ("fp4", True))


def real_4bit(quant_type: str, double: bool, with_state: bool = True) -> Callable[[torch.Tensor], dict]:
    import bitsandbytes.functional as F

    def quantize(weight: torch.Tensor) -> dict[str, torch.Tensor]:
        packed, state = F.quantize_4bit(weight, blocksize=BLOCKSIZE, compress_statistics=double, quant_type=quant_type)
        if not with_state:
            return {"weight": packed}
        return {"weight": packed, **{f"weight.{k}": v for k, v in state.as_dict(packed=True).items()}}

    return quantize


def real_8bit(weight: torch.Tensor) -> dict[str, torch.Tensor]:
    import bitsandbytes.functional as F

    quantized, scb, _ = F.int8_vectorwise_quant(weight.to(torch.float16))
    return {"weight": quantized, "SCB": scb, "weight_format": torch.zeros((), dtype=torch.uint8, device=weight.device)}


def differences_4bit(real: dict[str, torch.Tensor], twin: dict[str, torch.Tensor], count: int, quant_type: str) -> dict:
    """Where bitsandbytes and the twin picked other 4-bit or nested indices (see fmt.CUDA_DIFFERENCES)."""
    from reference_quantizers.formats import bnb_4bit as fmt

    real_idx, twin_idx = fmt.unpack_nibbles(real["weight"], count), fmt.unpack_nibbles(twin["weight"], count)
    order = torch.tensor(fmt.FP4_RANK if quant_type == "fp4" else range(16), device=real_idx.device)
    rank = torch.argsort(order)
    step = (rank[real_idx] - rank[twin_idx]).abs()
    zero_sign = ((real_idx == 0) & (twin_idx == 8)) | ((real_idx == 8) & (twin_idx == 0))
    found = {
        "indices_differ": int((real_idx != twin_idx).sum()),
        "indices_zero_sign": int(zero_sign.sum()),
        "indices_max_step": int(step.max()),
        "indices": count,
        "absmax_equal": same_bits({"a": real["weight.absmax"]}, {"a": twin["weight.absmax"]}),
    }
    if "weight.nested_absmax" in real:
        nested = (real["weight.absmax"].long() - twin["weight.absmax"].long()).abs()
        found.update(
            nested_differ=int((nested > 0).sum()),
            nested_max_step=int(nested.max()),
            nested_absmax_equal=same_bits({"a": real["weight.nested_absmax"]}, {"a": twin["weight.nested_absmax"]}),
            quant_state_equal=same_bits(
                {"a": real[f"weight.quant_state.bitsandbytes__{quant_type}"]},
                {"a": twin[f"weight.quant_state.bitsandbytes__{quant_type}"]},
            ),
        )
    return found


def differences_8bit(real: dict[str, torch.Tensor], twin: dict[str, torch.Tensor]) -> dict:
    step = (real["weight"].int() - twin["weight"].int()).abs()
    return {
        "int8_differ": int((step > 0).sum()),
        "int8_max_step": int(step.max()),
        "values": step.numel(),
        "SCB_equal": same_bits({"a": real["SCB"]}, {"a": twin["SCB"]}),
    }


def main() -> None:
    import bitsandbytes  # noqa: F401  (fails early, with bitsandbytes' own message, if it does not load)
    import transformers

    from reference_quantizers.bnb_4bit import RefBnb4bitConfig, RefBnb4bitLinear
    from reference_quantizers.bnb_8bit import RefBnb8bitConfig, RefBnb8bitLinear

    args = parse_args(__doc__)
    dtype = getattr(torch, args.dtype)
    weight = torch.randn(args.size, args.size, generator=torch.Generator().manual_seed(0)).to(dtype).to(args.device)
    rows: list[dict[str, Any]] = []
    print(f"{'case':<12} {'twin':>12} {'bnb+state':>12} {'ratio':>7} {'bnb kernel':>12} {'ratio':>7}  bit-exact")

    def bench(label: str, twin: Callable, real: Callable, kernel: Callable | None) -> dict[str, Any]:
        row: dict[str, Any] = {"case": label}
        row["twin_s"], twin_stored = timed(lambda: twin(weight), args.device, args.warmup, args.repeats)
        row["real_s"], real_stored = timed(lambda: real(weight), args.device, args.warmup, args.repeats)
        row["ratio"] = row["twin_s"] / row["real_s"]
        if kernel is not None:
            row["real_kernel_s"], _ = timed(lambda: kernel(weight), args.device, args.warmup, args.repeats)
            row["ratio_vs_kernel"] = row["twin_s"] / row["real_kernel_s"]
        row["bit_exact"] = same_bits(real_stored, twin_stored)
        kernel_ms = f"{row['real_kernel_s'] * 1e3:9.3f} ms {row['ratio_vs_kernel']:7.2f}" if kernel else " " * 20
        print(
            f"{label:<12} {row['twin_s'] * 1e3:9.3f} ms {row['real_s'] * 1e3:9.3f} ms {row['ratio']:7.2f} "
            f"{kernel_ms}  {row['bit_exact']}",
            flush=True,
        )
        rows.append(row)
        return {"real": real_stored, "twin": twin_stored, "row": row}

    for quant_type, double in FOUR_BIT:
        config = RefBnb4bitConfig(bnb_4bit_quant_type=quant_type, bnb_4bit_use_double_quant=double)
        label = quant_type + ("+dq" if double else "")
        done = bench(
            label,
            lambda w, c=config: RefBnb4bitLinear.quantize(w, c),
            real_4bit(quant_type, double),
            real_4bit(quant_type, double, with_state=False),
        )
        done["row"]["differences"] = differences_4bit(done["real"], done["twin"], weight.numel(), quant_type)
    done = bench("int8", lambda w: RefBnb8bitLinear.quantize(w, RefBnb8bitConfig()), real_8bit, None)
    done["row"]["differences"] = differences_8bit(done["real"], done["twin"])
    for row in rows:
        print(f"  {row['case']}: {row['differences']}")

    versions = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    versions["bitsandbytes"] = importlib.metadata.version("bitsandbytes")
    result = {
        "size": args.size,
        "dtype": args.dtype,
        "device": args.device,
        "device_name": torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "warmup": args.warmup,
        "repeats": args.repeats,
        "versions": versions,
        "rows": rows,
    }
    out = Path(os.environ.get("OUT", ".")) / "bench_bitsandbytes.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
