"""Differential tests: the implementation against the running stdlib ``copy``."""

from __future__ import annotations

import collections
import contextlib
import copy
import copyreg
import warnings
import xml.etree.ElementTree as ET
from typing import Any, Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from _impl import impl, oracle_replace
from differential import Outcome, assert_same_outcome, check_deepcopy_twins, run
from isomorphism import assert_same_copy, memo_shape
from strategies import (
    DC,
    Bag,
    CustomReplace,
    DCOddNames,
    FrozenDC,
    ListSub,
    Plain,
    Point,
    ReturnsSelf,
    SetSub,
    SlotsDC,
    TypedPair,
    WithDeepcopy,
    graphs_with_parts,
    object_graphs,
    replace_changes,
    replace_targets,
)

_NOTHING = object()


# --------------------------------------------------------------------------
# helpers


def check_deepcopy(
    x: Any,
    *,
    memo: Callable[[], Any] | None = None,
    original: Any = _NOTHING,
    may_raise: bool = False,
) -> tuple[Outcome, Outcome]:
    """Deep-copy ``x`` with both; compare results (and memos if ``memo`` makes one)."""
    orig = x if original is _NOTHING else original
    if memo is None:
        e = run(lambda: copy.deepcopy(x))
        a = run(lambda: impl.deepcopy(x))
        assert_same_outcome(e, a, orig)
    else:
        me, ma = memo(), memo()
        e = run(lambda: copy.deepcopy(x, me))
        a = run(lambda: impl.deepcopy(x, ma))
        assert_same_outcome(e, a, orig, memos=(me, ma))
    if not may_raise:
        assert e.exc is None, f"test input is broken: the stdlib {e.describe()}"
    return e, a


def check_copy(x: Any, *, may_raise: bool = False) -> tuple[Outcome, Outcome]:
    e = run(lambda: copy.copy(x))
    a = run(lambda: impl.copy(x))
    assert_same_outcome(e, a, x)
    if not may_raise:
        assert e.exc is None, f"test input is broken: the stdlib {e.describe()}"
    return e, a


@contextlib.contextmanager
def registered(table: Any, key: Any, value: Any) -> Iterator[None]:
    """Temporarily set ``table[key] = value`` (copy._deepcopy_dispatch, copyreg.dispatch_table)."""
    previous = table.get(key, _NOTHING)
    table[key] = value
    try:
        yield
    finally:
        if previous is _NOTHING:
            del table[key]
        else:
            table[key] = previous


# --------------------------------------------------------------------------
# property tests


@given(object_graphs())
def test_deepcopy_matches_stdlib(x: Any) -> None:
    check_deepcopy(x, may_raise=True)


@given(object_graphs())
def test_deepcopy_with_user_memo_matches_stdlib(x: Any) -> None:
    check_deepcopy(x, memo=dict, may_raise=True)


@given(graphs_with_parts(), st.data())
def test_deepcopy_with_prepopulated_memo(graph: tuple[Any, list[Any]], data: st.DataObject) -> None:
    x, parts = graph
    chosen = data.draw(st.lists(st.sampled_from(parts), max_size=3, unique_by=id)) if parts else []
    sentinels = [data.draw(st.sampled_from([None, 0, "s"])) if i % 2 else Plain(sentinel=i) for i in range(len(chosen))]
    marker = Plain(marker=True)
    keepalive = data.draw(st.booleans())

    def make_memo() -> dict[int, Any]:
        memo: dict[int, Any] = {id(p): s for p, s in zip(chosen, sentinels)}
        if keepalive:
            memo[id(memo)] = [marker]
        return memo

    check_deepcopy(x, memo=make_memo, original=(x, sentinels, marker), may_raise=True)


@given(object_graphs())
def test_copy_matches_stdlib(x: Any) -> None:
    check_copy(x, may_raise=True)


