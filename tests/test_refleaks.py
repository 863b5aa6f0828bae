"""Reference leaks on every public function and every error path.

Two phases, as simplejson's ``TestRefcountLeaks`` does: ``WARMUP`` calls
(caches, free lists, interned strings and lazily created objects settle),
a measurement, ``CALLS`` more calls, a second measurement.  Measured:

* ``sys.getrefcount`` of every object involved: the inputs, their types,
  the memo the caller passes (reused across calls, cleared after each one),
  the hook functions and the exception classes -- exactly equal;
* the number of objects the garbage collector tracks -- at most
  ``MAX_OBJECTS_DELTA`` apart: the interpreter's own caches (method caches,
  a traceback kept by ``sys.last_*``, a free-list refill) may move by a few
  objects, never by one per call, which would be ``CALLS``;
* ``tracemalloc``'s total -- at most ``MAX_MEMORY_DELTA`` bytes apart:
  tracemalloc's own bookkeeping and allocator free lists move by a few
  hundred bytes; leaking even 2 bytes per call would exceed it.

``tests/test_leaks.py`` covers representative successful inputs; this file
adds the error paths and the functions not covered there.
``FASTCOPY_REFLEAK_CALLS`` (default 2000) sets ``CALLS``.
"""

from __future__ import annotations

import copy
import dataclasses
import gc
import os
import sys
import tracemalloc
from typing import Any, Callable

import pytest

from _impl import IS_STDLIB, impl
from strategies import DC, Plain

WARMUP = 200
CALLS = int(os.environ.get("FASTCOPY_REFLEAK_CALLS", "2000"))
MAX_OBJECTS_DELTA = 5
MAX_MEMORY_DELTA = 4096


# --------------------------------------------------------------------------
# hostile classes (one of each kind of failure)


class Reducing:
    def __init__(self, rv: Any) -> None:
        self.rv = rv

    def __reduce_ex__(self, protocol: int) -> Any:
        return self.rv


class DictiterNotPairs:
    def __reduce_ex__(self, protocol: int) -> Any:
        return (dict, (), None, None, iter([1]))  # a fresh iterator each time


class HookRaises:
    def __deepcopy__(self, memo: Any) -> Any:
        raise ValueError("hook")

    def __copy__(self) -> Any:
        raise ValueError("copy hook")


class GetattrRaises:
    def __getattr__(self, name: str) -> Any:
        raise LookupError(name)


class SetstateRaises:
    def __init__(self) -> None:
        self.v = [1]

    def __setstate__(self, state: Any) -> None:
        raise ValueError("setstate")


class ReduceRaises:
    def __reduce_ex__(self, protocol: int) -> Any:
        raise ValueError("reduce")


class Uncopyable:
    __reduce_ex__ = None
    __reduce__ = None


class NewRaises:
    def __init__(self) -> None:
        self.v = [1]

    def __reduce_ex__(self, protocol: int) -> Any:
        return (_raise_value_error, ([1],), {"s": [2]})


def _raise_value_error(*args: Any) -> Any:
    raise ValueError("constructor")


class GrowsParent:
    def __init__(self, parent: dict[Any, Any]) -> None:
        self.parent = parent

    def __deepcopy__(self, memo: Any) -> Any:
        self.parent[len(self.parent)] = 1
        return 1


class HookChain:
    """__deepcopy__ recursing through the implementation: deep enough, a
    RecursionError."""

    def __init__(self, nxt: Any) -> None:
        self.next = nxt

    def __deepcopy__(self, memo: Any) -> Any:
        return HookChain(impl.deepcopy(self.next, memo))


class MemoGetRaises(dict):  # type: ignore[type-arg]
    """A memo whose lookup raises: memo.get up to 3.14, `id(x) in memo`
    from 3.15."""

    def get(self, key: Any, default: Any = None) -> Any:
        raise KeyError("memo.get")

    def __contains__(self, key: Any) -> bool:
        raise KeyError("id(x) in memo")


class MemoSetRaises(dict):  # type: ignore[type-arg]
    def __setitem__(self, key: Any, value: Any) -> None:
        raise TypeError("memo[k] = v")


class RaisesKeyboardInterrupt:
    def __deepcopy__(self, memo: Any) -> Any:
        raise KeyboardInterrupt


@dataclasses.dataclass
class Frozen:
    a: Any
    b: Any = None


# --------------------------------------------------------------------------
# the cases


def _stdlib_error(call: Callable[[], Any]) -> type[BaseException]:
    """The type of the exception the stdlib raises in call (which must raise)."""
    try:
        call()
    except Exception as e:  # noqa: BLE001 - whichever it is, it is the oracle
        return type(e)
    raise AssertionError("the stdlib raised nothing")


