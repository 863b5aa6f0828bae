"""Allocation failures: every allocation of a call, failed in turn.

``_testcapi.set_nomemory(n, n + 1)`` (CPython's own test helper) makes the
n-th allocation after it fail, whatever the allocator domain.  For each
input and each entry point, every n from 0 on is tried: the call must then
either raise ``MemoryError`` -- not another exception, not a crash, not a
message printed by a destructor -- or return a correct copy; afterwards the
input holds exactly the references it held before (an error path that
forgets to release an original shows here), and the next call, with memory
back, returns the copy the stdlib makes.

The inputs avoid Python-level hooks that do much work themselves: under
allocation failure CPython's own interpreter loop can crash (a graph mixing
``__deepcopy__`` hooks, reducers and bytearrays crashed 3.11's
``copy.deepcopy`` itself in this loop), and that would not be fastcopy's.
Hooks with one small call each are kept.

Runs only with CPython's ``_testcapi`` (pyenv and python.org builds have
it; some distributions ship it separately).
"""

from __future__ import annotations

import collections
import copy
import copyreg
import dataclasses
import datetime
import decimal
import enum
import gc
import sys
import uuid
from typing import Any, Callable

import pytest

import fastcopy
from _impl import IS_STDLIB
from isomorphism import assert_isomorphic, assert_same_copy, reachable

_testcapi = pytest.importorskip("_testcapi")
if not hasattr(_testcapi, "set_nomemory"):  # pragma: no cover - every 3.10+ has it
    pytest.skip("_testcapi.set_nomemory is missing", allow_module_level=True)

pytestmark = pytest.mark.skipif(IS_STDLIB, reason="fastcopy's own error paths (Template, replicate)")

# allocations tried per call; the largest input makes about 120 with memory
LIMIT = 260


class Color(enum.Enum):
    RED = 1


@dataclasses.dataclass
class Point:
    x: int
    tags: list


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self) -> None:
        self.a = [1, 2]
        self.b = {"k": (3, [4])}


class Plain:
    def __init__(self) -> None:
        self.v = [1, {"a": 2}]


class Reduced:
    def __init__(self) -> None:
        self.v = [1]

    def __reduce__(self):
        return (Reduced, (), self.__dict__)

    def __setstate__(self, state):
        self.__dict__.update(state)


class Hooked:
    def __init__(self) -> None:
        self.v = [1]

    def __deepcopy__(self, memo):
        new = Hooked.__new__(Hooked)
        new.v = copy.deepcopy(self.v, memo)
        return new


class Registered:
    def __init__(self, n: int) -> None:
        self.n = n


copyreg.pickle(Registered, lambda r: (Registered, (r.n,)))


def _containers() -> Any:
    return [[1, 2.0, "s", None], {"a": [3], "b": {"c": (4, [5])}}, (6, [7]), {8, 9}, frozenset([10]),
            bytearray(b"xy"), b"by", list(range(40)), {f"k{i}": [i] for i in range(12)}]


def _sharing() -> Any:
    shared = [1, 2]
    cyc: list = [1]
    cyc.append(cyc)
    d: dict = {"a": shared}
    d["self"] = d
    t = ([],)
    t[0].append(t)
    return [shared, shared, (shared, shared), cyc, d, t, [shared] * 5]


def _instances() -> Any:
    return [Point(1, ["a"]), Point(2, ["b"]), Plain(), Color.RED,
            datetime.datetime(2020, 1, 2, 3, 4), datetime.timedelta(days=2), decimal.Decimal("1.5"),
            uuid.UUID(int=5)]


def _slots() -> Any:
    return [Slotted(), Slotted(), [Slotted()]]


def _hooks() -> Any:
    return [Reduced(), Hooked(), Registered(3), [Reduced()]]


INPUTS: dict[str, Callable[[], Any]] = {
    "containers": _containers,
    "sharing": _sharing,
    "instances": _instances,
    "slots": _slots,
    "hooks": _hooks,
}