@given(object_graphs(budget=10))
def test_deepcopy_twice_with_same_memo(x: Any) -> None:
    """A second deepcopy with the memo of the first returns memoized objects."""
    me, ma = {}, {}
    e1, e2 = run(lambda: copy.deepcopy(x, me)), run(lambda: copy.deepcopy([x, x], me))
    a1, a2 = run(lambda: impl.deepcopy(x, ma)), run(lambda: impl.deepcopy([x, x], ma))
    for e, a in ((e1, a1), (e2, a2)):
        if e.exc is not None or a.exc is not None:
            assert_same_outcome(e, a, x)
            return
    assert_same_outcome(Outcome(value=(e1.value, e2.value)), Outcome(value=(a1.value, a2.value)), x, memos=(me, ma))


@given(replace_targets(), replace_changes)
def test_replace_matches_stdlib(obj: Any, changes: dict[str, Any]) -> None:
    e = run(lambda: oracle_replace(obj, **changes))
    a = run(lambda: impl.replace(obj, **changes))
    assert_same_outcome(e, a, (obj, changes))


# --------------------------------------------------------------------------
# replace(): explicit cases


@pytest.mark.parametrize(
    "obj",
    [DC(1, 2), FrozenDC(1, 2), SlotsDC(1, 2), Point(1, 2), TypedPair(1, 2)],
    ids=["dataclass", "frozen", "slots", "namedtuple", "typing.NamedTuple"],
)
def test_replace_dataclasses_and_namedtuples(obj: Any) -> None:
    field = "x" if isinstance(obj, Point) else "left" if isinstance(obj, TypedPair) else "a"
    e = run(lambda: oracle_replace(obj, **{field: 10}))
    a = run(lambda: impl.replace(obj, **{field: 10}))
    assert_same_outcome(e, a, obj)
    # 3.13's behaviour, offered on every version
    assert a.exc is None and getattr(a.value, field) == 10


def test_replace_field_named_obj() -> None:
    obj = DCOddNames(1, 2, 3)
    e = run(lambda: oracle_replace(obj, obj=10, cls=11, changes=12))
    a = run(lambda: impl.replace(obj, obj=10, cls=11, changes=12))
    assert_same_outcome(e, a, obj)


def test_replace_custom_dunder_and_unsupported() -> None:
    for obj in (CustomReplace(1, 2), 5, [1], Plain()):
        e = run(lambda: oracle_replace(obj, a=3))
        a = run(lambda: impl.replace(obj, a=3))
        assert_same_outcome(e, a, obj)


def test_replace_uses_dunder_class() -> None:
    """copy.replace looks at ``obj.__class__``, which an object may fake."""

    class Liar:
        @property  # type: ignore[misc]
        def __class__(self) -> type:
            return CustomReplace

        a, b = 1, 2

    obj = Liar()
    e = run(lambda: oracle_replace(obj, b=5))
    a = run(lambda: impl.replace(obj, b=5))
    assert_same_outcome(e, a, obj)


def test_replace_obj_is_positional_only() -> None:
    e = run(lambda: oracle_replace(obj=DC()))  # type: ignore[call-arg]
    a = run(lambda: impl.replace(obj=DC()))
    assert isinstance(e.exc, TypeError) and isinstance(a.exc, TypeError)


# --------------------------------------------------------------------------
# tuples


def test_tuple_of_atoms_is_returned_unchanged() -> None:
    t = (1, "a", None, 2.5, (3, 4), b"x", len, int, range(3), ReturnsSelf())
    e, a = check_deepcopy(t)
    assert e.value is t and a.value is t
    e, a = check_deepcopy(t, memo=dict)


def test_tuple_containing_list_is_new() -> None:
    t = (1, [2, 3], "z")
    e, a = check_deepcopy(t)
    assert a.value is not t and a.value[1] is not t[1]


def test_tuple_containing_frozenset() -> None:
    check_deepcopy((1, frozenset({2, 3})))
    check_deepcopy((1, frozenset({2, 3})), memo=dict)


