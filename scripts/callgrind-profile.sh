#!/usr/bin/env bash
# Where one copy's instructions go, per function: callgrind runs the bench
# driver (python -m fastcopy.bench._driver) with N and 3N loops, and the
# difference of the two profiles divided by 2N is printed, so start-up,
# imports and building the workload cancel out (as in `bench counters`).
# Exclusive instructions per loop, largest first; a name like
# `object.h:visit` is the lines of object.h inlined into visit().
#   scripts/callgrind-profile.sh deep_nesting                 # fastcopy, N=20
#   scripts/callgrind-profile.sh -p /venv/bin/python memo_graph copium 50
# Needs valgrind and an interpreter that imports fastcopy (and the peer).
set -euo pipefail
py=python3
if [ "${1:-}" = "-p" ]; then py="$2"; shift 2; fi
if [ "$#" -lt 1 ]; then
    sed -n '2,10p' "$0" >&2
    exit 2
fi
workload="$1"; impl="${2:-fastcopy}"; n="${3:-20}"; top="${TOP:-40}"
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 2; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for loops in "$n" "$((3 * n))"; do
    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file="$tmp/$loops.out" \
        "$py" -m fastcopy.bench._driver "$impl" "$workload" --loops "$loops" \
        >"$tmp/$loops.log" 2>&1 || { cat "$tmp/$loops.log" >&2; exit 1; }
    # "Ir (pct) path/file.c:function [object]" -> "file.c:function Ir", summed
    callgrind_annotate --auto=no --threshold=100 "$tmp/$loops.out" |
        sed -nE 's/^ *([0-9,]+) \([^)]*\) +([^ ]+).*/\1 \2/p' |
        sed -E 's#^([0-9,]+) .*/#\1 #; s/,//g' |
        awk '{a[$2] += $1} END {for (k in a) print k, a[k]}' | sort >"$tmp/$loops.tab"
done
echo "$workload, $impl: instructions per loop ($n and $((3 * n)) loops, $("$py" -V 2>&1))"
join -a 1 -a 2 -e 0 -o 0,1.2,2.2 "$tmp/$n.tab" "$tmp/$((3 * n)).tab" |
    awk -v d="$((2 * n))" '$1 != "PROGRAM" {v = ($3 - $2) / d; t += v; printf "%12.0f  %s\n", v, $1}
                          END {printf "%12.0f  TOTAL\n", t}' |
    sort -rn | head -n "$((top + 1))"
