#!/usr/bin/env bash
# Run a representative subset of the test suite under valgrind memcheck:
# no invalid read or write, no use of uninitialised memory, no definite leak
# (CPython's own known ones are suppressed by scripts/valgrind-python.supp).
#
#   scripts/valgrind.sh [--python PY] [pytest arguments...]
#
# PY (default: python3) must be able to import fastcopy (an installed build,
# preferably FASTCOPY_DEBUG=1 for line numbers and asserts) and pytest and
# hypothesis.  Best on CPython 3.12+ (3.11's int.from_bytes gives memcheck
# false positives, see the .supp file).  Without pytest arguments the subset
# below runs, with small budgets (about 10 minutes on this project's machine).
# The full log is kept in $VALGRIND_LOG (default: a file under /tmp).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
py=python3
if [ "${1:-}" = "--python" ]; then
    py="$2"
    shift 2
fi
# the interpreter itself (valgrind must not start a shell wrapper such as a
# pyenv shim: it would trace the shell, not python); a venv's symlink is kept,
# so the venv's site-packages are used
exe="$("$py" -c 'import sys; print(sys.executable)')"
if [ "$#" -eq 0 ]; then
    set -- tests/test_hostile.py tests/test_leaks.py tests/test_refleaks.py \
        tests/test_strategy_cache.py tests/test_fuzz_hostile.py \
        tests/test_zoo.py::test_zoo tests/test_zoo.py::test_subclasses \
        tests/test_zoo.py::test_the_original_keeps_no_dict \
        tests/test_nomemory.py::test_every_failed_allocation_is_a_clean_memoryerror \
        tests/test_nomemory.py::test_failed_rebuild_of_the_tables_is_retried \
        -p no:cacheprovider -q
fi
log="${VALGRIND_LOG:-$(mktemp /tmp/fastcopy-valgrind.XXXXXX.log)}"
cd "$root"
echo "valgrind memcheck: $exe -m pytest $*   (log: $log)"
status=0
PYTHONMALLOC=malloc \
FASTCOPY_REFLEAK_CALLS="${FASTCOPY_REFLEAK_CALLS:-100}" \
FASTCOPY_HYPOTHESIS_PROFILE="${FASTCOPY_HYPOTHESIS_PROFILE:-fastcopy-quick}" \
PYTHONFAULTHANDLER=1 \
valgrind --tool=memcheck --error-exitcode=99 --errors-for-leak-kinds=definite \
    --leak-check=full --show-leak-kinds=definite --num-callers=40 \
    --suppressions="$here/valgrind-python.supp" --log-file="$log" \
    "$exe" -m pytest "$@" || status=$?
grep -E "ERROR SUMMARY|definitely lost:|indirectly lost:|possibly lost:" "$log" | sed 's/^==[0-9]*== /  /'
# belt and braces: any report at all whose stack goes through fastcopy's
# extension fails the run, suppressed or not
if grep -q "_fastcopy" "$log"; then
    echo "valgrind: a report mentions fastcopy's extension module:" >&2
    grep -n -B3 -A20 "_fastcopy" "$log" | head -80 >&2
    status=${status/#0/98}
fi
if [ "$status" -eq 99 ]; then
    echo "valgrind: memcheck reported errors (see $log)" >&2
elif [ "$status" -ne 0 ]; then
    echo "valgrind: failed with status $status (see $log)" >&2
fi
exit "$status"