def test_recursive_tuple() -> None:
    t: tuple[list[Any]] = ([],)
    t[0].append(t)
    e, a = check_deepcopy(t)
    assert a.value[0][0] is a.value
    check_deepcopy(t, memo=dict)
    check_deepcopy([t, t[0]], memo=dict)


def test_tuple_sharing_inside_tuple() -> None:
    inner = [1]
    check_deepcopy(((inner, inner), (inner,), inner), memo=dict)


# --------------------------------------------------------------------------
# containers mutated during the copy


class AppendsToParent:
    """On deepcopy, appends a new element to its parent list (a few times)."""

    def __init__(self, parent: list[Any], remaining: int) -> None:
        self.parent = parent
        self.remaining = remaining

    def __deepcopy__(self, memo: Any) -> Any:
        if self.remaining:
            self.parent.append(AppendsToParent(self.parent, self.remaining - 1))
            self.parent.append(self.remaining)
        return Plain(copied=self.remaining)


def test_list_appended_to_during_copy() -> None:
    def make() -> list[Any]:
        lst: list[Any] = [1]
        lst.append(AppendsToParent(lst, 3))
        lst.append("end")
        return lst

    e, a = check_deepcopy_twins(make)
    assert len(a.value) == len(e.value) > 3


class MutatesDict:
    def __init__(self, target: dict[Any, Any], how: str) -> None:
        self.target = target
        self.how = how

    def __deepcopy__(self, memo: Any) -> Any:
        if self.how == "add":
            self.target["added"] = 1
        elif self.how == "replace_value":
            self.target["later"] = "replaced"
        elif self.how == "swap_key":
            self.target.pop("later", None)
            self.target["other"] = 2
        elif self.how == "clear":
            self.target.clear()
        return Plain(how=self.how)


@pytest.mark.parametrize("how", ["add", "replace_value", "swap_key", "clear"])
def test_dict_mutated_during_copy(how: str) -> None:
    def make() -> dict[Any, Any]:
        d: dict[Any, Any] = {"first": 0}
        d["hook"] = MutatesDict(d, how)
        d["later"] = "original"
        return d

    e, a = check_deepcopy_twins(make)
    if how in ("add", "clear"):
        assert isinstance(e.exc, RuntimeError)


# --------------------------------------------------------------------------
# sets


def test_set_with_back_reference() -> None:
    s: set[Any] = set()
    p = Plain()
    p.parent = s
    s.add(p)
    s.add(1)
    e, a = check_deepcopy(s)
    elem = next(x for x in a.value if isinstance(x, Plain))
    assert (elem.parent is a.value) == (next(x for x in e.value if isinstance(x, Plain)).parent is e.value)
    check_deepcopy(s, memo=dict)
    check_deepcopy([s, p], memo=dict)
    check_deepcopy([p, s], memo=dict)


def test_set_subclass_with_back_reference_and_attrs() -> None:
    s = SetSub()
    p = Plain(parent=s)
    s.add(p)
    s.attr = [s, p]
    check_deepcopy(s, memo=dict)


def test_frozenset_of_instances_and_nested_frozensets() -> None:
    a, b = Plain(n=1), Plain(n=1)
    fs = frozenset({a, b, frozenset({a}), frozenset()})
    check_deepcopy(fs, memo=dict)
    check_deepcopy([fs, a, fs], memo=dict)


def test_set_memo_contents() -> None:
    """The stdlib memoizes the temporary list made by set.__reduce_ex__."""
    s = {1, 2, (3, 4)}
    check_deepcopy(s, memo=dict)
    check_deepcopy([s, frozenset(s)], memo=dict)


EMPTY = [
    [], {}, (), set(), frozenset(), bytearray(), "", b"", collections.OrderedDict(),
    collections.deque(), collections.defaultdict(list), collections.Counter(), ListSub(), SetSub(),
    Point(None, None), Bag(), range(0), 0, 0.0, -0.0, float("nan"),
]


