"""Workloads for ``python -m fastcopy.fca``.

Everything the CLI knows about workloads goes through :func:`corpus`, so it
can later be pointed at the benchmark package's fuller corpus by changing
this one function.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
from typing import Any, Callable, Dict, List


@dataclasses.dataclass
class _Point:
    x: float
    y: float


@dataclasses.dataclass
class _Record:
    id: int
    name: str
    tags: List[str]
    position: _Point
    meta: Dict[str, Any]


def _bm_deepcopy() -> object:
    # the shape pyperformance's bm_deepcopy copies: a small dict with a list,
    # a tuple, a string, a nested dict, and a dataclass instance
    a = {"list": [1, 2, 3, 43], "t": (1, 2, 3), "str": "hello", "subdict": {"a": True}}
    return {"a": a, "dc": _Record(1, "hello", ["x", "y"], _Point(1.0, 2.0), {"k": [1, 2]})}


def _json_api() -> object:
    items = []
    for i in range(50):
        items.append(
            {
                "id": str(1000 + i),
                "type": "article",
                "attributes": {
                    "title": f"Title {i}",
                    "body": "lorem ipsum " * 4,
                    "views": i * 37,
                    "rating": i / 7,
                    "published": i % 3 != 0,
                    "deleted_at": None,
                },
                "relationships": {
                    "author": {"data": {"id": str(i % 7), "type": "people"}},
                    "comments": {"data": [{"id": str(i * 10 + k), "type": "comments"} for k in range(3)]},
                },
            }
        )
    return {
        "data": items,
        "meta": {"page": 1, "per_page": 50, "total": 1234},
        "links": {"self": "/articles?page=1", "next": "/articles?page=2"},
    }


def _config() -> object:
    def section(n: int) -> Dict[str, Any]:
        return {
            "enabled": True,
            "hosts": [f"host{n}-{k}.example" for k in range(4)],
            "ports": (8000 + n, 9000 + n),
            "features": {"alpha", "beta", f"f{n}"},
            "limits": {"cpu": 0.5 * n, "memory": f"{n}Gi", "burst": [1, 2, 4]},
            "retry": {"attempts": 3, "backoff": {"base": 0.1, "max": 10.0, "jitter": True}},
        }

    return {"version": 3, "services": {f"svc{n}": section(n) for n in range(10)}, "defaults": section(0)}


def _records() -> object:
    return [
        {
            "id": i,
            "name": f"user{i}",
            "email": f"user{i}@example.com",
            "score": i * 0.5,
            "tags": ["a", "b"] if i % 2 else ["c"],
            "active": bool(i % 3),
        }
        for i in range(1000)
    ]


def _dataclasses() -> object:
    return [
        _Record(i, f"r{i}", ["t1", "t2"], _Point(float(i), -float(i)), {"rank": i % 10}) for i in range(1000)
    ]


def _graph() -> object:
    nodes = [{"id": i, "label": f"n{i}", "edges": []} for i in range(200)]
    for i, node in enumerate(nodes):
        node["edges"].append(nodes[(i + 1) % len(nodes)])  # a ring: one big cycle
        node["edges"].append(nodes[(i * 7) % len(nodes)])  # shared references
    shared = {"weights": [0.1, 0.2, 0.3]}
    for node in nodes[::10]:
        node["shared"] = shared
    return {"nodes": nodes, "root": nodes[0], "shared": shared}


def _with_python_nodes() -> object:
    # objects with reducers (datetime, Decimal): python nodes, copied by the host
    base = datetime.datetime(2024, 1, 1)
    return [
        {"id": i, "when": base + datetime.timedelta(hours=i), "amount": decimal.Decimal(i) / 4, "tags": ["x"]}
        for i in range(100)
    ]


def corpus() -> Dict[str, Callable[[], object]]:
    """Workload name -> function building a fresh object to copy."""
    return {
        "bm_deepcopy": _bm_deepcopy,
        "json_api": _json_api,
        "config": _config,
        "records_1000": _records,
        "dataclasses_1000": _dataclasses,
        "graph_shared_cyclic": _graph,
        "python_nodes": _with_python_nodes,
    }