def _expect(exc: type[BaseException], call: Callable[[], Any]) -> Callable[[], None]:
    """One call that must raise ``exc`` (so the error path really runs)."""

    def wrapped() -> None:
        try:
            call()
        except exc:
            return
        raise AssertionError(f"{exc.__name__} not raised")

    return wrapped


def _reuse_memo(memo: dict[Any, Any], call: Callable[[dict[Any, Any]], Any]) -> Callable[[], None]:
    """Call with the caller's memo, then empty it (its refcount is watched)."""

    def wrapped() -> None:
        try:
            call(memo)
        finally:
            memo.clear()

    return wrapped


def _cases() -> dict[str, tuple[Callable[[], Any], list[Any]]]:
    """name -> (one call, objects whose refcounts must not drift)."""
    cases: dict[str, tuple[Callable[[], Any], list[Any]]] = {}
    memo: dict[Any, Any] = {}
    data = [[1, (2, [3])], {"k": [4], "s": {5}}, Plain(a=[6]), DC([7], 8)]
    watch_data = [data, *data, Plain, DC, list, dict, tuple, set]

    # successes not in test_leaks.py
    cases["deepcopy-kw"] = (lambda: impl.deepcopy(x=data, memo=None), watch_data)
    cases["deepcopy-reused-memo"] = (_reuse_memo(memo, lambda m: impl.deepcopy(data, m)), [memo, *watch_data])
    cases["copy-each"] = (lambda: [impl.copy(o) for o in data], watch_data)
    frozen = Frozen([1])
    cases["replace-dataclass"] = (lambda: impl.replace(frozen, b=[2]), [frozen, Frozen])
    if not IS_STDLIB:
        lst, dct, tpl = data[0], data[1], data[0][1]
        for name, fn, arg in (("list", impl.deepcopy_list_c, lst), ("dict", impl.deepcopy_dict_c, dct),
                              ("tuple", impl.deepcopy_tuple_c, tpl)):
            cases[f"deepcopy_{name}_c"] = (_reuse_memo(memo, lambda m, fn=fn, arg=arg: fn(arg, m)), [memo, arg, *watch_data])
            cases[f"deepcopy_{name}_c-with-deepcopy"] = (
                _reuse_memo(memo, lambda m, fn=fn, arg=arg: fn(arg, m, copy.deepcopy)), [memo, arg, *watch_data])
            cases[f"error-deepcopy_{name}_c-no-memo"] = (_expect(TypeError, lambda fn=fn, arg=arg: fn(arg)), [arg])
            cases[f"error-deepcopy_{name}_c-hook"] = (
                _expect(ValueError, lambda fn=fn: fn({"k": HookRaises()} if fn is impl.deepcopy_dict_c
                                                    else ((HookRaises(),) if fn is impl.deepcopy_tuple_c
                                                          else [HookRaises()]), {})),
                [HookRaises])

        def patch_cycle() -> None:
            impl.patch()
            copy.deepcopy(data)
            copy.copy(data)
            impl.unpatch()
            impl.patch("dispatch")
            copy.deepcopy(data)
            impl.unpatch()

        cases["patch-unpatch"] = (patch_cycle, [copy.deepcopy, copy.copy, copy._deepcopy_dispatch, *watch_data])

        def patched_block_raises() -> None:
            try:
                with impl.patched():
                    copy.deepcopy(data)
                    raise LookupError("inside")
            except LookupError:
                pass

        cases["patched-block-raises"] = (patched_block_raises, [copy.deepcopy, *watch_data])
        cases["error-patch-bad-mode"] = (_expect(ValueError, lambda: impl.patch(mode="nope")), [copy.deepcopy])

    # error paths of deepcopy
    errors: dict[str, tuple[type[BaseException], Any]] = {
        "reduce-int": (TypeError, Reducing(42)),
        "reduce-short-tuple": (TypeError, Reducing((Plain,))),
        "reduce-func-not-callable": (TypeError, Reducing((5, ()))),
        "reduce-args-not-tuple": (TypeError, Reducing((Plain, 5))),
        "reduce-bad-state": (TypeError, Reducing((Plain, (), 5))),
        "reduce-listiter-not-iterable": (TypeError, Reducing((list, (), None, 5))),
        "reduce-dictiter-not-pairs": (TypeError, DictiterNotPairs()),
        "reduce-raises": (ValueError, ReduceRaises()),
        "constructor-raises": (ValueError, NewRaises()),
        "setstate-raises": (ValueError, SetstateRaises()),
        "hook-raises": (ValueError, HookRaises()),
        "getattr-raises": (LookupError, GetattrRaises()),
        "uncopyable": (copy.Error, Uncopyable()),
        "keyboard-interrupt": (KeyboardInterrupt, RaisesKeyboardInterrupt()),
    }
    for name, (exc, bad) in errors.items():
        x = [[1], {"k": [2, bad]}, (3, [4])]
        watch = [x, bad, type(bad), exc]
        cases[f"error-deepcopy-{name}"] = (_expect(exc, lambda x=x: impl.deepcopy(x)), watch)
        cases[f"error-deepcopy-memo-{name}"] = (_expect(exc, lambda x=x: impl.deepcopy(x, {})), watch)
        cases[f"error-deepcopy-reused-memo-{name}"] = (
            _reuse_memo(memo, lambda m, x=x, exc=exc: _expect(exc, lambda: impl.deepcopy(x, m))()), [memo, *watch])
        if name not in ("hook-raises", "keyboard-interrupt", "getattr-raises"):  # copy() asks the class
            cases[f"error-copy-{name}"] = (_expect(exc, lambda bad=bad: impl.copy(bad)), watch)
    cases["error-copy-hook-raises"] = (_expect(ValueError, lambda: impl.copy(HookRaises())), [HookRaises])

    def dict_changed_size() -> None:
        d: dict[Any, Any] = {"a": [1]}
        d["g"] = GrowsParent(d)
        _expect(RuntimeError, lambda: impl.deepcopy(d))()

    cases["error-dict-changed-size"] = (dict_changed_size, [GrowsParent])
    x = [[1], {"k": [2]}]
    cases["error-memo-get-raises"] = (_expect(KeyError, lambda: impl.deepcopy(x, MemoGetRaises())), [x, MemoGetRaises])
    cases["error-memo-set-raises"] = (_expect(TypeError, lambda: impl.deepcopy(x, MemoSetRaises())), [x, MemoSetRaises])
    # AttributeError (5.get) up to 3.14, TypeError (id(x) in 5) from 3.15
    cases["error-memo-not-mapping"] = (_expect(_stdlib_error(lambda: copy.deepcopy(x, 5)), lambda: impl.deepcopy(x, 5)), [x])
    if not IS_STDLIB:
        cases["error-deepcopy-no-args"] = (_expect(TypeError, lambda: impl.deepcopy()), [])
        cases["error-deepcopy-bad-kw"] = (_expect(TypeError, lambda: impl.deepcopy(x, nope=1)), [x])
        cases["error-deepcopy-too-many"] = (_expect(TypeError, lambda: impl.deepcopy(x, None, 1)), [x])
    chain: Any = None
    for _ in range(sys.getrecursionlimit() + 100):
        chain = HookChain(chain)
    cases["error-hook-chain-recursion"] = (_expect(RecursionError, lambda: impl.deepcopy([chain])), [chain, HookChain])

    # error paths of replace
    cases["error-replace-unsupported"] = (_expect(TypeError, lambda: impl.replace([1], a=1)), [])
    cases["error-replace-bad-field"] = (_expect(TypeError, lambda: impl.replace(frozen, zz=1)), [frozen, Frozen])
    return cases


