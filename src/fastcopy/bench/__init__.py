"""fastcopy's benchmark and profiling tool: ``python -m fastcopy.bench``.

Subcommands: ``run`` (pyperf timings and a table), ``report`` (the table of a
results file, as text or markdown), ``compare`` (two results files, or two
implementations in one), ``counters`` (instructions, branches, cache events
from perf or valgrind), ``flamegraph`` (py-spy SVGs with native frames),
``plot`` (speedup charts), ``verify`` (copies checked against the stdlib).

Nothing here is imported by ``import fastcopy``; pyperf, matplotlib, rich and
py-spy (the ``bench`` extra: ``pip install 'fastcopy[bench]'``) are imported
only by the subcommands that need them.
"""
