"""Time the compressed-tensors twin against compressed-tensors quantizing one weight.

Each case quantizes the same ``size x size`` weight with the twin (``RefCompressedTensorsLinear.quantize``:
min-max scales, quantize, pack) and with compressed-tensors' own functions as
``qconform.backends.compressed_tensors.CompressedTensorsCodec`` calls them (``calculate_qparams``, then the
format's compressor: ``quantize`` and ``pack_to_int32``). On CUDA compressed-tensors quantizes with a
Triton kernel that divides in float32; the twin divides in the weight's dtype as compressed-tensors' CPU
path does, so bit-exactness in half precision is measured here, not assumed. The harness is
``bench_torchao.run``.

    python gpu/bench_compressed_tensors.py                          # 4096 x 4096 on CUDA
    python gpu/bench_compressed_tensors.py --size 256 --device cpu  # a quick check of the script itself

Prints a table; writes ``$OUT/bench_compressed_tensors.json``.
"""

from __future__ import annotations

from bench_torchao import Case, parse_args, run

SCHEMES = {
    "W4A16 int4 group 128 (pack-quantized)": {},
    "W4 int4 group 128 asymmetric (pack-quantized)": {"symmetric": False},
    "W8A16 int8 channel (pack-quantized)": {"num_bits": 8, "strategy": "channel"},
    "W8A8 int8 channel (int-quantized)": {"num_bits": 8, "strategy": "channel", "activations": "int"},
    "FP8 channel (float-quantized)": {"num_bits": 8, "type": "float", "strategy": "channel", "activations": "float"},
    "FP8 tensor (naive-quantized)": {"num_bits": 8, "type": "float", "strategy": "tensor"},
}


def cases() -> list[Case]:
    from transformers import CompressedTensorsConfig

    from qconform.backends.compressed_tensors import CompressedTensorsCodec
    from reference_quantizers.compressed_tensors import RefCompressedTensorsConfig, RefCompressedTensorsLinear

    found = []
    for label, scheme in SCHEMES.items():
        twin = RefCompressedTensorsConfig.from_scheme(**scheme)
        real = CompressedTensorsConfig(**twin.to_compressed_tensors())
        found.append(
            (
                label,
                lambda w, c=twin: RefCompressedTensorsLinear.quantize(w, c),
                lambda w, c=real: CompressedTensorsCodec().quantize(w, c),
            )
        )
    return found


if __name__ == "__main__":
    run("compressed_tensors", cases(), parse_args(__doc__), packages=("compressed-tensors", "triton"))
