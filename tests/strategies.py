"""Hypothesis strategies that build object graphs for differential testing.

:func:`object_graphs` draws a graph rooted at one object, with atoms, builtin
and collections containers, user classes of every copy protocol (``__slots__``,
``__reduce__``, ``__reduce_ex__`` with list/dict iterators, ``__getstate__`` /
``__setstate__``, ``__deepcopy__`` / ``__copy__``, ``__getnewargs__``,
``__getnewargs_ex__``), dataclasses, namedtuples, bound methods, value types
(datetime, Decimal, Fraction, UUID, enum), shared sub-objects and cycles.

Cycles only point back to objects that the stdlib memoizes *before* copying
their contents (lists, dicts, instances...), so the stdlib always terminates;
sets get their peculiar back-reference through an element's attribute
(``set_backref``).  All classes are module level and deterministic: copying
the same graph twice does the same thing.
"""

from __future__ import annotations

import collections
import datetime
from typing import Any, Callable

# re-exported: the tests import these from here
from classes import (
    DC,
    FROZENDICT,
    Bag,
    Color,
    DCOddNames,
    DictSub,
    FrozenDC,
    FrozenSub,
    IntSub,
    ListSub,
    Meta,
    Perm,
    Plain,
    Point,
    ReturnsSelf,
    SetSub,
    SlotsChild,
    SlotsDC,
    Slotted,
    SlottedDict,
    StrSub,
    TupleSub,
    TypedPair,
    WithDeepcopy,
    WithMeta,
    WithNewargs,
    WithNewargsEx,
    WithReduce,
    WithState,
    module_function,
    module_lambda,
    module_property,
    module_weakref,
)
from hypothesis import strategies as st

if FROZENDICT is not None:
    from classes import FrozenDictSub

# --------------------------------------------------------------------------
# atoms

_FUNCTIONS = [len, module_function, module_lambda, Plain.method, print, dict.fromkeys]
_TYPES = [int, list, dict, type, Plain, WithMeta, Meta, object, type(None)]
_SINGLETONS = [None, Ellipsis, NotImplemented, True, False]

atoms: st.SearchStrategy[Any] = st.one_of(
    st.integers(min_value=-300, max_value=300),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.binary(max_size=6),
    st.complex_numbers(allow_nan=True, allow_infinity=True),
    st.sampled_from(_SINGLETONS),
    st.builds(range, st.integers(-5, 5), st.integers(-5, 20), st.integers(1, 3)),
    st.sampled_from(_FUNCTIONS),
    st.sampled_from(_TYPES),
    st.sampled_from([module_function.__code__, module_property, module_weakref]),
)

values: st.SearchStrategy[Any] = st.one_of(
    st.datetimes(timezones=st.sampled_from([None, datetime.timezone.utc])),
    st.dates(),
    st.timedeltas(),
    st.decimals(allow_nan=True),
    st.fractions(),
    st.uuids(),
    st.sampled_from(list(Color)),
    st.sampled_from([Perm.R, Perm.W, Perm.R | Perm.W]),
    st.builds(IntSub, st.integers()),
    st.builds(StrSub, st.text(max_size=4)),
    st.builds(slice, st.integers(0, 3), st.integers(0, 9)),
)


def _hashable(x: Any) -> bool:
    try:
        hash(x)
    except Exception:
        return False
    return True


# --------------------------------------------------------------------------
# the graph builder

_ANY_KINDS = [
    "atom", "atom", "atom", "value", "shared", "shared", "shared", "cycle", "cycle",
    "list", "list", "tuple", "dict", "dict", "set", "frozenset", "set_backref",
    "plain", "slotted", "slotted_dict", "slots_child",
    "list_sub", "dict_sub", "tuple_sub", "set_sub", "frozen_sub",
    "dc", "frozen_dc", "slots_dc", "odd_names_dc",
    "reduce", "bag", "state", "deepcopy_hook", "returns_self", "newargs", "newargs_ex",
    "namedtuple", "typed_namedtuple", "ordered_dict", "defaultdict", "deque", "counter",
    "bytearray", "method",
]
if FROZENDICT is not None:
    _ANY_KINDS += ["frozendict", "frozendict", "frozendict_backref", "frozendict_sub"]

