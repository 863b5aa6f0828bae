"""``python -m fastcopy.fca``: measured copy times beside the accelerator
model's estimates, per corpus workload.  See docs/fca.md."""

from __future__ import annotations

import argparse
import copy
import dataclasses
import platform
import statistics
import sys
import time
import timeit
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import fastcopy

from ._corpus import corpus
from .device import CostParams, CostReport, accelerate

BANNER = (
    "*** FCA MODEL: the accelerator does not exist. 'model' columns are ESTIMATES from a cost\n"
    "*** model whose parameters are ASSUMPTIONS (printed below); only the stdlib, fastcopy and\n"
    "*** Template columns are measurements (CPU time per copy on this machine)."
)

PRESETS = {"pcie": CostParams(), "onchip": CostParams.on_chip()}


def _parse_params(base: CostParams, items: Sequence[str]) -> CostParams:
    types = {f.name: f.type for f in dataclasses.fields(CostParams)}
    changes: Dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--params expects key=value, got {item!r}")
        if key not in types:
            raise ValueError(f"unknown parameter {key!r}; known: {', '.join(types)}")
        conv = int if types[key] in (int, "int") else float
        try:
            changes[key] = conv(text)
        except ValueError:
            raise ValueError(f"parameter {key} needs {'an integer' if conv is int else 'a number'}, got {text!r}")
    return dataclasses.replace(base, **changes)


def _time_per_copy(fn: Callable[[], object], quick: bool) -> float:
    """Best (least) seconds per call over a few repeats, each looping enough
    calls to last ~2 ms in quick mode, ~40 ms otherwise.  The minimum is the
    figure least disturbed by other load on the machine (timeit's advice)."""
    target, repeats = (0.002, 3) if quick else (0.04, 7)
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    number = max(1, int(target / one))
    runs = timeit.repeat(fn, number=number, repeat=repeats)
    return min(runs) / number


def _model(obj: object, params: CostParams, quick: bool) -> CostReport:
    """The model's report with the median device estimate (host fallbacks
    and step 1 are measured, so they vary between runs)."""
    reports = [accelerate(obj, params)[1] for _ in range(1 if quick else 5)]
    reports.sort(key=lambda r: r.device_ns)
    rep = reports[len(reports) // 2]
    rep.describe_ns = statistics.median(r.describe_ns or 0.0 for r in reports)
    return rep


def _us(seconds_or_ns: float, ns: bool = False) -> str:
    v = seconds_or_ns / 1000 if ns else seconds_or_ns * 1e6
    return f"{v:9.2f}" if v < 10000 else f"{v:9.0f}"


def _explain(rep: CostReport) -> str:
    name, share = rep.largest()
    p = rep.params
    detail = {
        "read latency": f"{rep.read_rounds} dependent read rounds x {p.burst_latency_ns:g} ns "
        f"({rep.read_bursts} read bursts, {p.outstanding} in flight)",
        "allocation": f"{rep.allocations} memory blocks x {p.alloc_ns:g} ns for {rep.objects} objects",
        "transfer": f"{rep.bytes_read + rep.bytes_written} B at {p.bandwidth_gbps:g} GB/s",
        "completion": f"fixed {p.completion_ns:g} ns for the host to see DONE",
        "doorbell": f"fixed {p.doorbell_ns:g} ns MMIO doorbell",
        "host fallback": f"{rep.host_fallbacks} python node(s) copied by the host (measured)",
    }[name]
    return f"{name} {share:4.0%}: {detail}"


def main(argv: Optional[Sequence[str]] = None) -> int:
    names = list(corpus())
    parser = argparse.ArgumentParser(
        prog="python -m fastcopy.fca",
        description="Measured deepcopy times beside a MODEL of the design report's copy accelerator "
        "(FCA).  Model figures are estimates under the printed assumptions.",
    )
    parser.add_argument("--quick", action="store_true", help="few, short repeats (for tests and smoke runs)")
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), default="pcie", help="starting cost parameters (default: pcie)"
    )
    parser.add_argument(
        "--params",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="override cost parameters: " + ", ".join(f.name for f in dataclasses.fields(CostParams)),
    )
    parser.add_argument(
        "-w", "--workload", action="append", metavar="NAME", help=f"run only these workloads ({', '.join(names)})"
    )
    parser.add_argument("--detail", action="store_true", help="print the full cost report of every workload")
    args = parser.parse_args(argv)

    try:
        params = _parse_params(PRESETS[args.preset], args.params)
    except (ValueError, TypeError) as e:
        parser.error(str(e))
    selected = args.workload or names
    unknown = [w for w in selected if w not in names]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(names)}")

    print(BANNER)
    print(
        f"python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.machine()}, {platform.system()} {platform.release()}; fastcopy {fastcopy.__version__}"
        if hasattr(fastcopy, "__version__")
        else f"python {platform.python_version()}, {platform.machine()}"
    )
    print("cost params (" + args.preset + "): " + ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(params).items()))
    print("times in microseconds per copy; measured: best of repeats" + (" (--quick)" if args.quick else ""))
    print()
    head = (
        f"{'workload':<20} {'nodes':>6} {'leaves':>6} {'desc B':>7} |"
        f" {'stdlib':>9} {'fastcopy':>9} {'Template':>9} | {'model dev':>9} {'+describe':>9}"
    )
    print(head)
    print("-" * len(head))
    rows: List[Tuple[str, CostReport]] = []
    for name in selected:
        obj = corpus()[name]()
        template = fastcopy.Template(obj)
        t_std = _time_per_copy(lambda: copy.deepcopy(obj), args.quick)
        t_fc = _time_per_copy(lambda: fastcopy.deepcopy(obj), args.quick)
        t_tp = _time_per_copy(template, args.quick)
        rep = _model(obj, params, args.quick)
        print(
            f"{name:<20} {rep.nodes:>6} {rep.leaves:>6} {rep.descriptor_bytes:>7} |"
            f" {_us(t_std)} {_us(t_fc)} {_us(t_tp)} | {_us(rep.device_ns, ns=True)}"
            f" {_us(rep.total_ns or 0.0, ns=True)}"
        )
        rows.append((name, rep))
    print()
    print("where the model's time goes (largest component of 'model dev'):")
    for name, rep in rows:
        fb = f"; {rep.host_fallbacks} host fallback(s)" if rep.host_fallbacks else ""
        print(f"  {name:<20} {_explain(rep)}{fb}")
    print()
    print(
        "'model dev' = steps 2-5 with the descriptor already built (as a Template would reuse it);\n"
        "'+describe' adds step 1, the measured descriptor build, as a one-shot deepcopy would need.\n"
        "Limits of the model: docs/fca.md."
    )
    if args.detail:
        for name, rep in rows:
            print()
            print(f"[{name}]")
            print(rep.format())
    return 0


if __name__ == "__main__":
    sys.exit(main())
