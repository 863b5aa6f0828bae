#!/usr/bin/env bash
# Install fastcopy with its bench extra (pyperf, rich, matplotlib, py-spy,
# copium) in a nox venv and run `python -m fastcopy.bench run`: every
# workload x every available implementation (stdlib, fastcopy, the report's
# dispatch mode, Template when it exists, pickle, copium, the allocation
# floor), then the table.  About two minutes on a 2-core machine.
#   scripts/bench.sh                              # default run + table (default python3's version)
#   scripts/bench.sh -p 3.13                      # another pyenv CPython
#   scripts/bench.sh -- --quick -o r.json         # options after -- go to `run`
#   scripts/bench.sh -- compare r.json --a stdlib --b fastcopy-dispatch   # or another subcommand
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
ver="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [ "${1:-}" = "-p" ]; then ver="$2"; shift 2; fi
exec bash "$here/nox.sh" -s "bench-$ver" "$@"
