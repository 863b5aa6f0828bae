"""The memo-elision rule (docs/design.md, "Memo elision").

fastcopy leaves out of its memo table the containers that only one
reference reaches, as long as no tuple, set or reduce frame is open, and
puts them all back before any Python code runs.  Each test builds a graph
where an elided container is reached again -- through Python code that
creates a new reference, through a hook that reads the memo, through a
weak reference -- and checks the copy, its sharing and the memo the hook
saw against the stdlib's.
"""

from __future__ import annotations

import copy
import copyreg
import weakref
from typing import Any, Callable

import pytest

from _impl import impl
from isomorphism import assert_same_copy
from isomorphism import memo_shape as _memo_shape


def memo_shape(memo: Any) -> tuple[Any, ...]:
    """isomorphism.memo_shape, with the ids of objects not (yet) in the
    keep-alive list -- containers still being copied -- replaced by their
    copy's type, so that two runs on twin graphs compare equal."""
    n, ka_len, descs = _memo_shape(memo)
    out = []
    for d in descs:
        if d[0] == "raw":
            out.append(("in-progress", type(memo[int(d[1])]).__name__))
        else:
            out.append(d)
    return (n, ka_len, tuple(sorted(out, key=repr)))


def both(make: Callable[[], Any]) -> tuple[Any, Any, Any, Any]:
    """Build the graph twice (hooks record per build); copy one with the
    stdlib and one with the implementation."""
    xe, xa = make(), make()
    return xe, copy.deepcopy(xe), xa, impl.deepcopy(xa)


def check(make: Callable[[], Any]) -> tuple[Any, Any]:
    xe, ye, xa, ya = both(make)
    assert_same_copy(xe, ye, ya, actual_original=xa)
    return ye, ya


# --------------------------------------------------------------------------
# Python code creating a new reference to an elided container


def _rebuild(value: Any) -> Any:
    return ("rebuilt", value)


class ReducesToHolderItem:
    """__reduce__ returns holder[0]: a list that only `holder` references,
    already copied (and elided) when this object is reached."""

    def __init__(self, holder: list) -> None:
        self.holder = holder

    def __reduce__(self) -> Any:
        return (_rebuild, (self.holder[0],))


def test_reducer_returns_an_elided_list() -> None:
    def make() -> Any:
        holder = [[1, [2, 3]]]
        return [holder, ReducesToHolderItem(holder)]

    ye, ya = check(make)
    assert ya[1][1] is ya[0][0]          # the same copy, as with the stdlib
    assert ye[1][1] is ye[0][0]


def test_reducer_returns_an_item_of_an_elided_dict() -> None:
    def make() -> Any:
        holder = {"k": {"inner": [1]}}
        return {"a": holder, "b": ReducesToHolderItemDict(holder)}

    ye, ya = check(make)
    assert ya["b"][1] is ya["a"]["k"]


class ReducesToHolderItemDict:
    def __init__(self, holder: dict) -> None:
        self.holder = holder

    def __reduce__(self) -> Any:
        return (_rebuild, (self.holder["k"],))


class DeepcopiesViaWeakref:
    """A hook that copies, with the memo it is given, an object it reaches
    only through a weak reference (so the object's refcount stays 1)."""

    def __init__(self, target: Any) -> None:
        self.ref = weakref.ref(target)

    def __deepcopy__(self, memo: dict) -> Any:
        return ("hook", copy.deepcopy(self.ref(), memo), memo_shape(memo))


class WeakTarget(list):
    pass


def test_hook_reaches_an_elided_container_through_a_weakref() -> None:
    def make() -> Any:
        target = {"inner": [1, 2]}
        owner = [target]
        # a dict cannot be weakly referenced: wrap the reach in a list
        # subclass instance held only by `owner2`
        wt = WeakTarget([target])
        owner2 = [wt]
        return [owner, owner2, DeepcopiesViaWeakref(wt)]

    # (weakrefs are atoms: the twin graphs cannot be paired object by
    # object, so compare what matters directly)
    _, ye, _, ya = both(make)
    assert ye[2][1] is ye[1][0]
    assert ya[2][1] is ya[1][0]          # the same copy, as with the stdlib
    assert ya[2][2] == ye[2][2]          # the memo the hook saw
    assert ya[0][0] is ya[2][1][0] and ye[0][0] is ye[2][1][0]


