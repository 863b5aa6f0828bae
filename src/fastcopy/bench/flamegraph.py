"""``flamegraph``: one SVG flame graph per implementation for a workload.

py-spy samples a child process (``python -m fastcopy.bench._driver``) that
copies the workload in a loop for ``--seconds``; ``--native`` unwinds the C
stack too, so fastcopy's own C functions (``fc_deepcopy``, ``visit_list``,
... from ``deepcopy.c``) appear under the Python frames.  py-spy starts the
child itself, so it needs no extra ptrace permission.  After each graph the
SVG is checked: for fastcopy's implementations it must name at least one
fastcopy C function, otherwise the command fails (the graph would not show
what it is for).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys

# A native frame in py-spy's SVG: <title>visit_list (deepcopy.c:812) (5 samples, 1.7%)</title>
FRAME = re.compile(r"<title>([A-Za-z_][A-Za-z0-9_]*) \(([A-Za-z0-9_]+\.c):\d+\)")
# fastcopy's C sources (src/fastcopy/_native/*.c; a newer source file is found
# beside the package when running from a checkout)
C_FILES = {"deepcopy.c", "memo.c", "reduce.c", "dispatch.c", "module.c", "floor.c", "shallow.c", "patch.c",
           "template.c"}


def fastcopy_frames(svg: str) -> list[str]:
    """``function (file.c)`` for every fastcopy C function in the SVG."""
    here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_native")
    files = C_FILES | ({f for f in os.listdir(here) if f.endswith(".c")} if os.path.isdir(here) else set())
    files.discard("fastcopy_unity.c")
    return sorted({f"{fn} ({fl})" for fn, fl in FRAME.findall(svg) if fl in files})
FASTCOPY_IMPLS = ("fastcopy", "fastcopy-dispatch", "fastcopy-patch", "template", "floor")


def find_py_spy() -> str | None:
    here = os.path.join(os.path.dirname(sys.executable), "py-spy")
    return here if os.access(here, os.X_OK) else shutil.which("py-spy")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-w", "--workload", default="deepcopy", metavar="NAME",
                   help="workload to profile (default: deepcopy)")
    p.add_argument("-i", "--impl", nargs="+", default=["stdlib", "fastcopy"], metavar="NAME|GLOB",
                   help="implementations, one SVG each (default: stdlib fastcopy)")
    p.add_argument("-o", "--outdir", default="flamegraphs", help="output directory (default: flamegraphs)")
    p.add_argument("--seconds", type=float, default=3.0, help="sampling time per implementation (default 3)")
    p.add_argument("--rate", type=int, default=250, help="samples per second (default 250)")
    p.add_argument("--quick", action="store_true", help="CI mode: 1 second per implementation")
    p.add_argument("--workload-module", action="append", default=[], metavar="MODULE")
    p.add_argument("--pickle", action="append", default=[], metavar="FILE")
    p.add_argument("--peer", action="append", default=[], metavar="NAME=MODULE:FUNC")


def main(args: argparse.Namespace) -> int:
    from . import impls as I
    from .workloads import build_registry

    for spec in args.peer:
        I.add_peer(spec)
    reg = build_registry(args.workload_module, args.pickle)
    if args.workload not in reg:
        raise SystemExit(f"error: unknown workload {args.workload!r}; available: {', '.join(reg)}")
    py_spy = find_py_spy()
    if py_spy is None:
        raise SystemExit("error: py-spy is not installed: pip install 'fastcopy[bench]' (or pip install py-spy)")
    if args.seconds <= 0 or args.rate <= 0:
        raise SystemExit("error: --seconds and --rate must be positive")
    seconds = 1.0 if args.quick else args.seconds
    names = I.select(args.impl)
    os.makedirs(args.outdir, exist_ok=True)
    extra = I.driver_args(args)
    env = dict(os.environ)
    env.pop("FASTCOPY_PATCH", None)
    failed = 0
    for impl in names:
        ok, note = I.available(impl)
        if not ok:
            print(f"note: {note}")
            continue
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{args.workload}-{impl}")
        out = os.path.join(args.outdir, safe + ".svg")
        cmd = [py_spy, "record", "--native", "--format", "flamegraph", "--rate", str(args.rate),
               "--output", out, "--", sys.executable, "-m", "fastcopy.bench._driver", impl, args.workload,
               "--seconds", str(seconds), *extra]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0 or not os.path.exists(out) or os.path.getsize(out) == 0:
            msg = (r.stderr or r.stdout).strip()[-600:]
            hint = ""
            if "ptrace" in msg.lower() or "permission" in msg.lower():
                hint = " (py-spy needs ptrace: run as root or set kernel.yama.ptrace_scope=0)"
            raise SystemExit(f"error: py-spy failed for {impl}{hint}: {msg}")
        with open(out, encoding="utf-8", errors="replace") as f:
            svg = f.read()
        m = re.search(r"Samples:\s*(\d+)", r.stdout + r.stderr)
        samples = m.group(1) if m else "?"
        found = fastcopy_frames(svg)
        line = f"{out}: {impl}, {samples} samples, {os.path.getsize(out):,} bytes"
        if impl in FASTCOPY_IMPLS:
            if not found:
                failed += 1
                line += "; ERROR: no fastcopy C function in the graph (native unwinding failed?)"
            else:
                line += (f"; {len(found)} fastcopy C functions, e.g. {', '.join(found[:6])}"
                         f"{' ...' if len(found) > 6 else ''}")
        print(line)
    return 1 if failed else 0
