#!/usr/bin/env bash
# Start-up cost as ratios measured in one run (issue 15 and 16's speed lines): the import floor
# (`python -c "import torch, transformers.quantizers.auto"`), one method's suite and the bare example quantizer,
# each -n 2 (and the method once without xdist), quick profile, from an empty directory. Prints one line per step and the ratios to the floor.
#   scripts/speed.sh [METHOD]        METHOD defaults to bitsandbytes_4bit
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$repo/.venv/bin/python}
method=${1:-bitsandbytes_4bit}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/run" "$work/bare"
cp -r "$repo/examples/third_party_quantizer/example_int8" "$work/bare/"  # the module alone: no spec, no entry point
cd "$work/run"
seconds() { local t0; t0=$(date +%s.%N); "$@" > "$work/last.log" 2>&1 || { tail -20 "$work/last.log"; exit 1; }
  echo "$(date +%s.%N) - $t0" | bc; }
floor=$(seconds "$python" -c "import torch, transformers.quantizers.auto")
one=$(seconds "$python" -m pytest -p no:cacheprovider -q --quantizer="$method" -n 2 --qconform-profile=quick)
one_summary=$(grep -E "passed|failed" "$work/last.log" | tail -1)
alone=$(seconds "$python" -m pytest -p no:cacheprovider -q --quantizer="$method" --qconform-profile=quick)
alone_summary=$(grep -E "passed|failed" "$work/last.log" | tail -1)
bare=$(PYTHONPATH="$work/bare" seconds "$python" -m pytest -p no:cacheprovider -q --quantizer=example-int8 \
  --qconform-plugin=example_int8 -n 2 --qconform-profile=quick)
bare_summary=$(grep -E "passed|failed" "$work/last.log" | tail -1)
printf 'import floor          %6.1f s\n' "$floor"
printf '%-21s %6.1f s  %4.1fx the floor  (%s)\n' "$method" "$one" "$(echo "$one / $floor" | bc -l)" "$one_summary"
printf '%-21s %6.1f s  %4.1fx the floor  (%s)\n' "$method, no -n" "$alone" "$(echo "$alone / $floor" | bc -l)" "$alone_summary"
printf 'bare example-int8     %6.1f s  %4.1fx the floor  (%s)\n' "$bare" "$(echo "$bare / $floor" | bc -l)" "$bare_summary"
