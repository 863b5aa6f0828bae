"""``python -m fastcopy.bench SUBCOMMAND ...``"""

from __future__ import annotations

import argparse
import sys

COMMANDS = {
    "run": "time workloads x implementations with pyperf; JSON results and a table",
    "report": "the table of a results file (text, or markdown with --markdown)",
    "compare": "compare two results files, or two implementations in one (✓ Faster / ✗ Slower)",
    "counters": "instructions, branches, cache events per loop (perf stat, else valgrind cachegrind)",
    "memory": "peak and retained bytes per copy at the malloc level (Linux/glibc; vs copium and stdlib)",
    "flamegraph": "SVG flame graphs with native C frames (py-spy)",
    "plot": "PNG and SVG chart of speedups over the stdlib",
    "verify": "check copies against copy.deepcopy: equality, sharing, self-references, independence",
}

EPILOG = """examples:
  python -m fastcopy.bench run                        # every workload x every available implementation
  python -m fastcopy.bench run --quick -w 'deepcopy*' -i stdlib fastcopy floor
  python -m fastcopy.bench compare bench-results.json --a stdlib --b fastcopy-dispatch
  python -m fastcopy.bench compare old.json new.json
  python -m fastcopy.bench counters --baseline stdlib --candidate fastcopy
  python -m fastcopy.bench memory                     # peak bytes per copy: stdlib, fastcopy, copium
  python -m fastcopy.bench flamegraph -w records_1000
  python -m fastcopy.bench plot bench-results.json -o docs/bench/speedup
  python -m fastcopy.bench verify --pickle mydata.pkl

Every subcommand has --help and --quick. pyperf, rich, matplotlib and py-spy
come with: pip install 'fastcopy[bench]'."""


def _report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", help="results JSON of `run`")
    p.add_argument("--markdown", nargs="?", const="-", metavar="FILE",
                   help="write the markdown table to FILE (or stdout without FILE) instead of the text table")
    p.add_argument("--plain", action="store_true", help="plain-text table even if rich is installed")
    p.add_argument("--stat", choices=("median", "mean"), default="median",
                   help="the times shown: median ± median absolute deviation (default) or mean ± std")
    p.add_argument("--quick", action="store_true", help="accepted for uniformity (report is always quick)")


def _report(args: argparse.Namespace) -> int:
    from .results import load_suite, markdown, print_table, table_of

    benches = load_suite(args.results).get_benchmarks()
    table = table_of(benches)
    if not table:
        raise SystemExit(f"error: {args.results}: no <workload>/<implementation> benchmarks")
    md = dict(benches[0].get_metadata())
    if args.markdown:
        text = markdown(table, md, args.stat)
        if args.markdown == "-":
            sys.stdout.write(text)
        else:
            with open(args.markdown, "w", encoding="utf-8") as f:
                f.write(text)
            print(f"markdown table: {args.markdown}")
        return 0
    print_table(table, md, plain=args.plain, stat=args.stat)
    return 0


def _subparser(name: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m fastcopy.bench {name}", description=COMMANDS[name])
    if name == "report":
        _report_args(p)
    else:
        module = _module(name)
        p.description = (module.__doc__ or COMMANDS[name]).strip()
        p.formatter_class = argparse.RawDescriptionHelpFormatter
        module.add_arguments(p)
    return p


def _module(name: str):
    import importlib

    return importlib.import_module(f".{name}", __package__)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = argparse.ArgumentParser(
        prog="python -m fastcopy.bench",
        description="fastcopy's benchmark and profiling tool. Subcommands:\n"
        + "\n".join(f"  {k:11s} {v}" for k, v in COMMANDS.items()),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("command", choices=list(COMMANDS), metavar="SUBCOMMAND", help="one of: " + ", ".join(COMMANDS))
    top.add_argument("args", nargs=argparse.REMAINDER, help="its arguments (SUBCOMMAND --help)")
    if not argv:
        top.print_help()
        return 2
    ns = top.parse_args(argv[:1])
    rest = argv[1:]
    from .workloads import WorkloadError
    from .impls import ImplError

    try:
        if ns.command == "run":
            from .runner import main as run_main

            return run_main(rest)
        p = _subparser(ns.command)
        args = p.parse_args(rest)
        if ns.command == "report":
            return _report(args)
        return _module(ns.command).main(args)
    except (WorkloadError, ImplError) as exc:
        print(f"python -m fastcopy.bench {ns.command}: error: {exc}", file=sys.stderr)
        return 2
