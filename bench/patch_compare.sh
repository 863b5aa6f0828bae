#!/usr/bin/env bash
# The stdlib's copy.deepcopy on pyperformance's three bm_deepcopy workloads
# with the start-up switch off, on (FASTCOPY_PATCH=1) and in the design
# report's dispatch mode (FASTCOPY_PATCH=dispatch), then pyperf compare_to.
#
#   bench/patch_compare.sh PYTHON [OUTDIR] [extra pyperf args, e.g. --fast]
#
# PYTHON must have fastcopy installed with `pip install '.[bench]'` (the
# start-up switch needs the installed .pth file), e.g. .nox/bench-3-11/bin/python
# after `bash scripts/bench.sh`.
set -euo pipefail
py=$1; out=${2:-.}; shift $(( $# >= 2 ? 2 : 1 ))
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rm -f "$out/patch-off.json" "$out/patch-on.json" "$out/patch-dispatch.json"
args=(--impl stdlib --workload deepcopy deepcopy_reduce deepcopy_memo --quiet "$@")
env -u FASTCOPY_PATCH "$py" bench/bench_core.py "${args[@]}" -o "$out/patch-off.json"
FASTCOPY_PATCH=1 "$py" bench/bench_core.py "${args[@]}" --inherit-environ FASTCOPY_PATCH -o "$out/patch-on.json"
FASTCOPY_PATCH=dispatch "$py" bench/bench_core.py "${args[@]}" --inherit-environ FASTCOPY_PATCH -o "$out/patch-dispatch.json"
"$py" -m pyperf compare_to "$out/patch-off.json" "$out/patch-on.json" "$out/patch-dispatch.json" --table
