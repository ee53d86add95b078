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
# autoawq is the second AWQ oracle; it is archived upstream and its declared dependencies
# (triton, datasets, ...) do not install beside this torch, while its packing code needs none of them.
pip install -q --no-deps autoawq==0.2.9

if [ "$want_test" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  # the report page is tested in a real browser; without one those tests skip with their reason
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "setup: chromium not installed; browser tests will skip"
  else
    echo "setup: not root or no apt-get; chromium not installed, browser tests will skip"
  fi
fi
echo "setup: done ($(python -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'))"
