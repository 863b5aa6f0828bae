#!/usr/bin/env python3
"""Instructions per deepcopy call, from valgrind's callgrind: a repeatable
unit on a machine whose timings are noisy.

    python bench/instructions.py [--impl fastcopy copium stdlib] [--workload ...] [-n 1000]

For each implementation and workload, the workload's copy is run n and 3n
times under callgrind (PYTHONHASHSEED=0) and the difference of the program
totals is divided by 2n: the cost of one call, freeing the result included.
Workloads are bench_core.py's: the pyperformance dict (`dict`) and
dataclass (`dataclass`) halves of `deepcopy`, `deepcopy_reduce`,
`deepcopy_memo` and `records_1000` (n/100 there).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = ("dict", "dataclass", "deepcopy_reduce", "deepcopy_memo", "records_1000")

DRIVER = """
import sys
sys.path.insert(0, {here!r})
import bench_core as b
impl = b.load_impl({impl!r})[0]
w, n = {workload!r}, int(sys.argv[1])
obj = {{"dict": lambda: b.make_deepcopy_data()[0], "dataclass": lambda: b.make_deepcopy_data()[1],
       "deepcopy_reduce": b.make_reduce_data, "deepcopy_memo": b.make_memo_data,
       "records_1000": b.make_records}}[w]()
for _ in range(n):
    impl(obj)
"""


def total_instructions(code: str, n: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        env = dict(os.environ, PYTHONHASHSEED="0")
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
             "-c", code, str(n)],
            check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        with open(out) as f:
            for line in f:
                m = re.match(r"(?:summary|totals):\s*(\d+)", line)
                if m:
                    return int(m.group(1))
    raise RuntimeError("callgrind wrote no totals")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--impl", nargs="+", default=["fastcopy", "copium"])
    parser.add_argument("--workload", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    parser.add_argument("-n", type=int, default=1000, help="calls in the short run (default 1000)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed: apt-get install valgrind")
    print(f"instructions per call, {sys.implementation.name} {sys.version.split()[0]}")
    for workload in args.workload:
        n = max(1, args.n // 100) if workload == "records_1000" else args.n
        row = []
        for impl in args.impl:
            code = DRIVER.format(here=HERE, impl=impl, workload=workload)
            per_call = (total_instructions(code, 3 * n) - total_instructions(code, n)) // (2 * n)
            row.append(f"{impl}={per_call:,}")
        print(f"{workload:16s} " + "  ".join(row))


if __name__ == "__main__":
    main()
