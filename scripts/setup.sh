#!/usr/bin/env bash
# Set up qconform on a fresh machine (Python 3.11, CPU): a virtual environment in .venv with
# PyTorch's CPU build, qconform with every backend extra, and what the kit's own tests need.
#   scripts/setup.sh          the conformance suite and reports
#   scripts/setup.sh --test   also the test tools, and headless Chromium for the report page tests
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

python3 -m venv .venv
. .venv/bin/activate
pip install -q --upgrade pip
pip install -q torch==2.13.0          # the CPU build on this machine's disk; a plain 'torch' pulls a CUDA build
extras="all"
[ "$want_test" = 1 ] && extras="all,test"
pip install -q -e ".[$extras]"
# Backends whose declared dependencies do not belong beside this torch, while what they import comes with the
# extras above (docs/backends.md):
#   autoawq 0.2.9: the second AWQ oracle, archived upstream; its declared dependencies (triton, datasets, ...) do
#     not install beside this torch, while its packing code needs none of them.
#   sinq 0.2.0: declares torchvision and torchaudio, and the registry's builds of those do not load beside the CPU
#     torch ("operator torchvision::nms does not exist"), after which `from transformers import PreTrainedModel`
#     fails; sinq imports torch, transformers, einops, termcolor and safetensors (gemlite is optional).
#   vptq 0.0.5.post1: declares gradio, plotly==5.9.0 and pynvml for its demo app; `import vptq` needs
#     sentence-transformers (the vptq extra).
pip install -q --no-deps autoawq==0.2.9 sinq==0.2.0 vptq==0.0.5.post1
# sinq 0.2.0 also installs site-packages/sitecustomize.py, which imports sinq at every interpreter start: it patches
# PreTrainedModel.from_pretrained and save_pretrained for every model, imports torch and transformers before any
# program runs (29 s measured for `python -c pass` on a loaded machine) and prints to stdout, where pytest-xdist
# reads its workers' handshake (INTERNALERROR, "assert s == b'1'", got b'N'). transformers' SINQ quantizer imports
# sinq itself where it needs it, so the file goes, only when it is sinq's (found without starting python, which
# would run it).
for custom in .venv/lib/python3*/site-packages/sitecustomize.py; do
  if grep -q "sinq._autopatch" "$custom" 2>/dev/null; then rm -f "$custom"; fi
done

if [ "$want_test" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  # the report page is tested in a real browser; without one those tests skip with their reason
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "setup: chromium not installed; browser tests will skip"
  else
    echo "setup: not root or no apt-get; chromium not installed, browser tests will skip"
  fi
fi
# a backend whose package installs but does not import is skipped by the suite with that reason; say so here, and
# stop where transformers itself no longer imports (a dependency replaced under it)
python - <<'PY'
import importlib
from transformers import AutoModelForCausalLM, PreTrainedModel  # noqa: F401
modules = ["bitsandbytes", "gptqmodel", "optimum", "awq", "optimum.quanto", "hqq", "torchao", "compressed_tensors",
           "aqlm", "auto_round", "quark", "gguf", "fp_quant", "triton", "sinq", "vptq", "kernels", "matplotlib"]
broken = []
for name in modules:
    try:
        importlib.import_module(name)
    except Exception as exc:  # any failure at import is what the suite would meet
        broken.append(f"{name} ({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})")
print("setup: backends that do not import: " + ("; ".join(broken) if broken else "none"))
PY
echo "setup: done ($(python -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'))"
