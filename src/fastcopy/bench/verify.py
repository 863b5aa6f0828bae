"""``verify``: the design report's correctness check, against the stdlib.

For one object ``x`` and one implementation ``impl``, with
``expected = copy.deepcopy(x)`` and ``actual = impl(x)``:

1. **structural equality** -- ``actual`` and ``expected`` are walked in
   parallel (iteratively: deep graphs are fine); at every position the exact
   types are equal; atoms are equal; lists and tuples match item by item,
   dicts key by key in order (keys and values), sets and frozensets by
   value; instances by their ``__dict__`` and ``__slots__``; other objects
   (``datetime``, ``Decimal``, ...) by ``==``.
2. **sharing and self-references** -- the walk keeps a one-to-one map between
   the objects of ``expected`` and those of ``actual``: an object met twice
   in one copy (a shared reference or a cycle back to an ancestor) must meet
   its partner twice in the other, and two distinct objects must not be
   merged.
3. **independence** -- where the stdlib keeps an object of the original (an
   atom, an enum member, an object whose ``__deepcopy__`` returns itself)
   the implementation must keep that same object, and it must keep no other
   object of the original; then every mutable container of ``actual`` is
   mutated (items appended, keys and attributes added) and the original must
   still equal a snapshot taken before.

A failure is reported with the path where it was found.  The checker is
pure Python and does not depend on pyperf.
"""

from __future__ import annotations

import argparse
import copy
import sys
import types
from typing import Any

from .workloads import slot_names

__all__ = ["check_copy", "Mismatch", "main", "add_arguments"]


class Mismatch(AssertionError):
    pass


_ATOMS = (type(None), int, float, bool, complex, str, bytes, type, range,
          types.BuiltinFunctionType, types.FunctionType, type(Ellipsis), type(NotImplemented))
_SEQ = (list, tuple)


def _children(o: Any) -> list[tuple[str, Any]]:
    """(label, child) pairs of the parts of ``o`` the walk follows."""
    if isinstance(o, _SEQ):
        return [(f"[{i}]", v) for i, v in enumerate(o)]
    if isinstance(o, dict):
        out = []
        for i, (k, v) in enumerate(o.items()):
            out.append((f".keys()[{i}]", k))
            out.append((f"[{k!r:.40}]", v))
        return out
    if isinstance(o, (_ATOMS, set, frozenset, bytearray)):
        return []
    out = []
    d = getattr(o, "__dict__", None)
    if isinstance(d, dict):
        out.append((".__dict__", d))
    for s in slot_names(type(o)):
        if hasattr(o, s):
            out.append((f".{s}", getattr(o, s)))
    return out


def reachable_ids(x: Any) -> dict[int, Any]:
    """id -> object for every object reachable from ``x`` through the parts
    the walk follows (set/frozenset elements included)."""
    seen: dict[int, Any] = {}
    stack = [x]
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen[id(o)] = o
        if isinstance(o, (set, frozenset)):
            stack.extend(o)
        else:
            stack.extend(c for _, c in _children(o))
    return seen


def _same_value(e: Any, a: Any) -> bool:
    if isinstance(e, float):
        return repr(e) == repr(a)  # NaN and -0.0
    try:
        return bool(e == a)
    except Exception:  # noqa: BLE001 - an odd __eq__ is a mismatch, not a crash
        return False


def walk_pair(expected: Any, actual: Any, originals: dict[int, Any] | None) -> dict[str, int]:
    """Compare two graphs (see the module docstring, checks 1-3).  With
    ``originals`` (ids of the original's objects) the identity rules of check
    3 apply; without, only values, types and sharing are compared.  Raises
    Mismatch; returns counts: objects, shared (met again), containers."""
    partner: dict[int, Any] = {}
    back: dict[int, Any] = {}
    stats = {"objects": 0, "shared": 0, "containers": 0}
    stack: list[tuple[Any, Any, str]] = [(expected, actual, "x")]
    while stack:
        e, a, path = stack.pop()
        ie, ia = id(e), id(a)
        if ie in partner:
            if partner[ie] is not a:
                raise Mismatch(f"{path}: the stdlib's copy reaches an object seen before here "
                               "(shared reference or self-reference), this copy does not")
            if not isinstance(e, _ATOMS):
                stats["shared"] += 1
            continue
        if ia in back:
            raise Mismatch(f"{path}: this copy reaches an object seen before here, the stdlib's copy "
                           "has a distinct object (sharing not in the original)")
        partner[ie] = a
        back[ia] = e
        stats["objects"] += 1
        if originals is not None:
            if ie in originals:
                if a is not e:
                    raise Mismatch(f"{path}: the stdlib keeps the original's object here "
                                   f"({type(e).__name__}), this copy has another one")
                continue
            if ia in originals:
                raise Mismatch(f"{path}: this copy holds an object of the original "
                               f"({type(a).__name__}) where the stdlib made a new one (not independent)")
        if type(e) is not type(a):
            raise Mismatch(f"{path}: type {type(a).__qualname__}, the stdlib gives {type(e).__qualname__}")
        if isinstance(e, _ATOMS) or isinstance(e, (set, frozenset, bytearray)):
            if not _same_value(e, a):
                raise Mismatch(f"{path}: {a!r:.80} != {e!r:.80} (stdlib)")
            if not isinstance(e, _ATOMS):
                stats["containers"] += 1
            continue
        ce, ca = _children(e), _children(a)
        if isinstance(e, (list, tuple, dict)):
            stats["containers"] += 1
            if len(e) != len(a):
                raise Mismatch(f"{path}: length {len(a)}, the stdlib gives {len(e)}")
        elif not ce and not ca:
            if not _same_value(e, a):
                raise Mismatch(f"{path}: {a!r:.80} != {e!r:.80} (stdlib)")
            continue
        if [lbl for lbl, _ in ce if not lbl.startswith("[")] != [lbl for lbl, _ in ca if not lbl.startswith("[")]:
            raise Mismatch(f"{path}: attributes {[l for l, _ in ca]} differ from the stdlib's {[l for l, _ in ce]}")
        for (lbl, ve), (_, va) in zip(reversed(ce), reversed(ca)):
            stack.append((ve, va, path + lbl))
    return stats


