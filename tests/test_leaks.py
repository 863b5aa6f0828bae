"""Reference and memory leaks, two-phase (warm up, measure, repeat, measure).

For each representative input: 100 warm-up calls, then the refcounts of the
objects involved, the number of GC-tracked objects and the traced memory are
recorded; after 1,000 more calls they must be (almost) unchanged.  A leak of
one object or one reference per call shows up as a delta of about 1,000.
"""

from __future__ import annotations

import collections
import copy
import gc
import sys
import tracemalloc
import weakref
from typing import Any, Callable

import pytest

from _impl import impl
from isomorphism import reachable
from strategies import DC, Bag, CustomReplace, Plain, Point, Slotted, WithDeepcopy, WithReduce

WARMUP = 100
CALLS = 1000
MAX_OBJECTS_DELTA = 10
MAX_MEMORY_DELTA = 8 * 1024


def _shared_cyclic() -> Any:
    shared = [1, "s"]
    lst: list[Any] = [shared, {"k": shared}]
    lst.append(lst)
    return lst


def _slotted() -> Slotted:
    s = Slotted()
    s.a = [1]
    return s


def _bag() -> Bag:
    b = Bag()
    b.items += [[1], (2,)]
    b.mapping["k"] = {"v": [3]}
    return b


def _inputs() -> dict[str, Any]:
    p = Plain(a=[1, 2], b={"c": (3, [4])})
    p.me = p.method
    return {
        "builtin": {"a": [1, 2.5, "x", (3, [4])], "b": {1, 2}, "c": frozenset({3}), "d": b"x", "e": None},
        "tuple_of_atoms": (1, "a", (2, 3.0)),
        "shared_cyclic": _shared_cyclic(),
        "instances": [p, _slotted(), DC([1], {2: 3}), Point([1], 2)],
        "reduce": [_bag(), WithReduce([1]), collections.OrderedDict(a=[1]), collections.defaultdict(list, k=[1]),
                   collections.deque([[1]], maxlen=4), bytearray(b"ab"), {5, 6}],
        "hooks": [WithDeepcopy([1, [2]]), WithDeepcopy(None)],
    }


class Reducing:
    def __init__(self, rv: Any) -> None:
        self.rv = rv

    def __reduce_ex__(self, protocol: int) -> Any:
        return self.rv


class HookRaises:
    def __deepcopy__(self, memo: Any) -> Any:
        raise ValueError("no")


class RaisesKeyboardInterrupt:
    def __deepcopy__(self, memo: Any) -> Any:
        raise KeyboardInterrupt  # a new instance each time (a reused one accumulates tracebacks)


class GrowsParent:
    def __init__(self, parent: dict[Any, Any]) -> None:
        self.parent = parent

    def __deepcopy__(self, memo: Any) -> Any:
        self.parent["new"] = 1
        return 1


class MappingMemo(dict):  # type: ignore[type-arg]
    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(key, default)


def _swallow(call: Callable[[], Any], *exc: type[BaseException]) -> Callable[[], None]:
    def wrapped() -> None:
        try:
            call()
        except exc:
            pass

    return wrapped


def _cases() -> dict[str, tuple[Callable[[], Any], list[Any]]]:
    """name -> (one call, objects whose refcounts must not drift)."""
    inp = _inputs()
    cases: dict[str, tuple[Callable[[], Any], list[Any]]] = {}
    for name, x in inp.items():
        watch = [o for o in reachable(x).values() if isinstance(o, (list, dict, set, Plain, Bag, WithDeepcopy))]
        cases[f"deepcopy-{name}"] = ((lambda x=x: impl.deepcopy(x)), [x, *watch])
        cases[f"deepcopy-memo-{name}"] = ((lambda x=x: impl.deepcopy(x, {})), [x, *watch])
        cases[f"copy-{name}"] = ((lambda x=x: impl.copy(x)), [x, *watch])
    bad_reduce = [[1], Reducing(42)]
    cases["error-bad-reduce"] = (_swallow(lambda: impl.deepcopy(bad_reduce), TypeError), bad_reduce)
    bad_state = [[1], Reducing((Plain, (), 5))]
    cases["error-bad-state"] = (_swallow(lambda: impl.deepcopy(bad_state, {}), TypeError), bad_state)
    hook = [[1], {"k": HookRaises()}]
    cases["error-hook"] = (_swallow(lambda: impl.deepcopy(hook), ValueError), hook)
    uncopyable = [[1], Reducing(None)]
    cases["error-uncopyable"] = (_swallow(lambda: impl.deepcopy(uncopyable), TypeError), uncopyable)
    ki = [[1], RaisesKeyboardInterrupt()]
    cases["error-keyboard-interrupt"] = (_swallow(lambda: impl.deepcopy(ki), KeyboardInterrupt), ki)

    def grows() -> None:
        d: dict[Any, Any] = {"a": [1]}
        d["g"] = GrowsParent(d)
        try:
            impl.deepcopy(d)
        except RuntimeError:
            pass

    cases["error-dict-changed-size"] = (grows, [])

    odd = [[1], {"k": (2, [3])}]
    cases["odd-memo"] = ((lambda: impl.deepcopy(odd, MappingMemo())), odd)
    dc = DC([1], 2)
    cases["replace"] = (_swallow(lambda: impl.replace(dc, a=[5]), TypeError), [dc])
    cr = CustomReplace([1], 2)
    cases["replace-custom"] = ((lambda: impl.replace(cr, a=[5])), [cr])
    report = [[1, (2, [3])], {"k": [4]}]
    if hasattr(impl, "deepcopy_list_c"):
        cases["report-list-c"] = ((lambda: impl.deepcopy_list_c(report, {})), report)
        cases["report-dict-c"] = ((lambda: impl.deepcopy_dict_c(report[1], {})), report)
        cases["report-tuple-c"] = ((lambda: impl.deepcopy_tuple_c(report[0][1], {})), report)
        cases["error-report-bad-args"] = (_swallow(lambda: impl.deepcopy_list_c(report), TypeError), report)

        def patched_calls() -> None:
            with impl.patched():
                copy.deepcopy(report)
                copy.copy(report)
            with impl.patched("dispatch"):
                copy.deepcopy(report)

        cases["patch-unpatch"] = (patched_calls, report)
    return cases


