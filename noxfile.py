"""fastcopy sessions: `tests` (every pyenv CPython >= 3.10, -Werror build),
`debian` (the same for the CPythons newer than pyenv's, from Debian sid in a
chroot: 3.14 and 3.15), `sanitize` (ASan + UBSan + debug build, 3.11 and
3.13), `valgrind` (memcheck on a subset, 3.13), `fuzz` (atheris, bounded,
3.11) and `bench` (python -m fastcopy.bench). Run the tests as the README
says: scripts/test.sh (all but bench).
"""

# Usage:
#   scripts/test.sh                    # = nox -s tests from a throw-away venv (.venv-nox)
#   python3 -m nox -s tests            # every pyenv CPython >= 3.10 on the machine
#   python3 -m nox -s tests-3.12       # one of them
#   python3 -m nox -s tests -- -k memo # extra arguments go to pytest
#   python3 -m nox -s debian           # 3.14, 3.15 from Debian sid (scripts/debian-pythons.sh; root)
#   python3 -m nox -s sanitize         # ASan+UBSan+FASTCOPY_DEBUG build, whole suite, 3.11 and 3.13
#   python3 -m nox -s valgrind         # memcheck on a subset of the suite (scripts/valgrind.sh), 3.13
#   python3 -m nox -s fuzz             # atheris harness, 3.11, bounded (-- -max_total_time=600 for longer)
#   python3 -m nox -s bench            # python -m fastcopy.bench run (defaults) + table
#   python3 -m nox -s bench -- --quick -o results.json  # options go to `run`
#   python3 -m nox -s bench -- counters                 # or name another subcommand
#
# Interpreters are discovered, never hard-coded: every
# $PYENV_ROOT/versions/<X.Y.Z>/bin/python3.Y (default ~/.pyenv) with Y >= 10,
# one venv per minor version (the highest CPython patch release of a minor
# wins when several are installed). pypy, free-threaded (3.13.0t) and other
# non-CPython builds are ignored.

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
MIN_MINOR = 10

nox.options.sessions = ["tests"]
# Venvs are kept between runs (fast local iteration); the project itself is
# rebuilt and reinstalled on every run, so a reused venv never tests stale C.
nox.options.reuse_venv = "yes"
# A discovered interpreter that cannot be used is an error, never a skip.
nox.options.error_on_missing_interpreters = True
nox.options.error_on_external_run = True
if hasattr(nox.options, "download_python"):
    # Never fetch a standalone CPython: test exactly what the machine has.
    nox.options.download_python = "never"


def _discover_pythons() -> dict[str, Path]:
    """Map "3.Y" -> bin directory of the pyenv CPython to use for it."""
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    found: dict[str, tuple[tuple[int, ...], Path]] = {}
    for exe in sorted((root / "versions").glob("*/bin/python3.*")):
        m_exe = re.fullmatch(r"python3\.(\d+)", exe.name)
        # CPython version directories are X.Y.Z (optionally a pre-release such
        # as 3.14.0rc1); this excludes pypy*, *t (free-threaded), *-dev, ...
        m_dir = re.fullmatch(r"3\.(\d+)\.(\d+)((?:a|b|rc)\d+)?", exe.parent.parent.name)
        if not (m_exe and m_dir) or m_exe.group(1) != m_dir.group(1):
            continue
        minor = int(m_exe.group(1))
        if minor < MIN_MINOR or not os.access(exe, os.X_OK):
            continue
        # final releases sort above pre-releases of the same X.Y.Z
        key = (int(m_dir.group(2)), 0 if m_dir.group(3) else 1)
        label = f"3.{minor}"
        if label not in found or key > found[label][0]:
            found[label] = (key, exe.parent)
    return {label: found[label][1] for label in sorted(found, key=lambda s: int(s.split(".")[1]))}


PYTHONS = _discover_pythons()

# The suite on every core (pytest-xdist, in the test extra): each worker is a
# process of its own, and no test shares a file or a port with another.  On
# this project's 2-core machines it halves the wall time of every session,
# which keeps the whole of scripts/test.sh inside CI's 90 minutes.  Put
# `-n 0` after `--` to run serially (e.g. for --pdb).
PYTEST_PARALLEL = ["-n", "auto", "--maxprocesses", "4", "--dist", "worksteal"]

