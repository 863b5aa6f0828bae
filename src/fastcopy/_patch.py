"""Route every caller of copy.deepcopy / copy.copy through fastcopy.

Two modes:

``mode="function"`` (the default)
    The stdlib's function objects ``copy.deepcopy`` and ``copy.copy`` stay
    in place -- same objects, names, ``__module__``, signatures and
    docstrings; while patched, ``__wrapped__`` is a function running the
    stdlib's own code -- and only what happens when they are called changes, so
    references taken before the patch (``from copy import deepcopy``, a
    default argument, a dict of callables) are routed too.  On 3.12+ the
    functions' vectorcall entry point is pointed at C code
    (``PyFunction_SetVectorcall``); 3.10 has no such API but calls every
    function through the same entry point, which the C module sets there
    directly (swapping ``__code__`` instead races with calls in other
    threads on 3.10: see patch.c).  On 3.11, whose specialised call sites
    do not go through that entry point, each function's ``__code__`` is
    swapped for a two-line trampoline that calls fastcopy (``copy`` gains
    one private global, ``_fastcopy_impl``, which stays after unpatch() so
    that a thread still inside a trampoline never finds it missing; the
    stdlib never reads it).

``mode="dispatch"``
    The design report's integration, kept so the benchmark tool can measure
    it: the stdlib's Python ``deepcopy`` stays in charge and only the
    ``list``, ``dict`` and ``tuple`` entries of ``copy._deepcopy_dispatch``
    are replaced by ``deepcopy_list_c``, ``deepcopy_dict_c`` and
    ``deepcopy_tuple_c``.

``unpatch()`` restores exactly what was there.  Both are idempotent and
serialised by a lock.
"""

from __future__ import annotations

import _thread
import copy as _copy
import sys
import types

from . import _fastcopy

# Under FASTCOPY_PATCH=1 this module is imported at every interpreter start,
# so it imports nothing that copy does not import already: not typing (4 ms),
# not contextlib (4 ms, imported by patched() on its first call), and not
# threading, whose import at start-up is visible (CPython's own tests check
# that a plain `python -c` has not imported it).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterator

__all__ = ["is_patched", "patch", "patched", "unpatch"]

_MODES = ("function", "dispatch")
_lock = _thread.RLock()
_state: dict[str, Any] = {"mode": None, "saved": {}}
# The entry-point patch where it is sound (3.10, 3.12+); __code__ on 3.11.
_VECTORCALL = sys.version_info[:2] != (3, 11)
_IMPL_GLOBAL = "_fastcopy_impl"

# The stdlib's function objects, as the copy module defined them.
_DEEPCOPY = _copy.deepcopy
_COPY = _copy.copy

_TRAMPOLINES = '''
def deepcopy(x, memo=None, _nil=[]):
    return _fastcopy_impl.deepcopy(x, memo)

def copy(x):
    return _fastcopy_impl.copy(x)
'''


def _trampoline_code(name: str, original: Any) -> Any:
    namespace: dict[str, Any] = {}
    exec(compile(_TRAMPOLINES, "<fastcopy.patch>", "exec"), namespace)
    code = namespace[name].__code__
    return code.replace(co_name=original.__code__.co_name, co_firstlineno=1)


def _original_clone(func: Any, code: Any) -> Any:
    """A new function object running the stdlib's own code for func: what
    ``func.__wrapped__`` points to while patched, for introspection
    (inspect.signature / inspect.unwrap) and for calling the stdlib's
    top-level code directly."""
    clone = types.FunctionType(code, func.__globals__, func.__name__, func.__defaults__, func.__closure__)
    clone.__kwdefaults__ = func.__kwdefaults__
    clone.__qualname__ = func.__qualname__
    clone.__module__ = func.__module__
    clone.__doc__ = func.__doc__
    return clone


def _patch_functions() -> None:
    saved = _state["saved"]
    for func in (_DEEPCOPY, _COPY):
        func.__wrapped__ = _original_clone(func, func.__code__)
    if _VECTORCALL:
        try:
            _fastcopy._set_vectorcall(_DEEPCOPY, "deepcopy")
            _fastcopy._set_vectorcall(_COPY, "copy")
        except BaseException:
            _fastcopy._reset_vectorcall(_DEEPCOPY)
            for func in (_DEEPCOPY, _COPY):
                func.__dict__.pop("__wrapped__", None)
            raise
        return
    # Set once and left in place: a thread may be inside a trampoline when
    # another unpatches, and the stdlib's own code never reads this name.
    _copy.__dict__[_IMPL_GLOBAL] = _fastcopy
    for func in (_DEEPCOPY, _COPY):
        saved[func] = func.__code__
        func.__code__ = _trampoline_code(func.__name__, func)


def _unpatch_functions() -> None:
    saved = _state["saved"]
    if _VECTORCALL:
        _fastcopy._reset_vectorcall(_DEEPCOPY)
        _fastcopy._reset_vectorcall(_COPY)
    else:
        for func in (_DEEPCOPY, _COPY):
            func.__code__ = saved.pop(func)
    for func in (_DEEPCOPY, _COPY):
        func.__dict__.pop("__wrapped__", None)


def _patch_dispatch() -> None:
    table = _copy._deepcopy_dispatch
    replacements = {
        list: _fastcopy.deepcopy_list_c,
        dict: _fastcopy.deepcopy_dict_c,
        tuple: _fastcopy.deepcopy_tuple_c,
    }
    _state["saved"] = {cls: table.get(cls) for cls in replacements}
    table.update(replacements)


def _unpatch_dispatch() -> None:
    table = _copy._deepcopy_dispatch
    for cls, original in _state["saved"].items():
        if original is None:
            table.pop(cls, None)
        else:
            table[cls] = original
    _state["saved"] = {}


def patch(mode: str = "function") -> None:
    """Make every ``copy.deepcopy`` / ``copy.copy`` call in this process run
    fastcopy (see the module docstring for the two modes).  Idempotent;
    patching in another mode first undoes the current one."""
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, not {mode!r}")
    with _lock:
        if _state["mode"] == mode:
            return
        if _state["mode"] is not None:
            unpatch()
        if mode == "function":
            _patch_functions()
        else:
            _patch_dispatch()
        _state["mode"] = mode


def unpatch() -> None:
    """Restore the standard library's own behaviour.  Idempotent."""
    with _lock:
        mode = _state["mode"]
        if mode is None:
            return
        if mode == "function":
            _unpatch_functions()
        else:
            _unpatch_dispatch()
        _state["mode"] = None
        _state["saved"] = {}


def is_patched() -> bool:
    """True while patch() is in effect (in either mode)."""
    return _state["mode"] is not None


def patch_mode() -> str | None:
    """The mode patch() is in effect with, or None."""
    return _state["mode"]


def _patched(mode: str) -> Iterator[None]:
    with _lock:
        before = _state["mode"]
        patch(mode)
    try:
        yield
    finally:
        with _lock:
            if before is None:
                unpatch()
            else:
                patch(before)


_patched_cm: Any = None


def patched(mode: str = "function") -> Any:
    """``with fastcopy.patched(): ...`` -- patch for the block, then restore
    whatever state was in effect before it (also usable as a decorator)."""
    global _patched_cm
    if _patched_cm is None:
        import contextlib

        _patched_cm = contextlib.contextmanager(_patched)
    return _patched_cm(mode)
