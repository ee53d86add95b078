"""Time the BitNet twin against transformers' own BitNet code quantizing one weight.

transformers never writes BitNet weights; its ternarization is ``WeightQuant`` (``torch.compile``-
decorated) and its packing ``pack_weights``. The real side is ``qconform.backends.bitnet.BitNetCodec``
(``WeightQuant`` eager, then ``pack_weights``) and, as transformers runs it by default, the same with
``WeightQuant`` compiled (timed after its compilation in the warm-up). The harness is
``bench_torchao.run``.

    python gpu/bench_bitnet.py                          # 4096 x 4096 on CUDA
    python gpu/bench_bitnet.py --size 256 --device cpu  # a quick check of the script itself

Prints a table; writes ``$OUT/bench_bitnet.json``.
"""

from __future__ import annotations

import torch
from bench_torchao import Case, parse_args, run


def compiled_codec(weight: torch.Tensor) -> dict[str, torch.Tensor]:
    """BitNetCodec's steps with WeightQuant compiled, as transformers decorates it."""
    from transformers.integrations.bitnet import WeightQuant, pack_weights

    with torch.no_grad():
        ternary = torch.sign(WeightQuant.apply(weight)).to(torch.int8)
    scale = 1.0 / weight.float().abs().mean().clamp_(min=1e-5)
    return {"weight": pack_weights(ternary), "weight_scale": scale.reshape(1).to(weight.dtype)}


def cases() -> list[Case]:
    from transformers import BitNetQuantConfig

    from qconform.backends.bitnet import BitNetCodec
    from reference_quantizers.bitnet import RefBitNetConfig, RefBitNetLinear

    twin = RefBitNetConfig()
    return [
        (
            "bitnet (real eager)",
            lambda w: RefBitNetLinear.quantize(w, twin),
            lambda w: BitNetCodec().quantize(w, BitNetQuantConfig()),
        ),
        ("bitnet (real, WeightQuant compiled)", lambda w: RefBitNetLinear.quantize(w, twin), compiled_codec),
    ]


if __name__ == "__main__":
    run("bitnet", cases(), parse_args(__doc__))
