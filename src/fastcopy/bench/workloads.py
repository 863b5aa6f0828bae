"""Workloads of ``python -m fastcopy.bench``: what gets copied.

A workload is a name, a one-line description and a zero-argument factory
that builds a fresh, deterministic object graph.  One timed *loop* copies
that object once -- except for ``deepcopy`` (``batch=True``), whose factory
returns the list of 60 objects one loop copies, one by one, as
pyperformance's ``bm_deepcopy`` does.

Built in:

* the three pyperformance ``bm_deepcopy`` cases, re-implemented from their
  description: ``deepcopy``, ``deepcopy_reduce``, ``deepcopy_memo``;
* a corpus of real-looking data (see ``CORPUS``).

Added by the user:

* ``--workload-module MOD`` (a module name or a path to a ``.py`` file)
  exposing ``WORKLOADS = {name: zero_arg_factory}``;
* ``--pickle FILE`` (repeatable): the unpickled object, named
  ``pickle:<file stem>``.

Everything here is pure Python with no dependency.
"""

from __future__ import annotations

import datetime as _dt
import enum
import fnmatch
import importlib
import importlib.util
import json
import os
import pickle
import random
import types
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

__all__ = [
    "Workload",
    "CORPUS",
    "BM_DEEPCOPY",
    "build_registry",
    "select",
    "collect_containers",
    "WorkloadError",
]


class WorkloadError(ValueError):
    """A bad workload selection or user workload (reported as a CLI error)."""


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    make: Callable[[], Any]
    batch: bool = False  # make() returns the list of objects one loop copies
    source: str = "corpus"  # "bm_deepcopy", "corpus", "module:<mod>", "pickle:<path>"

    def items(self) -> list[Any]:
        """The objects one loop copies (one, except for batch workloads)."""
        obj = self.make()
        return list(obj) if self.batch else [obj]


# ---------------------------------------------------------------------------
# pyperformance bm_deepcopy, re-implemented from its description


@dataclass
class BmDataclass:
    """The 3-field dataclass of pyperformance's ``deepcopy`` case."""

    string: str
    lst: list
    boolean: bool


def make_bm_deepcopy() -> list[Any]:
    """pyperformance ``deepcopy``: a small dict copied 30 times, and a
    3-field dataclass copied 30 times with its fields varied between copies
    (3 strings x 5 first-list-elements x 2 booleans).  Here the 30 dataclass
    states are 30 instances built up front, so one loop is exactly 60 copies
    and no field update is timed."""
    a = {"list": [1, 2, 3, 43], "t": (1, 2, 3), "str": "hello", "subdict": {"a": True}}
    out: list[Any] = [a] * 30
    for s in ("red", "blue", "green"):
        for kk in range(5):
            for b in (True, False):
                out.append(BmDataclass(s, [kk, 2, 3], b))
    return out


class BmReduce:
    """pyperformance ``deepcopy_reduce``: ``__reduce__`` and ``__setstate__``."""

    def __init__(self) -> None:
        self.a = 1
        self.b = 2

    def __reduce__(self):
        return (BmReduce, (), self.__dict__)

    def __setstate__(self, state):
        self.__dict__.update(state)


def make_bm_reduce() -> BmReduce:
    return BmReduce()


def make_bm_memo() -> dict[str, Any]:
    """pyperformance ``deepcopy_memo``: one 100-int list referenced 103 times."""
    a = [1] * 100
    return {"a": (a, a, a), "b": [a] * 100}


# ---------------------------------------------------------------------------
# the real-data corpus

_FIRST = ["Ada", "Alan", "Barbara", "Dennis", "Edsger", "Grace", "Guido", "Ken", "Linus", "Margaret"]
_CITIES = ["Amsterdam", "Berlin", "Chicago", "Delhi", "Lagos", "Lima", "Osaka", "Oslo"]
_TAGS = ["admin", "beta", "cloud", "dev", "edge", "free", "gold", "ops", "pro", "qa"]


