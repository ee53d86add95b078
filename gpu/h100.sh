#!/usr/bin/env bash
# One call on the GPU machine (device tool), carrying .whl/h100a:
#   bash gpu/h100.sh twins    benchmarks of the twins against their backends + the CUDA variants of tests/reference
#   bash gpu/h100.sh suite    the qconform suite on CUDA for every quantizer, JSON report
# Everything it writes is packed into $OUT/results.tgz (the device tool returns at most 8 files).
set -u
phase=${1:?twins or suite}
OUT_DIR_REAL=${OUT:-/tmp/out}
results=/tmp/results
mkdir -p "$results" "$OUT_DIR_REAL"
export PYTHONUNBUFFERED=1 OUT="$results"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/h100a/*.whl \
  || { echo "wheel install failed"; exit 1; }
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir --target /tmp/site . || exit 1
export PYTHONPATH=/tmp/site LD_LIBRARY_PATH=$PWD/.whl/h100a:${LD_LIBRARY_PATH:-}
python3 - <<'PY' | tee "$results/environment.txt"
import torch, transformers, importlib.metadata as m
print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0))
print("transformers", transformers.__version__)
for d in ["bitsandbytes", "optimum-quanto", "hqq", "torchao", "compressed-tensors", "aqlm", "gptqmodel", "autoawq", "triton"]:
    try: print(d, m.version(d))
    except m.PackageNotFoundError: print(d, "missing")
PY
step() {  # step NAME SECONDS command...: run with a time limit, log to $results/NAME.log
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" > "$results/$name.log" 2>&1
  echo "$name: exit $? in $((SECONDS - t0)) s" | tee -a "$results/steps.txt"
  tail -n 25 "$results/$name.log"
}
case "$phase" in
  twins)
    cd gpu
    for b in bitsandbytes weight_only torchao bitnet fp8 awq; do step "bench_$b" 120 python3 "bench_$b.py"; done
    step bench_gptq 150 python3 bench_gptq.py --skip-fused
    cd ..
    PYTHONPATH=/tmp/site:$PWD step reference_cuda 200 python3 -m pytest tests/reference -q -rs -p no:cacheprovider -k cuda
    ;;
  suite)
    mkdir -p /tmp/empty && cd /tmp/empty
    step suite 480 python3 -m pytest -p no:cacheprovider -q --quantizer=all --qconform-device=cuda --qconform-profile=ci \
      -n 8 --qconform-timeout=240 --qconform-report="$results/h100-sm_90.json"
    cd - >/dev/null
    ;;
esac
tar czf "$OUT_DIR_REAL/results.tgz" -C "$results" . 2>/dev/null || true
