"""``run``: time workloads x implementations with pyperf.

pyperf does the timing: every benchmark runs in fresh worker processes
(``python -m fastcopy.bench run --worker ...``), with a calibration of the
loop count, warm-up values that are dropped, then timed values.  The manager
process verifies every implementation's copy against the stdlib first
(``--no-verify`` skips it), shows progress, writes all benchmarks into one
pyperf JSON file and prints the table.

Our options and pyperf's share one command line; ``-w`` is ours
(workloads), so pyperf's warm-up count is only ``--warmups``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from . import impls as I
from .results import bench_name, markdown, need_pyperf, positive_int, print_table, table_of
from .workloads import Workload, WorkloadError, build_registry, select

DEFAULT_OUTPUT = "bench-results.json"

# pyperf settings per mode, used unless a pyperf timing option is given
MODES = {
    "default": ["--processes", "2", "--values", "3", "--warmups", "1", "--min-time", "0.025"],
    "quick": ["--processes", "1", "--values", "3", "--warmups", "1", "--min-time", "0.01"],
}
_ALIASES = {"--processes": {"-p", "--processes"}, "--values": {"-n", "--values"},
            "--warmups": {"--warmups"}, "--min-time": {"--min-time", "-l", "--loops"}}


def own_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m fastcopy.bench run",
        description="Time workloads x implementations with pyperf (worker processes, calibrated loops, "
                    "warm-up); write a pyperf JSON file and print a table. Benchmarks are named "
                    "<workload>/<implementation>.",
        allow_abbrev=False,
        add_help=False,
    )
    p.add_argument("-h", "--help", action="store_true", help="show this help (and pyperf's options) and exit")
    p.add_argument("-w", "--workload", nargs="+", metavar="NAME|GLOB",
                   help="workloads, by name or glob, e.g. -w 'deepcopy*' (default: all built-in ones, plus "
                        "those of --workload-module/--pickle)")
    p.add_argument("-i", "--impl", nargs="+", metavar="NAME|GLOB",
                   help=f"implementations (default: every available one of {', '.join(I.default_names())}; "
                        "also: fastcopy-patch, and peers added with --peer)")
    p.add_argument("--workload-module", action="append", default=[], metavar="MODULE",
                   help="a module name or .py path defining WORKLOADS = {name: zero-arg factory}; repeatable")
    p.add_argument("--pickle", action="append", default=[], metavar="FILE",
                   help="a workload from a pickle file (named pickle:<stem>); repeatable")
    p.add_argument("--peer", action="append", default=[], metavar="NAME=MODULE:FUNC",
                   help="another deepcopy implementation to time as a peer; repeatable")
    p.add_argument("-o", "--output", default=DEFAULT_OUTPUT, metavar="FILE",
                   help=f"results JSON, pyperf BenchmarkSuite format, replaced if it exists (default: {DEFAULT_OUTPUT})")
    p.add_argument("--markdown", metavar="FILE", help="also write the table as markdown (for the README)")
    p.add_argument("--quick", action="store_true",
                   help="CI mode: 1 worker process x 3 values per benchmark, 10 ms minimum per value "
                        "(default: 2 processes x 3 values, 25 ms; pyperf's --rigorous for a careful run)")
    p.add_argument("--rounds", type=positive_int, default=1, metavar="N",
                   help="run the whole selection N times, each workload's implementations back to back in "
                        "every round, and pool each benchmark's values over the rounds: a machine that "
                        "slows down or speeds up during the run then weighs on every implementation alike "
                        "(pyperf's --processes is per round; default: 1)")
    p.add_argument("--no-verify", action="store_true", help="skip the check of every copy against copy.deepcopy")
    p.add_argument("--plain", action="store_true", help="plain-text table even if rich is installed")
    p.add_argument("--stat", choices=("median", "mean"), default="median",
                   help="the times of the table: median ± median absolute deviation (default) or mean ± std")
    p.add_argument("--list", action="store_true", help="list workloads and implementations and exit")
    p.add_argument("--mode-label", help=argparse.SUPPRESS)  # manager -> workers
    return p


def _pool(name: str, benches: list[Any]) -> Any:
    """One pyperf Benchmark named ``name`` holding the runs of ``benches``
    (the same benchmark timed in several rounds)."""
    import pyperf

    if len(benches) == 1:
        return benches[0]
    runs = [pyperf.Run(run.values, warmups=run.warmups or None,
                       metadata={**run.get_metadata(), "name": name}, collect_metadata=False)
            for b in benches for run in b.get_runs()]
    return pyperf.Benchmark(runs)


def _forward(own: argparse.Namespace):
    """pyperf's add_cmdline_args: give the workers our selection."""

    def add(cmd: list[str], _args: Any) -> None:
        cmd += I.driver_args(own)
        cmd += ["--workload", *own._workloads, "--impl", *own._impls, "--no-verify",
                "--rounds", str(own.rounds), "--mode-label", own.mode_label]

    return add


