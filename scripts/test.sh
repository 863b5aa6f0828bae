#!/usr/bin/env bash
# Build fastcopy and run the checks on this machine's pyenv CPythons (see
# noxfile.py). This is the command the README gives and the one CI runs
# (.ci/run). Without arguments it runs, in this order:
#   tests      -Werror build, whole suite, every pyenv CPython >= 3.10
#   debian     the same on the CPythons newer than pyenv's (3.14, 3.15), from
#              Debian sid in a chroot (scripts/debian-pythons.sh, needs root)
#   sanitize   ASan + UBSan + FASTCOPY_DEBUG build, whole suite, 3.11 and 3.13
#   valgrind   memcheck on a subset of the suite (scripts/valgrind.sh), 3.13
#   fuzz       the atheris harness, 20,000 inputs, 3.11
# With arguments, only the `tests` sessions run and the arguments go to nox:
#   scripts/test.sh -p 3.12          # one interpreter
#   scripts/test.sh -- -k memo -x    # arguments after -- go to pytest
# Any other selection: bash scripts/nox.sh -s sanitize-3.13 -- -k depth
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
if [ "$#" -eq 0 ]; then
    exec bash "$here/nox.sh" -s tests debian sanitize valgrind fuzz
fi
exec bash "$here/nox.sh" -s tests "$@"