def make_json_api() -> dict[str, Any]:
    """A paginated REST API response (issue-tracker style), decoded by json:
    100 items with a nested user, labels, assignees, reactions, timestamps."""
    rnd = random.Random(4101)
    items = []
    for i in range(100):
        user = {
            "login": f"{rnd.choice(_FIRST).lower()}{rnd.randint(1, 999)}",
            "id": rnd.randint(10_000, 9_999_999),
            "avatar_url": f"https://avatars.example.com/u/{i}?v=4",
            "type": "User",
            "site_admin": rnd.random() < 0.05,
        }
        items.append(
            {
                "id": 1_000_000 + i,
                "number": 4000 + i,
                "title": f"Issue {i}: copy of nested structure is slow",
                "user": user,
                "labels": [
                    {"id": rnd.randint(1, 10**9), "name": t, "color": f"{rnd.randrange(16**6):06x}", "default": False}
                    for t in rnd.sample(_TAGS, rnd.randint(0, 3))
                ],
                "state": rnd.choice(["open", "closed"]),
                "locked": False,
                "assignees": [dict(user)] if rnd.random() < 0.4 else [],
                "comments": rnd.randint(0, 40),
                "created_at": f"2024-0{rnd.randint(1, 9)}-1{rnd.randint(0, 9)}T12:00:00Z",
                "closed_at": None,
                "body": "Steps to reproduce:\n" + "x" * rnd.randint(20, 200),
                "reactions": {"+1": rnd.randint(0, 9), "-1": 0, "laugh": 0, "heart": rnd.randint(0, 3)},
                "score": round(rnd.uniform(0, 1), 4),
            }
        )
    doc = {"total_count": 2345, "incomplete_results": False, "items": items}
    return json.loads(json.dumps(doc))


def make_config() -> dict[str, Any]:
    """A nested service configuration: sections of dicts, lists of routes,
    tuples for versions and limits, feature flags."""
    routes = []
    for i in range(40):
        routes.append(
            {
                "path": f"/api/v{1 + i % 3}/resource{i}",
                "methods": ["GET", "POST"] if i % 2 else ["GET"],
                "middleware": ["auth", "ratelimit", "gzip"][: 1 + i % 3],
                "timeout": 2.5 + i % 4,
                "retry": {"attempts": 3, "backoff": (0.1, 0.2, 0.4)},
                "cache": None if i % 5 else {"ttl": 60, "vary": ["Accept", "Authorization"]},
            }
        )
    return {
        "service": {"name": "orders", "version": (3, 2, 1), "debug": False, "workers": 8},
        "database": {
            "primary": {"host": "db1.internal", "port": 5432, "pool": {"min": 2, "max": 20}},
            "replicas": [{"host": f"db{r}.internal", "port": 5432, "weight": r} for r in range(2, 6)],
            "options": {"sslmode": "require", "connect_timeout": 10},
        },
        "features": {f"flag_{i}": i % 3 == 0 for i in range(30)},
        "logging": {
            "level": "INFO",
            "handlers": {"console": {"format": "%(message)s"}, "file": {"path": "/var/log/x.log", "rotate": (7, "days")}},
        },
        "routes": routes,
        "limits": {"rps": 1000, "burst": 200, "sizes": [1024, 4096, 65536]},
    }


def make_records(n: int = 1000, seed: int = 20240601) -> list[dict[str, Any]]:
    """A JSON-like list of ``n`` records of 8 fields (int, str, float, bool,
    list of 3 str, nested dict, None, list of 5 int)."""
    rnd = random.Random(seed)
    records = []
    for i in range(n):
        records.append(
            {
                "id": i,
                "name": f"user_{i:05d}",
                "score": round(rnd.uniform(0.0, 100.0), 3),
                "active": rnd.random() < 0.7,
                "tags": rnd.sample(_TAGS, 3),
                "address": {
                    "street": f"{rnd.randint(1, 999)} Main Street",
                    "city": rnd.choice(_CITIES),
                    "zip": f"{rnd.randint(0, 99999):05d}",
                },
                "manager": None,
                "history": [rnd.randint(0, 1000) for _ in range(5)],
            }
        )
    return records


