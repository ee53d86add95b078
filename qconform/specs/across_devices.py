"""What each method's quantization on CUDA promises against its quantization on the CPU, measured.

Every method is ``exact`` unless declared here (``qconform.specs.model.AcrossDevices``). The figures come from
``gpu/probe_cross_device.py`` (1024x1024 normal weights, bfloat16 and float32, default configs) on an
H200 with torch 2.11, transformers 5.17 (``reports/probes/h200x2-sm_90/probe_cross_device-*.json``), and from
the suite's ``test_packed_data_same_on_cpu_and_cuda`` on an H100 (``reports/probes/h100-sm_90-2026-11-22.json``)
and on two H200s (``reports/runs/h200x2-sm_90.json``). "Share" is the distance between the two dequantized
weights as a share of the quantization error; ``rounding`` allows ``ROUNDING_SHARE`` (0.35: about 1% of the
codes one step apart), and a ``search`` method must keep its error within ``SEARCH_SHARE`` (5%) of the other's.
"""

from __future__ import annotations

from qconform.specs.model import ROUNDING, SEARCH, AcrossDevices

PROBE = "reports/probes/h200x2-sm_90/probe_cross_device-*.json (gpu/probe_cross_device.py, H200, torch 2.11)"

BITSANDBYTES_4BIT = AcrossDevices(
    ROUNDING,
    reason="bitsandbytes' CUDA kernels decide ties of the nested 8-bit absmax codes differently from its CPU path "
    "(one step), and its FP4 kernel sets the sign bit of values that round to zero (a -0 code) and places some "
    "values on the neighbouring code; NF4 without nesting is identical",
    evidence=f"{PROBE}: nested absmax 29/16384 (bfloat16) and 32/16384 (float32) codes one step apart; FP4 "
    "6278/524288 packed bytes differ in bfloat16 (largest 136 = 0x88, both sign bits), share 0.081; nested NF4 "
    "share 0.0025; H100 4096x4096 bfloat16 FP4: 102348 codes differ, 90347 of them the sign of zero",
)
REF_BITSANDBYTES_4BIT = AcrossDevices(
    ROUNDING,
    reason="the nested absmax offset is a mean of the block absmaxes, a reduction summed in another order on CUDA: "
    "one ulp apart, which can move a nested code",
    evidence="reports/runs/h200x2-sm_90.json: float32 128x128: nested_absmax 2/2 elements one ulp apart (3.7e-9), "
    "8/169 bytes of the serialised quant state differ; 1024x1024 (gpu/probe_cross_device.py): identical",
)
BITSANDBYTES_8BIT = AcrossDevices(
    ROUNDING,
    reason="bitsandbytes' CUDA int8 kernel decides ties of x * 127 / absmax differently from its CPU path: the codes "
    "that differ sit on exact .5 ties (bfloat16) or within 0.03 of one (float32, a float32 reciprocal)",
    evidence=f"{PROBE}: 103/1048576 codes one step apart in bfloat16, all within 7e-15 of a .5 tie; 19/1048576 "
    "in float32, within 0.027 of one; share 0.03; twin ref-bitsandbytes_8bit identical on both devices",
)
SCALE_ULPS = (
    "float32 scales computed on CUDA differ by one ulp from the CPU's in some rows (a division by a constant is "
    "rounded differently on the two devices), which moves a few codes one step"
)
TORCHAO = AcrossDevices(
    ROUNDING,
    reason=SCALE_ULPS + " (torchao and its twin alike)",
    evidence=f"{PROBE}: Int8WeightOnly float32: 630/1024 scales one ulp apart (5.8e-11), 260/1048576 codes one "
    "step apart (within 7e-6 of a tie), share 0.055; bfloat16 identical; H100: 33/16384 codes, 97/128 scales",
)
QUANTO = AcrossDevices(
    ROUNDING,
    reason=SCALE_ULPS + "; float8 codes may also differ in the sign of zero (quanto and its twin alike)",
    evidence=f"{PROBE}: int8 float32: 39/1024 scales one ulp apart (5.8e-11), share 3e-6; H100 (qfloat8): "
    "4096/16384 codes -0.0 against 0.0, same values",
)
BITNET = AcrossDevices(
    ROUNDING,
    reason="the per-tensor weight_scale (a mean of absolute values, a reduction in another order on CUDA) differs by "
    "one ulp, so a ternary code at a boundary may move (bitnet and its twin alike)",
    evidence="reports/probes/h100-sm_90-2026-11-22.json: weight_scale 1/1 differs by 7.6e-6 (128x128); "
    f"{PROBE}: 1024x1024 identical",
)
HQQ = AcrossDevices(
    SEARCH,
    reason="HQQ optimises zero and scale by half-quadratic iterations; one different rounding of a shrinkage step "
    "sends them elsewhere (hqq and its twin alike)",
    evidence=f"{PROBE}: bfloat16: 11806/524288 codes, 1592/16384 scales, 3020/16384 zeros differ; relative error "
    "0.08720 (CPU) against 0.08723 (CUDA); float32 0.08710 against 0.08712",
)
GPTQ = AcrossDevices(
    SEARCH,
    reason="GPTQ feeds each column's rounding error into the next columns through a Cholesky factor computed in "
    "float32; CUDA's factor differs in the last bits, so later columns round differently (gptqmodel and its twin)",
    evidence="reports/probes/h100-sm_90-2026-11-22.json: ref-gptq 16/1024 qweight words and 2/8 qzeros differ "
    "(128x128)",
)
AQLM = AcrossDevices(
    SEARCH,
    reason="the codebooks are learnt (k-means with greedy residual passes); float sums in another order on CUDA "
    "move a centroid and then the assignments",
    evidence="reports/probes/h100-sm_90-2026-11-22.json: aqlm codebooks 1/2048 and scales 1/128 differ; "
    "ref-aqlm codebooks "
    "21/128, scales 81/128 (128x128)",
)
REF_AWQ = AcrossDevices(
    ROUNDING,
    reason="a group's scale (max - min) / 15 is rounded to float16 differently on the two devices in a few groups "
    "(one float16 ulp), which moves that group's codes",
    evidence="reports/probes/h100-sm_90-2026-11-22.json: ref-awq scales 2/128 differ by 0.0078, one float16 ulp "
    "at their "
    "magnitude (128x128); the real awq codec was not run there (autoawq imports datasets, not carried)",
)