CASES = _cases()


def _snapshot(watch: list[Any]) -> tuple[list[int], int, int]:
    gc.collect()
    refcounts = [sys.getrefcount(o) for o in watch]
    n_objects = len(gc.get_objects())
    memory = tracemalloc.get_traced_memory()[0]
    return refcounts, n_objects, memory


@pytest.mark.parametrize("name", list(CASES))
def test_no_leak_over_repeated_calls(name: str) -> None:
    call, watch = CASES[name]
    tracemalloc.start()
    try:
        for _ in range(WARMUP):
            call()
        rc0, n0, mem0 = _snapshot(watch)
        for _ in range(CALLS):
            call()
        rc1, n1, mem1 = _snapshot(watch)
    finally:
        tracemalloc.stop()
    drift = [(type(o).__name__, b, a) for o, b, a in zip(watch, rc0, rc1) if a != b]
    assert not drift, f"refcounts drifted over {CALLS} calls: {drift}"
    assert abs(n1 - n0) <= MAX_OBJECTS_DELTA, f"GC-tracked objects: {n0} -> {n1} over {CALLS} calls"
    assert mem1 - mem0 <= MAX_MEMORY_DELTA, f"traced memory grew by {mem1 - mem0} bytes over {CALLS} calls"


@pytest.mark.parametrize("name", list(_inputs()))
@pytest.mark.parametrize("with_memo", [False, True])
def test_originals_not_retained(name: str, with_memo: bool) -> None:
    """Right after the call, objects that were copied are referenced exactly
    as before (the result does not refer to them, nothing else may)."""
    x = _inputs()[name]
    kept = reachable(copy.deepcopy(x))  # objects the stdlib's result shares with x
    watch = [o for o in reachable(x).values() if id(o) not in kept and not isinstance(o, (int, str, float))]
    watch_refs = [sys.getrefcount(o) for o in watch]
    memo: Any = {} if with_memo else None
    result = impl.deepcopy(x, memo)
    memo = None
    after = [sys.getrefcount(o) for o in watch]
    assert after == watch_refs, [(type(o).__name__, b, a) for o, b, a in zip(watch, watch_refs, after) if a != b]
    del result
    gc.collect()
    assert [sys.getrefcount(o) for o in watch] == watch_refs


class Temporary:
    """Created by __reduce_ex__ and referenced only from the reduce value."""

    def __init__(self, v: Any = None) -> None:
        self.v = v


class MakesTemporaries:
    refs: list[weakref.ref[Temporary]] = []

    def __init__(self, where: str) -> None:
        self.where = where

    def __reduce_ex__(self, protocol: int) -> Any:
        tmp = Temporary([1])
        MakesTemporaries.refs.append(weakref.ref(tmp))
        if self.where == "args":
            return (Temporary, (tmp,))
        if self.where == "state":
            return (Plain, (), {"t": tmp})
        if self.where == "listiter":
            return (list, (), None, iter([tmp]))
        if self.where == "dictiter":
            return (dict, (), None, None, iter([("k", tmp)]))
        if self.where == "error":
            return (Plain, (), {"t": tmp}, 5)  # listiter not iterable
        raise AssertionError(self.where)


@pytest.mark.parametrize("where", ["args", "state", "listiter", "dictiter", "error"])
@pytest.mark.parametrize("op", ["deepcopy", "copy", "deepcopy-memo"])
def test_reduce_temporaries_are_freed(where: str, op: str) -> None:
    MakesTemporaries.refs.clear()
    x = [MakesTemporaries(where)]
    target: Any = x if op != "copy" else x[0]
    memo: Any = {} if op == "deepcopy-memo" else None
    try:
        if op == "copy":
            result = impl.copy(target)
        else:
            result = impl.deepcopy(target, memo)
    except TypeError:
        assert where == "error"
        result = None
    assert MakesTemporaries.refs, "__reduce_ex__ was not called"
    if op == "deepcopy-memo":
        if where != "error":
            assert all(r() is not None for r in MakesTemporaries.refs), "the user memo keeps temporaries alive"
        memo = None
    if op == "copy" and where != "error":
        return  # a shallow copy holds the temporary itself
    assert all(r() is None for r in MakesTemporaries.refs), "a temporary from __reduce_ex__ outlived the call"
    del result
