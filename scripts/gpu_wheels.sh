#!/usr/bin/env bash
# Build a wheel folder for the GPU machine from a clean checkout, on the project's CPU machine (PyPI reachable).
#   scripts/gpu_wheels.sh core   [DIR]  the backends of the committed GPU runs, with what they import beyond the machine
#   scripts/gpu_wheels.sh extra  [DIR]  the backends added by issue 17 that have a wheel for that machine, but fbgemm
#   scripts/gpu_wheels.sh fbgemm [DIR]  fbgemm-gpu-genai alone (36 MB)
#   scripts/gpu_wheels.sh core+extra .whl/h100a   several sets in one folder (the one gpu/on_device.sh installs)
#   scripts/gpu_wheels.sh sdists DIR    run ON the GPU machine: builds DIR/sdist/*.tar.gz into cp312 wheels in DIR
# DIR defaults to .whl/<set> (ignored by git). A set with sdists (core: pypcre) is complete after one device call
#   carrying DIR: `bash scripts/gpu_wheels.sh sdists DIR && cp DIR/pypcre-*.whl $OUT/`, then copy that wheel into DIR.
#
# The GPU machine (its `pip list`, 2026-12-06): Python 3.12.3, x86_64, glibc 2.39, gcc, nvcc 13.0, Python.h,
# torch 2.11.0+cu130, transformers 5.17.0, accelerate 1.15.0, triton 3.6.0, pytest, hypothesis, pytest-xdist,
# numpy 2.5.2, pandas, pyarrow, scipy, onnx, onnxscript, sentence-transformers, pillow, requests, einops, ninja,
# setuptools, wheel; no pydantic, loguru, termcolor, datasets, dill, multiprocess, onnxslim; no network. So every
# wheel here is for cp312 (or pure Python), manylinux x86_64, fetched with --no-deps, and each dependency the machine
# lacks is named. A device call carries at most 64 MiB, the working tree (about 19 MB) included: about 45 MB of
# wheels. core (18 MB) and extra (12 MB) go together; fbgemm (36 MB) goes alone.
#
# core: bitsandbytes 0.50.2 (py3-none-manylinux_2_24: repacked with only its CPU and CUDA 13 libraries, which are
#         what torch 2.11+cu130 loads; the registry's wheel is 43 MB, mostly CUDA 11.8-12.8, ROCm and XPU builds),
#       gptqmodel 7.6.0 (sdist, pure-Python build) with the imports it needs beyond the machine: pypcre 0.6.4 (sdist
#         with a C extension and no Python 3.12 here to build it: the `sdists` step builds it on the GPU machine,
#         linking PCRE2 statically from Debian's libpcre2-dev, carried in DIR/sdist with setuptools and wheel),
#         logbar 0.4.15, device-smi 0.5.7, tokenicer 0.0.14, defuser 0.0.28 (sdists, pure Python), threadpoolctl;
#       optimum 2.3.0, autoawq 0.2.9 (sdist, pure Python; the second AWQ oracle), optimum-quanto 0.2.7 with ninja,
#       hqq 0.2.8.post1 (sdist, pure Python) with einops and termcolor, torchao 0.18.0 (cp310-abi3, its CUDA 13
#       kernels load on torch >= 2.11), compressed-tensors 0.20.0 with pydantic 2.14.4 / pydantic-core 2.50.5 (cp312)
#       / annotated-types / typing-inspection and loguru, aqlm 1.1.7: the versions of the committed H100 and 2xH200
#       runs (reports/runs/*.json).
# extra: auto-round 0.16.1, amd-quark 0.13 with onnxslim, gguf 0.19.0, sinq 0.2.0 (without its sitecustomize.py),
#        fp-quant 0.3.2, spqr-quant 0.2.0 (compiles its CUDA kernels with nvcc at import), vptq 0.0.5.post1 (cp312
#        manylinux1, built against CUDA 12), datasets 5.2.0 with dill and multiprocess (auto_round, quark and awq
#        import it), and pydantic and termcolor again so that the set also goes alone.
# fbgemm: fbgemm-gpu-genai 1.6.0 (cp312 manylinux_2_28, CUDA 13; fbgemm's own table pairs 1.6 with torch 2.11 and
#        1.9, the newest, with 2.14).
# Not carried (docs/backends.md says why): kernels (transformers 5.17 takes 0.16.x, which needs kernels-data, sigstore
#   and tomlkit, and fetches every kernel from the hub at run time; carried without kernels-data it broke
#   `from transformers import PreTrainedModel`), flute-kernel 0.4.2 (its cp312 wheel is built against torch 2.5 and
#   CUDA 12.1 and pins vllm 0.7.2), fast-hadamard-transform and fouroversix 1.x (sdists that need nvcc and torch at
#   build time; no wheel on the registry), qutlass (the registry has only a 0.0.0 placeholder).
set -euo pipefail
cd "$(dirname "$0")/.."
set_name=${1:-}
case "$set_name" in
  sdists) dest=${2:?usage: scripts/gpu_wheels.sh sdists DIR} ;;
  core | extra | fbgemm | *+*) dest=${2:-.whl/$set_name} ;;
  *) echo "usage: scripts/gpu_wheels.sh core|extra|fbgemm|SET+SET [DIR] | sdists DIR" >&2; exit 2 ;;
