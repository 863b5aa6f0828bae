"""fastcopy in subinterpreters.

The extension declares ``Py_MOD_MULTIPLE_INTERPRETERS_SUPPORTED``: it may be
imported by any interpreter that shares the main GIL (the "legacy"
subinterpreters that embedders such as mod_wsgi create, one per
application), and an interpreter with its own GIL (3.12+) must get an
ImportError.  Each such interpreter has its own ``copy`` module, with its
own ``deepcopy`` and ``copy`` function objects, and its own fastcopy module
state; the patch table in patch.c is the one thing they share.

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

# The child's prelude: how to make a subinterpreter that shares the main GIL
# on each version, and run code in it (failures are raised in the parent).
PRELUDE = textwrap.dedent(
    f"""
    import sys
    sys.path.insert(0, {str(TESTS)!r})
    try:
        import _interpreters as I             # 3.13
        def legacy():
            return I.create("legacy")
        def isolated():
            return I.create("isolated")
    except ImportError:
        import _xxsubinterpreters as I        # 3.10-3.12
        if sys.version_info >= (3, 12):
            def legacy():
                return I.create(isolated=False)
            def isolated():
                return I.create(isolated=True)
        else:
            legacy = I.create                 # no per-interpreter GIL yet
            isolated = None
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
    import copy, dataclasses, fastcopy, sys
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
        assert_same_copy(x, copy.deepcopy(x, memo_e), fastcopy.deepcopy(x, memo_a), memos=(memo_e, memo_a))
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


def test_autopatch_in_every_subinterpreter() -> None:
    """FASTCOPY_PATCH=1: the .pth patches each interpreter when it imports
    site, however many are alive, with nothing on stderr."""
    body = f"""
    import fastcopy
    exec({ROUTED!r})
    assert fastcopy.is_patched() and routed()
    ids = [legacy() for _ in range(6)]
    for iid in ids:
        run_in(iid, {ROUTED!r} + "\\nimport fastcopy\\nassert fastcopy.is_patched() and routed()\\n")
    for iid in ids:
        I.destroy(iid)
    assert routed()
    print("autopatch ok")
    """
    proc = _run_child(body, env={"FASTCOPY_PATCH": "1"})
    assert _lines(proc) == ["autopatch ok"]
    assert "fastcopy" not in proc.stderr, proc.stderr


def test_subinterpreters_copying_in_threads() -> None:
    """Three threads, each in its own subinterpreter, copy the corpus while
    the main interpreter copies too: the GIL passes between interpreters in
    the middle of copies (a short switch interval).  Each thread destroys
    the interpreter it made (3.10-3.12 hang in Py_EndInterpreter when an
    interpreter whose `threading` was imported in one thread is destroyed
    from another, fastcopy or not)."""
    body = f"""
    import sys, threading, fastcopy
    sys.setswitchinterval(1e-5)
    check = {CHECK_COPIES!r}
    errors = []
    def work():
        try:
            iid = legacy()
            try:
                for _ in range(2):
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
    for t in threads:
        t.join()
    assert not errors, errors
    """
    lines = _lines(_run_child(body))
    assert len(lines) == 8 and len(set(lines)) == 1, lines


@pytest.mark.skipif(sys.version_info < (3, 12), reason="interpreters with their own GIL exist from 3.12")
def test_interpreter_with_its_own_gil_gets_an_import_error() -> None:
    """fastcopy's patch table and generation counter are process-wide and
    guarded by the shared GIL, so it does not load where the GIL is not
    shared: a clean ImportError there, and the main interpreter unaffected."""
    body = """
    import fastcopy
    iid = isolated()
    try:
        run_in(iid, "import fastcopy")
    except Exception as e:   # 3.12 raises RunFailedError; 3.13's failure is an AssertionError here
        text = str(e)
    else:
        text = ""
    I.destroy(iid)
    assert "ImportError" in text and "does not support loading in subinterpreters" in text, text
    assert fastcopy.deepcopy({"a": [1]}) == {"a": [1]}
    print("isolated ok")
    """
    assert _lines(_run_child(body)) == ["isolated ok"]
