"""Hostile inputs: malformed reduce values, raising hooks, containers mutated
during the copy, odd memo objects.  Whatever the stdlib does (a result, or an
exception of some type and message), the implementation must do the same."""

from __future__ import annotations

import collections.abc
import copy
from typing import Any, Callable, Iterator

import pytest
from _impl import impl
from classes import Plain
from differential import Outcome, assert_same_outcome, run

# --------------------------------------------------------------------------
# malformed __reduce_ex__ values


class Reducing:
    """``__reduce_ex__`` returns ``make(self)``."""

    def __init__(self, make: Callable[[Any], Any]) -> None:
        self.make = make

    def __reduce_ex__(self, protocol: int) -> Any:
        return self.make(self)


class RaisingItems:
    def items(self) -> Any:
        raise ValueError("items() exploded")


class RaisingKeys:
    def keys(self) -> Any:
        raise LookupError("keys() exploded")

    def __getitem__(self, key: Any) -> Any:
        return 1


class NoSetItem:
    pass


def _returns_none(*args: Any) -> None:
    return None


def _raises(*args: Any) -> Any:
    raise ValueError("func exploded")


REDUCE_VALUES: dict[str, Callable[[Any], Any]] = {
    "int": lambda self: 42,
    "none": lambda self: None,
    "empty_tuple": lambda self: (),
    "tuple_len_1": lambda self: (Plain,),
    "tuple_len_5_ok": lambda self: (Plain, (), None, None, None),
    "tuple_len_6": lambda self: (Plain, (), None, None, None, None),
    "tuple_len_9": lambda self: (Plain,) + (None,) * 8,
    "list_instead_of_tuple": lambda self: [Plain, ()],
    "func_not_callable": lambda self: (5, ()),
    "func_raises": lambda self: (_raises, (1,)),
    "func_returns_none_with_state": lambda self: (_returns_none, (), {"a": 1}),
    "args_int": lambda self: (Plain, 5),
    "args_zero": lambda self: (Plain, 0),
    "args_none": lambda self: (Plain, None),
    "args_list": lambda self: (list, [[1, 2]]),
    "args_iterator": lambda self: (list, iter([[1, 2]])),
    "args_too_many": lambda self: (Plain, (1, 2)),
    "state_items_raises": lambda self: (Plain, (), (None, RaisingItems())),
    "state_keys_raises": lambda self: (Plain, (), RaisingKeys()),
    "state_int": lambda self: (Plain, (), 5),
    "state_tuple_3": lambda self: (Plain, (), (1, 2, 3)),
    "state_pair_of_dicts": lambda self: (Plain, (), ({"a": [1]}, {"b": [2]})),
    "state_slots_on_dictless": lambda self: (object, (), (None, {"a": 1})),
    "listiter_not_iterable": lambda self: (list, (), None, 5),
    "listiter_no_append": lambda self: (Plain, (), None, iter([1])),
    "listiter_ok": lambda self: (list, (), None, iter([[1], 2])),
    "dictiter_non_pairs": lambda self: (dict, (), None, None, iter([1])),
    "dictiter_triples": lambda self: (dict, (), None, None, iter([(1, 2, 3)])),
    "dictiter_no_setitem": lambda self: (NoSetItem, (), None, None, iter([(1, 2)])),
    "dictiter_not_iterable": lambda self: (dict, (), None, None, 3.5),
    "dictiter_ok": lambda self: (dict, (), None, None, iter([("k", [1])])),
    "str": lambda self: "a_global_name",
}


@pytest.mark.parametrize("name", list(REDUCE_VALUES))
@pytest.mark.parametrize("op", ["deepcopy", "copy"])
def test_malformed_reduce_values(name: str, op: str) -> None:
    make = REDUCE_VALUES[name]
    if op == "deepcopy":
        check_twins(lambda: [[0], Reducing(make), [1]], op)
    else:
        check_twins(lambda: Reducing(make), op)


def check_twins(factory: Callable[[], Any], op: str = "deepcopy", catch: Any = Exception) -> tuple[Outcome, Outcome]:
    """Run the oracle and the implementation on twin inputs; compare."""
    xe, xa = factory(), factory()
    e = run(lambda: getattr(copy, op)(xe), catch)
    a = run(lambda: getattr(impl, op)(xa), catch)
    assert_same_outcome(e, a, xe, actual_original=xa)
    return e, a


# --------------------------------------------------------------------------
# raising and odd hooks


