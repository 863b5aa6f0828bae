"""Child process of ``counters`` and ``flamegraph``: copy one workload with
one implementation ``--loops N`` times (or for ``--seconds S``), nothing else.

    python -m fastcopy.bench._driver IMPL WORKLOAD (--loops N | --seconds S)
        [--workload-module M] [--pickle F] [--peer NAME=MOD:FUNC]

Everything before the loop (imports, building the workload, preparing the
implementation) is the same for every N, so the difference of two runs with
different N is the cost of the loops alone.
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fastcopy.bench._driver")
    p.add_argument("impl")
    p.add_argument("workload")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--loops", type=int)
    g.add_argument("--seconds", type=float)
    p.add_argument("--workload-module", action="append", default=[])
    p.add_argument("--pickle", action="append", default=[])
    p.add_argument("--peer", action="append", default=[])
    a = p.parse_args(argv)

    from . import impls as I
    from .workloads import build_registry

    for spec in a.peer:
        I.add_peer(spec)
    w = build_registry(a.workload_module, a.pickle)[a.workload]
    calls = [I.prepare(a.impl, obj) for obj in w.items()]
    if a.loops is not None:
        for _ in range(a.loops):
            for fn, args in calls:
                fn(*args)
    else:
        end = time.perf_counter() + a.seconds
        while time.perf_counter() < end:
            for fn, args in calls:
                fn(*args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
