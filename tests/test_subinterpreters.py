"""fastcopy in subinterpreters.

The extension declares ``Py_MOD_PER_INTERPRETER_GIL_SUPPORTED`` on 3.12+
(``Py_MOD_MULTIPLE_INTERPRETERS_SUPPORTED`` before): it may be imported by
interpreters that share the main GIL (the "legacy" subinterpreters that
embedders such as mod_wsgi create, one per application) and by those with a
GIL of their own, which run at the same time (3.14's
InterpreterPoolExecutor makes them).  Each interpreter has its own ``copy``
module, with its own ``deepcopy`` and ``copy`` function objects, and its own
fastcopy module state; the patch table in patch.c and the dict watchers'
change counter are what they share.

Written after ``patch()`` failed with "RuntimeError: too many patched
functions" in the second subinterpreter alive at once (3.10, 3.12, 3.13:
the patch table had four slots, two per interpreter), which under
``FASTCOPY_PATCH=1`` left every later subinterpreter unpatched with a
warning on stderr.

Every case runs in a child process: a crash there fails the test instead of
ending the run.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
OWN_GIL = pytest.mark.skipif(sys.version_info < (3, 12), reason="interpreters with their own GIL exist from 3.12")

# The child's prelude: how to make a subinterpreter that shares the main GIL
# on each version, and run code in it (failures are raised in the parent).
PRELUDE = textwrap.dedent(
    f"""
    import sys
    sys.path.insert(0, {str(TESTS)!r})
    if sys.version_info >= (3, 12):
        # An interpreter with a GIL of its own must not be the first to
        # import datetime; the stdlib alone shows why.  3.12 (it gets
        # _pydatetime there: _datetime cannot load): the next interpreter
        # that imports it aborts with "double free or corruption".  3.13.0:
        # _datetime's static types are made ready by the first importer, and
        # the main interpreter's finalization aborts now and then ("free():
        # invalid pointer" clearing its tuple free list, which holds a tuple
        # from the other interpreter's allocator).  Imported here first, as
        # a program's main interpreter usually has.  decimal too: on 3.12
        # the threads test aborted in 2 runs of 8 ("double free or
        # corruption" after libmpdec's "MPD_MINALLOC a second time" warning)
        # until it was, then in none of 10 (not tried without fastcopy).
        import datetime, decimal
    try:
        import _interpreters as I             # 3.13
        def legacy():
            return I.create("legacy")
        def isolated():
            return I.create("isolated")
    except ImportError:
        import _xxsubinterpreters as I        # 3.10-3.12
        # isolated=True, the default, would forbid threads, fork and exec
        # there (and, on 3.12, give the interpreter its own GIL)
        def legacy():
            return I.create(isolated=False)
        if sys.version_info >= (3, 12):
            def isolated():
                return I.create(isolated=True)
        else:
            isolated = None                   # no per-interpreter GIL yet
    def run_in(iid, code):
        failure = I.run_string(iid, code)     # 3.13 returns it, 3.10-3.12 raise
        if failure is not None:
            raise AssertionError(getattr(failure, "formatted", failure))
    """
)

# In an interpreter: `routed()` is True when copy.deepcopy and copy.copy
# (also as bound before patching) ran no frame of Lib/copy.py.
ROUTED = textwrap.dedent(
    """
    import copy, sys
    early_deepcopy, early_copy = copy.deepcopy, copy.copy
    def routed():
        seen = set()
        def profiler(frame, event, arg):
            if event == "call" and frame.f_code.co_filename == copy.__file__:
                seen.add(frame.f_code.co_name)
        sys.setprofile(profiler)
        try:
            y = early_deepcopy({"a": [1, (2, [3])]})
            z = early_copy([1, [2]])
        finally:
            sys.setprofile(None)
        assert y == {"a": [1, (2, [3])]} and z == [1, [2]]
        return not seen
    """
)


def _run_child(body: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = PRELUDE + textwrap.dedent(body)
    child_env = dict(os.environ)
    child_env.pop("FASTCOPY_PATCH", None)
    child_env.update(env or {})
    proc = subprocess.run([sys.executable, "-c", full], capture_output=True, text=True, timeout=600,
                          env=child_env)
    assert proc.returncode == 0, f"child exited with {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def _lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in proc.stdout.splitlines() if line]


CHECK_COPIES = textwrap.dedent(
    f"""
    import copy, dataclasses, datetime, fastcopy, sys
    sys.path.insert(0, {str(TESTS)!r})
    from isomorphism import assert_isomorphic, assert_same_copy
    from fastcopy.bench.workloads import build_registry
    n = 0
    for w in build_registry().values():
        x = w.make()
        if w.name == "large_flat":
            continue           # a flat dict of atoms: nothing the others lack, and slow to compare
        if isinstance(x, list) and len(x) > 40:
            x = x[:40]         # 40 of the 1,000 records: the same shapes, a 25th of the time
        if w.name == "deep_nesting":
            x = x[:2]          # two of its ten 300-deep chains
        assert_same_copy(x, copy.deepcopy(x), fastcopy.deepcopy(x))
        memo_e, memo_a = {{}}, {{}}
        # Pure-Python datetime (3.12's interpreters with a GIL of their own
        # cannot load _datetime): a deep copy of timezone.utc sets the
        # singleton's _offset to a copy, so the second of two copies keeps
        # alive another object than the first, the stdlib's twice too.
        pure_dt = w.name == "typed_records" and datetime.timezone.__module__ == "_pydatetime"
        memos = None if pure_dt else (memo_e, memo_a)
        assert_same_copy(x, copy.deepcopy(x, memo_e), fastcopy.deepcopy(x, memo_a), memos=memos)
        t = fastcopy.Template(x)
        assert_isomorphic(copy.deepcopy(x), t())
        for y in fastcopy.replicate(x, 2):
            assert_isomorphic(copy.deepcopy(x), y)
        n += 1
    # this interpreter's strategy cache follows this interpreter's classes
    @dataclasses.dataclass
    class P:
        v: list
    p = P([1])
    assert fastcopy.deepcopy(p).v is not p.v
    P.__deepcopy__ = lambda self, memo: "hooked"
    assert fastcopy.deepcopy(p) == "hooked" == copy.deepcopy(p)
    # one write(2) of the whole line: interpreters switching in the middle
    # of a print() interleave their pieces on the shared pipe
    import os
    os.write(1, f"copies ok {{n}}\\n".encode())
    """
)


def test_copies_in_subinterpreters_match_the_stdlib() -> None:
    """The corpus, with and without a memo, through deepcopy, Template and
    replicate, in three subinterpreters alive at once and in the main one."""
    body = f"""
    check = {CHECK_COPIES!r}
    ids = [legacy() for _ in range(3)]
    for round in range(2):
        for iid in ids:
            run_in(iid, check)
        exec(check, {{"__name__": "main_check"}})
    for iid in ids:
        I.destroy(iid)
    """
    lines = _lines(_run_child(body))
    assert len(lines) == 8 and len(set(lines)) == 1, lines
    assert int(lines[0].split()[-1]) >= 12, lines


def test_patch_in_many_subinterpreters_at_once() -> None:
    """Each of eight live subinterpreters patches its own copy module, the
    main interpreter stays patched, and unpatching or tearing one down
    touches no other (torn down unpatched: its module's teardown undoes it)."""
    body = f"""
    import fastcopy
    exec({ROUTED!r})
    fastcopy.patch()
    assert routed()
    patch_sub = {ROUTED!r} + "\\nimport fastcopy\\nfastcopy.patch()\\nassert fastcopy.is_patched() and routed()\\n"
    ids = [legacy() for _ in range(8)]
    for iid in ids:
        run_in(iid, patch_sub)
    for iid in ids:   # still patched after all the others patched
        run_in(iid, "assert routed(), 'lost its patch'")
    for iid in ids[:4]:
        run_in(iid, "fastcopy.unpatch()\\nassert not fastcopy.is_patched() and not routed()")
    for iid in ids[4:]:
        run_in(iid, "assert routed()")
    for iid in ids[::2]:
        I.destroy(iid)     # two of them still patched
    for iid in ids[1::2]:
        run_in(iid, "fastcopy.patch()\\nassert routed()")
    assert routed()
    more = [legacy() for _ in range(6)]
    for iid in more:
        run_in(iid, patch_sub)
    for iid in ids[1::2] + more:
        I.destroy(iid)
    assert routed()
    fastcopy.unpatch()
    assert not routed()
    fastcopy.patch()
    assert routed()
    fastcopy.unpatch()
    print("patch ok")
    """
    assert _lines(_run_child(body)) == ["patch ok"]


def test_patched_subinterpreters_torn_down_one_after_another() -> None:
    """Forty subinterpreters, each patched and destroyed without unpatching;
    then the main interpreter and new ones patch and copy as before."""
    body = f"""
    import fastcopy
    exec({ROUTED!r})
    code = {ROUTED!r} + "\\nimport fastcopy\\nfastcopy.patch()\\nassert routed()\\n" + {CHECK_COPIES!r}
    for k in range(40):
        iid = legacy()
        run_in(iid, code if k % 10 == 0 else code.split("import copy, dataclasses")[0])
        I.destroy(iid)
    fastcopy.patch()
    ids = [legacy() for _ in range(5)]
    for iid in ids:
        run_in(iid, code)
    assert routed()
    for iid in ids:
        I.destroy(iid)
    fastcopy.unpatch()
    assert not routed()
    print("teardown ok")
    """
    lines = _lines(_run_child(body))
    assert lines[-1] == "teardown ok" and len(lines) == 10, lines


@pytest.mark.parametrize("kind", ["legacy", pytest.param("isolated", marks=OWN_GIL)])
def test_autopatch_in_every_subinterpreter(kind: str) -> None:
    """FASTCOPY_PATCH=1: the .pth patches each interpreter when it imports
    site, however many are alive, with nothing on stderr; interpreters with
    a GIL of their own ("isolated") too."""
    body = f"""
    import fastcopy
    exec({ROUTED!r})
    assert fastcopy.is_patched() and routed()
    ids = [{kind}() for _ in range(6)]
    for iid in ids:
        run_in(iid, {ROUTED!r} + "\\nimport fastcopy\\nassert fastcopy.is_patched() and routed()\\n")
    for iid in ids:
        I.destroy(iid)
    assert routed()
    print("autopatch ok")
    """
    proc = _run_child(body, env={"FASTCOPY_PATCH": "1"})
    assert _lines(proc) == ["autopatch ok"]
    assert proc.stderr == "", proc.stderr


@pytest.mark.parametrize("kind", ["legacy", pytest.param("isolated", marks=OWN_GIL)])
def test_subinterpreters_copying_and_patching_in_threads(kind: str) -> None:
    """Three threads, each in its own subinterpreter, copy the corpus
    (compared with the stdlib) and patch and unpatch their own copy module
    200 times, while the main interpreter, patched, copies too.  "legacy":
    the GIL passes between interpreters in the middle of copies (a short
    switch interval).  "isolated" (3.12+): each has a GIL of its own, so
    they really run at the same time, sharing the patch table and the change
    counter.  Each thread destroys the interpreter it made (3.10-3.12 hang
    in Py_EndInterpreter when an interpreter whose `threading` was imported
    in one thread is destroyed from another, fastcopy or not)."""
    body = f"""
    import sys, threading, fastcopy
    sys.setswitchinterval(1e-5)
    exec({ROUTED!r})
    fastcopy.patch()
    check = {CHECK_COPIES!r}
    cycle = {ROUTED!r} + (
        "\\nimport fastcopy, copyreg"
        "\\nfor k in range(200):"
        "\\n    fastcopy.patch()"
        "\\n    assert routed(), 'not routed after patch()'"
        "\\n    copyreg.dispatch_table[type(k)] = None; del copyreg.dispatch_table[type(k)]"
        "\\n    fastcopy.unpatch()"
        "\\n    assert not routed(), 'routed after unpatch()'"
        "\\nfastcopy.patch()\\n"
    )
    errors = []
    def work():
        try:
            iid = {kind}()
            try:
                run_in(iid, check)
                run_in(iid, cycle)
                run_in(iid, check)
            finally:
                I.destroy(iid)
        except BaseException as e:
            errors.append(e)
    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for _ in range(2):
        exec(check, {{"__name__": "main_check"}})
        assert routed()
    for t in threads:
        t.join()
    assert not errors, errors
    assert routed()
    fastcopy.unpatch()
    assert not routed()
    """
    lines = _lines(_run_child(body))
    assert len(lines) == 8 and len(set(lines)) == 1, lines


@OWN_GIL
def test_datetime_first_seen_in_interpreters_that_are_gone() -> None:
    """Each interpreter keeps its own handle on the datetime C API (known.c):
    one whose datetime is the pure-Python module (3.12's with a GIL of their
    own) or that has been destroyed leaves nothing for the others to use.
    Datetimes copied first in such interpreters, then in the main one."""
    body = """
    code = (
        "import copy, datetime, fastcopy\\n"
        "x = [datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc), datetime.timedelta(5),\\n"
        "     datetime.date(2020, 1, 1), datetime.time(3)]\\n"
        "for _ in range(3):\\n"
        "    y, z = fastcopy.deepcopy(x), copy.deepcopy(x)\\n"
        "    assert y == x == z, (x, y, z)\\n"
        "    assert [type(a) for a in y] == [type(a) for a in z]\\n"
        "    assert [a is b for a, b in zip(x, y)] == [a is b for a, b in zip(x, z)]\\n"
    )
    for make in (isolated, legacy, isolated):
        iid = make()
        run_in(iid, code)
        I.destroy(iid)
    exec(code)
    print("datetime ok")
    """
    assert _lines(_run_child(body)) == ["datetime ok"]


@pytest.mark.skipif(sys.version_info < (3, 14), reason="concurrent.futures.InterpreterPoolExecutor is new in 3.14")
def test_interpreter_pool_executor() -> None:
    """3.14's InterpreterPoolExecutor runs each worker in an interpreter with
    its own GIL: fastcopy.deepcopy and, under FASTCOPY_PATCH=1,
    copy.deepcopy run there, four workers at once."""
    body = """
    import copy, fastcopy
    from concurrent.futures import InterpreterPoolExecutor
    data = [{"id": i, "tags": ["a", ("b", [i])], "nested": {"x": [1.5, None, b"z"]}} for i in range(200)]
    with InterpreterPoolExecutor(max_workers=4) as pool:
        assert all(f.result() for f in [pool.submit(fastcopy.is_patched) for _ in range(8)])
        for func in (fastcopy.deepcopy, copy.deepcopy):
            results = list(pool.map(func, [data] * 16))
            assert all(r == data and r is not data for r in results)
    print("pool ok")
    """
    proc = _run_child(body, env={"FASTCOPY_PATCH": "1"})
    assert _lines(proc) == ["pool ok"]
    assert proc.stderr == "", proc.stderr


# The modules of this suite that run inside a subinterpreter, whole, by
# pytest itself: the hostile inputs and the error paths, the zoo of stdlib
# objects and subclasses of C types, the strategy cache and the tables
# changed in the middle of a copy, patching, threads.  The others need
# what an interpreter with a GIL of its own cannot load (hypothesis's and
# _tracemalloc's extension modules, _testcapi), signals (main interpreter
# only), or only start processes.
SUITE_IN_SUBINTERPRETERS = [
    "test_hostile.py",
    "test_gc_hostile.py",
    "test_zoo.py",                  # not test_zoo_no_leak: it needs tracemalloc
    "test_known_types.py",
    "test_type_sets.py",
    "test_frozendict.py",
    "test_strategy_cache.py",
    "test_tables_changed_midcopy.py",
    "test_slots_strategy.py",
    "test_memo_elision.py",
    "test_repeated_items.py",
    "test_plain_alloc.py",
    "test_plain_inline.py",
    "test_dict_patch.py",
    "test_patch.py",
    "test_threads.py",
    "test_stdlib_suite.py",
]


# 3.12's interpreters with a GIL of their own cannot load pyexpat, _ctypes,
# _datetime (nor so _zoneinfo) or, safely, hashlib (imported first there, it
# aborts the process at exit with "double free or corruption", no fastcopy
# involved), all of which the zoo or pytest need; 3.13 loads them all.
OWN_GIL_SUITE = pytest.mark.skipif(
    sys.version_info < (3, 13),
    reason="3.12's interpreters with their own GIL cannot load the stdlib modules the suite needs",
)


@pytest.mark.parametrize("kind", ["legacy", pytest.param("isolated", marks=OWN_GIL_SUITE)])
def test_suite_modules_pass_inside_a_subinterpreter(kind: str) -> None:
    """pytest runs SUITE_IN_SUBINTERPRETERS in a subinterpreter, where each
    test compares fastcopy with that interpreter's own copy module: its
    copy.Error, its dispatch tables, its classes.  Exceptions raised there
    must be that interpreter's."""
    files = [str(TESTS / name) for name in SUITE_IN_SUBINTERPRETERS]
    # no plugin that loads what such an interpreter cannot (xdist's workers,
    # hypothesis's), and output captured at the level of sys only: the file
    # descriptors are the whole process's
    args = ["-q", "-rfE", "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:hypothesispytest",
            "-p", "no:faulthandler", "--capture=sys", "-k", "not no_leak", *files]
    code = (
        "import os, sys\n"
        "sys.argv = ['pytest']\n"
        "import pytest\n"
        f"rc = pytest.main({args!r})\n"
        "sys.stdout.flush()\n"
        "os.write(1, f'pytest exit {int(rc)}\\n'.encode())\n"
    )
    body = f"""
    iid = {kind}()
    run_in(iid, {code!r})
    I.destroy(iid)
    """
    proc = _run_child(body, env={"PYTEST_ADDOPTS": ""})
    lines = _lines(proc)
    # the interpreter's sys.stdout and the os.write may reach the pipe in
    # either order (3.14 flushed the former at the interpreter's end)
    assert "pytest exit 0" in lines, proc.stdout[-5000:]
    summaries = [line for line in lines if " passed" in line and " in " in line]
    assert summaries, proc.stdout[-5000:]
    summary = summaries[-1]
    assert "failed" not in summary and "error" not in summary, summary
    assert int(summary.split(" passed")[0].split()[-1]) >= 1500, summary
