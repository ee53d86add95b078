"""Time the FP8 twin against transformers' FineGrainedFP8 quantizing one weight.

Weights: the twin's ``quantize`` against transformers' ``Fp8Quantize`` (what loading with
``FineGrainedFP8Config`` runs on a GPU), float32 and UE8M0 scales, 128x128 blocks. Activations: the
twin's per-token, per-128-channel quantization of a (4096 tokens x size) bfloat16 activation against
the finegrained-fp8 kernel's ``fp8_act_quant`` where the ``kernels`` package can load it (it comes from
a hub; offline, the row says why). The harness is ``bench_torchao.run``.

    python gpu/bench_fp8.py                          # 4096 x 4096 on CUDA
    python gpu/bench_fp8.py --size 256 --device cpu  # a quick check of the script itself

Prints a table; writes ``$OUT/bench_fp8.json``.
"""

from __future__ import annotations

import os

import torch
from bench_torchao import Case, parse_args, run

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the GPU machine has no network: use a cached kernel or none


def activation_cases() -> list[Case]:
    """Both sides quantize ``weight`` viewed as activations (one token per row)."""
    from reference_quantizers.formats import fp8

    def twin(x: torch.Tensor) -> dict[str, torch.Tensor]:
        q, scale = fp8.quantize_activations_per_token_group(x, 128)
        return {"q": q, "scale": scale}

    def real(x: torch.Tensor) -> dict[str, torch.Tensor]:
        from transformers.integrations.hub_kernels import lazy_load_kernel

        kernel = lazy_load_kernel("finegrained-fp8")
        if kernel is None or not hasattr(kernel, "fp8_act_quant"):
            raise ImportError("the finegrained-fp8 kernel (with fp8_act_quant) could not be loaded")
        q, scale = kernel.fp8_act_quant(x.contiguous(), 128)
        return {"q": q, "scale": scale}

    return [("fp8 activations per token x 128", twin, real)]


def cases() -> list[Case]:
    from transformers import FineGrainedFP8Config

    from qconform.backends.fp8 import FineGrainedFp8Codec
    from reference_quantizers.fp8 import RefFp8Config, RefFp8Linear

    found = []
    for fmt in ("float", "ue8m0"):
        real_config = FineGrainedFP8Config(weight_block_size=(128, 128), scale_fmt=fmt)
        twin_config = RefFp8Config.from_real(real_config)
        found.append(
            (
                f"fp8 weight 128x128 scale {fmt}",
                lambda w, c=twin_config: RefFp8Linear.quantize(w, c),
                lambda w, c=real_config: FineGrainedFp8Codec().quantize(w, c),
            )
        )
    return found + activation_cases()


if __name__ == "__main__":
    run("fp8", cases(), parse_args(__doc__))
