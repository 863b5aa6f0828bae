"""``memory``: the memory one copy needs, per implementation and workload
(Linux with glibc only).

Each (implementation, workload) runs in a child process
(``python -m fastcopy.bench._memdriver``) with ``LD_PRELOAD`` = a small
malloc-accounting shim (``_mallocpeak.c``, shipped with the package and
compiled with ``cc`` on first use into ``$XDG_CACHE_HOME/fastcopy-bench``
or ``~/.cache/fastcopy-bench``) and ``PYTHONMALLOC=malloc``, so that every
allocation -- Python objects, fastcopy's memo and stack, the Rust memo of
copium -- goes through malloc and is counted with ``malloc_usable_size``.
The interpreter's frame-stack chunks (mmap) are routed through the shim
too.  The child builds the workload, copies it once (warm-up, discarded),
collects garbage and disables the collector, then for each object of the
workload: peak := current, copy (the copy is kept), read peak and current.

Columns (bytes):

``peak``      peak − before: the most memory the copy held at once,
              including the copy itself.  For a workload of several objects
              (``deepcopy``: 60) the largest over its objects.
``retained``  after − before: what the copy left allocated, i.e. the copy
              itself (plus any cache an implementation keeps).  Summed over
              the workload's objects.
``transient`` peak − retained of the object with the largest peak: working
              memory (memo, stack) released before returning.
``kept``      what stayed allocated after the warm-up copy was dropped and
              garbage collected: caches an implementation keeps between
              calls (a memo kept for reuse, copies it still references);
              never below zero (the collection may also free a few bytes
              that were there before the warm-up).  Not part of ``peak``:
              an implementation that keeps its working memory between
              calls shows a small transient.
``C stack``   how deep the C stack went below the measuring call's own depth
              (stack painting; a recursive copier keeps its state there,
              fastcopy's explicit stack is on the heap, in ``peak``).  The
              largest over the workload's objects; not included in ``peak``.
``tracemalloc`` the same peak seen by tracemalloc, in a separate child
              without the shim: Python's allocators only, so a Rust
              extension's own allocations (copium's memo) are invisible.
``vs copium`` / ``vs stdlib``  peak / that implementation's peak.

The reading's own allocations (the Python ints of the readings) are
measured with a copier that returns its argument and subtracted.
``PYTHONHASHSEED=0`` in the children; the numbers are deterministic.
Fastcopy's row is marked ✓ where its peak ≤ copium's, ✗ otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from typing import Any

from .counters import _sanitizer_preload

SHIM_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_mallocpeak.c")
DEFAULT_IMPLS = ["stdlib", "fastcopy", "copium"]
QUICK_WORKLOADS = ["deepcopy", "deepcopy_memo", "records_1000", "deep_nesting"]


class ShimError(RuntimeError):
    pass


def platform_problem() -> str:
    """Why the malloc shim cannot work here ('' when it can)."""
    if not sys.platform.startswith("linux"):
        return f"the memory subcommand needs Linux with glibc (this is {sys.platform})"
    libc, _ = platform.libc_ver()
    if libc != "glibc":
        return (f"the memory subcommand needs glibc (it calls __libc_malloc & co.); "
                f"this Linux has {libc or 'another C library'}")
    return ""


def cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "fastcopy-bench")


def shim_path() -> str:
    """The compiled shim, built on first use (keyed by a hash of its source)."""
    try:
        with open(SHIM_SOURCE, "rb") as f:
            src = f.read()
    except OSError as exc:
        raise ShimError(f"the shim's source is missing ({exc}); reinstall fastcopy") from exc
    key = hashlib.sha256(src).hexdigest()[:16]
    for d in (cache_dir(), os.path.join(tempfile.gettempdir(), f"fastcopy-bench-{os.getuid()}")):
        out = os.path.join(d, f"mallocpeak-{key}.so")
        if os.path.isfile(out):
            return out
        try:
            os.makedirs(d, exist_ok=True)
        except OSError:
            continue
        if os.access(d, os.W_OK):
            break
    else:
        raise ShimError(f"no writable cache directory for the shim (tried {cache_dir()})")
    cc = os.environ.get("CC", "cc").split()
    if shutil.which(cc[0]) is None:
        raise ShimError(f"no C compiler ({cc[0]!r} not found) to build the malloc shim: "
                        "install gcc (apt-get install gcc, dnf install gcc) or set CC")
    fd, tmp = tempfile.mkstemp(prefix="mallocpeak-", suffix=".so", dir=d)
    os.close(fd)
    try:
        r = subprocess.run([*cc, "-O2", "-shared", "-fPIC", "-o", tmp, SHIM_SOURCE],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise ShimError(f"building the malloc shim failed ({' '.join(cc)} exit {r.returncode}):\n"
                            f"{r.stderr.strip()[-1500:]}")
        os.replace(tmp, out)  # atomic: concurrent builders end with the same file
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def _child_env(shim: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("FASTCOPY_PATCH", None)
    env.pop("PYTHONTRACEMALLOC", None)
    env["PYTHONHASHSEED"] = "0"
    if shim is None:
        env.pop("PYTHONMALLOC", None)
    else:
        env["PYTHONMALLOC"] = "malloc"
        env["LD_PRELOAD"] = " ".join([shim, *os.environ.get("LD_PRELOAD", "").replace(":", " ").split()])
    return env


def run_child(impl: str, workload: str, mode: str, shim: str | None, extra: list[str]) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "fastcopy.bench._memdriver", impl, workload, "--mode", mode, *extra]
    r = subprocess.run(cmd, env=_child_env(shim if mode == "malloc" else None), capture_output=True, text=True)
    if r.returncode != 0:
        raise ShimError(f"{workload}/{impl} ({mode}) failed (exit {r.returncode}):\n{r.stderr.strip()[-1500:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def summarize(malloc: dict[str, Any], tm: dict[str, Any] | None) -> dict[str, Any]:
    items = malloc["items"]
    worst = max(items, key=lambda r: r["peak"])
    out = {
        "impl": malloc["impl"], "workload": malloc["workload"], "copies": len(items),
        "peak": worst["peak"],
        "retained": sum(r["retained"] for r in items),
        "transient": max(0, worst["peak"] - worst["retained"]),
        "kept": malloc["kept"],
        "allocs": sum(r["allocs"] for r in items),
        "c_stack": max(r["stack"] for r in items),
        "items": items, "overhead": malloc["overhead"],
    }
    if tm is not None:
        out["tracemalloc_peak"] = max(r["peak"] for r in tm["items"])
        out["tracemalloc_retained"] = sum(r["retained"] for r in tm["items"])
        out["tracemalloc_items"] = tm["items"]
    return out


def fmt_bytes(n: float) -> str:
    if n >= 10 * 1024 * 1024:
        return f"{n / (1024 * 1024):,.1f} MiB"
    if n >= 10 * 1024:
        return f"{n / 1024:,.1f} KiB"
    return f"{n:,.0f} B"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-w", "--workload", nargs="+", metavar="NAME|GLOB",
                   help="workloads (default: all; with --quick: " + ", ".join(QUICK_WORKLOADS) + ")")
    p.add_argument("-i", "--impl", nargs="+", metavar="NAME|GLOB",
                   help="implementations (default: " + " ".join(DEFAULT_IMPLS) + ")")
    p.add_argument("-j", "--jobs", type=int, default=2, metavar="N",
                   help="children run in parallel (default: 2; memory does not depend on timing)")
    p.add_argument("--no-tracemalloc", action="store_true", help="skip the tracemalloc column (half the children)")
    p.add_argument("--json", metavar="FILE", help="also write the measurements as JSON")
    p.add_argument("--quick", action="store_true",
                   help="CI mode: four small workloads by default, and no tracemalloc column")
    p.add_argument("--workload-module", action="append", default=[], metavar="MODULE")
    p.add_argument("--pickle", action="append", default=[], metavar="FILE")
    p.add_argument("--peer", action="append", default=[], metavar="NAME=MODULE:FUNC")


def main(args: argparse.Namespace) -> int:
    from . import impls as I
    from .workloads import build_registry, select

    if args.jobs < 1:
        raise SystemExit("error: --jobs must be at least 1")
    for spec in args.peer:
        I.add_peer(spec)
    reg = build_registry(args.workload_module, args.pickle)
    workloads = select(reg, args.workload, QUICK_WORKLOADS if args.quick else None)
    names = I.select(args.impl, default=DEFAULT_IMPLS)
    problem = platform_problem()
    if problem:
        raise SystemExit(f"error: {problem}")
    preloaded = _sanitizer_preload()
    if preloaded:
        # the sanitizer runtime replaces malloc itself; the shim would hand it
        # blocks from glibc's allocator (or the reverse) and crash, and the
        # numbers of an instrumented process say nothing about the real one
        raise SystemExit(f"error: memory cannot measure a process that preloads a sanitizer runtime "
                         f"(LD_PRELOAD has {preloaded}); run it from a normal build without LD_PRELOAD")
    impls = I.keep_available(names)
    if not impls:
        raise SystemExit("error: none of the chosen implementations is available")
    if "floor" in impls:
        print("note: floor is not a copy (it allocates the containers only); shown for reference")
    try:
        shim = shim_path()
    except ShimError as exc:
        raise SystemExit(f"error: {exc}") from None
    extra = I.driver_args(args)
    with_tm = not (args.quick or args.no_tracemalloc)
    modes = ["malloc", "tracemalloc"] if with_tm else ["malloc"]
    jobs = [(w.name, i, m) for w in workloads for i in impls for m in modes]
    print(f"{sys.implementation.name} {sys.version.split()[0]}; malloc shim {shim}")
    print(f"measuring {len(workloads)} workload(s) x {len(impls)} implementation(s) "
          f"({len(jobs)} child processes) ...", file=sys.stderr, flush=True)
    from concurrent.futures import ThreadPoolExecutor

    try:
        with ThreadPoolExecutor(args.jobs) as ex:
            raw = dict(zip(jobs, ex.map(lambda j: run_child(j[1], j[0], j[2], shim, extra), jobs)))
    except ShimError as exc:
        raise SystemExit(f"error: {exc}") from None
    results = [summarize(raw[(w.name, i, "malloc")], raw.get((w.name, i, "tracemalloc")))
               for w in workloads for i in impls]
    by = {(r["workload"], r["impl"]): r for r in results}
    for r in results:
        c, s = by.get((r["workload"], "copium")), by.get((r["workload"], "stdlib"))
        r["vs_copium"] = r["peak"] / c["peak"] if c and c["peak"] else None
        r["vs_stdlib"] = r["peak"] / s["peak"] if s and s["peak"] else None
    cols = ["peak", "retained", "transient", "kept", "C stack"] + (["tracemalloc"] if with_tm else []) + ["vs copium", "vs stdlib"]
    for w in workloads:
        print()
        print(f"{w.name}: {w.description}" + (f" ({by[(w.name, impls[0])]['copies']} copies)"
                                               if by[(w.name, impls[0])]["copies"] > 1 else ""))
        hdr = f"  {'impl':18} " + " ".join(f"{c:>12}" for c in cols)
        print(hdr)
        print("  " + "-" * (len(hdr) - 2))
        for i in impls:
            r = by[(w.name, i)]
            vals = [fmt_bytes(r["peak"]), fmt_bytes(r["retained"]), fmt_bytes(r["transient"]),
                    fmt_bytes(r["kept"]), fmt_bytes(r["c_stack"])]
            if with_tm:
                vals.append(fmt_bytes(r["tracemalloc_peak"]))
            vals += [f"{r['vs_copium']:.2f}x" if r["vs_copium"] is not None else "n/a",
                     f"{r['vs_stdlib']:.2f}x" if r["vs_stdlib"] is not None else "n/a"]
            mark = ""
            if i == "fastcopy" and r["vs_copium"] is not None:
                mark = "  ✓" if r["peak"] <= by[(w.name, "copium")]["peak"] else "  ✗"
            print(f"  {i:18} " + " ".join(f"{v:>12}" for v in vals) + mark)
    print()
    print("peak = most bytes held at once during one copy, the copy included (largest over the workload's "
          "copies); retained = bytes left after, i.e. the copy (summed); transient = peak - retained; "
          "kept = left allocated by the warm-up copy after it was dropped (caches, a memo kept for reuse), "
          "not in peak; C stack = C stack depth used, not in peak; bytes = malloc_usable_size, PYTHONMALLOC=malloc")
    if "fastcopy" in impls and "copium" in impls:
        worse = [w.name for w in workloads if by[(w.name, "fastcopy")]["peak"] > by[(w.name, "copium")]["peak"]]
        print(f"fastcopy peak <= copium peak: {len(workloads) - len(worse)}/{len(workloads)} workloads"
              + (f" (higher: {', '.join(worse)})" if worse else ""))
    elif "fastcopy" in impls:
        print("copium is not installed (pip install copium): no comparison with it")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"python": sys.version.split()[0], "shim": shim, "tracemalloc": with_tm,
                       "impls": impls, "workloads": [w.name for w in workloads], "results": results}, f, indent=1)
        print(f"\nmeasurements: {args.json}")
    return 0
