"""The free-threaded code paths compile.

No free-threaded (3.13t) interpreter is available where this project is
tested, so the code written for it (everything under ``#ifdef
Py_GIL_DISABLED`` in src/fastcopy/_native/) never runs here.  What can be
checked is that it compiles against the free-threaded C API: CPython 3.13's
headers are the same for both builds except for pyconfig.h, whose only
relevant difference is ``#define Py_GIL_DISABLED 1``, so defining it on the
command line with the headers of an ordinary 3.13 install compiles exactly
what a 3.13t build would.  These tests compile the whole extension
(fastcopy_unity.c) that way (``gcc -c -O1``, the object discarded: unlike
``-fsyntax-only``, that reports unused functions, which a free-threaded
``FASTCOPY_WERROR=1`` build would reject) and require no diagnostics at all.

The headers are those of the running interpreter when it is 3.13 or newer,
otherwise of a 3.13+ interpreter found under ~/.pyenv/versions (or
$PYENV_ROOT/versions).  Running on 3.13+ without them is a failure;
elsewhere the tests are skipped, saying what is missing.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

NATIVE = Path(__file__).resolve().parent.parent / "src" / "fastcopy" / "_native"
FLAGS = ["-Wall", "-Wextra", "-std=c11", "-DPy_GIL_DISABLED=1"]
COMPILE = ["-c", "-O1", "-o", os.devnull]      # unless the call preprocesses (-E)

# Appended to the extension: fails to compile unless the free-threaded
# paths are the ones compiled, and names some of them so that a missing
# one is an error, not silently skipped code.
PROBE = r"""
#include "fastcopy_unity.c"
#ifndef Py_GIL_DISABLED
#error "Py_GIL_DISABLED is not in effect"
#endif
_Static_assert(FC_FREE_THREADED == 1, "compat.h did not see Py_GIL_DISABLED");
_Static_assert(Py_MOD_GIL_NOT_USED != Py_MOD_GIL_USED, "no Py_mod_gil values");
void *fastcopy_ft_probe(int i);
void *
fastcopy_ft_probe(int i)
{
    void *paths[] = {
        (void *)fc_dict_next_held,      /* dictiter.h */
        (void *)visit_list_item,        /* deepcopy.c */
        (void *)fc_type_cache,          /* state.h: per-thread strategy cache */
        (void *)&fc_thread_cache,       /* reduce.c */
    };
    return paths[i];
}
"""


def _include_of(python: str) -> tuple[tuple[int, int], Path] | None:
    """(version, include dir) of another interpreter, or None."""
    code = (
        "import sys, sysconfig; "
        "print(sys.version_info[0], sys.version_info[1]); "
        "print(sysconfig.get_paths()['include'])"
    )
    try:
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    lines = out.stdout.splitlines()
    if len(lines) != 2:
        return None
    major, minor = (int(p) for p in lines[0].split())
    return (major, minor), Path(lines[1])


def _usable(include: Path) -> bool:
    return (include / "Python.h").is_file() and (include / "cpython" / "critical_section.h").is_file()


def find_headers() -> tuple[Path | None, list[str]]:
    """The include directory of a CPython 3.13+ install, and where we looked."""
    looked = []
    if sys.version_info >= (3, 13):
        inc = Path(sysconfig.get_paths()["include"])
        looked.append(f"{inc} (this interpreter's sysconfig)")
        if _usable(inc):
            return inc, looked
    roots = [os.environ.get("PYENV_ROOT"), os.path.expanduser("~/.pyenv")]
    for root in dict.fromkeys(r for r in roots if r):
        for python in sorted(glob.glob(os.path.join(root, "versions", "3.1[3-9]*", "bin", "python3"))):
            found = _include_of(python)
            looked.append(f"{python} -> {found[1] if found else 'did not run'}")
            if found and found[0] >= (3, 13) and _usable(found[1]):
                return found[1], looked
    return None, looked


@pytest.fixture(scope="module")
def ft_compile():
    include, looked = find_headers()
    if include is None:
        what = "CPython 3.13+ headers (Python.h with cpython/critical_section.h)"
        where = "; ".join(looked) or "no 3.13+ interpreter under ~/.pyenv/versions"
        if sys.version_info >= (3, 13):
            pytest.fail(f"{what} not found for the free-threading build check (looked: {where})")
        pytest.skip(f"{what} not found (looked: {where})")
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc not found on PATH: cannot syntax-check the free-threaded build")

    def run(source: Path, *extra: str) -> subprocess.CompletedProcess:
        mode = [] if "-E" in extra else COMPILE
        cmd = [gcc, *FLAGS, *mode, f"-I{include}", f"-I{NATIVE}", *extra, str(source)]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300)

    return run


def test_unity_compiles_free_threaded_without_warnings(ft_compile):
    result = ft_compile(NATIVE / "fastcopy_unity.c")
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_free_threaded_paths_are_the_ones_compiled(ft_compile, tmp_path):
    probe = tmp_path / "ft_probe.c"
    probe.write_text(PROBE)
    result = ft_compile(probe)
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_module_declares_gil_not_used_when_free_threaded(ft_compile, tmp_path):
    # The preprocessed slot table of module.c must hold the entry
    # {Py_mod_gil, Py_MOD_GIL_NOT_USED}, spelled as the preprocessor spells
    # that same entry written after it (so no slot number is assumed).
    probe = tmp_path / "ft_slots.c"
    probe.write_text('#include "fastcopy_unity.c"\nFASTCOPY_EXPECT {Py_mod_gil, Py_MOD_GIL_NOT_USED},\n')
    pre = ft_compile(probe, "-E", "-P")
    assert pre.returncode == 0, pre.stderr
    text = pre.stdout
    expected = text[text.rindex("FASTCOPY_EXPECT") + len("FASTCOPY_EXPECT") :].strip()
    table = text[text.index("mod_slots[] = {") :]
    table = table[: table.index("};")]
    assert expected in table, (expected, table)