def _template(x: Any) -> Any:
    t = fastcopy.Template(x)
    return t, t()


def _replicate(x: Any) -> Any:
    t = fastcopy.Template(x)       # fastcopy.replicate(x, n) is this
    return t, t.replicate(2)


# The Template is returned with its copies so that it is freed after the
# window, not inside it: CPython 3.13.0 needs memory to free an instance
# whose __dict__ was materialized (PyObject_ClearManagedDict detaches the
# values), and when that allocation fails it reports an unraisable
# MemoryError and leaves the dict reading the freed object (valgrind:
# invalid reads in dict_traverse at the next collection) -- with plain
# Python objects and no fastcopy at all.  A Template's snapshot holds such
# instances.
ENTRY_POINTS: dict[str, Callable[[Any], Any]] = {
    "deepcopy": fastcopy.deepcopy,
    "deepcopy-memo": lambda x: fastcopy.deepcopy(x, {}),
    "template": _template,
    "replicate": _replicate,
    "copy": fastcopy.copy,
}


# objects whose counts other code moves too (shared atoms, singletons)
_SHARED = (int, float, str, bytes, bool, type(None), type, Color)


def _refcounts(x: Any) -> dict[int, int]:
    """sys.getrefcount of every object of x's graph that the input owns."""
    return {i: sys.getrefcount(o) for i, o in reachable(x).items() if not isinstance(o, _SHARED)}


def _check(entry: str, x: Any, result: Any) -> None:
    if entry in ("template", "replicate"):
        result = result[1]
    if entry == "copy":
        assert type(result) is list and result is not x
        assert all(a is b for a, b in zip(result, x)) and len(result) == len(x)
    elif entry == "replicate":
        assert type(result) is list and len(result) == 2
        for r in result:
            assert_same_copy(x, copy.deepcopy(x), r)
    else:
        assert_same_copy(x, copy.deepcopy(x), result)


_FAILED = object()


def _attempt(fn: Callable[[Any], Any], x: Any, start: int, stop: int) -> Any:
    """fn(x) with the allocations from the start-th to before the stop-th
    failing (stop 0: all from start on); _FAILED if it raised MemoryError.
    Nothing else runs while the allocations fail."""
    _testcapi.set_nomemory(start, stop)
    try:
        return fn(x)
    except MemoryError:
        return _FAILED
    finally:
        _testcapi.remove_mem_hooks()


# With a memo from the caller, a __slots__ instance is copied the stdlib's
# way, through `for key, value in slotstate.items()`; 3.11's dict-items
# iterator, when its result tuple cannot be allocated, frees itself as if
# the collector tracked it and crashes (dictiter_new) -- as the stdlib's own
# copy does there.
CPYTHON_CRASHES = {("slots", "deepcopy-memo")}
CASES = [(n, e) for n in INPUTS for e in ENTRY_POINTS if (n, e) not in CPYTHON_CRASHES]


@pytest.mark.parametrize(("name", "entry"), CASES)
def test_every_failed_allocation_is_a_clean_memoryerror(name: str, entry: str) -> None:
    fn = ENTRY_POINTS[entry]
    x = INPUTS[name]()
    for _ in range(3):  # caches, strategy tables, kept scratch blocks, interned names
        fn(x)
    gc.collect()
    before = _refcounts(x)
    printed: list[str] = []
    hooks = (sys.excepthook, sys.unraisablehook)
    sys.excepthook = lambda *a: printed.append(f"excepthook: {a[0].__name__}: {a[1]}")
    sys.unraisablehook = lambda u: printed.append(f"unraisable: {u.exc_type.__name__}: {u.exc_value}")
    outcomes: collections.Counter[str] = collections.Counter()
    results = []
    try:
        gc.disable()  # a collection inside the window would fail the allocations of others
        for n in range(LIMIT):
            r = _attempt(fn, x, n, n + 1)
            if r is _FAILED:
                outcomes["MemoryError"] += 1
            else:
                outcomes["ok"] += 1
                results.append(r)
    finally:
        gc.enable()
        sys.excepthook, sys.unraisablehook = hooks
    # the failures reached fastcopy's allocations, and the last calls had all
    # the memory they needed
    assert outcomes["MemoryError"] >= 1, outcomes
    assert outcomes["ok"] >= 1, outcomes
    assert printed == []
    # every copy returned while some allocation was failing is still right
    for r in results:
        _check(entry, x, r)
    del results, r
    gc.collect()
    assert _refcounts(x) == before
    # and with memory back, the next call is exact
    _check(entry, x, fn(x))