@pytest.mark.parametrize("x", EMPTY, ids=[type(x).__name__ + repr(i) for i, x in enumerate(EMPTY)])
def test_empty_and_trivial(x: Any) -> None:
    check_deepcopy(x)
    check_deepcopy(x, memo=dict)
    check_copy(x)


# --------------------------------------------------------------------------
# the memo


def test_user_memo_entry_for_an_atom() -> None:
    """3.10-3.13 look in the memo before the atomic check; 3.14 after it."""
    x = int("1" + "0" * 20)
    check_deepcopy(x, memo=lambda: {id(x): "sentinel"})
    check_deepcopy([x, x], memo=lambda: {id(x): "sentinel"})
    s = "".join(["not", " interned"])
    check_deepcopy((s, 1), memo=lambda: {id(s): "sentinel"})


def test_memo_entry_none_is_a_hit() -> None:
    inner = [1]
    check_deepcopy([inner, inner], memo=lambda: {id(inner): None})


def test_memo_keyword_and_none() -> None:
    x = [[1], {"a": (2, [3])}]
    e = copy.deepcopy(x, memo=None)
    assert_same_copy(x, e, impl.deepcopy(x, memo=None))
    assert_same_copy(x, e, impl.deepcopy(x, None))
    me, ma = {}, {}
    assert_same_copy(x, copy.deepcopy(x, memo=me), impl.deepcopy(x, memo=ma), memos=(me, ma))


def test_memo_keepalive_and_immutable() -> None:
    """The stdlib's test_deepcopy_keepalive / test_deepcopy_dont_memo_immutable."""
    for x in ([], [1, 2, 3, 4], [(1, 2)], [(1, [2])], {"a": (1,)}):
        me, ma = {}, {}
        impl.deepcopy(x, ma)
        copy.deepcopy(x, me)
        assert memo_shape(ma) == memo_shape(me)
        assert ma[id(ma)][-1] is x


# --------------------------------------------------------------------------
# third-party registrations


class Registered:
    def __init__(self, v: Any) -> None:
        self.v = v


def _registered_copier(x: Registered, memo: Any) -> Any:
    return Registered(("copied", copy.deepcopy(x.v, memo)))


def test_deepcopy_dispatch_registration_is_honoured() -> None:
    shared = [1]
    x = [Registered(shared), Registered(shared), shared]
    with registered(copy._deepcopy_dispatch, Registered, _registered_copier):  # type: ignore[attr-defined]
        e, a = check_deepcopy(x)
        check_deepcopy(x, memo=dict)
    assert a.value[0].v[0] == "copied"
    assert Registered not in copy._deepcopy_dispatch  # type: ignore[attr-defined]
    check_deepcopy(x)  # and the reduce path once unregistered


def test_deepcopy_dispatch_override_of_list_is_honoured() -> None:
    calls: list[int] = []
    original = copy._deepcopy_dispatch[list]  # type: ignore[attr-defined]

    def counting(x: list[Any], memo: Any) -> Any:
        calls.append(len(x))
        return original(x, memo)

    x = [[1, [2]], {"k": [3]}]
    with registered(copy._deepcopy_dispatch, list, counting):  # type: ignore[attr-defined]
        copy.deepcopy(x)
        n_stdlib, calls[:] = len(calls), []
        e, a = check_deepcopy(x)
        calls.clear()
        impl.deepcopy(x)
    assert len(calls) == n_stdlib


class Reg:
    def __init__(self, v: Any) -> None:
        self.v = v


def _reg_reducer(obj: Reg) -> Any:
    return (Reg, (("reduced", obj.v),))


def test_copyreg_pickle_is_honoured() -> None:
    x = [Reg([1]), Reg(2)]
    with registered(copyreg.dispatch_table, Reg, _reg_reducer):
        e, a = check_deepcopy(x)
        check_copy(x[0])
        check_deepcopy(x, memo=dict)
    assert a.value[0].v[0] == "reduced"
    assert Reg not in copyreg.dispatch_table


