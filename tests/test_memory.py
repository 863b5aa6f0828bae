"""Memory: a copy made by the implementation needs no more memory at its
peak than the stdlib's, and nothing stays allocated after it returns.

Peak: ``tracemalloc`` traces every allocation through the Python allocators
(objects, and fastcopy's memo table and frame stack, which use
``PyMem_Malloc``).  Per corpus entry, after one warm-up copy, the traced peak
during one copy minus the traced size before it is compared.  The result
itself is part of both peaks.  The stdlib's Python frames live in the
interpreter's frame stack, which tracemalloc does not see: the comparison
is, if anything, generous to the stdlib.

Retention: after a large copy is dropped, the traced total and the number of
GC-tracked objects are back where they were.  What fastcopy keeps between
calls: the per-type strategy cache (64 fixed entries inside the module
state, allocated once with the module) and at most one heap block per
working array (frame stack, done log, elided frames, memo table) of at most
128 KiB each, taken by the next call that needs one (docs/design.md,
"Memory").  The retention cases run a warm-up copy first, which leaves those
blocks in place, so a later copy of the same shape adds nothing; the bound
on what is kept is tested on its own.
"""

from __future__ import annotations

import copy
import dataclasses
import gc
import os
import subprocess
import sys
import tracemalloc
from typing import Any, Callable

import pytest

from fastcopy.bench.workloads import make_deep_nesting as _nested

from _impl import IS_STDLIB, impl
from isomorphism import assert_same_copy

MAX_RETAINED = 2048   # bytes: tracemalloc and allocator noise, not per-object
MAX_OBJECTS_DELTA = 5


@dataclasses.dataclass
class Address:
    street: str
    city: str
    zip: str


@dataclasses.dataclass
class Person:
    name: str
    age: int
    tags: list[str]
    address: Address


class Point:
    __slots__ = ("x", "y", "meta")

    def __init__(self, x: float, y: float, meta: Any) -> None:
        self.x, self.y, self.meta = x, y, meta


class Node:
    def __init__(self, name: str) -> None:
        self.name = name
        self.parent: Any = None
        self.children: list[Any] = []
        self.owner: Any = None


def json_response() -> Any:
    return {
        "status": "ok",
        "page": {"number": 3, "size": 50, "total": 1234},
        "items": [
            {"id": i, "title": f"item {i}", "price": i * 1.25, "available": i % 3 != 0,
             "tags": ["a", "b", str(i % 7)], "seller": {"id": i % 13, "rating": 4.5, "badges": []},
             "ratings": [5, 4, i % 5]}
            for i in range(50)
        ],
        "links": {"next": "/items?page=4", "prev": "/items?page=2"},
    }


def nested_config() -> Any:
    def level(d: int) -> Any:
        if d == 0:
            return {"enabled": True, "timeout": 30.0, "retries": 3, "hosts": ["a", "b"]}
        return {f"section{i}": level(d - 1) for i in range(4)} | {"name": f"level{d}", "weights": (1, 2, 3)}

    return level(4)


def records() -> Any:
    return [{"id": i, "name": f"user{i}", "email": f"u{i}@example.org", "score": i / 3,
             "active": bool(i % 2), "groups": [i % 5, i % 11], "created": (2024, 1, i % 28 + 1)}
            for i in range(1000)]


def dataclasses_graph() -> Any:
    return [Person(f"p{i}", 20 + i % 50, ["x", f"t{i}"], Address(f"{i} Main St", "Springfield", f"{i:05d}"))
            for i in range(300)]


def slots_objects() -> Any:
    return [Point(i * 0.5, -i * 0.5, {"label": f"p{i}", "w": [i]}) for i in range(1000)]


