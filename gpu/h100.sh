#!/usr/bin/env bash
# One call on the GPU machine (device tool), carrying .whl/h100a:
#   bash gpu/h100.sh twins    benchmarks of the twins against their backends + the CUDA variants of tests/reference
#   bash gpu/h100.sh suite    the qconform suite on CUDA for every quantizer, JSON report
#                             (QUANTIZERS=a,b to restrict it, SUITE_SECONDS to bound it, CHECK_SECONDS per check,
#                              WORKERS, PROFILE, BENCH=0 / REFERENCE_CUDA=0 to skip those steps)
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
  timeout -s INT -k 30 "$limit" "$@" > "$results/$name.log" 2>&1  # SIGINT: pytest still writes its report
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
    step suite "${SUITE_SECONDS:-380}" python3 -m pytest -p no:cacheprovider -q --quantizer="${QUANTIZERS:-all}" --qconform-device=cuda --qconform-profile="${PROFILE:-quick}" \
      -n "${WORKERS:-12}" -rfE --durations=40 --qconform-timeout="${CHECK_SECONDS:-200}" --qconform-report="$results/h100-sm_90.json"
    cd - >/dev/null
    [ "${BENCH:-1}" = 1 ] && (cd gpu && step bench_bitsandbytes 60 python3 bench_bitsandbytes.py)  # re-measures the twin after its fixes
    left=$((540 - SECONDS))  # what the call's 600 s leave after the suite, with room to pack up
    if [ "${REFERENCE_CUDA:-1}" = 1 ] && [ "$left" -gt 60 ]; then
      PYTHONPATH=/tmp/site:$PWD step reference_cuda "$left" python3 -m pytest tests/reference -q -rs -p no:cacheprovider \
        -k "cuda and not quanto" --durations=15
    fi
    ;;
esac
tar czf "$OUT_DIR_REAL/results.tgz" -C "$results" . 2>/dev/null || true
