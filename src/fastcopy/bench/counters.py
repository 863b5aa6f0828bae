"""``counters``: CPU event counts per loop, per implementation and workload.

Each (implementation, workload) is run in a child process
(``python -m fastcopy.bench._driver``) twice, with N and 3N loops; the
difference of the two totals divided by 2N is the cost of one loop, with
interpreter start-up, imports and building the workload cancelled out.
N is calibrated so that N loops of the *baseline* take about 5 ms natively
(2 ms with ``--quick``) and is the same for every implementation of a
workload.  ``PYTHONHASHSEED=0`` in the children.

Sources:

``perf``      ``perf stat`` hardware events where the CPU/kernel expose them
              (checked with ``perf stat -e instructions true``): instructions,
              branches, branch-misses, cache-references, cache-misses as the
              kernel defines them (on x86, cache-* are last-level-cache events).
``valgrind``  otherwise, ``valgrind --tool=cachegrind --cache-sim=yes
              --branch-sim=yes``: a *simulation* of this machine's cache
              hierarchy (I1/D1 and a last level LL) and of a branch predictor.

What is reported from cachegrind (its event names in brackets):

* instructions = instructions executed [Ir]
* branches = conditional + indirect branches [Bc + Bi]
* branch-miss rate = mispredicted / branches [(Bcm + Bim) / (Bc + Bi)]
* cache references = accesses that reach the last-level cache, i.e. the
  first-level misses, instruction and data [I1mr + D1mr + D1mw] -- the
  closest analogue of perf's cache-references
* cache-miss rate = last-level misses / cache references
  [(ILmr + DLmr + DLmw) / (I1mr + D1mr + D1mw)]
* also shown: D1 accesses [Dr + Dw] and the D1 miss rate [(D1mr + D1mw) / (Dr + Dw)]

Counts are per loop (one copy; 60 for ``deepcopy``).  The comparison prints
the report's lines, ``✓ IMPROVED`` / ``✗ REGRESSED`` with the relative
change (old - new) / old, positive when the candidate is better (fewer
events, lower rates).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

from .results import positive_int

PERF_EVENTS = ("instructions", "branches", "branch-misses", "cache-references", "cache-misses")
# metric, label, kind ("count" or "rate"); lower is better for all
METRICS = (
    ("instructions", "instructions", "count"),
    ("branches", "branches", "count"),
    ("branch_miss_rate", "branch-miss rate", "rate"),
    ("cache_references", "cache references", "count"),
    ("cache_miss_rate", "cache-miss rate", "rate"),
)


class ToolError(RuntimeError):
    pass


def perf_status() -> tuple[bool, str]:
    """(usable, reason) for perf stat hardware events on this machine."""
    if shutil.which("perf") is None:
        return False, "perf is not installed"
    try:
        r = subprocess.run(["perf", "stat", "-x,", "-e", "instructions", "true"],
                           capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"perf stat failed ({exc})"
    if r.returncode != 0 or "<not supported>" in r.stderr or "<not counted>" in r.stderr:
        return False, "`perf stat -e instructions true` says the hardware event is not supported here"
    return True, "perf stat hardware events"


_SANITIZER_RUNTIMES = ("libasan", "libubsan", "libtsan", "liblsan", "libmsan", "libhwasan")


def _sanitizer_preload() -> str:
    """The sanitizer runtimes named in LD_PRELOAD, comma-separated ('' if none)."""
    names = os.environ.get("LD_PRELOAD", "").replace(":", " ").split()
    found = [os.path.basename(n) for n in names if os.path.basename(n).startswith(_SANITIZER_RUNTIMES)]
    return ", ".join(found)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("FASTCOPY_PATCH", None)
    env["PYTHONHASHSEED"] = "0"
    return env


def _driver_cmd(impl: str, workload: str, loops: int, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "fastcopy.bench._driver", impl, workload, "--loops", str(loops), *extra]


def run_cachegrind(cmd: list[str]) -> dict[str, int]:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cachegrind.out")
        r = subprocess.run(
            ["valgrind", "--tool=cachegrind", "--cache-sim=yes", "--branch-sim=yes",
             f"--cachegrind-out-file={out}", *cmd],
            env=_child_env(), capture_output=True, text=True,
        )
        if r.returncode != 0:
            raise ToolError(f"valgrind failed (exit {r.returncode}): {r.stderr.strip()[-800:]}")
        events = summary = None
        with open(out) as f:
            for line in f:
                if line.startswith("events:"):
                    events = line.split()[1:]
                elif line.startswith("summary:"):
                    summary = [int(v) for v in line.split()[1:]]
        if not events or summary is None:
            raise ToolError("cachegrind wrote no summary")
        return dict(zip(events, summary))


def run_perf(cmd: list[str]) -> dict[str, int]:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "perf.csv")
        r = subprocess.run(["perf", "stat", "-x,", "-o", out, "-e", ",".join(PERF_EVENTS), "--", *cmd],
                           env=_child_env(), capture_output=True, text=True)
        if r.returncode != 0:
            raise ToolError(f"perf stat failed (exit {r.returncode}): {r.stderr.strip()[-800:]}")
        counts = {}
        with open(out) as f:
            for line in f:
                parts = line.strip().split(",")
                if len(parts) >= 3 and parts[2] in PERF_EVENTS:
                    counts[parts[2]] = int(parts[0]) if parts[0].isdigit() else 0
        return counts


def derive(raw: dict[str, float], source: str) -> dict[str, float]:
    """Per-loop metrics from per-loop raw event counts."""
    def rate(a: float, b: float) -> float:
        return a / b if b > 0 else 0.0

    if source == "perf":
        return {
            "instructions": raw["instructions"], "branches": raw["branches"],
            "branch_miss_rate": rate(raw["branch-misses"], raw["branches"]),
            "cache_references": raw["cache-references"],
            "cache_miss_rate": rate(raw["cache-misses"], raw["cache-references"]),
        }
    g = raw.get
    branches = g("Bc", 0) + g("Bi", 0)
    llref = g("I1mr", 0) + g("D1mr", 0) + g("D1mw", 0)
    d1 = g("Dr", 0) + g("Dw", 0)
    return {
        "instructions": g("Ir", 0), "branches": branches,
        "branch_miss_rate": rate(g("Bcm", 0) + g("Bim", 0), branches),
        "cache_references": llref,
        "cache_miss_rate": rate(g("ILmr", 0) + g("DLmr", 0) + g("DLmw", 0), llref),
        "d1_accesses": d1, "d1_miss_rate": rate(g("D1mr", 0) + g("D1mw", 0), d1),
    }


def measure(source: str, impl: str, workload: str, n: int, extra: list[str], jobs: int = 2) -> dict[str, Any]:
    """Per-loop metrics of one implementation on one workload; the N and 3N
    runs go in parallel when ``jobs`` > 1 (counts do not depend on timing
    under valgrind; with perf, use --jobs 1)."""
    run = run_perf if source == "perf" else run_cachegrind
    cmds = [_driver_cmd(impl, workload, n, extra), _driver_cmd(impl, workload, 3 * n, extra)]
    if jobs > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(2) as ex:
            lo, hi = ex.map(run, cmds)
    else:
        lo, hi = run(cmds[0]), run(cmds[1])
    # a difference below zero is noise of the differencing (e.g. a few cache
    # misses more at start-up in one run): clamp it to zero
    raw = {k: max(0.0, (hi[k] - lo.get(k, 0)) / (2 * n)) for k in hi}
    return {"impl": impl, "workload": workload, "loops": n, "raw_per_loop": raw, **derive(raw, source)}


def calibrate(workload: Any, impl: str, target: float) -> int:
    """Loops of ``impl`` on ``workload`` that take about ``target`` seconds natively."""
    from . import impls as I

    calls = [I.prepare(impl, o) for o in workload.items()]
    try:
        t0 = time.perf_counter()
        for fn, args in calls:
            fn(*args)
        one = time.perf_counter() - t0
    finally:
        if impl in ("fastcopy-dispatch", "fastcopy-patch"):
            import fastcopy

            fastcopy.unpatch()
    return max(1, min(10_000, round(target / max(one, 1e-7))))


def fmt_metric(kind: str, v: float) -> str:
    return f"{v * 100:.3f}%" if kind == "rate" else f"{v:,.0f}"


def comparison_lines(base: dict[str, Any], cand: dict[str, Any]) -> list[str]:
    lines = []
    for key, label, kind in METRICS:
        old, new = base[key], cand[key]
        change = f"{(old - new) / old * 100:+.2f}%" if old else "n/a"
        status = "✓ IMPROVED" if new < old else "✗ REGRESSED" if new > old else "= UNCHANGED"
        lines.append(f"{status} {label} : {fmt_metric(kind, old)} → {fmt_metric(kind, new)} ({change})")
    return lines


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-w", "--workload", nargs="+", metavar="NAME|GLOB",
                   help="workloads (default: the three bm_deepcopy ones)")
    p.add_argument("-i", "--impl", nargs="+", metavar="NAME|GLOB",
                   help="implementations (default: the baseline and the candidate)")
    p.add_argument("--baseline", default="stdlib", help="reference of the comparison (default: stdlib)")
    p.add_argument("--candidate", default="fastcopy", help="compared implementation (default: fastcopy)")
    p.add_argument("--source", choices=("auto", "perf", "valgrind"), default="auto",
                   help="perf stat where hardware events work, else valgrind cachegrind (default: auto)")
    p.add_argument("-n", "--loops", type=positive_int, metavar="N",
                   help="loops in the short run (the long one has 3N; default: calibrated per workload)")
    p.add_argument("-j", "--jobs", type=int, choices=(1, 2), default=2,
                   help="run the N and 3N runs in parallel (2, default) or one after the other (1)")
    p.add_argument("--json", metavar="FILE", help="also write the measurements as JSON")
    p.add_argument("--quick", action="store_true", help="CI mode: N loops take about 2 ms natively instead of 5 ms")
    p.add_argument("--workload-module", action="append", default=[], metavar="MODULE")
    p.add_argument("--pickle", action="append", default=[], metavar="FILE")
    p.add_argument("--peer", action="append", default=[], metavar="NAME=MODULE:FUNC")


def main(args: argparse.Namespace) -> int:
    from . import impls as I
    from .workloads import build_registry, select

    for spec in args.peer:
        I.add_peer(spec)
    reg = build_registry(args.workload_module, args.pickle)
    workloads = select(reg, args.workload, ["deepcopy", "deepcopy_reduce", "deepcopy_memo"])
    names = I.select(args.impl, default=[args.baseline, args.candidate])
    for n in (args.baseline, args.candidate):
        I.select([n])  # unknown name -> error
        if n not in names:
            names.append(n)
    for n in (args.baseline, args.candidate):
        ok, note = I.available(n)
        if not ok:
            raise SystemExit(f"error: --{'baseline' if n == args.baseline else 'candidate'} {n}: "
                             f"{note.removesuffix('; skipped')}")
    impls = I.keep_available(names)
    perf_ok, perf_why = perf_status()
    if args.source == "perf" and not perf_ok:
        raise SystemExit(f"error: --source perf: {perf_why}")
    source = "perf" if (args.source == "perf" or (args.source == "auto" and perf_ok)) else "valgrind"
    if source == "valgrind":
        if shutil.which("valgrind") is None:
            raise SystemExit("error: valgrind is not installed: apt-get install valgrind "
                             f"(needed because: {perf_why})")
        preloaded = _sanitizer_preload()
        if preloaded:
            # valgrind and the sanitizer runtimes both replace malloc and map
            # shadow memory; the process aborts under valgrind, and counts of
            # an instrumented build would say nothing about the real one.
            raise SystemExit(f"error: valgrind cannot count a process that preloads a sanitizer runtime "
                             f"(LD_PRELOAD has {preloaded}); run counters from a normal build "
                             "without LD_PRELOAD")
        desc = ("valgrind cachegrind (simulated caches and branch predictor; "
                f"perf not used: {perf_why})")
    else:
        desc = "perf stat (hardware counters)"
    extra = I.driver_args(args)
    print(f"source: {desc}")
    print(f"{sys.implementation.name} {sys.version.split()[0]}; counts per loop = (total(3N) - total(N)) / 2N")
    results = []
    target = 0.002 if args.quick else 0.005
    for w in workloads:
        n = args.loops or calibrate(w, args.baseline if args.baseline in impls else impls[0], target)
        for impl in impls:
            print(f"  measuring {w.name}/{impl} (N={n}) ...", file=sys.stderr, flush=True)
            results.append(measure(source, impl, w.name, n, extra, args.jobs))
    cols = ["instructions", "branches", "branch-miss", "cache refs", "cache-miss"]
    if source == "valgrind":
        cols += ["D1 accesses", "D1 miss"]
    hdr = f"{'workload':16} {'impl':18} " + " ".join(f"{c:>14}" for c in cols)
    print(hdr)
    print("-" * len(hdr))
    for r in results:
        vals = [f"{r['instructions']:,.0f}", f"{r['branches']:,.0f}", f"{r['branch_miss_rate'] * 100:.3f}%",
                f"{r['cache_references']:,.0f}", f"{r['cache_miss_rate'] * 100:.3f}%"]
        if source == "valgrind":
            vals += [f"{r['d1_accesses']:,.0f}", f"{r['d1_miss_rate'] * 100:.3f}%"]
        print(f"{r['workload']:16} {r['impl']:18} " + " ".join(f"{v:>14}" for v in vals))
    print("cache refs = last-level references (first-level misses); cache-miss = last-level misses / cache refs"
          if source == "valgrind" else "cache refs / cache-miss as defined by perf")
    by = {(r["workload"], r["impl"]): r for r in results}
    for w in workloads:
        b, c = by.get((w.name, args.baseline)), by.get((w.name, args.candidate))
        if b and c:
            print()
            print(f"PERF Comparison ({w.name}: {args.baseline} → {args.candidate}; source: {source}):")
            for line in comparison_lines(b, c):
                print(line)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"source": source, "source_detail": desc, "python": sys.version.split()[0],
                       "baseline": args.baseline, "candidate": args.candidate, "results": results}, f, indent=1)
        print(f"\nmeasurements: {args.json}")
    return 0