@dataclass
class Item:
    id: int
    name: str
    price: float
    tags: list = field(default_factory=list)
    dims: tuple = (0, 0, 0)
    meta: dict = field(default_factory=dict)


def make_dataclasses() -> list[Item]:
    """1,000 dataclass instances with a list, a tuple and a dict field."""
    rnd = random.Random(7)
    return [
        Item(i, f"item-{i}", round(rnd.uniform(1, 500), 2), rnd.sample(_TAGS, 2),
             (rnd.randint(1, 99), rnd.randint(1, 99), rnd.randint(1, 99)), {"stock": rnd.randint(0, 50)})
        for i in range(1000)
    ]


class Point3:
    """A ``__slots__`` class (no ``__dict__``)."""

    __slots__ = ("x", "y", "z", "label", "history")

    def __init__(self, x, y, z, label, history):
        self.x, self.y, self.z, self.label, self.history = x, y, z, label, history


def make_slots() -> list[Point3]:
    """1,000 ``__slots__`` instances, each with a small list."""
    rnd = random.Random(11)
    return [
        Point3(rnd.random(), rnd.random(), rnd.random(), f"p{i}", [rnd.randint(0, 9) for _ in range(3)])
        for i in range(1000)
    ]


class Customer:
    def __init__(self, id, name):
        self.id, self.name, self.orders = id, name, []


class Product:
    def __init__(self, id, name, price):
        self.id, self.name, self.price = id, name, price


class Order:
    def __init__(self, id, customer):
        self.id, self.customer, self.lines, self.status = id, customer, [], "new"


class OrderLine:
    def __init__(self, order, product, qty):
        self.order, self.product, self.qty = order, product, qty


def make_orm_graph() -> dict[str, Any]:
    """An ORM-like session: 50 customers, 200 orders, 800 order lines, 40
    products shared by the lines; back-references order -> customer and
    line -> order make cycles."""
    rnd = random.Random(23)
    products = [Product(i, f"product-{i}", Decimal(rnd.randint(100, 99999)) / 100) for i in range(40)]
    customers = [Customer(i, f"{rnd.choice(_FIRST)} {i}") for i in range(50)]
    orders = []
    for i in range(200):
        c = customers[rnd.randrange(50)]
        o = Order(i, c)
        c.orders.append(o)
        for _ in range(4):
            o.lines.append(OrderLine(o, products[rnd.randrange(40)], rnd.randint(1, 5)))
        orders.append(o)
    return {"customers": customers, "products": products, "orders": orders}


def make_deep_nesting(depth: int = 300, chains: int = 10) -> list[Any]:
    """10 chains of alternating dict/list nesting, 300 levels each (the
    stdlib's recursion limit allows about 480)."""
    out = []
    for c in range(chains):
        node: Any = {"leaf": c}
        for level in range(depth):
            node = {"level": level, "child": node} if level % 2 else [level, node]
        out.append(node)
    return out


def make_memo_graph() -> dict[str, Any]:
    """Memo-heavy: 200 small lists referenced 3,500 times from lists, dict
    values and tuples (most of the copy is memo lookups)."""
    rnd = random.Random(31)
    shared = [[i, i + 1, f"s{i}"] for i in range(200)]
    return {
        "refs": [shared[rnd.randrange(200)] for _ in range(2000)],
        "by_key": {f"k{i}": shared[i % 200] for i in range(1000)},
        "pairs": [(shared[rnd.randrange(200)], shared[rnd.randrange(200)]) for _ in range(250)],
    }


def make_large_flat() -> dict[str, Any]:
    """Large flat containers: 50,000 ints, 20,000 strings, a 20,000-key dict."""
    return {
        "ints": list(range(50_000)),
        "strings": [f"s{i}" for i in range(20_000)],
        "mapping": {f"key{i}": i for i in range(20_000)},
    }


