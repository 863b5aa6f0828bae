#!/usr/bin/env python3
"""Does a copy cost the same after a huge copy?  (It must: fastcopy keeps no
state between calls.)

    python bench/bench_history.py [--impl fastcopy|stdlib|copium]

Times a 10-object deepcopy in a fresh process, then again right after a
deepcopy of a 1,000,000-object graph, and prints both medians side by side.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import time


def small() -> dict:
    return {"a": [1, 2, 3], "b": {"c": (4, 5)}, "d": ["x", "y"], "e": None}


def huge() -> list:
    return [{"k": [i, i + 1]} for i in range(333_334)]  # ~1,000,000 objects


def median_ns(fn, obj, rounds: int = 31, loops: int = 2000) -> float:
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        for _ in range(loops):
            fn(obj)
        samples.append((time.perf_counter_ns() - t0) / loops)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--impl", default="fastcopy", help="module providing deepcopy (default: fastcopy)")
    args = parser.parse_args()
    mod = importlib.import_module("copy" if args.impl == "stdlib" else args.impl)
    x = small()
    before = median_ns(mod.deepcopy, x)
    t0 = time.perf_counter()
    big = mod.deepcopy(huge())
    t_big = time.perf_counter() - t0
    del big
    after = median_ns(mod.deepcopy, x)
    print(f"{args.impl}: 10-object copy {before:.0f} ns before, {after:.0f} ns after a "
          f"1,000,000-object copy ({t_big * 1e3:.0f} ms); ratio after/before {after / before:.3f}")


if __name__ == "__main__":
    main()
