#!/usr/bin/env python3
"""Table of a bench_core.py result file (pyperf JSON).

    python bench/report.py results.json [--plain]

One row per workload x implementation: mean ± std and median in µs, the
speedup over the stdlib (stdlib time / this time; > 1 is faster), and on the
fastcopy row the time ratio fastcopy / copium (< 1 means fastcopy is faster).
Below the table: the geometric mean over the workloads of each
implementation's speedup over the stdlib (fastcopy's first) and of
copium time / fastcopy time. Uses rich when it is installed, plain text otherwise
(or with --plain).
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
import sys

import pyperf

IMPL_ORDER = ("stdlib", "fastcopy", "copium")
NAME_RE = re.compile(r"^(?P<workload>[^\[]+)\[(?P<impl>[^\]]+)\]$")


def load(path):
    """{workload: {impl: (mean, std, median) in seconds}}, workloads in file order."""
    suite = pyperf.BenchmarkSuite.load(path)
    table: dict[str, dict[str, tuple[float, float, float]]] = {}
    for bench in suite.get_benchmarks():
        m = NAME_RE.match(bench.get_name())
        if not m:
            continue
        values = bench.get_values()
        mean = statistics.fmean(values)
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        table.setdefault(m["workload"], {})[m["impl"]] = (mean, std, statistics.median(values))
    return suite, table


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else None


def build_rows(table):
    rows = []
    for workload, impls in table.items():
        base = impls.get("stdlib")
        order = [i for i in IMPL_ORDER if i in impls] + sorted(set(impls) - set(IMPL_ORDER))
        for impl in order:
            mean, std, median = impls[impl]
            speedup = base[0] / mean if base else None
            fc_vs_cp = None
            if impl == "fastcopy" and "copium" in impls:
                fc_vs_cp = mean / impls["copium"][0]
            rows.append((workload, impl, mean, std, median, speedup, fc_vs_cp))
    return rows


def _decimals(us):
    return 0 if us >= 1000 else 1 if us >= 100 else 2 if us >= 1 else 3


def fmt_us(seconds, like=None):
    """Microseconds, with the precision chosen for `like` (default: itself)."""
    us = seconds * 1e6
    d = _decimals((like if like is not None else seconds) * 1e6)
    return f"{us:,.{d}f}"


def summary_lines(table):
    lines = []
    impls = [i for i in IMPL_ORDER if i != "stdlib"]
    extra = sorted({i for w in table.values() for i in w} - set(IMPL_ORDER))
    for impl in impls + extra:
        ratios = [w["stdlib"][0] / w[impl][0] for w in table.values() if "stdlib" in w and impl in w]
        g = geomean(ratios)
        if g is not None:
            lines.append(
                f"geometric mean speedup of {impl} vs stdlib over {len(ratios)} workload(s): {g:.2f}x"
            )
        elif impl == "fastcopy":
            lines.append("geometric mean speedup of fastcopy vs stdlib: n/a (fastcopy or stdlib not in this run)")
    ratios = [w["copium"][0] / w["fastcopy"][0] for w in table.values() if "copium" in w and "fastcopy" in w]
    g = geomean(ratios)
    if g is not None:
        lines.append(
            f"geometric mean of copium time / fastcopy time over {len(ratios)} workload(s): {g:.2f}x"
            + (" (fastcopy faster)" if g > 1 else " (copium faster)" if g < 1 else "")
        )
    return lines


HEADERS = ("workload", "impl", "mean ± std (µs)", "median (µs)", "vs stdlib", "fastcopy/copium")


def cells(row):
    workload, impl, mean, std, median, speedup, fc_vs_cp = row
    return (
        workload,
        impl,
        f"{fmt_us(mean)} ± {fmt_us(std, like=mean)}",
        fmt_us(median),
        "—" if speedup is None else f"{speedup:.2f}x",
        "" if fc_vs_cp is None else f"{fc_vs_cp:.3f}",
    )


def print_plain(rows, title, footer):
    body = [cells(r) for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(HEADERS)]
    right = {2, 3, 4, 5}

    def line(cols):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cols, widths)))

    print(title)
    print(line(HEADERS))
    print("  ".join("-" * w for w in widths))
    prev = None
    for b in body:
        print(line(b if b[0] != prev else ("",) + b[1:]))
        prev = b[0]
    print()
    for f in footer:
        print(f)


def print_rich(rows, title, footer):
    from rich.console import Console
    from rich.table import Table

    t = Table()
    for i, h in enumerate(HEADERS):
        t.add_column(h, justify="right" if i >= 2 else "left", no_wrap=True)
    prev = None
    for r in rows:
        c = list(cells(r))
        if c[0] == prev:
            c[0] = ""
        elif prev is not None:
            t.add_section()
        prev = r[0]
        t.add_row(*c)
    console = Console()
    if console.width < 120:  # don't fold the table in a narrow or non-tty output
        console = Console(width=120)
    console.print(title, highlight=False, soft_wrap=True)
    console.print(t)
    for f in footer:
        console.print(f, highlight=False)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", help="pyperf JSON written by bench_core.py -o")
    ap.add_argument("--plain", action="store_true", help="plain text even if rich is installed")
    args = ap.parse_args(argv)

    suite, table = load(args.results)
    if not table:
        print(f"{args.results}: no '<workload>[<impl>]' benchmarks found", file=sys.stderr)
        return 1
    md = suite.get_metadata()
    title = f"{args.results}: {md.get('python_implementation', 'python')} {md.get('python_version', '')}".rstrip()
    versions = ", ".join(
        f"{k[5:-8]} {v}" for k, v in sorted(md.items()) if k.startswith("impl_") and k.endswith("_version")
    )
    if versions:
        title += f" ({versions})"
    rows = build_rows(table)
    footer = summary_lines(table)
    use_rich = not args.plain
    if use_rich:
        try:
            import rich  # noqa: F401
        except ImportError:
            use_rich = False
    (print_rich if use_rich else print_plain)(rows, title, footer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