def _mutate(obj: Any, originals: dict[int, Any]) -> int:
    """Mutate every mutable container and instance of ``obj``'s graph that is
    not an object of the original; return how many were mutated."""
    marker = object()
    n = 0
    for o in list(reachable_ids(obj).values()):
        if id(o) in originals:
            continue
        try:
            if type(o) is list or isinstance(o, list):
                o.append(marker)
            elif isinstance(o, dict):
                o[marker] = marker
            elif isinstance(o, set):
                o.add(marker)
            elif isinstance(o, bytearray):
                o.append(0)
            elif isinstance(getattr(o, "__dict__", None), dict) and not isinstance(o, type):
                o.__dict__["_fastcopy_verify_marker"] = marker
            else:
                continue
        except Exception:  # noqa: BLE001 - immutable by design (e.g. a mappingproxy)
            continue
        n += 1
    return n


class Reference:
    """What checking copies of one object needs from the stdlib, computed
    once and shared by the implementations checked (none of it is mutated)."""

    def __init__(self, original: Any) -> None:
        self.original = original
        self.originals = reachable_ids(original)
        self.snapshot = copy.deepcopy(original)
        self.expected = copy.deepcopy(original)


def check_copy(original: Any, copier: Any, ref: Reference | None = None) -> dict[str, int]:
    """Checks 1-3 for ``copier(original)`` against ``copy.deepcopy``.
    Raises Mismatch (or whatever the copier raised); returns counts."""
    if ref is None or ref.original is not original:
        ref = Reference(original)
    originals, snapshot, expected = ref.originals, ref.snapshot, ref.expected
    actual = copier(original)
    stats = walk_pair(expected, actual, originals)
    stats["mutated"] = _mutate(actual, originals)
    try:
        walk_pair(snapshot, original, None)
    except Mismatch as exc:
        raise Mismatch(f"mutating the copy changed the original: {exc}") from None
    return stats


# ---------------------------------------------------------------------------
# CLI


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-w", "--workload", nargs="+", metavar="NAME|GLOB",
                   help="workloads to check (default: all built-in ones, or only the --pickle/--workload-module "
                        "ones when given)")
    p.add_argument("-i", "--impl", nargs="+", metavar="NAME|GLOB",
                   help="implementations to check (default: fastcopy, fastcopy-dispatch, template when it "
                        "exists, and every importable peer)")
    p.add_argument("--pickle", action="append", default=[], metavar="FILE", help="check this pickled object too")
    p.add_argument("--workload-module", action="append", default=[], metavar="MODULE",
                   help="module (name or .py path) with WORKLOADS = {name: factory}")
    p.add_argument("--peer", action="append", default=[], metavar="NAME=MODULE:FUNC",
                   help="another deepcopy implementation to include")
    p.add_argument("--quick", action="store_true", help="only the three bm_deepcopy workloads (CI)")


def main(args: argparse.Namespace) -> int:
    from . import impls as I
    from .workloads import build_registry, select

    for spec in args.peer:
        I.add_peer(spec)
    reg = build_registry(args.workload_module, args.pickle)
    user = [n for n, w in reg.items() if w.source.startswith(("pickle:", "module:"))]
    default = ["deepcopy", "deepcopy_reduce", "deepcopy_memo"] if args.quick else (user or None)
    workloads = select(reg, args.workload, default)
    names = I.select(args.impl, default=[n for n in I.default_names() if n not in ("stdlib", "pickle", "floor")])
    impls = []
    for n in names:
        if n in ("stdlib", "floor", "pickle"):
            why = {"stdlib": "it is the reference", "floor": "it makes no copy (containers only)",
                   "pickle": "a round trip is not a deepcopy (it does not keep shared immutable objects)"}[n]
            print(f"note: {n} is not verified: {why}")
            continue
        ok, note = I.available(n)
        if not ok:
            print(f"note: {note}")
            continue
        impls.append(n)
    if not impls:
        print("error: no implementation to verify", file=sys.stderr)
        return 2
    failures = 0
    for w in workloads:
        items = w.items()
        items = [items[0], items[-1]] if w.batch else items
        refs = [Reference(obj) for obj in items]
        for n in impls:
            copier = I.copier(n)
            try:
                totals = {"objects": 0, "shared": 0, "containers": 0, "mutated": 0}
                for obj, ref in zip(items, refs):
                    st = check_copy(obj, copier, ref)
                    for k in totals:
                        totals[k] += st[k]
            except Exception as exc:  # noqa: BLE001 - every failure is reported
                failures += 1
                print(f"✗ {w.name} / {n}: {type(exc).__name__}: {exc}")
                continue
            print(f"✓ {w.name} / {n}: equal, sharing and self-references preserved, independent "
                  f"({totals['objects']:,} objects, {totals['shared']:,} references to shared or enclosing objects, "
                  f"{totals['mutated']:,} mutated without touching the original)")
    total = len(workloads) * len(impls)
    print(f"verify: {total - failures} of {total} checks ok, {failures} failed")
    return 1 if failures else 0