def shared_graph() -> Any:
    root = Node("root")
    owners = [{"owner": f"o{i}"} for i in range(10)]
    nodes = [root]
    for i in range(1, 800):
        n = Node(f"n{i}")
        n.parent = nodes[(i - 1) // 4]
        n.parent.children.append(n)
        n.owner = owners[i % 10]
        nodes.append(n)
    return {"root": root, "index": {n.name: n for n in nodes}, "owners": owners}


CORPUS: dict[str, Callable[[], Any]] = {
    "json_response": json_response,
    "nested_config": nested_config,
    "records_1000": records,
    "dataclasses": dataclasses_graph,
    "slots_objects": slots_objects,
    "shared_graph": shared_graph,
}


def peak_of(fn: Callable[[Any], Any], x: Any) -> int:
    """Traced peak bytes above the starting point during ``fn(x)``."""
    fn(x)  # warm-up: type caches, interned strings, lazily built helpers
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        y = fn(x)
        peak = tracemalloc.get_traced_memory()[1] - base
        del y
    finally:
        tracemalloc.stop()
    return peak


@pytest.mark.parametrize("name", list(CORPUS))
def test_peak_memory_not_above_stdlib(name: str) -> None:
    x = CORPUS[name]()
    stdlib = peak_of(copy.deepcopy, x)
    ours = peak_of(impl.deepcopy, x)
    print(f"{name}: peak {ours} bytes (stdlib {stdlib}, ratio {ours / stdlib:.2f})")
    assert ours <= stdlib, f"{name}: peak {ours} bytes, stdlib {stdlib}"


def _retained(fn: Callable[[], Any]) -> tuple[int, int]:
    """(bytes, GC-tracked objects) still allocated after ``fn()``'s result is dropped."""
    fn()  # warm-up
    gc.collect()
    tracemalloc.start()
    try:
        n0 = len(gc.get_objects())
        m0 = tracemalloc.get_traced_memory()[0]
        y = fn()
        del y
        gc.collect()
        m1 = tracemalloc.get_traced_memory()[0]
        n1 = len(gc.get_objects())
    finally:
        tracemalloc.stop()
    return m1 - m0, n1 - n0


BIG: dict[str, Callable[[], Any]] = {
    "flat_list": lambda: list(range(1_000_000)),
    "many_dicts": lambda: [{"k": i, "v": [i]} for i in range(100_000)],
    "deep_list": lambda: _deep_list(200 if IS_STDLIB else 100_000),   # the stdlib recurses
    "instances": lambda: [Node(str(i)) for i in range(50_000)],
    "shared": shared_graph,
}


def _deep_list(n: int) -> Any:
    x: Any = []
    for _ in range(n):
        x = [x]
    return x


@pytest.mark.parametrize("name", list(BIG))
def test_nothing_retained_after_large_copy(name: str) -> None:
    x = BIG[name]()
    grown, objects = _retained(lambda: impl.deepcopy(x))
    assert grown <= MAX_RETAINED, f"{name}: {grown} bytes still allocated after the copy was dropped"
    assert abs(objects) <= MAX_OBJECTS_DELTA, f"{name}: {objects} more GC-tracked objects after the copy"


def test_small_copy_after_huge_copy_allocates_the_same() -> None:
    """History independence, in memory: the memo table of a huge copy is gone,
    so a small copy afterwards peaks exactly as before it."""
    small = json_response()
    before = peak_of(impl.deepcopy, small)
    impl.deepcopy(list(range(500_000)) + [{"a": i} for i in range(50_000)])
    after = peak_of(impl.deepcopy, small)
    assert after <= before + 256, (before, after)


SCRATCH_KINDS = 4                 # frames, done log, elided frames, memo table
SCRATCH_KEEP = 128 * 1024         # FC_SCRATCH_KEEP (memo.h)


def _memo_heavy(n: int) -> Any:
    shared = [[i] for i in range(n)]
    return {"a": shared, "b": list(reversed(shared)), "t": tuple(shared)}


_KEPT_CHILD = """
import gc, sys, tracemalloc
sys.path.insert(0, {tests!r})
from _impl import impl
from test_memory import _nested, _memo_heavy   # _nested: the bench's deep_nesting
sys.setrecursionlimit(20_000)     # for the stdlib stand-in (FASTCOPY_TEST_IMPL=stdlib)
x = {make}
gc.collect()
tracemalloc.start()
m0 = tracemalloc.get_traced_memory()[0]
for _ in range(3):
    y = impl.deepcopy(x)
    del y
gc.collect()
print(tracemalloc.get_traced_memory()[0] - m0)
"""


@pytest.mark.parametrize(
    "make",
    ["_nested(300, 10)", "_nested(2000, 2)", "_memo_heavy(1500)", "_memo_heavy(40_000)",
     "[_nested(50, 4) for _ in range(2000)]"],
)
def test_memory_kept_between_calls_is_bounded(make: str) -> None:
    """Whatever copies leave allocated once their results are dropped is at
    most one block per working array of at most FC_SCRATCH_KEEP bytes,
    however large the copies' arrays grew.  In a fresh interpreter, with
    tracing started before the first copy, so that the blocks kept are
    traced (in this process earlier tests' copies have left theirs)."""
    code = _KEPT_CHILD.format(tests=os.path.dirname(os.path.abspath(__file__)), make=make)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    kept = int(proc.stdout.split()[-1])
    assert kept <= SCRATCH_KINDS * SCRATCH_KEEP + MAX_RETAINED, kept


@pytest.mark.skipif(IS_STDLIB, reason="the stdlib's memo and frames are allocated afresh by every call")
@pytest.mark.parametrize(
    "make", [lambda: _nested(300, 10), lambda: _memo_heavy(1500), lambda: _nested(30, 200)],
    ids=["nested_300", "memo_1500", "nested_wide"],
)
def test_repeated_copy_allocates_only_the_copy(make: Callable[[], Any]) -> None:
    """Once a copy of some shape has run, the next copy of that shape takes
    the kept blocks for its frame stack, done log and memo table: its
    traced peak is the copy itself, give or take the old memo table of a
    rehash (the table grows in steps, and only the last one fits the kept
    block)."""
    x = make()
    impl.deepcopy(x)
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        y = impl.deepcopy(x)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    transient = peak - current
    assert transient <= 16 * 1024 + 256, (transient, current - base)
    assert_same_copy(x, copy.deepcopy(x), y)


class _CopiesInside:
    """A hook that runs a deep copy of its own (its arrays on the heap)
    while the outer copy holds its own heap blocks."""

    def __init__(self, payload: Any) -> None:
        self.payload = payload

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return _CopiesInside(impl.deepcopy(self.payload))


def _bottom(x: Any) -> Any:
    while isinstance(x, list):
        x = x[1]
    return x


def test_nested_copies_each_get_their_own_working_memory() -> None:
    """Copies started from hooks, at several depths of an outer copy whose
    frame stack, done log and memo table are all on the heap, while the
    outer one still uses them: every result is the stdlib's, sharing
    included."""
    shared = [[i] for i in range(200)]
    node: Any = {"shared": shared, "again": shared}
    for level in range(300):
        node = [level, node, _CopiesInside(_nested(40, 3)) if level % 50 == 0 else None]
    x = [node, _CopiesInside(_memo_heavy(300)), shared]
    for _ in range(3):
        got, want = impl.deepcopy(x), copy.deepcopy(x)
        assert_same_copy(x, want, got)
        bottom = _bottom(got[0])
        assert bottom["shared"] is bottom["again"] is got[2] is not shared
        hooked = [n[2] for n in _levels(got[0]) if n[2] is not None]
        assert len(hooked) == 6
        assert all(h.payload == _nested(40, 3) for h in hooked)
        assert got[1].payload == _memo_heavy(300)


def _levels(x: Any) -> list[Any]:
    out = []
    while isinstance(x, list):
        out.append(x)
        x = x[1]
    return out


class _BadReduce:
    """A reducer returning garbage: the stdlib raises from _reconstruct."""

    def __reduce_ex__(self, protocol: int) -> Any:
        return 42


def test_error_deep_inside_a_copy_leaves_working_memory_reusable() -> None:
    """A copy that fails with its frame stack, done log and memo table on
    the heap raises the stdlib's exception (type and message); the copies
    after it, which take the blocks it gave back, are the stdlib's."""
    shared = [[i] for i in range(300)]
    bad: Any = [shared, _BadReduce()]
    for level in range(400):
        bad = [level, bad, shared]
    with pytest.raises(Exception) as want:
        copy.deepcopy(bad)
    good = [_nested(300, 3), shared, shared]
    for _ in range(3):
        with pytest.raises(type(want.value)) as got:
            impl.deepcopy(bad)
        assert str(got.value) == str(want.value)
        y = impl.deepcopy(good)
        assert_same_copy(good, copy.deepcopy(good), y)
        assert y[1] is y[2] is not shared
