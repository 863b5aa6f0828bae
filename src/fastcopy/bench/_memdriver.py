"""Child process of ``memory``: the memory one copy of each object of one
workload needs, with one implementation.

    python -m fastcopy.bench._memdriver IMPL WORKLOAD --mode (malloc | tracemalloc)
        [--workload-module M] [--pickle F] [--peer NAME=MOD:FUNC]

``--mode malloc`` expects to run with ``LD_PRELOAD=<the _mallocpeak shim>``
and ``PYTHONMALLOC=malloc`` (``memory`` sets both); ``--mode tracemalloc``
runs without them.  Prints one JSON object on stdout.

Sequence: build the workload, prepare the implementation, copy every item
once (the warm-up, discarded: per-type caches are now filled; what stays
allocated after it is reported as ``kept``), collect garbage, disable the collector, then for each item: reset the peak, copy
(the result is kept alive until the end), read the peak and the current
total.  The same sequence with a copier that returns its argument (no
allocation) gives the reading's own cost, subtracted from every number.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import sys
from typing import Any, Callable

STACK_PAINT = 4 << 20  # bytes of C stack painted below the measuring call


def _identity(x: Any) -> Any:
    return x


class _Shim:
    def __init__(self) -> None:
        lib = ctypes.CDLL(None)  # the preloaded shim is in the global namespace
        try:
            self.current = lib.fcmem_current
        except AttributeError:
            raise SystemExit("_memdriver --mode malloc: the _mallocpeak shim is not preloaded "
                             "(run it through `python -m fastcopy.bench memory`)") from None
        for name in ("fcmem_current", "fcmem_peak", "fcmem_reset_peak", "fcmem_allocs", "fcmem_stack_used"):
            getattr(lib, name).restype = ctypes.c_longlong
            getattr(lib, name).argtypes = []
        lib.fcmem_stack_paint.restype = None
        lib.fcmem_stack_paint.argtypes = [ctypes.c_size_t]
        self.lib = lib
        self._route_frame_stack()

    def now(self) -> int:
        return self.lib.fcmem_current()

    def _route_frame_stack(self) -> None:
        """Python frames (3.11+) live in chunks from the arena allocator (mmap):
        route it through the shim's counting mmap/munmap."""

        class ArenaAllocator(ctypes.Structure):
            _fields_ = [("ctx", ctypes.c_void_p), ("alloc", ctypes.c_void_p), ("free", ctypes.c_void_p)]

        a = ArenaAllocator(None, ctypes.cast(self.lib.fcmem_arena_alloc, ctypes.c_void_p),
                           ctypes.cast(self.lib.fcmem_arena_free, ctypes.c_void_p))
        set_alloc = ctypes.pythonapi.PyObject_SetArenaAllocator
        set_alloc.restype = None
        set_alloc.argtypes = [ctypes.c_void_p]
        set_alloc(ctypes.addressof(a))  # copied by the interpreter

    def measure(self, calls: list[tuple[Callable[..., Any], tuple[Any, ...]]]) -> tuple[list[dict[str, int]], list[Any]]:
        lib = self.lib
        reset, peak, current, allocs = lib.fcmem_reset_peak, lib.fcmem_peak, lib.fcmem_current, lib.fcmem_allocs
        paint, stack_used = lib.fcmem_stack_paint, lib.fcmem_stack_used
        n = len(calls)
        keep: list[Any] = [None] * n
        raw: list[Any] = [None] * n
        for i in range(n):
            fn, args = calls[i]
            paint(STACK_PAINT)
            a0 = allocs()
            b = reset()
            r = fn(*args)
            # current before peak: a block allocated between the two reads
            # (the call's own int objects) then counts in both, and
            # peak >= retained holds
            c = current()
            p = peak()
            a1 = allocs()
            s = stack_used()
            keep[i] = r
            raw[i] = (p - b, c - b, a1 - a0, s)
        rows = [{"peak": d[0], "retained": d[1], "allocs": d[2], "stack": d[3]} for d in raw]
        return rows, keep


class _Tracemalloc:
    def __init__(self) -> None:
        import tracemalloc

        self.tm = tracemalloc
        tracemalloc.start()

    def now(self) -> int:
        return self.tm.get_traced_memory()[0]

    def measure(self, calls: list[tuple[Callable[..., Any], tuple[Any, ...]]]) -> tuple[list[dict[str, int]], list[Any]]:
        tm = self.tm
        reset, traced = tm.reset_peak, tm.get_traced_memory
        n = len(calls)
        keep: list[Any] = [None] * n
        raw: list[Any] = [None] * n
        for i in range(n):
            fn, args = calls[i]
            reset()
            b = traced()[0]
            r = fn(*args)
            c, p = traced()
            keep[i] = r
            raw[i] = (p - b, c - b)
        rows = [{"peak": d[0], "retained": d[1]} for d in raw]
        return rows, keep


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fastcopy.bench._memdriver")
    p.add_argument("impl")
    p.add_argument("workload")
    p.add_argument("--mode", choices=("malloc", "tracemalloc"), required=True)
    p.add_argument("--workload-module", action="append", default=[])
    p.add_argument("--pickle", action="append", default=[])
    p.add_argument("--peer", action="append", default=[])
    a = p.parse_args(argv)

    from . import impls as I
    from .workloads import build_registry

    meter = _Shim() if a.mode == "malloc" else _Tracemalloc()
    for spec in a.peer:
        I.add_peer(spec)
    w = build_registry(a.workload_module, a.pickle)[a.workload]
    items = w.items()
    calls = [I.prepare(a.impl, obj) for obj in items]
    gc.collect()
    before_warmup = meter.now()
    for fn, args in calls:  # warm-up: fills per-type caches; its copies are dropped
        fn(*args)
    gc.collect()
    # what the implementation keeps between calls (caches, a reused memo);
    # the collection after the warm-up can also free a few bytes allocated
    # before it (seen: -16 for the stdlib on 3.12), which is not something
    # the implementation gave back: kept is at least zero
    kept = max(0, meter.now() - before_warmup)
    null_calls = [(_identity, (obj,)) for obj in items]
    meter.measure(null_calls)  # warms the measuring code itself
    gc.collect()
    gc.disable()
    null_rows, _ = meter.measure(null_calls)
    rows, keep = meter.measure(calls)
    gc.enable()
    # the reading's own cost (the ints it creates): the minimum over the null
    # run, taken off what the copy retains and off its transient memory (peak
    # minus retained) separately, so that peak >= retained still holds: the
    # two readings' own allocations differ by a few bytes from call to call
    # (3.14: the null run's peak was 40 bytes over its retained, fastcopy's
    # copies have none), and subtracting the peak's overhead from the peak
    # left it under the retained size
    def transient(r: dict[str, int]) -> int:
        return r["peak"] - r["retained"]

    overhead = {k: min(r[k] for r in null_rows) for k in null_rows[0]}
    overhead_transient = min(transient(r) for r in null_rows)
    for r in rows:
        t = max(0, transient(r) - overhead_transient)
        for k in r:
            r[k] = max(0, r[k] - overhead[k])
        r["peak"] = r["retained"] + t
    print(json.dumps({"impl": a.impl, "workload": a.workload, "mode": a.mode, "items": rows,
                      "overhead": overhead, "kept": kept, "python": sys.version.split()[0]}))
    del keep
    return 0


if __name__ == "__main__":
    sys.exit(main())