def test_failed_rebuild_of_the_tables_is_retried() -> None:
    """A MemoryError while fastcopy re-reads copy's dispatch tables (after
    a change to them) is that MemoryError, not an error about the tables;
    and the change is seen by the next call, not lost."""

    class Mine:
        pass

    def copier(x, memo):
        return "mine"

    x = [Mine()]
    seen: collections.Counter[str] = collections.Counter()
    try:
        for n in range(40):
            copy._deepcopy_dispatch[Mine] = copier  # a change: the next call rebuilds
            seen["MemoryError" if _attempt(fastcopy.deepcopy, x, n, n + 1) is _FAILED else "ok"] += 1
            # with no change since, the next call still sees the entry
            assert fastcopy.deepcopy(x) == ["mine"]
            del copy._deepcopy_dispatch[Mine]
            y = fastcopy.deepcopy(x)     # and its removal
            assert type(y[0]) is Mine and y[0] is not x[0]
    finally:
        copy._deepcopy_dispatch.pop(Mine, None)
    assert seen["MemoryError"] >= 1 and seen["ok"] >= 1, seen
    assert_isomorphic(fastcopy.deepcopy([1, [2]]), [1, [2]])


def _big_memo() -> Any:
    # 5,000 lists held twice: a memo table of 16,384 slots (256 KiB), more
    # than a call keeps for the next one, so every call grows it afresh
    shared = [[i] for i in range(5000)]
    return [shared, list(shared)]


def _big_deep() -> Any:
    # 400 nested levels (the stdlib oracle copies about 490 at the default
    # recursion limit): the frame stack and the done log outgrow the
    # Copier's inline arrays (16 entries) several times
    node: Any = [0]
    for i in range(400):
        node = [i, node] if i % 2 else {"c": node}
    return node


@pytest.mark.parametrize("make", [_big_memo, _big_deep], ids=["memo-table", "deep-stack"])
@pytest.mark.parametrize("entry", ["deepcopy", "deepcopy-memo", "template"])
def test_failures_while_the_working_arrays_grow(make: Callable[[], Any], entry: str) -> None:
    """Graphs whose memo table, frame stack and done log grow during the
    call: allocations failed one at a time and from some point on, at 150
    positions spread over the whole call."""
    fn = ENTRY_POINTS[entry]
    x = make()
    fn(x)
    before = _refcounts(x)
    outcomes: collections.Counter[str] = collections.Counter()
    gc.disable()
    try:
        # every allocation from n on fails: the first n that lets the call
        # through is (within the stride) the number of allocations it makes
        n = 0
        while _attempt(fn, x, n, 0) is _FAILED:
            outcomes["MemoryError"] += 1
            n += 97
        total = n
        # then, at 150 positions over the whole call, one allocation failed
        # and every allocation from there on
        for n in range(0, total, max(1, total // 150)):
            for stop in (n + 1, 0):
                r = _attempt(fn, x, n, stop)
                if r is _FAILED:
                    outcomes["MemoryError"] += 1
                else:
                    outcomes["ok"] += 1
                    _check(entry, x, r)
                del r
    finally:
        gc.enable()
    assert outcomes["MemoryError"] >= 10, outcomes
    gc.collect()
    assert _refcounts(x) == before
    _check(entry, x, fn(x))