class SetstateRaises:
    def __init__(self) -> None:
        self.v = [1]

    def __setstate__(self, state: Any) -> None:
        raise ValueError("setstate exploded")


class ReduceExRaises:
    def __reduce_ex__(self, protocol: int) -> Any:
        raise ValueError(f"reduce_ex({protocol}) exploded")


class DeepcopyRaises:
    def __deepcopy__(self, memo: Any) -> Any:
        raise ValueError("deepcopy exploded")

    def __copy__(self) -> Any:
        raise ValueError("copy exploded")


class DeepcopyReturnsNone:
    def __deepcopy__(self, memo: Any) -> Any:
        return None


class DeepcopyNotCallable:
    __deepcopy__ = 5
    __copy__ = 5


class DeepcopyWrongSignature:
    def __deepcopy__(self) -> Any:  # type: ignore[override]
        return 1

    def __copy__(self, extra: Any) -> Any:
        return 2


class Uncopyable:
    __reduce_ex__ = None
    __reduce__ = None


class FalsyCallable:
    def __bool__(self) -> bool:
        return False

    def __call__(self, *args: Any) -> Any:
        return (Plain, ())


class FalsyReduce:
    __reduce_ex__ = None
    __reduce__ = FalsyCallable()  # not a descriptor: the instance is returned as is


class GetattrRaises:
    def __getattr__(self, name: str) -> Any:
        raise ValueError(f"no {name} for you")


class GetattrRaisesAttributeError:
    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)


class GetattrReturnsNone:
    def __getattr__(self, name: str) -> Any:
        return None


class GetattrDeepcopyKeyError:
    def __getattr__(self, name: str) -> Any:
        raise KeyError(name)


class ClassRaisingOnReduceLookup:
    @property
    def __reduce_ex__(self) -> Any:
        raise ValueError("__reduce_ex__ property exploded")


class ShrinksParent:
    """On deepcopy, pops items from its parent list."""

    def __init__(self, parent: list[Any], n: int) -> None:
        self.parent, self.n = parent, n

    def __deepcopy__(self, memo: Any) -> Any:
        for _ in range(self.n):
            if self.parent:
                self.parent.pop()
        return Plain(popped=self.n)


class ClearsParent:
    def __init__(self, parent: Any) -> None:
        self.parent = parent

    def __deepcopy__(self, memo: Any) -> Any:
        self.parent.clear()
        return "cleared"


class GrowsParentDict:
    def __init__(self, parent: dict[Any, Any]) -> None:
        self.parent = parent

    def __deepcopy__(self, memo: Any) -> Any:
        self.parent[len(self.parent)] = "grown"
        return "grew"


class ReplacesParentItem:
    """Replaces the *next* list item while the list is being copied."""

    def __init__(self, parent: list[Any], index: int) -> None:
        self.parent, self.index = parent, index

    def __deepcopy__(self, memo: Any) -> Any:
        if self.index + 1 < len(self.parent):
            self.parent[self.index + 1] = ["replacement"]
        return "replaced next"


def _list_with(make: Callable[[list[Any]], Any], *, before: int = 2, after: int = 3) -> list[Any]:
    lst: list[Any] = [[i] for i in range(before)]
    lst.append(make(lst))
    lst.extend([[i] for i in range(after)])
    return lst


def _dict_with(make: Callable[[dict[Any, Any]], Any]) -> dict[Any, Any]:
    d: dict[Any, Any] = {"a": [1]}
    d["hook"] = make(d)
    d["z"] = [2]
    return d


HOOK_OBJECTS: dict[str, Callable[[], Any]] = {
    "setstate_raises": SetstateRaises,
    "reduce_ex_raises": ReduceExRaises,
    "deepcopy_raises": DeepcopyRaises,
    "deepcopy_returns_none": DeepcopyReturnsNone,
    "deepcopy_not_callable": DeepcopyNotCallable,
    "deepcopy_wrong_signature": DeepcopyWrongSignature,
    "uncopyable": Uncopyable,
    "falsy_reduce": FalsyReduce,
    "getattr_raises": GetattrRaises,
    "getattr_attribute_error": GetattrRaisesAttributeError,
    "getattr_returns_none": GetattrReturnsNone,
    "getattr_key_error": GetattrDeepcopyKeyError,
    "reduce_ex_property_raises": ClassRaisingOnReduceLookup,
}