# nox resolves "3.Y" by searching PATH first: put the chosen pyenv bin dirs in
# front so that exactly these interpreters are used (the pyenv shims would
# refuse a version that is not selected by `pyenv global/local`).
os.environ["PATH"] = os.pathsep.join(
    [str(d) for d in PYTHONS.values()] + [os.environ.get("PATH", "")]
)


def _clean_build_dirs(session: nox.Session, python: str | None) -> None:
    """Drop setuptools' in-tree build output for this interpreter.

    setuptools only recompiles when a source is newer than the .so; a change of
    flags (FASTCOPY_WERROR, FASTCOPY_DEBUG, ...) or of setup.py would otherwise
    be silently ignored and a warning hidden by an old object file.
    """
    tag = "cpython-3" + python.split(".")[1] if python else sys.implementation.cache_tag
    for d in (ROOT / "build").glob(f"*-{tag}*"):
        session.log(f"removing stale build dir {d.relative_to(ROOT)}")
        shutil.rmtree(d, ignore_errors=True)


def _install_project(session: nox.Session, extra: str, env: dict[str, str]) -> None:
    _clean_build_dirs(session, session.python if isinstance(session.python, str) else None)
    # Non-editable install: pip builds a fresh wheel in an isolated build env
    # and always reinstalls a local directory, even at the same version; the
    # src layout means the tests import the installed package, not src/.
    session.install(f".[{extra}]", env=env)


if PYTHONS:

    @nox.session(python=list(PYTHONS))
    def tests(session: nox.Session) -> None:
        """Build with -Werror and run the pytest suite on one interpreter."""
        want = tuple(int(p) for p in str(session.python).split("."))
        session.run(
            "python",
            "-c",
            "import sys, platform; "
            f"assert sys.version_info[:2] == {want!r}, sys.version; "
            "assert platform.python_implementation() == 'CPython'; "
            "print(sys.executable, sys.version)",
        )
        env = {"FASTCOPY_WERROR": "1"}
        _install_project(session, "test", env)
        # Show which build is under test (imports from site-packages, not src/).
        session.run(
            "python", "-c", "import fastcopy, fastcopy._fastcopy as m; print('testing', m.__file__)"
        )
        # Any non-zero exit fails the session, including 5 = no tests collected.
        args = session.posargs or []
        session.run("python", "-m", "pytest", "tests", "-q", *PYTEST_PARALLEL, *args,
                    env={"PYTHONFAULTHANDLER": "1"})

else:

    @nox.session(python=False)
    def tests(session: nox.Session) -> None:
        """No usable interpreter found: fail loudly instead of passing vacuously."""
        root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
        session.error(f"no pyenv CPython >= 3.{MIN_MINOR} found under {root}/versions")


@nox.session(python=False)
def debian(session: nox.Session) -> None:
    """The `tests` session for every CPython newer than pyenv's newest, from
    Debian unstable in a chroot made with debootstrap (3.14 and 3.15 today):
    scripts/debian-pythons.sh.  Arguments go to pytest."""
    session.run("bash", str(ROOT / "scripts" / "debian-pythons.sh"), *session.posargs, external=True)


# The sanitizer and valgrind sessions use these interpreters when present.
SANITIZE_PYTHONS = [v for v in ("3.11", "3.13") if v in PYTHONS]
# atheris has wheels for 3.11; valgrind is clean on 3.13 (3.11's
# int.from_bytes gives memcheck false positives, see scripts/valgrind-python.supp).
FUZZ_PYTHON = "3.11" if "3.11" in PYTHONS else (list(PYTHONS)[-1] if PYTHONS else None)
VALGRIND_PYTHON = "3.13" if "3.13" in PYTHONS else (list(PYTHONS)[-1] if PYTHONS else None)


def _gcc_runtime(name: str) -> str:
    """Absolute path of one of gcc's sanitizer runtimes (libasan.so, ...)."""
    import subprocess

    path = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True, text=True, check=True)
    found = path.stdout.strip()
    if not os.path.isabs(found) or not os.path.exists(found):
        raise RuntimeError(f"gcc has no {name} (got {found!r}); install gcc's sanitizer runtimes")
    return found


