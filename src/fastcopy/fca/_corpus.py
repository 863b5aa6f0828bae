"""Workloads for ``python -m fastcopy.fca``: the benchmark tool's
(``fastcopy.bench.workloads``), so that the model's estimates and the
benchmark's measurements are about the same objects.

Everything the CLI knows about workloads goes through :func:`corpus`.
"""

from __future__ import annotations

from typing import Callable, Dict

from ..bench.workloads import BM_DEEPCOPY, CORPUS


def corpus() -> Dict[str, Callable[[], object]]:
    """Workload name -> function building a fresh object to copy.

    A batch workload (pyperformance's ``deepcopy``, whose loop copies 60
    objects) is described as the list of those objects.
    """
    return {w.name: w.make for w in BM_DEEPCOPY + CORPUS}
