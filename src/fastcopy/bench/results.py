"""Results files of ``python -m fastcopy.bench run`` and their tables.

A results file is a pyperf ``BenchmarkSuite`` JSON (``pyperf compare_to``,
``pyperf stats`` ... work on it).  Each benchmark is one workload timed with
one implementation and is named ``<workload>/<implementation>``, e.g.
``records_1000/fastcopy``; its metadata also carries ``workload`` and
``implementation``.  A value is the time of one loop: one copy of the
workload's object (60 copies for ``deepcopy``, as in pyperformance).

pyperf is imported lazily (only to read a file).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Iterable

SEP = "/"
ORDER = ("stdlib", "fastcopy", "fastcopy-dispatch", "fastcopy-patch", "template", "pickle")
FLOOR = "floor"


def positive_int(text: str) -> int:
    """argparse type of the count options (``run --rounds``, ``counters -n``)."""
    import argparse

    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return n


def bench_name(workload: str, impl: str) -> str:
    return f"{workload}{SEP}{impl}"


def split_name(name: str) -> tuple[str, str] | None:
    if SEP not in name:
        return None
    w, i = name.rsplit(SEP, 1)
    return (w, i) if w and i else None


@dataclass(frozen=True)
class Stat:
    values: tuple[float, ...]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def std(self) -> float:
        return statistics.stdev(self.values) if len(self.values) > 1 else 0.0

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def mad(self) -> float:
        """Median absolute deviation from the median (pyperf's spread next
        to a median), unscaled."""
        m = self.median
        return statistics.median(abs(v - m) for v in self.values)

    @property
    def n(self) -> int:
        return len(self.values)

    def center(self, stat: str = "median") -> float:
        return self.median if stat == "median" else self.mean

    def spread(self, stat: str = "median") -> float:
        return self.mad if stat == "median" else self.std

    def text(self, stat: str = "median") -> str:
        c = self.center(stat)
        return f"{fmt_time(c)} ± {fmt_time(self.spread(stat), like=c)}"


# The statistic of the tables of ``run`` and ``report`` (``--stat``): the
# median of all values with their median absolute deviation (default: on a
# shared machine a few slow values move the mean, not the median), or the
# mean with the standard deviation (what pyperf prints).  ``compare``
# always uses means and standard deviations (Welch's t-test).
STATS = {"median": "median ± MAD", "mean": "mean ± std"}


def need_pyperf():
    try:
        import pyperf
    except ImportError:
        raise SystemExit("error: this subcommand needs pyperf: pip install 'fastcopy[bench]'") from None
    return pyperf


def load_suite(path: str):
    pyperf = need_pyperf()
    try:
        return pyperf.BenchmarkSuite.load(path)
    except FileNotFoundError:
        raise SystemExit(f"error: {path}: no such file") from None
    except Exception as exc:  # noqa: BLE001 - any parse error is the user's file
        raise SystemExit(f"error: {path}: not a pyperf results file ({type(exc).__name__}: {exc})") from None


def table_of(benchmarks: Iterable[Any]) -> dict[str, dict[str, Stat]]:
    """{workload: {impl: Stat}} from pyperf Benchmarks, in file order."""
    table: dict[str, dict[str, Stat]] = {}
    for b in benchmarks:
        md = b.get_metadata()
        w, i = md.get("workload"), md.get("implementation")
        if not (w and i):
            parts = split_name(b.get_name())
            if parts is None:
                continue
            w, i = parts
        table.setdefault(w, {})[i] = Stat(tuple(b.get_values()))
    return table


def impl_order(names: Iterable[str]) -> list[str]:
    names = list(dict.fromkeys(names))
    head = [n for n in ORDER if n in names]
    tail = [n for n in names if n not in ORDER and n != FLOOR]
    return head + tail + ([FLOOR] if FLOOR in names else [])


def peers_of(names: Iterable[str]) -> list[str]:
    return [n for n in names if n not in ORDER and n != FLOOR]


def geomean(xs: Iterable[float]) -> float | None:
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else None


def fmt_time(seconds: float, like: float | None = None) -> str:
    """3 significant digits of the unit chosen for ``like`` (default: itself)."""
    ref = abs(like if like is not None else seconds)
    for unit, scale in (("ns", 1e-9), ("µs", 1e-6), ("ms", 1e-3), ("s", 1.0)):
        if ref < scale * 1000 or unit == "s":
            v, r = seconds / scale, ref / scale
            d = 0 if r >= 100 else 1 if r >= 10 else 2
            return f"{v:,.{d}f} {unit}"
    raise AssertionError


def fmt_ratio(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.0f}×" if x >= 100 else f"{x:.1f}×" if x >= 10 else f"{x:.2f}×"


@dataclass
class Row:
    workload: str
    impl: str
    stat: Stat
    vs_stdlib: float | None  # stdlib time / this time (> 1: faster than the stdlib)
    vs_peer: float | None  # best peer's time / this time (> 1: faster than every peer)
    best_peer: str | None
    vs_floor: float | None  # this time / floor time (>= 1: the floor is a lower bound)


def rows_of(table: dict[str, dict[str, Stat]], stat: str = "median") -> list[Row]:
    rows = []
    for w, impls in table.items():
        base = impls.get("stdlib")
        peers = {p: impls[p].center(stat) for p in peers_of(impls)}
        best = min(peers, key=peers.__getitem__) if peers else None
        floor = impls.get(FLOOR)
        for i in impl_order(impls):
            s = impls[i]
            t = s.center(stat)
            rows.append(Row(
                w, i, s,
                base.center(stat) / t if base else None,
                peers[best] / t if best else None, best,
                t / floor.center(stat) if floor and i != FLOOR else None,
            ))
    return rows


def summary(table: dict[str, dict[str, Stat]], stat: str = "median") -> list[str]:
    lines = []
    t = lambda s: s.center(stat)  # noqa: E731
    names = impl_order(i for w in table.values() for i in w)
    for i in names:
        if i == "stdlib":
            continue
        r = [t(w["stdlib"]) / t(w[i]) for w in table.values() if "stdlib" in w and i in w]
        g = geomean(r)
        if g is not None:
            lines.append(f"geometric mean speedup vs stdlib, {i}: {fmt_ratio(g)} over {len(r)} workload(s)")
    fc = [(w, min((t(w[p]) for p in peers_of(w)), default=None)) for w in table.values() if "fastcopy" in w]
    r = [best / t(w["fastcopy"]) for w, best in fc if best]
    if r:
        lines.append(f"geometric mean of best peer time / fastcopy time: {fmt_ratio(geomean(r))} "
                     f"over {len(r)} workload(s) (> 1: fastcopy is faster)")
    r = [t(w["fastcopy"]) / t(w[FLOOR]) for w in table.values() if "fastcopy" in w and FLOOR in w]
    if r:
        lines.append(f"geometric mean of fastcopy time / allocation floor: {fmt_ratio(geomean(r))} "
                     f"over {len(r)} workload(s)")
    if any(FLOOR in w for w in table.values()):
        lines.append("floor = only allocating and filling the graph's containers (list, dict, tuple, set, "
                     "frozenset, bytearray, instance __dict__) from a precomputed list; it counts no "
                     "instance, no leaf object and no traversal, so it is a lower bound, not a copy")
    lines.append(f"times: {STATS[stat]} of all values of all worker processes; "
                 "vs stdlib = stdlib time / this time; vs best peer = fastest peer's time / this time "
                 "(> 1: faster)")
    return lines


def headers(stat: str = "median") -> tuple[str, ...]:
    return ("workload", "implementation", STATS[stat], "vs stdlib", "vs best peer", "note")


def cells(r: Row, stat: str = "median") -> tuple[str, ...]:
    note = ""
    if r.impl == FLOOR:
        note = "allocation floor (containers only)"
    elif r.vs_floor is not None and r.impl == "fastcopy":
        note = f"{fmt_ratio(r.vs_floor)} the floor"
    peer = "—" if r.vs_peer is None else fmt_ratio(r.vs_peer) + ("" if r.impl == r.best_peer else f" ({r.best_peer})")
    if r.impl == FLOOR:
        peer = "—"
    return (r.workload, r.impl, r.stat.text(stat),
            fmt_ratio(r.vs_stdlib) if r.impl != "stdlib" else "1 (ref)", peer, note)


def title_of(md: dict[str, Any]) -> str:
    parts = [f"{md.get('python_implementation', 'python')} {md.get('python_version', '')}".strip()]
    if md.get("cpu_model_name"):
        parts.append(f"{md['cpu_model_name']}, {md.get('cpu_count', '?')} CPUs")
    if md.get("fastcopy_bench_mode"):
        parts.append(f"mode: {md['fastcopy_bench_mode']}")
    return "; ".join(parts)


def render_plain(rows: list[Row], title: str, footer: list[str], stat: str = "median") -> str:
    body = [cells(r, stat) for r in rows]
    heads = headers(stat)
    widths = [max([len(h)] + [len(b[i]) for b in body]) for i, h in enumerate(heads)]
    right = {2, 3, 4}

    def line(cols):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cols, widths))).rstrip()

    out = [title, line(heads), "  ".join("-" * w for w in widths)]
    prev = None
    for b in body:
        out.append(line(b if b[0] != prev else ("",) + b[1:]))
        prev = b[0]
    out.append("")
    out.extend(footer)
    return "\n".join(out)


def print_table(table: dict[str, dict[str, Stat]], md: dict[str, Any], plain: bool = False,
                stat: str = "median") -> None:
    rows, footer, title = rows_of(table, stat), summary(table, stat), title_of(md)
    if not plain:
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:
            plain = True
    if plain:
        print(render_plain(rows, title, footer, stat))
        return
    t = Table(title=title)
    for i, h in enumerate(headers(stat)):
        t.add_column(h, justify="right" if i in (2, 3, 4) else "left", no_wrap=True)
    prev = None
    for r in rows:
        c = list(cells(r, stat))
        if r.workload == prev:
            c[0] = ""
        elif prev is not None:
            t.add_section()
        prev = r.workload
        t.add_row(*c)
    console = Console(width=max(Console().width, 130))
    console.print(t)
    for f in footer:
        console.print(f, highlight=False)


def markdown(table: dict[str, dict[str, Stat]], md: dict[str, Any], stat: str = "median") -> str:
    """One row per workload, one column per implementation (``stat``: median
    ± MAD or mean ± std), then fastcopy's speedup over the stdlib and over
    the best peer, and its distance to the floor; a geometric-mean row at
    the end."""
    t = lambda s: s.center(stat)  # noqa: E731
    impls = impl_order(i for w in table.values() for i in w)
    has_peer = any(peers_of(w) for w in table.values())
    head = ["workload"] + [f"{i} (containers only)" if i == FLOOR else i for i in impls]
    extra = []
    if "fastcopy" in impls and "stdlib" in impls:
        extra.append("fastcopy vs stdlib")
    if "fastcopy" in impls and has_peer:
        extra.append("fastcopy vs best peer")
    if "fastcopy" in impls and FLOOR in impls:
        extra.append("fastcopy / floor")
    lines = ["| " + " | ".join(head + extra) + " |",
             "| --- |" + " ---: |" * (len(head) - 1 + len(extra))]
    cols: dict[str, list[float]] = {e: [] for e in extra}
    for w, row in table.items():
        c = [w]
        for i in impls:
            s = row.get(i)
            c.append(s.text(stat) if s else "—")
        fc = row.get("fastcopy")
        for e in extra:
            v = None
            if fc and e == "fastcopy vs stdlib" and "stdlib" in row:
                v = t(row["stdlib"]) / t(fc)
            elif fc and e == "fastcopy vs best peer":
                ps = [t(row[p]) for p in peers_of(row)]
                v = min(ps) / t(fc) if ps else None
            elif fc and e == "fastcopy / floor" and FLOOR in row:
                v = t(fc) / t(row[FLOOR])
            if v is not None:
                cols[e].append(v)
            c.append(fmt_ratio(v))
        lines.append("| " + " | ".join(c) + " |")
    if extra:
        g = ["**geometric mean**"] + [""] * (len(head) - 1) + [f"**{fmt_ratio(geomean(cols[e]))}**" for e in extra]
        lines.append("| " + " | ".join(g) + " |")
    return "\n".join(lines) + "\n"