def _set_to_frozenset(s: set[Any]) -> Any:
    return (frozenset, (sorted(s, key=repr),))


def test_copyreg_override_of_builtin_set() -> None:
    x = [{1, 2}, {3}, frozenset({4})]
    with registered(copyreg.dispatch_table, set, _set_to_frozenset):
        e, a = check_deepcopy(x)
        check_copy({1, 2})
        check_deepcopy(x, memo=dict)
    assert type(a.value[0]) is frozenset
    with registered(copyreg.dispatch_table, frozenset, lambda f: (set, (list(f),))):
        check_deepcopy(x)
        check_copy(frozenset({1}))
    with registered(copyreg.dispatch_table, list, lambda lst: (tuple, (list(lst),))):
        check_deepcopy(x)  # list is in _deepcopy_dispatch: copyreg is not consulted
        check_copy([1, 2])


class FalsyReducer:
    """A callable that is false: deepcopy's ``if reductor`` skips it, copy's
    ``is not None`` test does not."""

    def __bool__(self) -> bool:
        return False

    def __call__(self, obj: Any) -> Any:
        return (Plain, (), {"via": "falsy"})


def test_copyreg_falsy_reductor() -> None:
    x = Reg([1])
    with registered(copyreg.dispatch_table, Reg, FalsyReducer()):
        check_deepcopy(x)
        check_copy(x)


# --------------------------------------------------------------------------
# hooks and lookups


class CountingElement(ET.Element):
    calls = 0

    def __deepcopy__(self, memo: Any) -> Any:
        type(self).calls += 1
        return super().__deepcopy__(memo)


def _element_tree() -> ET.Element:
    root = CountingElement("root", {"a": "1"})
    root.text = "t"
    child = CountingElement("c")
    child.tail = "tail"
    root.append(child)
    ET.SubElement(root, "plain", b="2")
    child.append(CountingElement("leaf"))
    ET.SubElement(child, "empty")
    return root


@pytest.mark.parametrize("with_memo", [False, True])
def test_element_tree_copies_without_warning(with_memo: bool) -> None:
    tree = _element_tree()
    memo_e: Any = {} if with_memo else None
    memo_a: Any = {} if with_memo else None
    CountingElement.calls = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        expected = copy.deepcopy(tree, memo_e)
        calls_e, CountingElement.calls = CountingElement.calls, 0
        actual = impl.deepcopy(tree, memo_a)
        calls_a = CountingElement.calls
    assert calls_a == calls_e == 3
    assert ET.tostring(actual) == ET.tostring(expected)
    assert_same_copy(tree, expected, actual, memos=(memo_e, memo_a) if with_memo else None)
    plain = ET.fromstring("<a x='1'><b/><c>t</c>tail<d/></a>")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_deepcopy([plain, plain[0]], memo=dict)
        check_copy(plain)


class MemoHook:
    """A hook exercising every way hooks use the memo."""

    def __init__(self, children: list[Any]) -> None:
        self.children = children

    def __deepcopy__(self, memo: Any) -> Any:
        assert memo.get(id(self)) is None
        assert id(self) not in memo
        new = MemoHook([])
        memo[id(self)] = new
        assert memo[id(self)] is new and id(self) in memo
        for child in self.children:
            new.children.append(copy.deepcopy(child, memo))
        new.seen = [id(c) in memo for c in self.children]
        new.got = [memo.get(id(c), _NOTHING) is not _NOTHING for c in self.children]
        return new


def test_deepcopy_hook_using_the_memo() -> None:
    shared = [1, 2]
    hook = MemoHook([shared, (3,), "s", shared])
    hook.children.append(hook)
    x = [shared, hook, hook, {"h": hook}]
    check_deepcopy(x)
    check_deepcopy(x, memo=dict)
    check_deepcopy(WithDeepcopy([shared, shared]), memo=dict)


