"""Threads: eight threads deep-copy shared and private graphs at once while
other threads mutate some graphs, toggle ``patch()``/``unpatch()``, change a
class (so the per-type strategy cache is recomputed) and register copyreg
reducers (so the dispatch-table snapshot is rebuilt), with the interpreter
switching threads as often as it can (``sys.setswitchinterval(1e-6)``), and
with frequent collections that run Python code (a ``gc.callbacks`` entry, as
Hypothesis installs one: before 3.12 a collection runs inside an
allocation, so a thread switch can come there).

Checked: no crash; every copy of a graph nobody mutates is what the stdlib
makes of it (``assert_same_copy`` against a copy taken before the threads
start); copies of graphs being mutated either succeed with the right type or
raise what the stdlib may raise then (``RuntimeError``: dict changed size).
The process-global state (patch, switch interval, copyreg) is restored.

``FASTCOPY_THREAD_SECONDS`` (default 5) sets how long the stress runs.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import copyreg
import gc
import os
import sys
import threading
import time
import traceback
from typing import Any, Callable, Iterator

import pytest
from _impl import IS_STDLIB, impl
from classes import DC, Bag, Plain, Slotted, WithDeepcopy, WithReduce
from isomorphism import assert_same_copy

SECONDS = float(os.environ.get("FASTCOPY_THREAD_SECONDS", "5"))
COPIERS = 8


class Retagged:
    """Its class is modified continuously by a thread (version tag changes)."""

    def __init__(self, v: Any) -> None:
        self.v = v


class Registered:
    """A copyreg reducer for it is added and removed continuously."""

    def __init__(self, v: Any) -> None:
        self.v = v


def _reduce_registered(obj: Registered) -> Any:
    return (Registered, (obj.v,))


class Reentrant:
    """``__deepcopy__`` that calls the implementation again with a fresh memo
    (another top-level copy inside a copy) and with the memo it was given."""

    def __init__(self, child: Any) -> None:
        self.child = child

    def __deepcopy__(self, memo: Any) -> Any:
        new = Reentrant.__new__(Reentrant)
        memo[id(self)] = new
        new.child = impl.deepcopy(self.child, memo)
        new.side = impl.deepcopy([self.child])  # own memo: a fresh copy
        return new


@contextlib.contextmanager
def _switchy_collections() -> Iterator[None]:
    """A collection every 50 container allocations, each running a little
    Python code (so the interpreter may switch threads inside it)."""

    def hook(phase: str, info: dict[str, Any]) -> None:
        sum([phase == "start"] * 3)

    old = gc.get_threshold()
    gc.callbacks.append(hook)
    gc.set_threshold(50, 5, 5)
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.callbacks.remove(hook)


def _graph(seed: int) -> Any:
    """A graph with sharing, a cycle and every kind of node the engine has."""
    shared = [seed, "s", (seed, 2.5)]
    s = Slotted()
    s.a = [shared]
    bag = Bag()
    bag.append([seed])
    bag["k"] = shared
    node: dict[str, Any] = {
        "shared": shared,
        "again": shared,
        "tuple": (shared, [seed], frozenset({seed, "x"})),
        "set": {seed, 1.5},
        "plain": Plain(a=shared, b={"c": [seed]}),
        "slotted": s,
        "dc": DC([seed], {seed: shared}),
        "reduce": WithReduce([shared]),
        "bag": bag,
        "hook": WithDeepcopy([shared]),
        "reentrant": Reentrant([shared, {"z": seed}]),
        "retagged": Retagged([seed]),
        "registered": Registered([seed, shared]),
        "od": collections.OrderedDict(a=[seed]),
        "dd": collections.defaultdict(list, k=[shared]),
        "bytes": bytearray(b"abc"),
    }
    node["self"] = node
    return [node, [node, shared], list(range(50))]


def _mutator(graph: list[Any], stop: threading.Event) -> None:
    """Keep changing ``graph`` in place (lists, dicts, an instance dict)."""
    i = 0
    lst, dct, obj = graph[0], graph[1], graph[2]
    while not stop.is_set():
        i += 1
        lst.append([i])
        if len(lst) > 20:
            del lst[: len(lst) // 2]
        dct[i % 7] = [i]
        if i % 3 == 0:
            dct.pop((i + 3) % 7, None)
        obj.__dict__[f"a{i % 5}"] = i
        if i % 4 == 0:
            obj.__dict__.pop(f"a{(i + 2) % 5}", None)
        if i % 50 == 0:
            lst.clear()


def _toggler(stop: threading.Event) -> None:
    while not stop.is_set():
        impl.patch()
        time.sleep(0)
        impl.unpatch()
        time.sleep(0)


def _class_changer(stop: threading.Event) -> None:
    i = 0
    while not stop.is_set():
        i += 1
        Retagged.extra = i  # a new version tag for the class: the cache entry is dropped
        if i % 2:
            del Retagged.extra
        if i % 3 == 0:
            copyreg.pickle(Registered, _reduce_registered)
        else:
            copyreg.dispatch_table.pop(Registered, None)
        time.sleep(0)


@pytest.mark.skipif(IS_STDLIB, reason="patch() is fastcopy's")
def test_concurrent_copies_with_mutation_and_patch_toggling() -> None:
    shared_graphs = [_graph(i) for i in range(3)]
    expected = [copy.deepcopy(g) for g in shared_graphs]
    volatile = [[], {}, Plain()]  # mutated while being copied
    was_patched = impl.is_patched()
    old_interval = sys.getswitchinterval()
    stop = threading.Event()
    errors: list[str] = []
    counts = collections.Counter()

    def copier(k: int) -> None:
        private = _graph(100 + k)
        private_expected = copy.deepcopy(private)
        fns: list[Callable[[Any], Any]] = [impl.deepcopy, copy.deepcopy, lambda x: impl.deepcopy(x, {})]
        n = 0
        try:
            while not stop.is_set():
                n += 1
                fn = fns[n % len(fns)]
                g = shared_graphs[n % len(shared_graphs)]
                assert_same_copy(g, expected[n % len(shared_graphs)], fn(g))
                assert_same_copy(private, private_expected, fn(private))
                try:
                    v = fn(volatile)
                except RuntimeError as exc:  # the stdlib's too: dict changed size during iteration
                    assert "changed" in str(exc), exc
                    counts["volatile-runtime-error"] += 1
                else:
                    assert type(v) is list and len(v) == 3 and type(v[2]) is Plain
                counts["rounds"] += 1
        except BaseException:
            errors.append(f"copier {k}:\n{traceback.format_exc()}")
            stop.set()

    threads = [threading.Thread(target=copier, args=(k,), name=f"copier-{k}") for k in range(COPIERS)]
    threads += [
        threading.Thread(target=_mutator, args=(volatile, stop), name="mutator"),
        threading.Thread(target=_toggler, args=(stop,), name="toggler"),
        threading.Thread(target=_class_changer, args=(stop,), name="class-changer"),
    ]
    sys.setswitchinterval(1e-6)
    try:
        with _switchy_collections():
            for t in threads:
                t.start()
            stop.wait(SECONDS)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        sys.setswitchinterval(old_interval)
        copyreg.dispatch_table.pop(Registered, None)
        if was_patched:
            impl.patch()
        else:
            impl.unpatch()
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    assert not errors, "\n".join(errors)
    print("thread stress:", dict(counts))
    assert counts["rounds"] >= COPIERS, counts
    # the graphs nobody mutated are unchanged, and still copy correctly
    for g, e in zip(shared_graphs, expected):
        assert_same_copy(g, e, impl.deepcopy(g))
    assert impl.is_patched() == was_patched


def test_concurrent_private_copies_of_deep_graphs() -> None:
    """Each thread copies its own deep graph (the engine's heap-grown stack,
    memo growth) while the interpreter switches threads constantly."""
    old_interval = sys.getswitchinterval()
    errors: list[str] = []

    def work(k: int) -> None:
        try:
            deep: Any = [k]
            for i in range(300 if IS_STDLIB else 20_000):
                deep = [deep, {"i": i}] if i % 2 else (deep, i)
            wide = [[j, str(j)] for j in range(5_000)]
            for _ in range(3):
                c = impl.deepcopy(deep)
                n = 0
                while isinstance(c, (list, tuple)) and len(c) == 2:
                    c = c[0]
                    n += 1
                assert c == [k] and n == (300 if IS_STDLIB else 20_000)
                assert impl.deepcopy(wide) == wide
        except BaseException:
            errors.append(traceback.format_exc())

    threads = [threading.Thread(target=work, args=(k,)) for k in range(COPIERS)]
    sys.setswitchinterval(1e-6)
    try:
        with _switchy_collections():
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
    finally:
        sys.setswitchinterval(old_interval)
    assert not errors, "\n".join(errors)