_HASHABLE_KINDS = [
    "atom", "atom", "atom", "value", "shared", "tuple", "frozenset", "plain", "slotted",
    "frozen_dc", "namedtuple", "frozen_sub", "tuple_sub", "reduce", "deepcopy_hook",
    "returns_self", "newargs",
]
if FROZENDICT is not None:
    _HASHABLE_KINDS += ["frozendict", "frozendict_sub"]


class GraphBuilder:
    """Imperative construction driven by hypothesis ``draw``."""

    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any], budget: int, max_depth: int) -> None:
        self.draw = draw
        self.budget = budget
        self.max_depth = max_depth
        self.pool: list[Any] = []  # finished non-atomic objects, for sharing
        self.hashable_pool: list[Any] = []
        self.open: list[Any] = []  # early-memoized objects under construction

    # helpers
    def _size(self, hi: int = 3) -> int:
        return self.draw(st.integers(0, hi))

    def _finish(self, obj: Any) -> Any:
        self.pool.append(obj)
        if _hashable(obj):
            self.hashable_pool.append(obj)
        return obj

    def _kind(self, kinds: list[str], depth: int) -> str:
        if depth >= self.max_depth or self.budget <= 0:
            return self.draw(st.sampled_from(["atom", "value", "shared"]))
        self.budget -= 1
        return self.draw(st.sampled_from(kinds))

    def _opened(self, obj: Any, fill: Callable[[], None]) -> Any:
        self.open.append(obj)
        try:
            fill()
        finally:
            self.open.pop()
        return self._finish(obj)

    def _attrs(self, obj: Any, names: list[str], depth: int) -> None:
        for name in names:
            if self.draw(st.booleans()):
                setattr(obj, name, self.any(depth + 1))

    # generators
    def root(self) -> Any:
        """Bias the root towards containers, where sharing between siblings
        and cycles back to the root are most likely."""
        kind = self.draw(st.sampled_from(["list", "list", "dict", "any", "any"]))
        if kind == "any":
            return self.any(0)
        self.budget -= 1
        return self._build(kind, 0, hashable=False)

    def any(self, depth: int = 0) -> Any:
        kind = self._kind(_ANY_KINDS, depth)
        if kind == "shared":
            return self.draw(st.sampled_from(self.pool)) if self.pool else self.draw(atoms)
        if kind == "cycle":
            return self.draw(st.sampled_from(self.open)) if self.open else self.draw(atoms)
        return self._build(kind, depth, hashable=False)

    def hashable(self, depth: int = 0) -> Any:
        kind = self._kind(_HASHABLE_KINDS, depth)
        if kind == "shared":
            if self.hashable_pool:
                return self.draw(st.sampled_from(self.hashable_pool))
            return self.draw(atoms)
        obj = self._build(kind, depth, hashable=True)
        return obj if _hashable(obj) else self.draw(st.integers())

    def _elements(self, depth: int, hashable: bool, hi: int = 3) -> list[Any]:
        make = self.hashable if hashable else self.any
        return [make(depth + 1) for _ in range(self._size(hi))]

    def _build(self, kind: str, depth: int, hashable: bool) -> Any:  # noqa: C901 - a dispatcher
        d = depth + 1
        if kind == "atom":
            return self.draw(atoms)
        if kind == "value":
            return self.draw(values)
        if kind == "list":
            lst: list[Any] = []
            return self._opened(lst, lambda: lst.extend(self._elements(depth, False, hi=5 if depth == 0 else 3)))
        if kind == "tuple":
            return self._finish(tuple(self._elements(depth, hashable)))
        if kind == "dict":
            dct: dict[Any, Any] = {}

            def fill_dict() -> None:
                for _ in range(self._size()):
                    k = self.hashable(d)
                    dct[k] = self.any(d)

            return self._opened(dct, fill_dict)
        if kind == "set":
            return self._finish(set(self._elements(depth, True)))
        if kind == "frozenset":
            return self._finish(frozenset(self._elements(depth, True)))
        if kind in ("frozendict", "frozendict_sub"):
            cls = FROZENDICT if kind == "frozendict" else FrozenDictSub
            make = self.hashable if hashable else self.any
            return self._finish(cls({self.hashable(d): make(d) for _ in range(self._size())}))
        if kind == "frozendict_backref":
            # a cycle through a frozendict: a list in it that holds it
            back: list[Any] = []
            fd = FROZENDICT({"back": back, **{self.hashable(d): self.any(d) for _ in range(self._size(2))}})
            back.append(fd)
            return self._finish(fd)
        if kind == "set_backref":
            s: set[Any] = SetSub() if self.draw(st.booleans()) else set()
            elem = Plain(parent=s)
            if self.draw(st.booleans()):
                elem.via_list = [s]
            s.add(elem)
            s.update(self._elements(depth, True, hi=2))
            return self._finish(s)
        if kind == "plain":
            p = Plain()
            return self._opened(p, lambda: self._attrs(p, ["x", "y", "z"], depth))
        if kind == "slotted":
            o = Slotted()
            return self._opened(o, lambda: self._attrs(o, ["a", "b"], depth))
        if kind == "slotted_dict":
            sd = SlottedDict()
            return self._opened(sd, lambda: self._attrs(sd, ["a", "extra"], depth))
        if kind == "slots_child":
            sc = SlotsChild()
            return self._opened(sc, lambda: self._attrs(sc, ["a", "c", "_SlotsChild__hidden"], depth))
        if kind == "list_sub":
            ls = ListSub()

            def fill_ls() -> None:
                ls.extend(self._elements(depth, False))
                self._attrs(ls, ["attr"], depth)

            return self._opened(ls, fill_ls)
        if kind == "dict_sub":
            ds = DictSub()

            def fill_ds() -> None:
                for _ in range(self._size()):
                    ds[self.hashable(d)] = self.any(d)
                self._attrs(ds, ["attr"], depth)

            return self._opened(ds, fill_ds)
        if kind == "tuple_sub":
            ts = TupleSub(self._elements(depth, hashable))
            if not hashable:
                self._attrs(ts, ["attr"], depth)
            return self._finish(ts)
        if kind == "set_sub":
            ss = SetSub(self._elements(depth, True))
            self._attrs(ss, ["attr"], depth)
            return self._finish(ss)
        if kind == "frozen_sub":
            fs = FrozenSub(self._elements(depth, True))
            if not hashable:
                self._attrs(fs, ["attr"], depth)
            return self._finish(fs)
        if kind == "dc":
            dc = DC()
            return self._opened(dc, lambda: self._attrs(dc, ["a", "b"], depth))
        if kind == "frozen_dc":
            make = self.hashable if hashable else self.any
            return self._finish(FrozenDC(make(d), make(d)))
        if kind == "slots_dc":
            sdc = SlotsDC()
            return self._opened(sdc, lambda: self._attrs(sdc, ["a", "b"], depth))
        if kind == "odd_names_dc":
            odc = DCOddNames()
            return self._opened(odc, lambda: self._attrs(odc, ["obj", "cls", "changes"], depth))
        if kind == "reduce":
            r = WithReduce(self.hashable(d) if hashable else self.any(d))
            return self._opened(r, lambda: setattr(r, "b", self.any(d)))
        if kind == "bag":
            bag = Bag()

            def fill_bag() -> None:
                bag.items.extend(self._elements(depth, False))
                for _ in range(self._size(2)):
                    bag.mapping[self.hashable(d)] = self.any(d)
                bag.tag = self.any(d)

            return self._opened(bag, fill_bag)
        if kind == "state":
            ws = WithState()
            return self._opened(ws, lambda: setattr(ws, "payload", self.any(d)))
        if kind == "deepcopy_hook":
            h = WithDeepcopy()
            return self._opened(h, lambda: setattr(h, "child", self.any(d)))
        if kind == "returns_self":
            return self._finish(ReturnsSelf(self.draw(atoms)))
        if kind == "newargs":
            na = WithNewargs(self.hashable(d) if hashable else self.any(d))
            return self._opened(na, lambda: self._attrs(na, ["extra"], depth))
        if kind == "newargs_ex":
            nx = WithNewargsEx(self.any(d), k=self.any(d))
            return self._opened(nx, lambda: self._attrs(nx, ["extra"], depth))
        if kind == "namedtuple":
            make = self.hashable if hashable else self.any
            return self._finish(Point(make(d), make(d)))
        if kind == "typed_namedtuple":
            return self._finish(TypedPair(self.any(d), self.any(d)))
        if kind == "ordered_dict":
            od: collections.OrderedDict[Any, Any] = collections.OrderedDict()

            def fill_od() -> None:
                for _ in range(self._size()):
                    od[self.hashable(d)] = self.any(d)
                if len(od) > 1 and self.draw(st.booleans()):
                    od.move_to_end(next(iter(od)))

            return self._opened(od, fill_od)
        if kind == "defaultdict":
            factory = self.draw(st.sampled_from([list, dict, int, None, module_lambda]))
            dd: collections.defaultdict[Any, Any] = collections.defaultdict(factory)

            def fill_dd() -> None:
                for _ in range(self._size()):
                    dd[self.hashable(d)] = self.any(d)

            return self._opened(dd, fill_dd)
        if kind == "deque":
            dq: collections.deque[Any] = collections.deque(maxlen=self.draw(st.sampled_from([None, 2, 5])))
            return self._opened(dq, lambda: dq.extend(self._elements(depth, False)))
        if kind == "counter":
            keys = self._elements(depth, True)
            return self._finish(collections.Counter({k: self.draw(st.integers(-3, 3)) for k in keys}))
        if kind == "bytearray":
            return self._finish(bytearray(self.draw(st.binary(max_size=8))))
        if kind == "method":
            owners = [o for o in self.pool + self.open if type(o) is Plain]
            owner = self.draw(st.sampled_from(owners)) if owners and self.draw(st.booleans()) else Plain()
            return self._finish(owner.method)
        raise AssertionError(kind)