class Status(enum.Enum):
    NEW = "new"
    PAID = "paid"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


def make_typed_records() -> list[dict[str, Any]]:
    """1,000 records of datetime, date, timedelta, Decimal, UUID and enum values."""
    rnd = random.Random(43)
    base = _dt.datetime(2024, 1, 1, tzinfo=_dt.timezone.utc)
    return [
        {
            "id": uuid.UUID(int=rnd.getrandbits(128), version=4),
            "created": base + _dt.timedelta(seconds=rnd.randint(0, 10**7)),
            "due": _dt.date(2024, rnd.randint(1, 12), rnd.randint(1, 28)),
            "duration": _dt.timedelta(minutes=rnd.randint(1, 600)),
            "amount": Decimal(rnd.randint(1, 10**6)) / 100,
            "status": rnd.choice(list(Status)),
        }
        for _ in range(1000)
    ]


BM_DEEPCOPY: tuple[Workload, ...] = (
    Workload("deepcopy", "pyperformance: a small dict x30 + a 3-field dataclass x30 (one loop = 60 copies)",
             make_bm_deepcopy, batch=True, source="bm_deepcopy"),
    Workload("deepcopy_reduce", "pyperformance: one object with __reduce__ and __setstate__",
             make_bm_reduce, source="bm_deepcopy"),
    Workload("deepcopy_memo", "pyperformance: a 100-int list referenced 103 times",
             make_bm_memo, source="bm_deepcopy"),
)

CORPUS: tuple[Workload, ...] = (
    Workload("json_api", "REST API response decoded by json (100 issues)", make_json_api),
    Workload("config", "nested service configuration", make_config),
    Workload("records_1000", "list of 1,000 JSON-like records", make_records),
    Workload("dataclasses_1000", "1,000 dataclass instances", make_dataclasses),
    Workload("slots_1000", "1,000 __slots__ instances", make_slots),
    Workload("orm_graph", "ORM-like graph, shared products, back-reference cycles", make_orm_graph),
    Workload("deep_nesting", "10 chains of 300 nested dict/list levels", make_deep_nesting),
    Workload("memo_graph", "200 lists referenced 3,500 times", make_memo_graph),
    Workload("large_flat", "50k-int list, 20k-str list, 20k-key dict", make_large_flat),
    Workload("typed_records", "1,000 records of datetime/date/timedelta/Decimal/UUID/enum", make_typed_records),
)


# ---------------------------------------------------------------------------
# user workloads and selection


def _load_module(spec: str) -> types.ModuleType:
    if spec.endswith(".py") or os.sep in spec:
        path = os.path.abspath(spec)
        if not os.path.isfile(path):
            raise WorkloadError(f"--workload-module {spec}: no such file")
        name = "_fastcopy_bench_user_" + os.path.splitext(os.path.basename(path))[0]
        mspec = importlib.util.spec_from_file_location(name, path)
        if mspec is None or mspec.loader is None:
            raise WorkloadError(f"--workload-module {spec}: cannot load it as a module")
        module = importlib.util.module_from_spec(mspec)
        import sys

        sys.modules[name] = module  # so that pickle/dataclasses find the classes
        mspec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(spec)
    except ImportError as exc:
        raise WorkloadError(f"--workload-module {spec}: cannot import it ({exc})") from exc


def _pickle_factory(path: str) -> Callable[[], Any]:
    def make() -> Any:
        with open(path, "rb") as f:
            return pickle.load(f)

    return make


