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
GC-tracked objects are back where they were.  fastcopy's only cache that
outlives a call is the per-type strategy cache: 64 fixed entries inside the
module state, allocated once with the module, so it adds nothing here (see
"The per-type strategy cache" in docs/design.md).
"""

from __future__ import annotations

import copy
import dataclasses
import gc
import tracemalloc
from typing import Any, Callable

import pytest

from _impl import impl

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
    "deep_list": lambda: _deep_list(100_000),
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