def test_instance_level_deepcopy_attribute() -> None:
    p = Plain(v=[1])
    p.__deepcopy__ = lambda memo: ("instance hook", id(p) in memo)
    check_deepcopy([p])
    check_copy(p)  # copy() only looks on the class


class ProvidesViaGetattr:
    def __getattr__(self, name: str) -> Any:
        if name == "__deepcopy__":
            return lambda memo: "from __getattr__"
        if name == "__copy__":
            return lambda: "never used by copy()"
        raise AttributeError(name)


class DeepcopyIsNone:
    __deepcopy__ = None

    def __init__(self) -> None:
        self.v = [1]


class ReduceExIsNone:
    __reduce_ex__ = None

    def __reduce__(self) -> Any:
        return (Plain, (), {"via": "__reduce__"})


class ReduceReturnsString:
    def __reduce__(self) -> str:
        return "ReduceReturnsString"


class ClassLevelCopy:
    def __init__(self) -> None:
        self.v = [1]

    def __copy__(self) -> Any:
        return ("class-level __copy__", self.v)


@pytest.mark.parametrize(
    "factory",
    [ProvidesViaGetattr, DeepcopyIsNone, ReduceExIsNone, ReduceReturnsString, ClassLevelCopy],
)
def test_hook_lookup_rules(factory: Callable[[], Any]) -> None:
    x = factory()
    check_deepcopy([x, x])
    check_copy(x)


def test_bound_methods() -> None:
    p = Plain(v=[1])
    p.me = p.method
    x = [p.method, p, p.method, [].append, "".join]
    check_deepcopy(x)
    check_deepcopy(x, memo=dict)
    check_copy(p.method)


def test_classes_and_metaclass_instances_are_atomic() -> None:
    class M(type):
        pass

    class K(metaclass=M):
        pass

    check_deepcopy([K, M, int, type], memo=dict)
    check_copy(K)


def test_subclasses_of_atomic_types_go_through_reduce() -> None:
    class I(int):
        pass

    class S(str):
        pass

    class F(float):
        pass

    i, s, f = I(5), S("x"), F(1.5)
    i.attr = [1]
    check_deepcopy([i, s, f, i], memo=dict)
    check_copy(i)


def test_collections_types() -> None:
    od = collections.OrderedDict(a=[1], b=[2])
    od.move_to_end("a")
    dd: collections.defaultdict[str, list[int]] = collections.defaultdict(list, {"k": [1]})
    dq = collections.deque([[1], [2]], maxlen=3)
    ctr = collections.Counter("abracadabra")
    x = [od, dd, dq, ctr, od, bytearray(b"xy")]
    check_deepcopy(x, memo=dict)
    for y in x:
        check_copy(y)


class MemoSpy:
    """Records what a hook can observe of the memo in the middle of a copy."""

    def __init__(self, watched: list[Any]) -> None:
        self.watched = watched

    def __deepcopy__(self, memo: Any) -> Any:
        keepalive = memo.get(id(memo))
        return (
            "spy",
            len(memo),
            None if keepalive is None else len(keepalive),
            [id(w) in memo for w in self.watched],
            [keepalive is not None and any(k is w for k in keepalive) for w in self.watched],
        )


@pytest.mark.parametrize("with_memo", [False, True])
def test_hook_sees_the_same_memo_state(with_memo: bool) -> None:
    """len(memo), the keep-alive list and memo membership, as seen from a hook
    in the middle of a copy, are what the stdlib shows."""
    inner, tup = [1], (2, [3])
    x: list[Any] = [inner, tup]
    x.append(MemoSpy([x, inner, tup, tup[1]]))
    x.append({"k": MemoSpy([x, inner])})
    e, a = check_deepcopy(x, memo=dict if with_memo else None)
    assert a.value[2] == e.value[2] and a.value[3] == e.value[3]
