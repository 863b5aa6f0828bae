"""Classes with __slots__ and no __dict__ (STRAT_SLOTS): copied without
asking for a reduce value, compared with the stdlib -- values, sharing,
what a hook sees of the half-built copy, and every change to the class
that must send it back to the generic path."""

from __future__ import annotations

import copy
import copyreg
from typing import Any

import pytest

from _impl import impl
from isomorphism import assert_same_copy


class Base:
    __slots__ = ("a", "b", "__weakref__")


class Child(Base):
    __slots__ = ("c", "__private")

    def set_private(self, v: Any) -> None:
        self.__private = v


def make_child(**values: Any) -> Child:
    o = Child()
    for k, v in values.items():
        if k == "private":
            o.set_private(v)
        else:
            setattr(o, k, v)
    return o


def check(x: Any) -> Any:
    y = impl.deepcopy(x)
    assert_same_copy(x, copy.deepcopy(x), y)
    return y


def test_values_sharing_cycles_unset_slots() -> None:
    shared = [1, 2]
    o = make_child(a=shared, c={"k": shared}, private=(shared,))
    o.b = o                                  # a cycle through a slot
    y = check([o, o, shared])
    assert y[0] is y[1] and y[0].b is y[0] and y[0].a is y[2]
    check(Child())                           # no slot set: state None
    check(make_child(b=None))


class SeesOwner:
    """A hook that reports what the owner's copy looks like while the
    owner's slots are being copied."""

    def __init__(self, owner: Any) -> None:
        self.owner = owner

    def __deepcopy__(self, memo: dict) -> Any:
        half = memo.get(id(self.owner))
        return ("seen", half is not None, half is not None and hasattr(half, "a"))


def test_hook_sees_the_copy_before_its_slots_are_set() -> None:
    def make() -> Any:
        o = make_child(a=[1])
        o.c = SeesOwner(o)
        return o

    xe, xa = make(), make()
    ye, ya = copy.deepcopy(xe), impl.deepcopy(xa)
    assert ye.c == ya.c == ("seen", True, False)
    assert ya.a == [1]


class WithSetattr:
    __slots__ = ("v",)

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, ("wrapped", value))


class WithProperty(Base):
    __slots__ = ()

    @property  # type: ignore[override]
    def a(self) -> Any:
        return "from property"


class WithGetstate:
    __slots__ = ("v",)

    def __getstate__(self) -> Any:
        return (None, {"v": "from getstate"})


class HasDictToo(Base):
    pass                                     # a __dict__ beside the slots


@pytest.mark.parametrize(
    "make",
    [
        lambda: _set(WithSetattr(), v=[1]),
        lambda: _set(WithProperty(), b=[2]),
        lambda: _set(WithGetstate(), v=[3]),
        lambda: _set(HasDictToo(), a=[4], extra=[5]),
    ],
    ids=["__setattr__", "property over a slot", "__getstate__", "__dict__ too"],
)
def test_classes_that_take_the_generic_path(make: Any) -> None:
    x = [make(), make()]
    try:
        expected = copy.deepcopy(x)
    except Exception as exc:  # noqa: BLE001 - the stdlib's own error
        with pytest.raises(type(exc)):
            impl.deepcopy(x)
        return
    assert_same_copy(x, expected, impl.deepcopy(x))


def _set(o: Any, **values: Any) -> Any:
    for k, v in values.items():
        object.__setattr__(o, k, v)
    return o


def test_class_changed_after_first_copy() -> None:
    class K:
        __slots__ = ("v",)

    k = K()
    k.v = [1]
    check(k)
    K.__setstate__ = lambda self, state: object.__setattr__(self, "v", "via setstate")  # type: ignore[attr-defined]
    try:
        assert impl.deepcopy(k).v == copy.deepcopy(k).v == "via setstate"
    finally:
        del K.__setstate__  # type: ignore[attr-defined]
    assert impl.deepcopy(k).v == [1]


def test_copyreg_reducer_after_first_copy() -> None:
    class K:
        __slots__ = ("v",)

    k = K()
    k.v = 1
    check(k)
    copyreg.pickle(K, lambda o: (K, ()))
    try:
        assert not hasattr(impl.deepcopy(k), "v")
        assert not hasattr(copy.deepcopy(k), "v")
    finally:
        del copyreg.dispatch_table[K]
    assert impl.deepcopy(k).v == 1


def test_caller_memo_takes_the_stdlib_path() -> None:
    from isomorphism import memo_shape

    o = make_child(a=[1], c=[2])
    me: dict = {}
    ma: dict = {}
    ye = copy.deepcopy([o], me)
    ya = impl.deepcopy([o], ma)
    assert_same_copy([o], ye, ya, memos=(me, ma))
    assert memo_shape(ma) == memo_shape(me)


def test_many_slots_and_deep_chains() -> None:
    class Many:
        __slots__ = tuple(f"s{i}" for i in range(20))   # over the native limit

    m = Many()
    for i in range(20):
        setattr(m, f"s{i}", [i])
    check(m)

    class Node:
        __slots__ = ("next", "payload")

    head = None
    for i in range(100):    # within the stdlib's recursion limit (the harness runs it too)
        n = Node()
        n.next, n.payload = head, [i]
        head = n
    y = impl.deepcopy(head)
    count = 0
    while y is not None:
        count += 1
        y = y.next
    assert count == 100