esac
python=${PYTHON:-python3}

if [ "$set_name" = sdists ]; then
  # On the GPU machine (no network): its Python 3.12 builds the C extensions kept as sdists. The build tools come
  # from DIR/sdist: setuptools and wheel as wheels, PCRE2's headers and static library from Debian's libpcre2-dev
  # (linked in statically, so the wheel needs no libpcre2 there).
  tmp=$(mktemp -d)
  "$python" -m pip install -q --no-index --no-deps --target "$tmp/build" "$dest"/sdist/*.whl
  for deb in "$dest"/sdist/*.deb; do dpkg -x "$deb" "$tmp/root"; done
  for sdist in "$dest"/sdist/*.tar.gz; do
    PYTHONPATH="$tmp/build" PYPCRE_INCLUDE_DIR="$tmp/root/usr/include" PYPCRE_FORCE_STATIC=1 \
      PYPCRE_LIBRARY_DIR="$tmp/root/usr/lib/x86_64-linux-gnu" \
      "$python" -m pip wheel -q --no-deps --no-index --no-build-isolation -w "$dest" "$sdist"
  done
  rm -rf "$tmp"
  ls -l "$dest"/*cp312*.whl
  exit 0
fi

rm -rf "$dest"
mkdir -p "$dest"
# a scratch pip with a current setuptools: some sdists' metadata (PEP 639 licence strings) needs setuptools >= 77
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" -m venv "$work/venv"
python="$work/venv/bin/python"
"$python" -m pip install -q --upgrade pip "setuptools>=77" wheel 2>&1 | grep -v "is ignored" || true
platforms=()
for n in 39 38 37 36 35 34 33 32 31 30 29 28 27 26 25 24 23 22 21 20 19 18 17 12 5; do
  platforms+=(--platform "manylinux_2_${n}_x86_64")
done
platforms+=(--platform manylinux2014_x86_64 --platform manylinux1_x86_64)

fetch() {  # binary or pure-Python wheels for the GPU machine's interpreter, never an sdist
  "$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --abi cp312 --abi abi3 --abi none "${platforms[@]}" -d "$dest" "$@"
}

build_pure() {  # sdists of pure-Python packages: the wheel is py3-none-any and installs on any Python 3
  "$python" -m pip wheel -q --no-deps --no-binary=:all: -w "$dest" "$@"
  for wheel in "$dest"/*.whl; do
    case "$wheel" in
      *-py3-none-any.whl | *-py2.py3-none-any.whl | *-cp312-*.whl | *-abi3-*.whl | *manylinux*) ;;
      *) echo "gpu_wheels: $wheel is not for the GPU machine's Python 3.12" >&2; exit 1 ;;
    esac
  done
}

keep_sdist() {  # C extensions the CPU machine cannot build for cp312 (no Python 3.12 here): the `sdists` step does,
  # with the build tools it needs carried beside them (DIR/sdist is not matched by on_device.sh's DIR/*.whl)
  mkdir -p "$dest/sdist"
  "$python" -m pip download -q --no-deps --no-binary=:all: --no-build-isolation -d "$dest/sdist" "$@"
  "$python" -m pip download -q --no-deps --only-binary=:all: -d "$dest/sdist" "setuptools>=79,<85" wheel
  (cd "$dest/sdist" && apt-get download -q libpcre2-dev 2>&1 | grep -v "unsandboxed" || true)
  ls "$dest"/sdist/libpcre2-dev_*.deb >/dev/null || { echo "gpu_wheels: apt-get download libpcre2-dev failed" >&2; exit 1; }
}

repack() {  # repack WHEEL_PREFIX DROP_REGEX: the wheel without the files DROP_REGEX matches, RECORD rewritten,
  # build tag 1 (so it never passes for the registry's file)
  "$python" - "$dest" "$1" "$2" <<'PY'
import base64, hashlib, pathlib, re, sys, zipfile

dest, prefix, drop = pathlib.Path(sys.argv[1]), sys.argv[2], re.compile(sys.argv[3])
(source,) = dest.glob(f"{prefix}-*.whl")
name, version, *tags = source.stem.split("-")
target = dest / f"{name}-{version}-1-{'-'.join(tags)}.whl"
dropped = []
with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
    records, record_name = [], None
    for info in src.infolist():
        path = info.filename
        if path.endswith(".dist-info/RECORD"):
            record_name = path
            continue
        if drop.search(path):
            dropped.append(path)
            continue
        data = src.read(info)
        if path.endswith(".dist-info/WHEEL"):
            data = data.rstrip(b"\n") + b"\nBuild: 1\n"
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        records.append(f"{path},sha256={digest},{len(data)}")
        out.writestr(info, data)
    out.writestr(record_name, "\n".join([*records, f"{record_name},,"]) + "\n")
if not dropped:
    raise SystemExit(f"gpu_wheels: nothing in {source.name} matches {drop.pattern}: check the repack rule")
source.unlink()
print(f"gpu_wheels: {target.name}: {target.stat().st_size / 1e6:.1f} MB, without {', '.join(dropped)}")
PY
}

for one in ${set_name//+/ }; do
  case "$one" in
    core)
      fetch bitsandbytes==0.50.2 optimum==2.3.0 optimum-quanto==0.2.7 torchao==0.18.0 compressed-tensors==0.20.0 \
        aqlm==1.1.7 threadpoolctl==3.8.0 ninja==1.13.0 einops==0.8.2 termcolor==3.3.0 pydantic==2.14.4 \
        pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 loguru==0.7.3
      # torch 2.11+cu130 loads libbitsandbytes_cuda130 (cuda132 kept for a newer runtime) or the CPU library
      repack bitsandbytes '/libbitsandbytes_(cuda1[0-2]\d|rocm\d+|xpu\d+)\.so$'
      build_pure gptqmodel==7.6.0 autoawq==0.2.9 hqq==0.2.8.post1 logbar==0.4.15 device-smi==0.5.7 \
        tokenicer==0.0.14 defuser==0.0.28
      keep_sdist pypcre==0.6.4
      ;;
    extra)
      fetch auto-round==0.16.1 amd-quark==0.13 onnxslim==0.1.98 gguf==0.19.0 sinq==0.2.0 fp-quant==0.3.2 \
        spqr-quant==0.2.0 vptq==0.0.5.post1 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 termcolor==3.3.0 \
        pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
      # sinq's top-level sitecustomize.py would run at every interpreter start from the install target on PYTHONPATH,
      # patching PreTrainedModel's loading and saving for every model (scripts/setup.sh removes it on the CPU too)
      repack sinq '^sitecustomize\.py$'
      ;;
    fbgemm) fetch fbgemm-gpu-genai==1.6.0 ;;
    *) echo "gpu_wheels: unknown set $one" >&2; exit 2 ;;
  esac
done
ls -l "$dest" "$dest"/sdist 2>/dev/null | grep -v '^total' || true
echo "gpu_wheels: $dest holds $(du -sb "$dest" | cut -f1 | awk '{printf "%.1f MB", $1 / 1e6}')"
if [ -d "$dest/sdist" ]; then
  echo "gpu_wheels: $dest/sdist holds sdists that only the GPU machine can build for Python 3.12: one device call"
  echo "  carrying $dest runs \`bash scripts/gpu_wheels.sh sdists $dest && cp $dest/pypcre-*.whl \$OUT/\`; copy it into $dest"
fi