_REGISTRY: dict[str, Workload] = {}


def _time_func(loops: int, wname: str, iname: str) -> float:
    """pyperf time function: seconds for ``loops`` loops (worker only)."""
    calls = [I.prepare(iname, obj) for obj in _REGISTRY[wname].items()]
    timer = time.perf_counter
    if len(calls) == 1:
        fn, args = calls[0]
        if args:
            (x,) = args
            t0 = timer()
            for _ in range(loops):
                fn(x)
            return timer() - t0
        t0 = timer()
        for _ in range(loops):
            fn()
        return timer() - t0
    t0 = timer()
    for _ in range(loops):
        for fn, args in calls:
            fn(*args)
    return timer() - t0


class _Progress:
    """rich (or tqdm) on a terminal; one plain line per step otherwise."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.impl = total, 0, None
        if sys.stderr.isatty():
            try:
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
                from rich.console import Console

                self.impl = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), console=Console(stderr=True))
                self.impl.start()
                self.task = self.impl.add_task("benchmarks", total=total)
                self.kind = "rich"
            except ImportError:
                try:
                    from tqdm import tqdm

                    self.impl = tqdm(total=total, file=sys.stderr, unit="bench")
                    self.kind = "tqdm"
                except ImportError:
                    self.impl = None

    def start(self, name: str) -> None:
        if self.impl is None:
            print(f"[{self.done + 1}/{self.total}] {name}", file=sys.stderr, flush=True)
        elif self.kind == "rich":
            self.impl.update(self.task, description=name)
        else:
            self.impl.set_description(name)

    def step(self) -> None:
        self.done += 1
        if self.impl is not None:
            if self.kind == "rich":
                self.impl.advance(self.task)
            else:
                self.impl.update(1)

    def close(self) -> None:
        if self.impl is not None:
            self.impl.stop() if self.kind == "rich" else self.impl.close()


def _note(msg: str) -> None:
    print(f"note: {msg}", file=sys.stderr, flush=True)


def list_all(reg: dict[str, Workload]) -> None:
    print("workloads:")
    for w in reg.values():
        print(f"  {w.name:18s} {w.description}")
    print("implementations:")
    for n in I.all_names():
        ok, note = I.available(n)
        print(f"  {n:18s} {'available' if ok else 'NOT AVAILABLE'}{': ' + note if note else ''}")


def main(argv: list[str]) -> int:
    own_p = own_parser()
    own, rest = own_p.parse_known_args(argv)
    pyperf = need_pyperf()
    runner = pyperf.Runner(program_args=("-m", "fastcopy.bench", "run"), add_cmdline_args=_forward(own))
    runner.argparser.prog = "python -m fastcopy.bench run"
    if own.help:
        own_p.print_help()
        print("\npyperf options (all accepted; -w is --workload here, use --warmups for pyperf's):")
        print(runner.argparser.format_help().split("\n", 1)[1])
        return 0
    try:
        for spec in own.peer:
            I.add_peer(spec)
        reg = build_registry(own.workload_module, own.pickle)
        if own.list:
            list_all(reg)
            return 0
        workloads = select(reg, own.workload)
        wanted = I.select(own.impl)
    except (WorkloadError, I.ImplError) as exc:
        own_p.error(str(exc))
    worker = "--worker" in rest
    mode = "quick" if own.quick else "default"
    given = {a.split("=")[0] for a in rest}
    if worker:
        pass  # the manager passes every setting
    elif given & {"--fast", "--rigorous", "--debug-single-value"}:
        mode = "pyperf's"
    else:
        preset = MODES[mode]
        for k in range(0, len(preset), 2):
            if not given & _ALIASES[preset[k]]:
                rest = [preset[k], preset[k + 1]] + rest
            else:
                mode += f" with {preset[k]} changed"
    if not worker and "-v" not in rest and "--verbose" not in rest and "-q" not in rest:
        rest = rest + ["--quiet"]
    if not worker and os.environ.get("LD_PRELOAD") and "--inherit-environ" not in given:
        # pyperf starts workers with a filtered environment; a preloaded
        # runtime (the sanitizer build's ASan/UBSan) must reach them too
        rest = rest + ["--inherit-environ=LD_PRELOAD,ASAN_OPTIONS,UBSAN_OPTIONS,PYTHONMALLOC"]
    # pyperf's own -o refuses an existing file; ours replaces it
    args = runner.parse_args(rest)

    impls: list[str] = []
    for n in wanted:
        ok, note = I.available(n)
        if ok:
            impls.append(n)
            if note:
                runner.metadata[f"impl_{n}"] = note
        elif not worker:
            _note(note)
    if not impls:
        own_p.error("none of the requested implementations is available")
    own._workloads = [w.name for w in workloads]
    own._impls = impls
    _REGISTRY.update({w.name: w for w in workloads})
    import fastcopy

    runner.metadata["fastcopy_version"] = fastcopy.__version__
    if not worker:
        own.mode_label = f"{mode} ({' '.join(a for a in rest if a != '--quiet')})"
        if own.rounds > 1:
            own.mode_label += f", {own.rounds} rounds"
    runner.metadata["fastcopy_bench_mode"] = own.mode_label or mode

    jobs = [(w, i) for w in workloads for i in impls]
    if not worker:
        if os.environ.get("FASTCOPY_PATCH", "") not in ("", "0"):
            _note("FASTCOPY_PATCH is set in this shell; pyperf's workers do not inherit it, so 'stdlib' is the stdlib")
        print(f"{len(workloads)} workload(s) x {len(impls)} implementation(s) = {len(jobs)} benchmarks, "
              f"pyperf mode: {runner.metadata['fastcopy_bench_mode']}", file=sys.stderr, flush=True)
        if not own.no_verify:
            from .verify import Reference, check_copy

            for w in workloads:
                items = w.items()
                items = [items[0], items[-1]] if w.batch else items
                refs = [Reference(obj) for obj in items]
                for i in impls:
                    if i in ("stdlib", "floor", "pickle"):
                        continue
                    try:
                        for obj, ref in zip(items, refs):
                            check_copy(obj, I.copier(i), ref)
                    except Exception as exc:  # noqa: BLE001
                        print(f"error: {i} does not copy {w.name} like copy.deepcopy: {type(exc).__name__}: {exc}\n"
                              "(--no-verify times it anyway)", file=sys.stderr)
                        return 2
            print("verified: every implementation's copy matches copy.deepcopy's on every selected workload",
                  file=sys.stderr, flush=True)

    # Workers run this same loop and pick their task by its index, so the
    # rounds are part of the loop on both sides; a round's benchmarks are
    # named <workload>/<implementation>#<round> (pyperf wants one name per
    # task) and pooled under <workload>/<implementation> at the end.
    progress = None if worker else _Progress(len(jobs) * own.rounds)
    timed: dict[str, list[Any]] = {bench_name(w.name, i): [] for w, i in jobs}
    try:
        for r in range(own.rounds):
            for w, i in jobs:
                name = bench_name(w.name, i)
                task = name if own.rounds == 1 else f"{name}#{r + 1}"
                if progress:
                    progress.start(task)
                b = runner.bench_time_func(
                    task, _time_func, w.name, i,
                    metadata={"workload": w.name, "implementation": i,
                              "copies_per_loop": 60 if w.batch else 1, "workload_source": w.source},
                )
                if b is not None:
                    timed[name].append(b)
                if progress:
                    progress.step()
    finally:
        if progress:
            progress.close()
    if worker:
        return 0
    benches = [_pool(name, bs) for name, bs in timed.items() if bs]
    suite = pyperf.BenchmarkSuite(benches)
    suite.dump(own.output, replace=True)
    print(f"results: {own.output} ({len(benches)} benchmarks, pyperf JSON; "
          f"compare with: python -m fastcopy.bench compare {own.output} --a stdlib --b fastcopy)")
    table = table_of(benches)
    md = dict(benches[0].get_metadata()) if benches else {}
    print()
    print_table(table, md, plain=own.plain, stat=own.stat)
    if own.markdown:
        with open(own.markdown, "w", encoding="utf-8") as f:
            f.write(markdown(table, md, own.stat))
        print(f"markdown table: {own.markdown}")
    return 0