@st.composite
def graphs_with_parts(draw: Any, budget: int = 25, max_depth: int = 5) -> tuple[Any, list[Any]]:
    """A graph and the list of its non-atomic parts (for memo pre-population)."""
    builder = GraphBuilder(draw, budget=budget, max_depth=max_depth)
    root = builder.root()
    return root, list(builder.pool)


@st.composite
def object_graphs(draw: Any, budget: int = 25, max_depth: int = 5) -> Any:
    """An object graph for ``deepcopy`` / ``copy``."""
    return draw(graphs_with_parts(budget=budget, max_depth=max_depth))[0]


# --------------------------------------------------------------------------
# replace()


class CustomReplace:
    """A user class with its own ``__replace__`` (works on every version)."""

    def __init__(self, a: Any = None, b: Any = None) -> None:
        self.a, self.b = a, b

    def __replace__(self, **changes: Any) -> Any:
        unknown = set(changes) - {"a", "b"}
        if unknown:
            raise TypeError(f"unexpected fields {sorted(unknown)}")
        new = CustomReplace(self.a, self.b)
        new.__dict__.update(changes)
        return new

    def __repr__(self) -> str:
        return f"CustomReplace({self.a!r}, {self.b!r})"


def replace_targets() -> st.SearchStrategy[Any]:
    """Objects to pass to ``replace``: supported on 3.13+, or always, or never."""
    small = st.one_of(st.integers(-3, 3), st.text(max_size=2), st.none(), st.builds(list))
    return st.one_of(
        st.builds(DC, small, small),
        st.builds(FrozenDC, small, small),
        st.builds(SlotsDC, small, small),
        st.builds(DCOddNames, small, small, small),
        st.builds(Point, small, small),
        st.builds(TypedPair, small, small),
        st.builds(CustomReplace, small, small),
        st.sampled_from([1, "s", None, (), Plain]),
        st.builds(Plain),
        st.builds(list),
    )


replace_changes: st.SearchStrategy[dict[str, Any]] = st.dictionaries(
    st.sampled_from(["a", "b", "x", "y", "left", "right", "obj", "cls", "changes", "zzz", "self"]),
    st.one_of(st.integers(-3, 3), st.none(), st.builds(list)),
    max_size=3,
)