def build_registry(workload_modules: list[str] | None = None, pickles: list[str] | None = None) -> dict[str, Workload]:
    """name -> Workload: the built-in ones, then the user's (in that order)."""
    reg = {w.name: w for w in BM_DEEPCOPY + CORPUS}
    for spec in workload_modules or []:
        module = _load_module(spec)
        table = getattr(module, "WORKLOADS", None)
        if not isinstance(table, dict) or not table:
            raise WorkloadError(
                f"--workload-module {spec}: the module must define WORKLOADS, a non-empty dict "
                "of name -> zero-argument factory"
            )
        for name, factory in table.items():
            if not isinstance(name, str) or not name or "/" in name:
                raise WorkloadError(f"--workload-module {spec}: bad workload name {name!r} (non-empty, no '/')")
            if not callable(factory):
                raise WorkloadError(f"--workload-module {spec}: WORKLOADS[{name!r}] is not callable")
            if name in reg:
                raise WorkloadError(f"--workload-module {spec}: workload {name!r} already exists")
            doc = (getattr(factory, "__doc__", None) or "").strip().split("\n")[0]
            reg[name] = Workload(name, doc or f"from {spec}", factory, source=f"module:{spec}")
    for path in pickles or []:
        if not os.path.isfile(path):
            raise WorkloadError(f"--pickle {path}: no such file")
        name = "pickle:" + os.path.splitext(os.path.basename(path))[0]
        if name in reg:
            raise WorkloadError(f"--pickle {path}: workload {name!r} already exists")
        reg[name] = Workload(name, f"unpickled from {path}", _pickle_factory(os.path.abspath(path)),
                             source=f"pickle:{os.path.abspath(path)}")
    return reg


def select(registry: dict[str, Workload], patterns: list[str] | None, default: list[str] | None = None) -> list[Workload]:
    """Workloads matching any of the names/globs, in registry order.

    No patterns: ``default`` names if given, else every workload."""
    if not patterns:
        if default is None:
            return list(registry.values())
        return [registry[n] for n in default if n in registry]
    chosen = []
    for pat in patterns:
        hits = [n for n in registry if fnmatch.fnmatchcase(n, pat)]
        if not hits:
            raise WorkloadError(
                f"no workload matches {pat!r}; available: {', '.join(registry)}"
            )
        chosen.extend(hits)
    names = set(chosen)
    return [w for n, w in registry.items() if n in names]


# ---------------------------------------------------------------------------
# containers of a graph, for the allocation floor

_FLOOR_TYPES = (list, dict, tuple, set, frozenset, bytearray)


def collect_containers(obj: Any) -> list[Any]:
    """Every distinct container of ``obj``'s graph that a deep copy has to
    allocate anew: lists, dicts, tuples, sets, frozensets, bytearrays, and
    the ``__dict__`` of every instance (instances themselves, ``__slots__``
    storage and leaf objects such as ``Decimal`` are not counted).  Walks
    the graph iteratively in the order deepcopy would."""
    seen: set[int] = set()
    out: list[Any] = []
    stack = [obj]
    keep = []
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        keep.append(o)
        if isinstance(o, _FLOOR_TYPES):
            out.append(o)
            if isinstance(o, dict):
                for k, v in o.items():
                    stack.append(v)
                    stack.append(k)
            elif not isinstance(o, bytearray):
                stack.extend(o)
            continue
        if isinstance(o, (str, bytes, int, float, complex, type, types.FunctionType, types.BuiltinFunctionType)):
            continue
        d = getattr(o, "__dict__", None)
        if isinstance(d, dict):
            stack.append(d)
        for s in slot_names(type(o)):
            try:
                stack.append(getattr(o, s))
            except AttributeError:
                pass
    return out


def slot_names(tp: type) -> list[str]:
    """Attribute names of the ``__slots__`` of ``tp`` and its bases (private
    names mangled), without ``__dict__`` and ``__weakref__``."""
    names = []
    for klass in tp.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        if isinstance(slots, str):
            slots = (slots,)
        for s in slots:
            if s in ("__dict__", "__weakref__"):
                continue
            if s.startswith("__") and not s.endswith("__"):
                s = f"_{klass.__name__.lstrip('_')}{s}"
            names.append(s)
    return names
