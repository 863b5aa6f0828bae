"""`python -m fastcopy.bench`: every subcommand in --quick mode, in a child
process, as a user runs it.

pyperf, matplotlib and py-spy come with the `test` extra; valgrind is on
every machine of this project's kind (apt-get install valgrind): a missing
tool makes its test fail, never skip.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import textwrap
from datetime import datetime

import pytest

import fastcopy
from fastcopy import _fastcopy

import pyperf  # in the test extra

HAS_TEMPLATE = hasattr(fastcopy, "Template")


def bench(*args: str, cwd=None, env=None, timeout: float = 300) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e.pop("FASTCOPY_PATCH", None)
    e["COLUMNS"] = "200"
    if env:
        e.update(env)
    return subprocess.run([sys.executable, "-m", "fastcopy.bench", *args], cwd=cwd, env=e,
                          capture_output=True, text=True, timeout=timeout)


def ok(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    return r.stdout


def make_suite(path, rows: dict[str, list[float]], metadata=None) -> None:
    """A results file like `run` writes: {"<workload>/<impl>": values in seconds}."""
    benches = []
    for name, values in rows.items():
        w, i = name.rsplit("/", 1)
        md = {"name": name, "unit": "second", "loops": 1, "workload": w, "implementation": i,
              "python_version": "3.x (test)"}
        md.update(metadata or {})
        benches.append(pyperf.Benchmark([pyperf.Run(values, warmups=[(1, values[0])], metadata=md,
                                                    collect_metadata=False)]))
    pyperf.BenchmarkSuite(benches).dump(str(path), replace=True)


# --------------------------------------------------------------------------- help and bad arguments


@pytest.mark.parametrize("sub", ["run", "report", "compare", "counters", "memory", "flamegraph", "plot", "verify"])
def test_every_subcommand_has_help(sub):
    out = ok(bench(sub, "--help"))
    assert f"python -m fastcopy.bench {sub}" in out
    assert "--quick" in out


def test_bench_sh_knows_every_subcommand():
    # scripts/bench.sh -> nox -s bench: a first argument that is not a known
    # subcommand goes to `run`, so a subcommand missing from the noxfile's
    # list would run `run SUBCOMMAND` and fail
    import ast
    from fastcopy.bench.cli import COMMANDS

    noxfile = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "noxfile.py")
    if not os.path.exists(noxfile):
        pytest.skip("no noxfile.py beside tests/ (not a checkout)")
    tree = ast.parse(open(noxfile, encoding="utf-8").read())
    fn = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "bench")
    sub = next(ast.literal_eval(n.value) for n in ast.walk(fn)
               if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", None) == "sub")
    assert set(sub) == set(COMMANDS)


def test_top_level_help_and_unknown_subcommand():
    r = bench()
    assert r.returncode == 2 and "SUBCOMMAND" in r.stdout
    r = bench("frobnicate")
    assert r.returncode == 2 and "invalid choice" in r.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--quick", "-w", "no_such_*"], "no workload matches 'no_such_*'"),
        (["run", "--quick", "-i", "nope"], "no implementation matches 'nope'"),
        (["run", "--quick", "--pickle", "/nonexistent.pkl"], "--pickle /nonexistent.pkl: no such file"),
        (["verify", "-w", "zzz"], "no workload matches 'zzz'"),
        (["counters", "-i", "nope"], "no implementation matches 'nope'"),
        (["counters", "-n", "0"], "--loops: must be a whole number of at least 1, not '0'"),
        (["counters", "--candidate", "nope"], "no implementation matches 'nope'"),
        (["memory", "-i", "nope"], "no implementation matches 'nope'"),
        (["memory", "-w", "zzz"], "no workload matches 'zzz'"),
        (["memory", "--jobs", "0"], "--jobs must be at least 1"),
        (["compare", "/nonexistent.json"], "/nonexistent.json: no such file"),
        (["flamegraph", "-w", "zzz"], "unknown workload 'zzz'"),
        (["plot", "/nonexistent.json"], "/nonexistent.json: no such file"),
    ],
)
def test_bad_arguments_are_clear_errors(args, message):
    r = bench(*args)
    assert r.returncode != 0
    assert message in r.stdout + r.stderr


def test_missing_optional_tools_say_how_to_install(tmp_path):
    # pyperf / matplotlib missing: simulated by blocking the import
    code = ("import sys; sys.modules[{mod!r}] = None; from fastcopy.bench.cli import main; "
            "sys.exit(main({argv!r}))")
    make_suite(tmp_path / "r.json", {"a/stdlib": [2e-6, 2e-6], "a/fastcopy": [1e-6, 1e-6]})
    for mod, argv in (("pyperf", ["run", "--quick"]), ("matplotlib", ["plot", str(tmp_path / "r.json")])):
        r = subprocess.run([sys.executable, "-c", code.format(mod=mod, argv=argv)], capture_output=True, text=True)
        assert r.returncode != 0
        assert "pip install 'fastcopy[bench]'" in r.stdout + r.stderr, r.stderr
    # copium asked for but not importable: an error that says how to install it
    argv = ["counters", "--quick", "-w", "deepcopy_reduce", "--candidate", "copium"]
    r = subprocess.run([sys.executable, "-c", code.format(mod="copium", argv=argv)], capture_output=True, text=True)
    assert r.returncode != 0 and "--candidate copium: peer 'copium' is not installed" in r.stderr, r.stderr
    assert "pip install copium" in r.stderr
    # py-spy missing
    r = subprocess.run([sys.executable, "-c", "import sys, fastcopy.bench.flamegraph as f; "
                        "f.find_py_spy = lambda: None; from fastcopy.bench.cli import main; "
                        "sys.exit(main(['flamegraph', '--quick']))"], capture_output=True, text=True)
    assert r.returncode != 0 and "py-spy is not installed: pip install 'fastcopy[bench]'" in r.stderr, r.stderr
    # valgrind missing (and perf): an empty PATH
    r = bench("counters", "--quick", "--source", "valgrind", env={"PATH": str(tmp_path)})
    assert r.returncode != 0 and "apt-get install valgrind" in r.stderr


# --------------------------------------------------------------------------- the C helper


def test_alloc_floor_copies_each_container_exactly_once():
    inner = [1, 2]
    items = [inner, {"k": inner}, (inner, 3), {1, 2}, frozenset({3}), bytearray(b"ab"), ()]
    before = [sys.getrefcount(o) for o in items]
    out = _fastcopy._alloc_floor(items)
    assert out == items
    assert all(type(a) is type(b) for a, b in zip(out, items))
    assert all(a is not b for a, b in zip(out[:-1], items[:-1]))  # () is a singleton
    assert out[0][0] is 1 and out[2][0] is inner  # shallow: same elements
    del out
    assert [sys.getrefcount(o) for o in items] == before
    with pytest.raises(TypeError, match="must be a list"):
        _fastcopy._alloc_floor((1, 2))
    with pytest.raises(TypeError, match="unsupported container type int"):
        _fastcopy._alloc_floor([[1], 5])
    assert [sys.getrefcount(o) for o in items] == before


# --------------------------------------------------------------------------- run / report


def test_run_quick_json_table_markdown(tmp_path):
    impls = ["stdlib", "fastcopy", "fastcopy-dispatch", "floor", "template"]
    r = bench("run", "--quick", "-w", "deepcopy_memo", "deepcopy_reduce", "-i", *impls,
              "-o", "res.json", "--markdown", "res.md", "--plain", "--min-time", "0.002", "--values", "2",
              cwd=tmp_path)
    out = ok(r)
    want = [i for i in impls if HAS_TEMPLATE or i != "template"]
    if not HAS_TEMPLATE:
        assert "fastcopy.Template does not exist" in r.stderr
    # the JSON: a pyperf BenchmarkSuite, one benchmark per workload x implementation
    raw = json.loads((tmp_path / "res.json").read_text())
    assert raw["version"] and isinstance(raw["benchmarks"], list)
    suite = pyperf.BenchmarkSuite.load(str(tmp_path / "res.json"))
    names = sorted(b.get_name() for b in suite.get_benchmarks())
    assert names == sorted(f"{w}/{i}" for w in ("deepcopy_memo", "deepcopy_reduce") for i in want)
    for b in suite.get_benchmarks():
        md = b.get_metadata()
        assert b.get_name() == f"{md['workload']}/{md['implementation']}"
        assert md["fastcopy_bench_mode"].startswith("custom") or "quick" in md["fastcopy_bench_mode"]
        assert b.get_nvalue() >= 2 and all(v > 0 for v in b.get_values())
    # the table: every row, ratios to the stdlib, the floor labelled
    for w in ("deepcopy_memo", "deepcopy_reduce"):
        assert w in out
    impl_rows = [t for t in (line.split() for line in out.splitlines())
                 if "±" in t and (t[0] in want or (t[0].startswith("deepcopy_") and len(t) > 1 and t[1] in want))]
    assert len(impl_rows) == 2 * len(want), out
    assert "allocation floor (containers only)" in out
    assert "geometric mean speedup vs stdlib, fastcopy:" in out
    md_text = (tmp_path / "res.md").read_text()
    assert md_text.startswith("| workload | stdlib | fastcopy |")
    assert "floor (containers only)" in md_text and "**geometric mean**" in md_text
    # report re-renders the same file, as text and as markdown
    assert "deepcopy_memo" in ok(bench("report", "res.json", "--plain", cwd=tmp_path))
    assert ok(bench("report", "res.json", "--markdown", cwd=tmp_path)) == md_text
    # pyperf's own tools read it
    ok(subprocess.run([sys.executable, "-m", "pyperf", "show", "res.json"], cwd=tmp_path,
                      capture_output=True, text=True))


def test_run_rounds_interleave_and_pool(tmp_path):
    impls = ["stdlib", "fastcopy"]
    r = bench("run", "--quick", "--rounds", "3", "-w", "deepcopy_memo", "deepcopy_reduce", "-i", *impls,
              "-o", "res.json", "--plain", "--min-time", "0.002", "--values", "2", cwd=tmp_path)
    out = ok(r)
    suite = pyperf.BenchmarkSuite.load(str(tmp_path / "res.json"))
    benches = suite.get_benchmarks()
    # pooled under the plain names: one benchmark per workload x implementation
    assert sorted(b.get_name() for b in benches) == sorted(
        f"{w}/{i}" for w in ("deepcopy_memo", "deepcopy_reduce") for i in impls)
    timed = {}
    for b in benches:
        # one timed worker process per round (--quick); pyperf adds a
        # calibration run (warm-ups only) before it in each round
        timed[b.get_name()] = [run for run in b.get_runs() if run.values]
        assert len(timed[b.get_name()]) == 3
        assert b.get_nvalue() == 6
        assert "3 rounds" in b.get_metadata()["fastcopy_bench_mode"]
    # interleaved: every benchmark's timed run k came before any benchmark's run k+1
    ends = [[datetime.fromisoformat(run.get_metadata()["date"]) for run in runs] for runs in timed.values()]
    for k in range(2):
        assert max(d[k] for d in ends) < min(d[k + 1] for d in ends)
    assert "deepcopy_memo" in out and "#" not in "".join(b.get_name() for b in benches)
    bad = bench("run", "--quick", "--rounds", "0", "-w", "deepcopy_memo", cwd=tmp_path)
    assert bad.returncode == 2 and "--rounds" in bad.stderr


def test_run_user_module_pickle_and_glob(tmp_path):
    (tmp_path / "my_workloads.py").write_text(textwrap.dedent("""
        def small():
            "two shared lists"
            a = [1, 2]
            return {"x": a, "y": a}

        WORKLOADS = {"mine_small": small, "mine_other": lambda: [1, (2, 3)]}
    """))
    cyc = [1, 2]
    cyc.append(cyc)
    with open(tmp_path / "data.pkl", "wb") as f:
        pickle.dump({"cycle": cyc, "t": (cyc,)}, f)
    out = ok(bench("run", "--quick", "--workload-module", "my_workloads.py", "--pickle", "data.pkl",
                   "-w", "mine_s*", "pickle:*", "-i", "fastcopy", "stdlib", "-o", "r.json", "--plain",
                   "--min-time", "0.002", "--values", "2", cwd=tmp_path))
    suite = pyperf.BenchmarkSuite.load(str(tmp_path / "r.json"))
    assert sorted(b.get_name() for b in suite.get_benchmarks()) == [
        "mine_small/fastcopy", "mine_small/stdlib", "pickle:data/fastcopy", "pickle:data/stdlib"]
    assert "mine_small" in out and "pickle:data" in out
    r = bench("run", "--quick", "--workload-module", "no_such_module_xyz", cwd=tmp_path)
    assert r.returncode == 2 and "cannot import" in r.stderr


def test_report_median_and_mean(tmp_path):
    """report's two statistics, on values whose median, MAD, mean and std
    are known: one slow outlier moves the mean, not the median."""
    make_suite(tmp_path / "r.json", {
        # median 10, MAD median(|v - 10|) = median(1, 0, 0, 1, 90) = 1; mean 28, std 40.0
        "w/stdlib": [9e-6, 10e-6, 10e-6, 11e-6, 100e-6],
        # median 2, MAD 0; mean 2
        "w/fastcopy": [2e-6, 2e-6, 2e-6, 2e-6, 2e-6],
        # median 4, MAD 1; mean 4.4, std 1.14
        "w/copium": [4e-6, 3e-6, 5e-6, 4e-6, 6e-6],
    })
    md = ok(bench("report", str(tmp_path / "r.json"), "--markdown"))
    row = next(line for line in md.splitlines() if line.startswith("| w |"))
    assert row == "| w | 10.0 µs ± 1.0 µs | 2.00 µs ± 0.00 µs | 4.00 µs ± 1.00 µs | 5.00× | 2.00× |", md
    std = statistics.stdev([9, 10, 10, 11, 100])
    md = ok(bench("report", str(tmp_path / "r.json"), "--markdown", "--stat", "mean"))
    row = next(line for line in md.splitlines() if line.startswith("| w |"))
    want = f"| w | 28.0 µs ± {std:.1f} µs | 2.00 µs ± 0.00 µs | 4.40 µs ± 1.14 µs | 14.0× | 2.20× |"
    assert row == want, md
    plain = ok(bench("report", str(tmp_path / "r.json"), "--plain"))
    assert "median ± MAD" in plain.splitlines()[1] and "times: median ± MAD" in plain
    assert "mean ± std" in ok(bench("report", str(tmp_path / "r.json"), "--plain", "--stat", "mean"))
    r = bench("report", str(tmp_path / "r.json"), "--stat", "mode")
    assert r.returncode == 2 and "--stat" in r.stderr


# --------------------------------------------------------------------------- compare


def test_compare_arithmetic_two_files_and_one_file(tmp_path):
    make_suite(tmp_path / "a.json", {"deepcopy/stdlib": [845.3e-6] * 3, "memo/stdlib": [100e-6] * 3})
    make_suite(tmp_path / "b.json", {"deepcopy/stdlib": [792.5e-6] * 3, "memo/stdlib": [125e-6] * 3})
    out = ok(bench("compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")))
    faster = (845.3 - 792.5) / 845.3 * 100
    assert f"deepcopy/stdlib  ✓ Faster: {faster:.2f}% (845.3 → 792.5 μs)" in out
    assert "memo/stdlib      ✗ Slower: 25.00% (100.0 → 125.0 μs)" in out
    # below 10 μs, more decimals, so that a few percent still shows in the times
    make_suite(tmp_path / "c.json", {"small/stdlib": [2.43e-6] * 3, "tiny/stdlib": [0.543e-6] * 3})
    make_suite(tmp_path / "d.json", {"small/stdlib": [2.37e-6] * 3, "tiny/stdlib": [0.534e-6] * 3})
    small = ok(bench("compare", str(tmp_path / "c.json"), str(tmp_path / "d.json")))
    assert f"small/stdlib  ✓ Faster: {(2.43 - 2.37) / 2.43 * 100:.2f}% (2.43 → 2.37 μs)" in small
    assert f"tiny/stdlib   ✓ Faster: {(543 - 534) / 543 * 100:.2f}% (0.543 → 0.534 μs)" in small
    g = math.sqrt(792.5 / 845.3 * 1.25)
    assert f"Geometric mean (2 benchmark(s)): ✗ Slower: {(g - 1) * 100:.2f}% (time ratio {g:.4f})" in out
    # one file, two implementations
    make_suite(tmp_path / "one.json", {
        "w1/stdlib": [10e-6, 12e-6, 11e-6], "w1/fastcopy-dispatch": [10.9e-6, 11.1e-6, 11e-6],
        "w2/stdlib": [200e-6] * 3, "w2/fastcopy-dispatch": [100e-6] * 3, "w2/fastcopy": [10e-6] * 3,
    })
    out = ok(bench("compare", str(tmp_path / "one.json"), "--a", "stdlib", "--b", "fastcopy-dispatch"))
    assert "w1  ✓ Faster: 0.00% (11.0 → 11.0 μs)  [not significant" in out
    assert "w2  ✓ Faster: 50.00% (200.0 → 100.0 μs)" in out
    assert f"✓ Faster: {(1 - math.sqrt(0.5)) * 100:.2f}%" in out
    out = ok(bench("compare", str(tmp_path / "one.json")))  # defaults: stdlib vs fastcopy
    assert "w2  ✓ Faster: 95.00% (200.0 → 10.0 μs)" in out and "w1" not in out.split("\n", 1)[1]
    r = bench("compare", str(tmp_path / "one.json"), "--b", "nosuch")
    assert r.returncode != 0 and "no implementation 'nosuch'" in r.stderr
    r = bench("compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"), str(tmp_path / "one.json"))
    assert r.returncode != 0 and "one results file" in r.stderr


# --------------------------------------------------------------------------- plot


def test_plot_png_and_svg(tmp_path):
    make_suite(tmp_path / "r.json", {
        "a/stdlib": [100e-6, 101e-6], "a/fastcopy": [10e-6, 10e-6], "a/floor": [2e-6, 2e-6],
        "b/stdlib": [5e-6, 5e-6], "b/fastcopy": [1e-6, 1.1e-6], "b/copium": [1.5e-6, 1.5e-6],
    })
    out = ok(bench("plot", str(tmp_path / "r.json"), "-o", str(tmp_path / "charts" / "speedup"), "--quick"))
    png, svg = tmp_path / "charts" / "speedup.png", tmp_path / "charts" / "speedup.svg"
    assert "speedup.png" in out and "speedup.svg" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    text = svg.read_text()
    assert "<svg" in text and "fastcopy" in text and "floor (containers only)" in text
    make_suite(tmp_path / "nostd.json", {"a/fastcopy": [1e-6, 1e-6]})
    r = bench("plot", str(tmp_path / "nostd.json"), "-o", str(tmp_path / "x"))
    assert r.returncode != 0 and "no stdlib benchmarks" in r.stderr


# --------------------------------------------------------------------------- verify


def test_verify_corpus_pickle_and_a_broken_peer(tmp_path):
    out = ok(bench("verify", "--quick", "-i", "fastcopy", "fastcopy-dispatch"))
    assert out.count("✓ ") == 6 and "verify: 6 of 6 checks ok, 0 failed" in out
    node = {"name": "root", "children": []}
    node["children"].append({"parent": node, "shared": node["children"]})
    with open(tmp_path / "graph.pkl", "wb") as f:
        pickle.dump(node, f)
    out = ok(bench("verify", "--pickle", str(tmp_path / "graph.pkl"), "-i", "fastcopy"))
    assert "✓ pickle:graph / fastcopy" in out
    # peers that get it wrong: a shallow copy (not independent), a copy that loses sharing
    (tmp_path / "badcopy.py").write_text(textwrap.dedent("""
        import copy, pickle
        def shallow(x, memo=None):
            return copy.copy(x)
        def unshare(x, memo=None):
            return copy.deepcopy(x, {})  if not isinstance(x, dict) else {k: copy.deepcopy(v) for k, v in x.items()}
    """))
    r = bench("verify", "-w", "deepcopy_memo", "-i", "shallow", "unshare", "--peer", "shallow=badcopy:shallow",
              "--peer", "unshare=badcopy:unshare", cwd=tmp_path, env={"PYTHONPATH": str(tmp_path)})
    assert r.returncode == 1, r.stdout + r.stderr
    assert "✗ deepcopy_memo / shallow:" in r.stdout and "not independent" in r.stdout
    assert "✗ deepcopy_memo / unshare:" in r.stdout and "seen before" in r.stdout


# --------------------------------------------------------------------------- counters and flamegraph


_SANITIZED = any(os.path.basename(n).startswith(("libasan", "libubsan"))
                 for n in os.environ.get("LD_PRELOAD", "").replace(":", " ").split())


def test_counters_refuses_a_sanitizer_preload(tmp_path):
    # The sanitize sessions preload the real ASan runtime; elsewhere a path that
    # does not exist is enough (the loader warns and ignores it).
    preload = os.environ.get("LD_PRELOAD") if _SANITIZED else "/nonexistent/libasan.so.8"
    r = bench("counters", "--quick", "--source", "valgrind", "-w", "deepcopy_memo", "-n", "20", cwd=tmp_path,
              env={"LD_PRELOAD": preload})
    assert r.returncode != 0, r.stdout + r.stderr
    assert "valgrind cannot count a process that preloads a sanitizer runtime" in r.stderr
    assert "libasan" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.skipif(_SANITIZED, reason="valgrind cannot run a sanitizer-instrumented process; "
                    "test_counters_refuses_a_sanitizer_preload checks the refusal")
def test_counters_quick_valgrind_or_perf(tmp_path):
    assert shutil.which("valgrind") or shutil.which("perf"), "counters needs valgrind: apt-get install valgrind"
    out = ok(bench("counters", "--quick", "-w", "deepcopy_memo", "-n", "20", "--json", "c.json", cwd=tmp_path,
                   timeout=600))
    data = json.loads((tmp_path / "c.json").read_text())
    assert data["source"] in ("perf", "valgrind") and data["baseline"] == "stdlib" and data["candidate"] == "fastcopy"
    assert f"source: {'valgrind cachegrind' if data['source'] == 'valgrind' else 'perf stat'}" in out
    by = {r["impl"]: r for r in data["results"]}
    assert set(by) == {"stdlib", "fastcopy"}
    for r in by.values():
        assert r["instructions"] > 1000 and r["branches"] > 0 and 0 <= r["branch_miss_rate"] < 1
        assert r["cache_references"] >= 0 and 0 <= r["cache_miss_rate"] <= 1
    # a stdlib deepcopy of 103 references runs Python code for each: many times fastcopy's instructions
    assert by["stdlib"]["instructions"] > 5 * by["fastcopy"]["instructions"]
    assert "PERF Comparison (deepcopy_memo: stdlib → fastcopy" in out
    assert "✓ IMPROVED instructions :" in out


def test_flamegraph_quick_has_native_fastcopy_frames(tmp_path):
    out = ok(bench("flamegraph", "--quick", "-w", "deepcopy_memo", "-i", "stdlib", "fastcopy", "-o", "fg",
                   cwd=tmp_path))
    for impl in ("stdlib", "fastcopy"):
        svg = tmp_path / "fg" / f"deepcopy_memo-{impl}.svg"
        assert svg.stat().st_size > 1000
        assert svg.read_text().lstrip().startswith(("<?xml", "<svg"))
    text = (tmp_path / "fg" / "deepcopy_memo-fastcopy.svg").read_text()
    assert "(deepcopy.c:" in text and "fc_deepcopy" in text
    assert "fastcopy C functions" in out


# --------------------------------------------------------------------------- memory


def test_memory_refuses_a_sanitizer_preload(tmp_path):
    preload = os.environ.get("LD_PRELOAD") if _SANITIZED else "/nonexistent/libasan.so.8"
    r = bench("memory", "--quick", "-w", "deepcopy_memo", cwd=tmp_path, env={"LD_PRELOAD": preload})
    assert r.returncode != 0, r.stdout + r.stderr
    assert "memory cannot measure a process that preloads a sanitizer runtime" in r.stderr
    assert "libasan" in r.stderr and "Traceback" not in r.stderr


_NO_SHIM = "the malloc shim cannot be preloaded beside a sanitizer runtime; test_memory_refuses_a_sanitizer_preload checks the refusal"


def _containers_size(obj, seen=None) -> int:
    """sys.getsizeof of every list/dict/tuple reachable from obj, once each."""
    seen = set() if seen is None else seen
    total, todo = 0, [obj]
    while todo:
        o = todo.pop()
        if type(o) not in (list, dict, tuple) or id(o) in seen:
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        todo.extend(o.values() if type(o) is dict else o)
    return total


@pytest.mark.skipif(_SANITIZED, reason=_NO_SHIM)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="memory needs Linux with glibc")
def test_memory_shim_counts_a_known_block(tmp_path):
    from fastcopy.bench import memory

    os.environ.setdefault("XDG_CACHE_HOME", str(tmp_path / "cache"))
    shim = memory.shim_path()
    code = textwrap.dedent("""
        import ctypes, json
        L = ctypes.CDLL(None)
        for n in ("fcmem_current", "fcmem_peak", "fcmem_reset_peak"):
            getattr(L, n).restype = ctypes.c_longlong
        L.malloc.restype = L.realloc.restype = L.calloc.restype = ctypes.c_void_p
        L.realloc.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        L.free.argtypes = [ctypes.c_void_p]
        MB = 1 << 20
        out = {}
        b = L.fcmem_reset_peak()
        p = L.malloc(10 * MB)
        out["malloc"] = (L.fcmem_peak() - b, L.fcmem_current() - b)
        p = L.realloc(ctypes.c_void_p(p), 20 * MB)
        out["realloc"] = (L.fcmem_peak() - b, L.fcmem_current() - b)
        L.free(ctypes.c_void_p(p))
        out["free"] = (L.fcmem_peak() - b, L.fcmem_current() - b)
        b = L.fcmem_reset_peak()
        q = ctypes.c_void_p()
        assert L.posix_memalign(ctypes.byref(q), 4096, 3 * MB) == 0
        c = L.calloc(1024, 1024)
        out["memalign+calloc"] = (L.fcmem_peak() - b, L.fcmem_current() - b)
        L.free(q); L.free(ctypes.c_void_p(c))
        out["freed"] = (L.fcmem_peak() - b, L.fcmem_current() - b)
        print(json.dumps(out))
    """)
    r = subprocess.run([sys.executable, "-c", code], env={**os.environ, "LD_PRELOAD": shim},
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    MB, slack = 1 << 20, 64 << 10
    assert 10 * MB <= d["malloc"][0] < 10 * MB + slack and 10 * MB <= d["malloc"][1] < 10 * MB + slack
    # a realloc that moves holds both blocks for a moment; one that grows in place does not
    assert 20 * MB <= d["realloc"][0] < 30 * MB + slack and 20 * MB <= d["realloc"][1] < 20 * MB + slack
    assert d["free"][0] >= 20 * MB and abs(d["free"][1]) < slack
    assert 4 * MB <= d["memalign+calloc"][0] < 4 * MB + slack
    assert d["freed"][0] >= 4 * MB and abs(d["freed"][1]) < slack


@pytest.mark.skipif(_SANITIZED, reason=_NO_SHIM)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="memory needs Linux with glibc")
def test_memory_quick_table_json_and_plausible_sizes(tmp_path):
    from fastcopy.bench.workloads import make_large_flat, make_records

    impls = ["stdlib", "fastcopy"] + (["copium"] if _has_copium() else [])
    out = ok(bench("memory", "--quick", "-w", "records_1000", "large_flat", "-i", *impls, "--json", "m.json",
                   cwd=tmp_path, env={"XDG_CACHE_HOME": str(tmp_path / "cache")}))
    assert "records_1000:" in out and "large_flat:" in out and "vs copium" in out
    data = json.loads((tmp_path / "m.json").read_text())
    assert data["impls"] == impls and data["workloads"] == ["records_1000", "large_flat"]
    assert data["tracemalloc"] is False  # --quick skips the tracemalloc children
    by = {(r["workload"], r["impl"]): r for r in data["results"]}
    assert set(by) == {(w, i) for w in data["workloads"] for i in impls}
    for r in by.values():
        for k in ("peak", "retained", "transient", "kept", "c_stack", "allocs", "copies"):
            assert isinstance(r[k], int) and r[k] >= 0, (k, r)
        assert r["copies"] == 1 and len(r["items"]) == 1
        assert r["peak"] >= r["retained"] > 0
        assert r["vs_stdlib"] == pytest.approx(r["peak"] / by[(r["workload"], "stdlib")]["peak"])
    # what fastcopy's copy retains is the copy: the containers' getsizeof, plus
    # malloc's rounding, give or take the few bytes of the reading itself
    for w, make in (("records_1000", make_records), ("large_flat", make_large_flat)):
        expected = _containers_size(fastcopy.deepcopy(make()))
        got = by[(w, "fastcopy")]["retained"]
        assert 0.97 * expected <= got <= 1.15 * expected + 4096, (w, got, expected)
    # the stdlib's memo dict and keep-alive list are freed when it returns: transient memory
    assert by[("records_1000", "stdlib")]["transient"] > 50_000
    if "copium" in impls:
        mark = "✓" if by[("records_1000", "fastcopy")]["peak"] <= by[("records_1000", "copium")]["peak"] else "✗"
        assert any(line.lstrip().startswith("fastcopy") and line.rstrip().endswith(mark) for line in out.splitlines())
        assert "fastcopy peak <= copium peak:" in out


def _has_copium() -> bool:
    import importlib.util

    return importlib.util.find_spec("copium") is not None


def test_memory_batch_workload_and_missing_peer(tmp_path):
    if _SANITIZED:
        pytest.skip(_NO_SHIM)
    out = ok(bench("memory", "--quick", "-w", "deepcopy", "-i", "stdlib", "fastcopy", "nocopy",
                   "--peer", "nocopy=no_such_module_xyz:deepcopy", "--json", "m.json", cwd=tmp_path,
                   env={"XDG_CACHE_HOME": str(tmp_path / "cache")}))
    assert "peer 'nocopy' is not installed" in out
    data = json.loads((tmp_path / "m.json").read_text())
    r = {x["impl"]: x for x in data["results"]}
    assert set(r) == {"stdlib", "fastcopy"}
    assert r["fastcopy"]["copies"] == 60 and len(r["fastcopy"]["items"]) == 60
    assert r["fastcopy"]["retained"] == sum(i["retained"] for i in r["fastcopy"]["items"])
    assert r["fastcopy"]["peak"] == max(i["peak"] for i in r["fastcopy"]["items"])
    assert r["fastcopy"]["vs_copium"] is None
