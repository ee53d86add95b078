#!/usr/bin/env bash
# Measures "Affected releases": builds one cached env per transformers release under /tmp/rel (uv, the same
# backend versions as the project's .venv, torch's CPU build from /opt/wheels) and runs every finding script in
# each, two at a time. Writes releases.tsv here: script, release, exit code, the line the script printed.
#   reports/findings/releases.sh [RELEASE...]     (default: 5.17.0 5.19.0 5.21.1 5.23.0 5.25.0)
set -uo pipefail
cd "$(dirname "$0")"
releases=("$@")
[ ${#releases[@]} -gt 0 ] || releases=(5.17.0 5.19.0 5.21.1 5.23.0 5.25.0)
backends=(accelerate==1.16.0 safetensors==0.8.0 numpy==2.2.6 bitsandbytes==0.50.2 gptqmodel==7.6.0 optimum==2.3.0
  optimum-quanto==0.2.7 hqq==0.2.8.post1 torchao==0.18.0 compressed-tensors==0.20.1 'aqlm[cpu]==1.1.7')
for release in "${releases[@]}"; do
  env=/tmp/rel/tf-$release
  [ -x "$env/bin/python" ] || uv venv -q "$env" --python 3.11
  uv pip install -q --python "$env/bin/python" --find-links /opt/wheels torch==2.13.0 "transformers==$release" \
    "${backends[@]}" || { echo "could not build $env" >&2; exit 1; }
done
out=releases.tsv
printf 'script\trelease\texit\toutput\n' > "$out"
for release in "${releases[@]}"; do
  for script in *.py; do echo "$release $script"; done
done | xargs -P 2 -L 1 bash -c '
  log=$(mktemp); timeout 300 /tmp/rel/tf-$0/bin/python "$1" > "$log" 2>/dev/null; rc=$?
  printf "%s\t%s\t%s\t%s\n" "$1" "$0" "$rc" "$(tail -n 1 "$log")"; rm -f "$log"' >> "$out"
sort -o "$out" "$out"
cut -f1-3 "$out" | column -t