CASES = _cases()

# a few cases are slow per call; they run fewer times (still >> the slack)
SLOW = {"error-hook-chain-recursion": 10}


def _snapshot(watch: list[Any]) -> tuple[list[int], int, int]:
    gc.collect()
    return [sys.getrefcount(o) for o in watch], len(gc.get_objects()), tracemalloc.get_traced_memory()[0]


@pytest.mark.parametrize("name", list(CASES))
def test_stable_references_objects_and_memory(name: str) -> None:
    call, watch = CASES[name]
    calls = max(CALLS // SLOW.get(name, 1), MAX_OBJECTS_DELTA * 20)
    warmup = max(WARMUP // SLOW.get(name, 1), 10)
    tracemalloc.start()
    try:
        for _ in range(warmup):
            call()
        rc0, n0, mem0 = _snapshot(watch)
        for _ in range(calls):
            call()
        rc1, n1, mem1 = _snapshot(watch)
    finally:
        tracemalloc.stop()
        if not IS_STDLIB and impl.is_patched():
            impl.unpatch()
    drift = [(getattr(o, "__name__", type(o).__name__), b, a) for o, b, a in zip(watch, rc0, rc1) if a != b]
    assert not drift, f"refcounts drifted over {calls} calls: {drift}"
    # growth only: garbage left by earlier tests (classes they created, held
    # by caches and weak references) may be freed during the measurement
    assert n1 - n0 <= MAX_OBJECTS_DELTA, f"GC-tracked objects: {n0} -> {n1} over {calls} calls"
    assert mem1 - mem0 <= MAX_MEMORY_DELTA, f"traced memory grew by {mem1 - mem0} bytes over {calls} calls"
