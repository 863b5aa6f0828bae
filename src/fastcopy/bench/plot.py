"""``plot``: speedup over the stdlib per workload, as PNG and SVG.

Grouped bars (one group per workload, one bar per implementation other than
the stdlib) of stdlib time / implementation time (medians, or means with
``--stat mean``), on a log scale, with the line at 1x marking the stdlib.
The allocation floor, when present, is drawn hatched: it is a lower bound
on the time, not a copy.
"""

from __future__ import annotations

import argparse
import os

from .results import FLOOR, impl_order, load_suite, table_of, title_of


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", help="results JSON of `run`")
    p.add_argument("-o", "--output", default="speedup",
                   help="output path without extension; writes OUTPUT.png and OUTPUT.svg (default: speedup)")
    p.add_argument("-i", "--impl", nargs="+", metavar="NAME", help="implementations to draw (default: all but stdlib)")
    p.add_argument("--title", help="chart title (default: from the results' metadata)")
    p.add_argument("--stat", choices=("median", "mean"), default="median",
                   help="the time of each bar's ratio: the median of the values (default) or their mean")
    p.add_argument("--quick", action="store_true", help="accepted for uniformity (plot is always quick)")


def main(args: argparse.Namespace) -> int:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("error: plot needs matplotlib: pip install 'fastcopy[bench]'") from None
    suite = load_suite(args.results)
    benches = suite.get_benchmarks()
    table = table_of(benches)
    if not any("stdlib" in row for row in table.values()):
        raise SystemExit(f"error: {args.results} has no stdlib benchmarks: nothing to compute speedups against")
    impls = [i for i in impl_order(i for w in table.values() for i in w) if i != "stdlib"]
    if args.impl:
        unknown = [i for i in args.impl if i not in impls]
        if unknown:
            raise SystemExit(f"error: not in {args.results}: {', '.join(unknown)}; it has: {', '.join(impls)}")
        impls = [i for i in impls if i in args.impl]
    workloads = [w for w, row in table.items() if "stdlib" in row]
    fig, ax = plt.subplots(figsize=(max(8.0, 0.9 * len(workloads) + 3), 5.0))
    width = 0.8 / max(1, len(impls))
    cmap = plt.get_cmap("tab10")
    top = 1.0
    for k, impl in enumerate(impls):
        xs, ys = [], []
        for j, w in enumerate(workloads):
            row = table[w]
            if impl in row:
                xs.append(j - 0.4 + width * (k + 0.5))
                ys.append(row["stdlib"].center(args.stat) / row[impl].center(args.stat))
        top = max([top, *ys])
        label = "floor (containers only)" if impl == FLOOR else impl
        ax.bar(xs, ys, width, label=label, color="none" if impl == FLOOR else cmap(k % 10),
               edgecolor="dimgray" if impl == FLOOR else None, hatch="///" if impl == FLOOR else None)
    ax.set_yscale("log")
    # headroom above the tallest bar for the legend (upper left), so that
    # the legend never hides a bar
    ax.set_ylim(top=top * 3)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(workloads)))
    ax.set_xticklabels(workloads, rotation=35, ha="right")
    ax.set_ylabel(f"speedup vs copy.deepcopy\n(stdlib time / time, {args.stat}s, log scale)")
    md = benches[0].get_metadata() if benches else {}
    ax.set_title(args.title or f"fastcopy.bench: {title_of(md)}", fontsize=9)
    ax.grid(axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=min(7, len(impls)), loc="upper left")
    fig.tight_layout()
    out_dir = os.path.dirname(args.output)
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
    paths = []
    for ext in ("png", "svg"):
        path = f"{args.output}.{ext}"
        # reproducible files: no date, fixed ids
        meta = {"Date": None} if ext == "svg" else {}
        if ext == "svg":
            matplotlib.rcParams["svg.hashsalt"] = "fastcopy"
        fig.savefig(path, dpi=120, metadata=meta)
        paths.append(path)
    plt.close(fig)
    print("wrote " + " and ".join(paths))
    return 0
