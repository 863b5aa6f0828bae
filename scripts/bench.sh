#!/usr/bin/env bash
# Install fastcopy, pyperf and copium in a venv and run the benchmark
# comparison (stdlib vs fastcopy vs copium) on the default python3's version.
#   scripts/bench.sh                          # quick run + table
#   scripts/bench.sh -p 3.13                  # another pyenv CPython
#   scripts/bench.sh -- --rigorous -o r.json  # arguments after -- go to bench_core.py
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
ver="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [ "${1:-}" = "-p" ]; then ver="$2"; shift 2; fi
exec bash "$here/nox.sh" -s "bench-$ver" "$@"
