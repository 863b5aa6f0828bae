#!/usr/bin/env python3
"""Core deepcopy benchmark: stdlib vs fastcopy vs copium, timed with pyperf.

Workloads (the first three re-implemented from pyperformance's bm_deepcopy):

  deepcopy         a small dict {'list', 't', 'str', 'subdict'} copied 30 times
                   and a 3-field dataclass A(string, lst, boolean) copied 30
                   times with varied field values; as in pyperformance each
                   copy is timed on its own and the times summed, so one
                   "loop" is 60 copies (the field updates are not timed, the
                   timer calls are)
  deepcopy_reduce  one object whose __reduce__ returns (C, (), self.__dict__)
                   and whose __setstate__ updates __dict__
  deepcopy_memo    A = [1]*100; {'a': (A, A, A), 'b': [A]*100}
  records_1000     a JSON-like list of 1,000 dicts of 8 keys each (int, str,
                   float, bool, list of 3 str, nested dict, None, int list)

Implementations: stdlib (copy.deepcopy), fastcopy (fastcopy.deepcopy),
copium (copium.deepcopy). One that cannot be imported is skipped with a note.

Benchmarks are named "<workload>[<impl>]". pyperf does the timing: separate
worker processes, a warm-up, calibrated loop counts; all its options work:

  python bench/bench_core.py --fast -o results.json
  python bench/bench_core.py --impl stdlib copium --workload deepcopy_memo --rigorous
  python bench/report.py results.json

Before timing, the manager process checks that every implementation's copy
equals the stdlib's on each workload (--no-verify skips the check).
"""

from __future__ import annotations

import copy
import importlib
import random
import sys
from dataclasses import dataclass

import pyperf

IMPLS = ("stdlib", "fastcopy", "copium")
WORKLOADS = ("deepcopy", "deepcopy_reduce", "deepcopy_memo", "records_1000")


# --------------------------------------------------------------------------
# implementations


def load_impl(name: str):
    """Return (deepcopy function, version string) or raise ImportError."""
    if name == "stdlib":
        return copy.deepcopy, sys.version.split()[0]
    module = importlib.import_module(name)
    version = getattr(module, "__version__", None)
    if version is None:
        try:
            from importlib.metadata import version as dist_version

            version = dist_version(name)
        except Exception:  # pragma: no cover - metadata is optional
            version = "unknown"
    return module.deepcopy, str(version)


# --------------------------------------------------------------------------
# workloads: each time function has pyperf's signature time_func(loops, fn)
# and returns the elapsed seconds for `loops` iterations.


@dataclass
class A:
    string: str
    lst: list
    boolean: bool


def make_deepcopy_data():
    a = {"list": [1, 2, 3, 43], "t": (1, 2, 3), "str": "hello", "subdict": {"a": True}}
    dc = A("hello", [1, 2, 3], True)
    return a, dc


def time_deepcopy(loops, fn):
    a, dc = make_deepcopy_data()
    timer = pyperf.perf_counter
    dt = 0.0
    for _ in range(loops):
        for _ in range(30):
            t0 = timer()
            fn(a)
            dt += timer() - t0
        for s in ("red", "blue", "green"):
            dc.string = s
            for kk in range(5):
                dc.lst[0] = kk
                for b in (True, False):
                    dc.boolean = b
                    t0 = timer()
                    fn(dc)
                    dt += timer() - t0
    return dt


class C:
    def __init__(self):
        self.a = 1
        self.b = 2

    def __reduce__(self):
        return (C, (), self.__dict__)

    def __setstate__(self, state):
        self.__dict__.update(state)


def make_reduce_data():
    return C()


def time_deepcopy_reduce(loops, fn):
    c = make_reduce_data()
    timer = pyperf.perf_counter
    t0 = timer()
    for _ in range(loops):
        fn(c)
    return timer() - t0


def make_memo_data():
    A_ = [1] * 100
    return {"a": (A_, A_, A_), "b": [A_] * 100}


def time_deepcopy_memo(loops, fn):
    data = make_memo_data()
    timer = pyperf.perf_counter
    t0 = timer()
    for _ in range(loops):
        fn(data)
    return timer() - t0


_CITIES = ["Amsterdam", "Berlin", "Chicago", "Delhi", "Lagos", "Lima", "Osaka", "Oslo"]
_TAGS = ["admin", "beta", "cloud", "dev", "edge", "free", "gold", "ops", "pro", "qa"]


def make_records(n=1000, seed=20240601):
    """A JSON-like list of n records (deterministic)."""
    rnd = random.Random(seed)
    records = []
    for i in range(n):
        records.append(
            {
                "id": i,
                "name": f"user_{i:05d}",
                "score": round(rnd.uniform(0.0, 100.0), 3),
                "active": rnd.random() < 0.7,
                "tags": rnd.sample(_TAGS, 3),
                "address": {
                    "street": f"{rnd.randint(1, 999)} Main Street",
                    "city": rnd.choice(_CITIES),
                    "zip": f"{rnd.randint(0, 99999):05d}",
                },
                "manager": None,
                "history": [rnd.randint(0, 1000) for _ in range(5)],
            }
        )
    return records


def time_records_1000(loops, fn):
    data = make_records()
    timer = pyperf.perf_counter
    t0 = timer()
    for _ in range(loops):
        fn(data)
    return timer() - t0