def test_hook_sees_the_stdlib_memo_after_elided_containers() -> None:
    seen: list[Any] = []

    class Probe:
        def __deepcopy__(self, memo: dict) -> Any:
            seen.append(memo_shape(memo))
            return "probe"

    def make() -> Any:
        return {"data": [{"a": [1]}, [[2], (3, [4])]], "probe": Probe(), "after": [5]}

    seen.clear()
    copy.deepcopy(make())
    expected = list(seen)
    seen.clear()
    impl.deepcopy(make())
    assert seen == expected


@pytest.mark.parametrize("layout", ["attributes", "assigned", "many", "deleted"])
def test_instance_dict_reached_after_its_instance(layout: str) -> None:
    """The copy of an instance's __dict__ becomes the new instance's
    __dict__ when it is elided (or its items become the new instance's
    values, or are merged into its __dict__, which then drops the copy);
    a hook reading the memo must still find a distinct dict with those
    items, as the stdlib's memo holds one.  The layouts give x.__dict__ a
    split table over the class's keys, a combined one assigned whole, one
    past the shared keys' size, and one with a deleted attribute."""

    class Plain:
        pass

    class ReadsStateCopy:
        def __init__(self, inst: Any) -> None:
            self.inst = inst

        def __deepcopy__(self, memo: dict) -> Any:
            state = memo.get(id(self.inst.__dict__))
            inst_copy = memo.get(id(self.inst))
            return (state, inst_copy, state is inst_copy.__dict__, memo_shape(memo))

    extra = {f"k{i}": i for i in range(40)} if layout == "many" else {}

    def make() -> Any:
        p = Plain()
        if layout == "assigned":
            p.__dict__ = {"values": [1, 2]}
        else:
            if layout == "deleted":
                p.gone = 0
            p.values = [1, 2]
            for k, v in extra.items():
                setattr(p, k, v)
            if layout == "deleted":
                del p.gone
        return [p, ReadsStateCopy(p)]

    ye, ya = check(make)
    assert ya[1][2] is False and ye[1][2] is False
    assert ya[1][0] == ye[1][0] == {"values": [1, 2], **extra}
    assert ya[1][3] == ye[1][3]


# --------------------------------------------------------------------------
# cycles through containers memoized late


def test_cycle_through_a_tuple() -> None:
    def make() -> Any:
        lst: list[Any] = []
        t = (lst, [7])
        lst.append(t)
        return [t]

    check(make)


def test_cycle_through_a_set_of_instances() -> None:
    class Node:
        pass

    def make() -> Any:
        n = Node()
        s = {n}
        n.members = s
        n.payload = [[1]]
        return [s]

    check(make)


def test_cycle_through_reduce_args() -> None:
    class R:
        def __init__(self, items: list) -> None:
            self.items = items

        def __reduce__(self) -> Any:
            return (R, (self.items,))

    def make() -> Any:
        inner: list[Any] = [[1]]
        r = R(inner)
        inner.append(r)
        return [r]

    check(make)


def test_copyreg_reducer_sees_the_memoized_copy() -> None:
    class Box:
        def __init__(self, v: Any) -> None:
            self.v = v

    calls: list[Any] = []

    def reduce_box(b: Box) -> Any:
        calls.append(1)
        return (Box, (b.v,))

    copyreg.pickle(Box, reduce_box)
    try:

        def make() -> Any:
            shared = [[1, 2]]
            return [shared, Box(shared[0])]

        xe, ye, xa, ya = both(make)
        assert_same_copy(xe, ye, ya, actual_original=xa)
        assert ya[1].v is ya[0][0]
    finally:
        del copyreg.dispatch_table[Box]


# --------------------------------------------------------------------------
# memo given by the caller: no elision, exact memo


@pytest.mark.parametrize("shape", ["records", "nested"])
def test_caller_memo_is_exact(shape: str) -> None:
    def make() -> Any:
        if shape == "records":
            return [{"id": i, "tags": ["a", "b"], "addr": {"city": "x"}} for i in range(5)]
        return {"a": [[[1]]], "b": ({"c": [2]},)}

    xe, xa = make(), make()
    me: dict = {}
    ma: dict = {}
    ye = copy.deepcopy(xe, me)
    ya = impl.deepcopy(xa, ma)
    assert_same_copy(xe, ye, ya, actual_original=xa, memos=(me, ma))
    assert memo_shape(ma) == memo_shape(me)
