#!/usr/bin/env bash
# The whole suite on the CPythons newer than this machine's pyenv ones.
#
# pyenv here stops at 3.13; Debian unstable (sid) packages the newer ones
# (3.14 and 3.15 in December 2026).  This script makes a sid root file
# system with debootstrap (once; it is reused), installs every
# python3.N-dev in sid with N above pyenv's newest, copies the work tree
# into it, and for each of those interpreters builds fastcopy with -Werror
# into a fresh venv and runs pytest, as the nox `tests` sessions do for the
# pyenv interpreters, then again against an ASan + UBSan + FASTCOPY_DEBUG
# build, as the `sanitize` sessions do (the code paths of 3.14's type sets
# and 3.15's frozendict run on these interpreters only).  It needs root
# (chroot, mount) and Debian's mirror.
#
#   bash scripts/debian-pythons.sh              # every such interpreter
#   bash scripts/debian-pythons.sh -k frozendict  # arguments go to pytest
#
# Environment: FASTCOPY_CHROOT (default /var/tmp/fastcopy-sid),
# FASTCOPY_DEBIAN_PYTHONS ("3.14 3.15" to choose; default: discovered),
# FASTCOPY_DEBIAN_SANITIZE=0 (skip the sanitizer runs).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHROOT="${FASTCOPY_CHROOT:-/var/tmp/fastcopy-sid}"
MIRROR=http://deb.debian.org/debian
TOOLS="gcc,libc6-dev,valgrind,ca-certificates"

log() { echo "debian-pythons: $*" >&2; }
in_root() { chroot "$CHROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }

if [ "$(id -u)" != 0 ]; then
    log "needs root (debootstrap, chroot, mount)"
    exit 2
fi

# pyenv's newest minor version: the interpreters above it are tested here
pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
newest=$(ls "$pyenv_root/versions" 2>/dev/null | sed -n 's/^3\.\([0-9]*\)\.[0-9]*$/\1/p' | sort -n | tail -1)
newest=${newest:-9}

if [ ! -e "$CHROOT/.fastcopy-ready" ]; then
    command -v debootstrap >/dev/null || apt-get install -y -q debootstrap >/dev/null
    rm -rf "$CHROOT"
    log "debootstrap sid into $CHROOT"
    debootstrap --variant=minbase --include="$TOOLS" sid "$CHROOT" "$MIRROR" >"$CHROOT.log" 2>&1 || {
        tail -20 "$CHROOT.log" >&2
        exit 1
    }
    touch "$CHROOT/.fastcopy-ready"
fi

# name resolution and the TLS roots this machine uses (PyPI may be reached
# through a proxy whose certificate only the host's bundle has)
cp /etc/resolv.conf "$CHROOT/etc/resolv.conf"
cp /etc/ssl/certs/ca-certificates.crt "$CHROOT/etc/ssl/certs/ca-certificates.crt"

mounted=()
cleanup() {
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}" || true; done
}
trap cleanup EXIT
for m in proc dev dev/pts dev/shm; do
    mkdir -p "$CHROOT/$m"
    if ! mountpoint -q "$CHROOT/$m"; then
        case $m in
            proc) mount -t proc proc "$CHROOT/proc" ;;
            dev/shm) mount -t tmpfs shm "$CHROOT/dev/shm" ;;
            *) mount --bind "/$m" "$CHROOT/$m" ;;
        esac
        mounted+=("$CHROOT/$m")
    fi
done

# the mirror this machine reaches may serve a Release file past its
# Valid-Until date (seen: a sid mirror 31 days old); the packages are still
# signed and checked
echo 'Acquire::Check-Valid-Until "false";' >"$CHROOT/etc/apt/apt.conf.d/99fastcopy"
in_root apt-get update -q >/dev/null
if [ -n "${FASTCOPY_DEBIAN_PYTHONS:-}" ]; then
    versions=$FASTCOPY_DEBIAN_PYTHONS
else
    versions=$(in_root apt-cache pkgnames python3. | sed -n 's/^python\(3\.[0-9]*\)-dev$/\1/p' |
        awk -F. -v n="$newest" '$2 > n' | sort -t. -k2 -n | tr '\n' ' ')
fi
if [ -z "${versions// /}" ]; then
    log "Debian sid has no CPython newer than 3.$newest: nothing to test is a failure"
    exit 1
fi
pkgs=""
for v in $versions; do pkgs="$pkgs python$v-dev python$v-venv libpython$v-testsuite"; done
log "installing$pkgs"
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $pkgs ${TOOLS//,/ } >"$CHROOT.apt.log" 2>&1 || {
    tail -20 "$CHROOT.apt.log" >&2
    exit 1
}

# the work tree as it is (tracked and new files, not ignored ones)
rm -rf "$CHROOT/src"
mkdir -p "$CHROOT/src"
# (a tracked file deleted in the work tree is skipped: --ignore-failed-read)
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard |
    tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -xf - -C "$CHROOT/src"

# The sanitizer runs' environment (as noxfile.py's sanitize session: the
# interpreter is not instrumented, so the runtimes are preloaded and every
# object allocation goes through ASan's malloc)
san_env="LD_PRELOAD='$(in_root gcc -print-file-name=libasan.so) $(in_root gcc -print-file-name=libubsan.so)'
PYTHONMALLOC=malloc
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=0:allocator_may_return_null=1
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1"

# as noxfile.py's PYTEST_PARALLEL: the suite on every core (pytest-xdist)
PYTEST_PARALLEL="-n auto --maxprocesses 4 --dist worksteal"

# one_run LABEL VENV BUILD_ENV RUN_ENV [pytest args]: a fresh venv, the
# project installed from /src with BUILD_ENV, the suite run with RUN_ENV
one_run() {
    local label=$1 venv=$2 build_env=$3 run_env=$4
    shift 4
    log "=== $label"
    if ! in_root sh -c "rm -rf $venv && python$v -m venv $venv && cd /src &&
            PIP_DISABLE_PIP_VERSION_CHECK=1 $build_env $venv/bin/pip install -q '.[test]'"; then
        log "$label: build or install failed"
        return 1
    fi
    # the tests import the installed package, as in the nox sessions
    if ! in_root sh -c "cd /src && export PYTHONFAULTHANDLER=1 $(echo $run_env) &&
            $venv/bin/python -c \"import os, sys, fastcopy._fastcopy as m; print('testing', m.__file__, sys.version, os.environ.get('LD_PRELOAD', ''))\" &&
            $venv/bin/python -m pytest tests -q -p no:cacheprovider $PYTEST_PARALLEL \"\$@\"" sh "$@"; then
        log "$label: tests failed"
        return 1
    fi
}

status=0
for v in $versions; do
    one_run "CPython $v (Debian sid)" "/venv/$v" "FASTCOPY_WERROR=1" "" "$@" || status=1
done
if [ "${FASTCOPY_DEBIAN_SANITIZE:-1}" != 0 ]; then
    for v in $versions; do
        one_run "CPython $v (Debian sid), ASan + UBSan + FASTCOPY_DEBUG build" "/venv/$v-san" \
            "FASTCOPY_WERROR=1 FASTCOPY_DEBUG=1 FASTCOPY_SANITIZE=1" "$san_env" "$@" || status=1
    done
fi
exit $status