MUTATING_CASES: dict[str, Callable[[], Any]] = {
    "list_shrinks": lambda: _list_with(lambda p: ShrinksParent(p, 2)),
    "list_shrinks_past_cursor": lambda: _list_with(lambda p: ShrinksParent(p, 5), after=1),
    "list_cleared": lambda: _list_with(ClearsParent),
    "list_item_replaced": lambda: _list_with(lambda p: ReplacesParentItem(p, 2)),
    "dict_cleared": lambda: _dict_with(ClearsParent),
    "dict_grows": lambda: _dict_with(GrowsParentDict),
    "dict_key_hook_grows": lambda: (lambda d: (d.__setitem__(GrowsParentDict(d), 1), d)[1])({}),
}


@pytest.mark.parametrize("name", list(HOOK_OBJECTS))
def test_hostile_hooks_deepcopy(name: str) -> None:
    make = HOOK_OBJECTS[name]
    check_twins(make, "deepcopy")
    check_twins(lambda: [[0], make(), {"k": [1]}], "deepcopy")


@pytest.mark.parametrize("name", list(HOOK_OBJECTS))
def test_hostile_hooks_copy(name: str) -> None:
    check_twins(HOOK_OBJECTS[name], "copy")


@pytest.mark.parametrize("name", list(MUTATING_CASES))
def test_containers_mutated_during_deepcopy(name: str) -> None:
    check_twins(MUTATING_CASES[name], "deepcopy")


def test_uncopyable_message() -> None:
    for op, word in (("deepcopy", "deep"), ("copy", "shallow")):
        e, a = check_twins(Uncopyable, op)
        assert isinstance(a.exc, copy.Error)
        assert str(a.exc) == f"un({word})copyable object of type {Uncopyable!r}"


# --------------------------------------------------------------------------
# BaseExceptions from hooks propagate unchanged


class RaisesGiven:
    def __init__(self, exc: BaseException, where: str) -> None:
        self.exc, self.where = exc, where

    def __deepcopy__(self, memo: Any) -> Any:
        if self.where == "deepcopy":
            raise self.exc
        return NotImplemented

    def __reduce_ex__(self, protocol: int) -> Any:
        if self.where == "reduce":
            raise self.exc
        return (Plain, (), {"a": 1})

    def __copy__(self) -> Any:
        raise self.exc


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, MemoryError, SystemExit, GeneratorExit])
@pytest.mark.parametrize("where", ["deepcopy", "copy"])
def test_base_exceptions_propagate_unchanged(exc_type: type[BaseException], where: str) -> None:
    exc = exc_type("from a hook")
    x = [[1], {"k": RaisesGiven(exc, "deepcopy")}, [2]]
    op = "deepcopy" if where == "deepcopy" else "copy"
    target = x if op == "deepcopy" else x[1]["k"]
    for mod in (copy, impl):
        with pytest.raises(exc_type) as info:
            getattr(mod, op)(target)
        assert info.value is exc


def test_memory_error_from_setstate_and_reduce() -> None:
    exc = MemoryError()

    class SetstateMemoryError:
        def __setstate__(self, state: Any) -> None:
            raise exc

    x = [SetstateMemoryError()]
    x[0].v = 1
    for mod in (copy, impl):
        with pytest.raises(MemoryError) as info:
            mod.deepcopy(x)
        assert info.value is exc


# --------------------------------------------------------------------------
# odd memo objects


