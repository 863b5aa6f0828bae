"""Deep nesting: builtin containers nested 1,000,000 deep must copy correctly;
deep chains through reduce / ``__setstate__`` / ``__deepcopy__`` must give a
correct copy or a clean RecursionError.  Never a crash: every case runs in a
child process (see ``_deep.py``) whose exit status must be 0.

With ``FASTCOPY_TEST_IMPL=stdlib`` the builtin-container cases use a depth the
stdlib can handle (it raises RecursionError at about 500), so the harness
itself is still exercised.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from _deep import BUILTIN_KINDS, CHAINS
from _impl import IS_STDLIB

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
DEEP = 1_000_000
BUILTIN_DEPTH = 100 if IS_STDLIB else DEEP
TIMEOUT = 300


def run_child(mode: str, kind: str, depth: int, *extra: str) -> list[str]:
    """Run ``_deep.main`` in a fresh interpreter; return its output lines."""
    code = f"import sys; sys.path.insert(0, {TESTS_DIR!r}); import _deep; _deep.main()"
    proc = subprocess.run(
        [sys.executable, "-c", code, mode, kind, str(depth), *extra],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=dict(os.environ),
    )
    out = proc.stdout.split()
    stage = {
        (): "while building the input or copying it",
        ("ok",): "while freeing the copy",
        ("RecursionError",): "while freeing after the RecursionError",
        ("ok", "dropped"): "while freeing the ORIGINAL input (a CPython limitation, not the copy?)",
        ("RecursionError", "dropped"): "while freeing the ORIGINAL input (a CPython limitation?)",
    }.get(tuple(out), "")
    assert proc.returncode == 0, (
        f"child {mode} {kind} {depth} {' '.join(extra)} exited with status {proc.returncode} {stage}"
        f"{' (killed by signal %d)' % -proc.returncode if proc.returncode < 0 else ''}\n"
        f"stdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-4000:]}"
    )
    return out


@pytest.mark.parametrize("kind", BUILTIN_KINDS)
def test_builtin_containers_nested_deep(kind: str) -> None:
    assert run_child("copy", kind, BUILTIN_DEPTH) == ["ok", "dropped", "original-dropped"]


def test_nested_list_with_user_memo() -> None:
    assert run_child("copy", "list", BUILTIN_DEPTH, "memo") == ["ok", "dropped", "original-dropped"]


@pytest.mark.skipif(IS_STDLIB, reason="patch() is fastcopy's")
@pytest.mark.parametrize("kind", ["list", "dict", "mixed", "set_of_frozensets"])
def test_builtin_containers_nested_deep_through_patched_stdlib(kind: str) -> None:
    """copy.deepcopy, patched, is the engine: the same depth guarantee."""
    assert run_child("copy", kind, BUILTIN_DEPTH, "patched") == ["ok", "dropped", "original-dropped"]


@pytest.mark.skipif(IS_STDLIB, reason="patch() is fastcopy's")
@pytest.mark.parametrize("kind", ["list", "dict", "tuple_with_list", "mixed"])
def test_dispatch_mode_deep_nesting_copies_or_raises(kind: str) -> None:
    """patch(mode="dispatch"): the stdlib's recursive deepcopy calls
    deepcopy_list_c/_dict_c/_tuple_c, which call it back: a clean
    RecursionError (as the stdlib alone), never a C stack overflow."""
    out = run_child("copy-or-recursion", kind, DEEP, "dispatch")
    assert out in (["ok", "dropped", "original-dropped"], ["RecursionError", "dropped", "original-dropped"]), out


@pytest.mark.parametrize("depth", [1_000, 100_000, DEEP])
@pytest.mark.parametrize("kind", list(CHAINS))
def test_chains_copy_or_raise_recursion_error(kind: str, depth: int) -> None:
    out = run_child("copy-or-recursion", kind, depth)
    assert out in (["ok", "dropped", "original-dropped"], ["RecursionError", "dropped", "original-dropped"]), out


@pytest.mark.skipif(not IS_STDLIB, reason="a check of CPython and of the harness, not of the implementation")
@pytest.mark.parametrize("kind", BUILTIN_KINDS)
def test_control_builtin_inputs_can_be_freed(kind: str) -> None:
    """CPython can free the 1,000,000-deep builtin inputs used with fastcopy."""
    assert run_child("build", kind, DEEP) == ["original-dropped"]


@pytest.mark.parametrize("kind", BUILTIN_KINDS + list(CHAINS))
def test_verifiers_detect_wrong_copies(kind: str) -> None:
    """In-process, shallow: the child's checks accept the stdlib's copy and
    reject the input itself, a shallow copy and a truncated copy."""
    import copy

    from _deep import ImplHookNode, _build_builtin, build_chain, verify_builtin, verify_chain

    builtin = kind in BUILTIN_KINDS
    build, verify = (_build_builtin, verify_builtin) if builtin else (build_chain, verify_chain)
    ImplHookNode.impl = copy
    x = build(kind, 20)
    verify(kind, 20, x, copy.deepcopy(x))
    wrong = [build(kind, 19)]
    if kind != "tuple_of_atoms":
        wrong += [x, copy.copy(x)]
    for bad in wrong:
        with pytest.raises(AssertionError):
            verify(kind, 20, x, bad)
