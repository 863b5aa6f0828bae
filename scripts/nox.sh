#!/usr/bin/env bash
# Run nox from a throw-away venv (.venv-nox, gitignored), created on first
# use, so nothing is installed into the user's python3.  Arguments go to nox.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
NOX_VENV=.venv-nox
NOX_REQ='nox>=2024.4.15'
if ! "$NOX_VENV/bin/python" -m nox --version >/dev/null 2>&1; then
    rm -rf "$NOX_VENV"
    python3 -m venv "$NOX_VENV"
    "$NOX_VENV/bin/python" -m pip install -q --disable-pip-version-check "$NOX_REQ"
fi
exec "$NOX_VENV/bin/python" -m nox "$@"
