#!/usr/bin/env bash
# Build fastcopy with -Werror and run the test suite on every pyenv CPython
# >= 3.10 on this machine (see noxfile.py). This is the command the README
# gives and the one CI runs (.ci/run). Extra arguments go to nox, e.g.
#   scripts/test.sh -p 3.12          # one interpreter
#   scripts/test.sh -- -k memo -x    # arguments after -- go to pytest
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/nox.sh" -s tests "$@"