TIME_FUNCS = {
    "deepcopy": time_deepcopy,
    "deepcopy_reduce": time_deepcopy_reduce,
    "deepcopy_memo": time_deepcopy_memo,
    "records_1000": time_records_1000,
}


# --------------------------------------------------------------------------
# correctness check (manager process only)


def _same(x, y, seen=None):
    """Structural equality, types included; objects compared by type + __dict__."""
    if type(x) is not type(y):
        return False
    if isinstance(x, (list, tuple)):
        return len(x) == len(y) and all(_same(a, b) for a, b in zip(x, y))
    if isinstance(x, dict):
        return list(x) == list(y) and all(_same(x[k], y[k]) for k in x)
    if hasattr(x, "__dict__") and not isinstance(x, type):
        return _same(vars(x), vars(y))
    return x == y


def _containers(obj):
    """(list of ids of mutable containers, sharing signature) of a graph.

    The signature lists, in traversal order, -1 for a container seen for the
    first time and its first position when it is seen again, so two graphs
    with equal signatures share (and cycle) in the same way.
    """
    ids, sig, mutable = {}, [], []

    def walk(o):
        is_obj = hasattr(o, "__dict__") and not isinstance(o, type)
        if not (isinstance(o, (list, tuple, dict)) or is_obj):
            return
        k = id(o)
        if k in ids:
            sig.append(ids[k])
            return
        ids[k] = len(ids)
        sig.append(-1)
        if not isinstance(o, tuple):
            mutable.append(k)
        children = o.values() if isinstance(o, dict) else vars(o).values() if is_obj else o
        for c in children:
            walk(c)

    walk(obj)
    return mutable, sig


def verify(fn, workloads):
    """Problems found when comparing fn's copies with copy.deepcopy's."""
    inputs = {
        "deepcopy": lambda: list(make_deepcopy_data()),
        "deepcopy_reduce": make_reduce_data,
        "deepcopy_memo": make_memo_data,
        "records_1000": make_records,
    }
    problems = []
    for w in workloads:
        original = inputs[w]()
        expected = copy.deepcopy(original)
        try:
            got = fn(original) if w != "deepcopy" else [fn(x) for x in original]
        except Exception as exc:  # noqa: BLE001 - reported, not hidden
            problems.append(f"{w}: raised {type(exc).__name__}: {exc}")
            continue
        if w == "deepcopy":
            expected = [copy.deepcopy(x) for x in original]
        orig_mutable, _ = _containers(original)
        got_mutable, got_sig = _containers(got)
        if not _same(got, expected):
            problems.append(f"{w}: result differs from copy.deepcopy")
        elif got_sig != _containers(expected)[1]:
            problems.append(f"{w}: sharing structure differs from copy.deepcopy")
        elif set(orig_mutable) & set(got_mutable):
            problems.append(f"{w}: the copy shares mutable containers with the original")
    return problems


# --------------------------------------------------------------------------


def add_cmdline_args(cmd, args):
    """Forward our own options to pyperf's worker processes."""
    cmd.extend(["--impl", *args.impl, "--workload", *args.workload])
    if args.no_verify:
        cmd.append("--no-verify")


def main():
    runner = pyperf.Runner(add_cmdline_args=add_cmdline_args)
    runner.metadata["description"] = "deepcopy: stdlib vs fastcopy vs copium (pyperformance bm_deepcopy + records_1000)"
    parser = runner.argparser
    parser.add_argument(
        "--impl", nargs="+", choices=IMPLS, default=list(IMPLS), metavar="IMPL",
        help="implementations to time (default: all): " + ", ".join(IMPLS),
    )
    parser.add_argument(
        "--workload", nargs="+", choices=WORKLOADS, default=list(WORKLOADS), metavar="WORKLOAD",
        help="workloads to run (default: all): " + ", ".join(WORKLOADS),
    )
    parser.add_argument("--no-verify", action="store_true", help="skip the check against copy.deepcopy")
    args = runner.parse_args()
    is_manager = not args.worker

    def note(msg):
        if is_manager:
            print(f"note: {msg}", file=sys.stderr, flush=True)

    impl_names = list(dict.fromkeys(args.impl))  # dedupe, keep order
    workloads = list(dict.fromkeys(args.workload))

    impls = {}
    for name in impl_names:
        try:
            fn, version = load_impl(name)
        except ImportError as exc:
            note(f"{name} is not importable ({type(exc).__name__}: {exc}); skipping its benchmarks")
            continue
        impls[name] = fn
        runner.metadata[f"impl_{name}_version"] = version
        if is_manager and not args.no_verify and name != "stdlib":
            problems = verify(fn, workloads)
            if problems:
                print(f"error: {name} does not match copy.deepcopy:", file=sys.stderr)
                for p in problems:
                    print(f"  {p}", file=sys.stderr)
                print("(use --no-verify to time it anyway)", file=sys.stderr)
                sys.exit(2)
    if not impls:
        print("error: none of the requested implementations can be imported", file=sys.stderr)
        sys.exit(2)
    if is_manager and len(impls) < len(impl_names):
        note("timing only: " + ", ".join(impls))

    # The set and order of bench_time_func calls must be identical in the
    # manager and in every worker (pyperf picks a worker's task by index);
    # importability is deterministic, so it is.
    for w in workloads:
        for name, fn in impls.items():
            runner.bench_time_func(
                f"{w}[{name}]", TIME_FUNCS[w], fn,
                metadata={"workload": w, "implementation": name},
            )


if __name__ == "__main__":
    main()