@nox.session(python=SANITIZE_PYTHONS or None)
def sanitize(session: nox.Session) -> None:
    """The whole suite against an ASan + UBSan build with C asserts and the
    memo table's consistency checks (FASTCOPY_SANITIZE=1 FASTCOPY_DEBUG=1).

    The interpreter itself is not instrumented, so the runtimes are preloaded
    and PYTHONMALLOC=malloc routes every Python allocation through ASan's
    malloc (object overflows and use-after-free are then seen).  Leak
    detection is off: CPython deliberately leaves memory at exit; leaks are
    the job of tests/test_leaks.py, tests/test_refleaks.py and valgrind.
    """
    if not SANITIZE_PYTHONS:
        session.error("no CPython 3.11 or 3.13 found for the sanitizer sessions")
    env = {"FASTCOPY_WERROR": "1", "FASTCOPY_DEBUG": "1", "FASTCOPY_SANITIZE": "1"}
    _install_project(session, "test", env)
    preload = " ".join(_gcc_runtime(n) for n in ("libasan.so", "libubsan.so"))
    run_env = {
        "LD_PRELOAD": preload,
        "PYTHONMALLOC": "malloc",
        # allocator_may_return_null: an allocation no memory can satisfy
        # returns NULL (a MemoryError, as with glibc) instead of aborting;
        # tests ask for such sizes on purpose (CPython's ASan CI sets it too)
        "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=0"
                        ":allocator_may_return_null=1",
        "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
        "PYTHONFAULTHANDLER": "1",
    }
    # Proof that the instrumented build is the one under test.
    session.run("python", "-c", "import fastcopy._fastcopy as m; print('sanitized build', m.__file__)", env=run_env)
    args = session.posargs or []
    session.run("python", "-m", "pytest", "tests", "-q", *PYTEST_PARALLEL, *args, env=run_env)


@nox.session(python=VALGRIND_PYTHON)
def valgrind(session: nox.Session) -> None:
    """A representative subset of the suite under valgrind memcheck
    (scripts/valgrind.sh): no invalid access, no definite leak."""
    _install_project(session, "test", {"FASTCOPY_WERROR": "1", "FASTCOPY_DEBUG": "1"})
    session.run("bash", str(ROOT / "scripts" / "valgrind.sh"), "--python", "python", *session.posargs,
                external=True)


@nox.session(python=FUZZ_PYTHON)
def fuzz(session: nox.Session) -> None:
    """The atheris (libFuzzer) harness fuzz/fuzz_deepcopy.py, bounded.

    Default budget: 20,000 inputs.  Arguments go to libFuzzer, e.g.
    `nox -s fuzz -- -max_total_time=600` for a ten-minute run.
    """
    _install_project(session, "test", {"FASTCOPY_WERROR": "1"})
    session.install("atheris")
    env = {"PYTHONPATH": str(ROOT / "tests")}
    harness = str(ROOT / "fuzz" / "fuzz_deepcopy.py")
    # inputs that once failed (libFuzzer runs each file given once)
    regressions = sorted(str(p) for p in (ROOT / "fuzz" / "regressions").glob("*"))
    if regressions:
        session.run("python", harness, *regressions, env=env)
    args = session.posargs or ["-runs=20000"]
    # crash-* files go to the session's tmp dir, not the work tree
    prefix = os.path.join(session.create_tmp(), "")
    session.run("python", harness, *args, "-rss_limit_mb=4096", f"-artifact_prefix={prefix}", env=env)


@nox.session(python=list(PYTHONS) or None)
def bench(session: nox.Session) -> None:
    """`python -m fastcopy.bench` on one interpreter, with the bench extra
    (pyperf, rich, matplotlib, py-spy, copium) installed.

    Without arguments: `run` with its defaults (every workload x every
    available implementation, about two minutes on 2 cores), results in
    .nox/bench-3-Y/tmp/results.json, then the table.
    With arguments (`nox -s bench -- ...`): a subcommand and its arguments
    (`-- compare a.json b.json`, `-- counters`); arguments that start with an
    option go to `run` (`-- --quick -w 'deepcopy*'`).
    """
    _install_project(session, "bench", {})
    sub = ("run", "report", "compare", "counters", "memory", "flamegraph", "plot", "verify")
    args = list(session.posargs)
    if not args:
        out = os.path.join(session.create_tmp(), "results.json")
        args = ["run", "-o", out]
    elif args[0] not in sub:
        args = ["run", *args]
    session.run("python", "-m", "fastcopy.bench", *args)