class MappingMemo(collections.abc.MutableMapping):  # type: ignore[type-arg]
    """A MutableMapping that is not a dict."""

    def __init__(self) -> None:
        self.data: dict[Any, Any] = {}

    def __getitem__(self, key: Any) -> Any:
        return self.data[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self.data[key] = value

    def __delitem__(self, key: Any) -> None:
        del self.data[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


class MinimalMemo:
    """Only what the stdlib calls: get, __getitem__, __setitem__."""

    def __init__(self) -> None:
        self.data: dict[Any, Any] = {}

    def get(self, key: Any, default: Any = None) -> Any:
        return self.data.get(key, default)

    def __getitem__(self, key: Any) -> Any:
        return self.data[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self.data[key] = value

    def keys(self) -> Any:
        return self.data.keys()


class DictSubMemo(dict):  # type: ignore[type-arg]
    pass


class LoggingDictMemo(dict):  # type: ignore[type-arg]
    """Overrides get/__setitem__/__getitem__ (so a C fast path must not bypass them)."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[str] = []

    def get(self, key: Any, default: Any = None) -> Any:
        self.log.append("get")
        return super().get(key, default)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.log.append("set")
        super().__setitem__(key, value)

    def __getitem__(self, key: Any) -> Any:
        self.log.append("getitem")
        return super().__getitem__(key)

    def __contains__(self, key: Any) -> bool:  # 3.15's `if d in memo`
        self.log.append("contains")
        return super().__contains__(key)


class GetAlwaysNone(dict):  # type: ignore[type-arg]
    def get(self, key: Any, default: Any = None) -> Any:
        return None


class GetRaises(dict):  # type: ignore[type-arg]
    def get(self, key: Any, default: Any = None) -> Any:
        raise LookupError("memo.get exploded")


class NoSetitemMemo:
    def get(self, key: Any, default: Any = None) -> Any:
        return default


class GetitemRaises(dict):  # type: ignore[type-arg]
    def __getitem__(self, key: Any) -> Any:
        raise ValueError("memo[...] exploded")


class KeepaliveNotAList(dict):  # type: ignore[type-arg]
    def __init__(self) -> None:
        super().__init__()
        self[id(self)] = 42


MEMOS: dict[str, Callable[[], Any]] = {
    "list": list,
    "int": lambda: 7,
    "false": lambda: False,
    "str": lambda: "memo",
    "mutable_mapping": MappingMemo,
    "minimal_mapping": MinimalMemo,
    "dict_subclass": DictSubMemo,
    "logging_dict_subclass": LoggingDictMemo,
    "get_always_none": GetAlwaysNone,
    "get_raises": GetRaises,
    "no_setitem": NoSetitemMemo,
    "getitem_raises": GetitemRaises,
    "keepalive_not_a_list": KeepaliveNotAList,
}

MEMO_INPUTS: dict[str, Callable[[], Any]] = {
    "atom": lambda: 10**20,
    "tuple_of_atoms": lambda: (1, "a"),
    "list": lambda: [[1], (2, [3]), {"k": {4}}],
    "shared": lambda: (lambda s: [s, {"a": s}, (s,)])([0]),
    "cycle": lambda: (lambda lst: (lst.append(lst), lst)[1])([1]),
    "instance": lambda: Plain(a=[1], b=(2,)),
    "hook": lambda: [Plain(), ReducingHook()],
}


class ReducingHook:
    def __deepcopy__(self, memo: Any) -> Any:
        memo[id(self)] = result = Plain(hooked=True)
        result.inner = copy.deepcopy([1, [2]], memo)
        return result


_COMPARABLE_MEMOS = (DictSubMemo, LoggingDictMemo, MappingMemo, MinimalMemo)


@pytest.mark.parametrize("memo_kind", list(MEMOS))
@pytest.mark.parametrize("input_kind", list(MEMO_INPUTS))
def test_odd_memo_objects(memo_kind: str, input_kind: str) -> None:
    make_x, make_memo = MEMO_INPUTS[input_kind], MEMOS[memo_kind]
    x = make_x()
    me, ma = make_memo(), make_memo()
    e = run(lambda: copy.deepcopy(x, me))
    a = run(lambda: impl.deepcopy(x, ma))
    memos = (me, ma) if e.exc is None and isinstance(me, _COMPARABLE_MEMOS) else None
    assert_same_outcome(e, a, x, memos=memos)
    if isinstance(me, LoggingDictMemo):
        assert set(ma.log) == set(me.log), "the memo's overridden methods must be used"


def test_memo_is_the_object_itself() -> None:
    def make() -> dict[Any, Any]:
        d: dict[Any, Any] = {"a": [1]}
        return d

    xe, xa = make(), make()
    e = run(lambda: copy.deepcopy(xe, xe))
    a = run(lambda: impl.deepcopy(xa, xa))
    assert_same_outcome(e, a, xe, actual_original=xa)


def test_memo_get_raising_base_exception() -> None:
    exc = KeyboardInterrupt()

    class KIMemo(dict):  # type: ignore[type-arg]
        # the stdlib's first lookup: memo.get up to 3.14, `in` from 3.15
        def get(self, key: Any, default: Any = None) -> Any:
            raise exc

        def __contains__(self, key: Any) -> bool:
            raise exc

    for mod in (copy, impl):
        with pytest.raises(KeyboardInterrupt) as info:
            mod.deepcopy([1], KIMemo())
        assert info.value is exc


def test_hostile_reduce_inside_user_memo() -> None:
    """After an error, a user memo is still a dict holding what was stored."""
    for name in ("state_items_raises", "listiter_not_iterable", "func_raises"):
        make = REDUCE_VALUES[name]
        x = [[1], Reducing(make)]
        me: dict[int, Any] = {}
        ma: dict[int, Any] = {}
        e = run(lambda: copy.deepcopy(x, me))
        a = run(lambda: impl.deepcopy(x, ma))
        assert_same_outcome(e, a, x)
        assert isinstance(ma, dict) and (id(x) in ma) == (id(x) in me)


# --------------------------------------------------------------------------
# Python code run during the copy of a dict must see the dict's copy as the
# stdlib builds it: the entries done so far, never the originals of the rest
# (regression: the native dict fast path pre-filled the copy with the
# original values, and a __setstate__ reaching it through its state saw and
# kept them).


class SeesParentInSetstate:
    def __init__(self, parent: dict[Any, Any]) -> None:
        self.parent = parent

    def __setstate__(self, state: Any) -> None:
        self.__dict__.update(state)
        self.seen = dict(state["parent"])


def _rebuild_seeing(parent: dict[Any, Any]) -> Any:
    return ("rebuilt", dict(parent))


class SeesParentInConstructor:
    def __init__(self, parent: dict[Any, Any]) -> None:
        self.parent = parent

    def __reduce_ex__(self, protocol: int) -> Any:
        return (_rebuild_seeing, (self.parent,))


class SeeingList(list):  # type: ignore[type-arg]
    def append(self, item: Any) -> None:
        super().append((item, dict(item["parent"]) if isinstance(item, dict) and "parent" in item else None))


class SeesParentInAppend:
    def __init__(self, parent: dict[Any, Any]) -> None:
        self.parent = parent

    def __reduce_ex__(self, protocol: int) -> Any:
        return (SeeingList, (), None, iter([{"parent": self.parent}]))


class SeeingDict(dict):  # type: ignore[type-arg]
    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, (value, dict(value) if isinstance(value, dict) else None))


class SeesParentInSetitem:
    def __init__(self, parent: dict[Any, Any]) -> None:
        self.parent = parent

    def __reduce_ex__(self, protocol: int) -> Any:
        return (SeeingDict, (), None, None, iter([("k", self.parent)]))


@pytest.mark.parametrize("cls", [SeesParentInSetstate, SeesParentInConstructor, SeesParentInAppend,
                                 SeesParentInSetitem])
@pytest.mark.parametrize("nested", [False, True])
def test_python_code_sees_dict_copies_in_progress_as_the_stdlib(cls: type, nested: bool) -> None:
    def make() -> Any:
        d: dict[str, Any] = {"first": [1]}
        d["child"] = cls(d)
        d["last"] = [2]
        d["more"] = {"x": [3]}
        return {"outer": [0], "inner": d, "after": [4]} if nested else d

    check_twins(make)


class HashRaisesWhenArmed:
    armed = False

    def __hash__(self) -> int:
        if HashRaisesWhenArmed.armed:
            raise TypeError("__hash__ raised")
        return 1


class CountsHashes:
    calls = 0

    def __hash__(self) -> int:
        CountsHashes.calls += 1
        return 2


@pytest.mark.parametrize("before", [0, 1, 3])
def test_dict_key_not_hashed_before_its_value_is_copied(before: int) -> None:
    """y[deepcopy(k)] = deepcopy(v) copies the value first: a key whose hash
    raises must not be hashed before that (regression: cutting the native
    fast path's pre-filled copy back deleted later keys, hashing them)."""

    def make() -> Any:
        d: dict[Any, Any] = {f"k{i}": i for i in range(before)}
        d[HashRaisesWhenArmed()] = DeepcopyRaises()
        d["after"] = [1]
        return d

    xe, xa = make(), make()
    HashRaisesWhenArmed.armed = True
    try:
        e = run(lambda: copy.deepcopy(xe))
        a = run(lambda: impl.deepcopy(xa))
    finally:
        HashRaisesWhenArmed.armed = False
    assert_same_outcome(e, a, xe, actual_original=xa)


def test_dict_keys_hashed_as_often_as_by_the_stdlib() -> None:
    def make() -> Any:
        return {"a": [1], CountsHashes(): [2], "b": [3], CountsHashes(): {"c": [4]}}

    counts = []
    for fn in (copy.deepcopy, impl.deepcopy):
        x = make()
        CountsHashes.calls = 0
        fn(x)
        counts.append(CountsHashes.calls)
    assert counts[1] == counts[0], f"stdlib hashed keys {counts[0]} times, implementation {counts[1]}"
