#!/usr/bin/env bash
# One call on a GPU machine (device tool), carrying .whl/h100a (or the folder WHEELS names, e.g. .whl/fbgemm);
# phases run in the order given:
#   bash gpu/on_device.sh twins   benchmarks of the twins against their backends + the CUDA variants of tests/reference
#   bash gpu/on_device.sh suite   the qconform suite on CUDA for every quantizer, JSON report <machine>.json
#                                 (QUANTIZERS=a,b to restrict it, SELECT=<pytest -k expression>, REPORT=<name> for its
#                                  report, SUITE_SECONDS to bound it, CHECK_SECONDS per check, WORKERS, PROFILE,
#                                  BENCH=0 / REFERENCE_CUDA=0 to skip those steps)
#   bash gpu/on_device.sh probe   how CPU and CUDA quantization differ (gpu/probe_cross_device.py) and which
#                                 gptqmodel kernels load GPTQ/AWQ checkpoints (gpu/probe_kernels.py)
#   SELECT=test_split_over_two_gpus REPORT=<machine>-multi-gpu BENCH=0 REFERENCE_CUDA=0 bash gpu/on_device.sh suite
#                                 the two-GPU check alone for every quantizer
#   bash gpu/on_device.sh catalogue  the planted bugs that need CUDA or two GPUs, with their controls
# <machine> is the GPU's short name and compute capability, with the GPU count where above one (h200x2-sm_90).
# Everything it writes is packed into $OUT/results.tgz (the device tool returns at most 8 files).
set -u
[ $# -ge 1 ] || { echo "usage: bash gpu/on_device.sh twins|suite|probe|catalogue ..."; exit 2; }
OUT_DIR_REAL=${OUT:-/tmp/out}
results=/tmp/results
mkdir -p "$results" "$OUT_DIR_REAL"
export PYTHONUNBUFFERED=1 OUT="$results"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "${WHEELS:-.whl/h100a}"/*.whl \
  || { echo "wheel install failed"; exit 1; }
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir --upgrade --target /tmp/site . || exit 1  # --upgrade: a warm machine keeps the last call's copy
export PYTHONPATH=/tmp/site LD_LIBRARY_PATH=$PWD/${WHEELS:-.whl/h100a}:${LD_LIBRARY_PATH:-}
python3 - <<'PY' | tee "$results/environment.txt"
import torch, transformers, importlib.metadata as m
print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0))
print("transformers", transformers.__version__)
for d in ["bitsandbytes", "optimum-quanto", "hqq", "torchao", "compressed-tensors", "aqlm", "gptqmodel", "autoawq", "triton"]:
    try: print(d, m.version(d))
    except m.PackageNotFoundError: print(d, "missing")
PY
machine=$(python3 -c "
import torch
name = torch.cuda.get_device_name(0).split()[1].lower(); n = torch.cuda.device_count()
major, minor = torch.cuda.get_device_capability(0)
print(f'{name}{\"x%d\" % n if n > 1 else \"\"}-sm_{major}{minor}')")
echo "machine $machine" | tee -a "$results/environment.txt"
step() {  # step NAME SECONDS command...: run with a time limit, log to $results/NAME.log
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout -s INT -k 30 "$limit" "$@" > "$results/$name.log" 2>&1  # SIGINT: pytest still writes its report
  echo "$name: exit $? in $((SECONDS - t0)) s" | tee -a "$results/steps.txt"
  tail -n 25 "$results/$name.log"
}
for phase in "$@"; do
case "$phase" in
  twins)
    cd gpu
    for b in bitsandbytes weight_only torchao bitnet fp8 awq; do step "bench_$b" 120 python3 "bench_$b.py"; done
    step bench_gptq 150 python3 bench_gptq.py
    cd ..
    PYTHONPATH=/tmp/site:$PWD step reference_cuda 200 python3 -m pytest tests/reference -q -rs -p no:cacheprovider -k cuda
    ;;
  suite)
    # gptqmodel builds its CUDA GPTQ block update (31 s alone on an H200, 28 s on an H100) and the float16 Marlin
    # kernels auto-round's CUDA path repacks with (169 s on an H100) on first use, under a lock that every worker
    # would wait on (auto-round's checks timed out there at 150 s): build both, side by side, before the workers
    # start (the bfloat16 build, two more minutes, was cut in the H100 run and no check missed it)
    warm_marlin='import gptqmodel.extension as e; print("marlin", e.load("marlin_fp16"))'
    warm_block='from gptqmodel.quantization.gptq_cuda import block_update_available as b; print("block update", b())'
    step warm_up "${WARM_SECONDS:-240}" bash -c "python3 -c '$warm_block' & python3 -c '$warm_marlin' & wait"
    mkdir -p /tmp/empty && cd /tmp/empty
    step suite "${SUITE_SECONDS:-380}" python3 -m pytest -p no:cacheprovider -q --quantizer="${QUANTIZERS:-all}" --qconform-device=cuda --qconform-profile="${PROFILE:-quick}" \
      -n "${WORKERS:-12}" -rfE --durations=40 --qconform-timeout="${CHECK_SECONDS:-200}" --qconform-report="$results/${REPORT:-$machine}.json" \
      ${SELECT:+-k "$SELECT"}
    cd - >/dev/null
    [ "${BENCH:-1}" = 1 ] && (cd gpu && step bench_bitsandbytes 60 python3 bench_bitsandbytes.py)  # re-measures the twin after its fixes
    left=$((540 - SECONDS))  # what the call's 600 s leave after the suite, with room to pack up
    if [ "${REFERENCE_CUDA:-1}" = 1 ] && [ "$left" -gt 60 ]; then
      PYTHONPATH=/tmp/site:$PWD step reference_cuda "$left" python3 -m pytest tests/reference -q -rs -p no:cacheprovider \
        -k "cuda and not quanto" --durations=15
    fi
    ;;
  probe)  # every probe in its own process, all at once (each bounded): a hung kernel build is one row's result
    for method in gptq awq; do
      case $method in gptq) backends="torch triton exllama_v2 marlin auto";; awq) backends="torch_awq gemm_triton gemm marlin auto";; esac
      for backend in $backends; do
        OMP_NUM_THREADS=2 timeout -k 10 "${KERNEL_SECONDS:-240}" python3 gpu/probe_kernels.py "$method" "$backend" llama \
          >> "$results/probe_kernels.jsonl" 2>> "$results/probe_kernels.log" &
      done
    done
    for key in bitsandbytes_4bit bitsandbytes_8bit compressed-tensors torchao bitnet quanto hqq fp8 aqlm awq gptq; do
      OMP_NUM_THREADS=2 timeout -k 10 150 python3 gpu/probe_cross_device.py "$key" > "$results/probe_cross_device-$key.log" 2>&1 &
    done
    [ "${PROBE_WAIT:-1}" = 1 ] && wait && cut -c1-400 "$results/probe_kernels.jsonl"
    ;;
  catalogue)  # the planted bugs that only a GPU machine shows
    QCONFORM_PLANTED=multi_gpu,cuda_packing PYTHONPATH=/tmp/site:$PWD step catalogue "${CATALOGUE_SECONDS:-300}" \
      python3 -m pytest tests/planted -q -p no:cacheprovider -n 2 -rfE
    ;;
  *) echo "unknown phase $phase"; exit 2;;
esac
done
wait  # probes started with PROBE_WAIT=0
tar czf "$OUT_DIR_REAL/results.tgz" -C "$results" . 2>/dev/null || true
