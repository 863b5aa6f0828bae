"""Dispatch tables and classes changed by Python code in the middle of a copy.

The stdlib reads ``copy._deepcopy_dispatch``, ``copyreg.dispatch_table`` and
each object's class afresh for every object it copies, so a change made by
a hook or a reducer of the copy applies to the objects copied after it, in
the same call.  fastcopy checks the tables once per call and keeps fast
paths that assume them (atoms returned at once, dicts cloned and patched);
after any Python code it checks them again (docs/design.md, "Dispatch
tables").  Each test changes something from inside a copy, puts atoms,
containers and instances after the change (in lists, in the rest of a dict
being patched, in tuples, nested), and compares with the stdlib.
"""

from __future__ import annotations

import copy
import copyreg
from typing import Any, Callable, Iterator

import pytest

import _tables
from _impl import impl
from isomorphism import assert_same_copy

DISPATCH = _tables.DISPATCH
_SAVED = _tables.snapshot()


@pytest.fixture(autouse=True)
def _restore_tables() -> Iterator[None]:
    saved = _tables.snapshot()
    yield
    _tables.restore(saved)


def _plus_1000(x: int, memo: Any) -> int:
    return x + 1000


def _tagged_list(x: list, memo: Any) -> list:
    return ["tagged"] + [copy.deepcopy(v, memo) for v in x]


class Item:
    def __init__(self, v: Any) -> None:
        self.v = v


def _reduce_item(obj: Item) -> Any:
    return (Item, (("reduced", obj.v),))


def _item_hook(self: Item, memo: Any) -> str:
    return f"hooked {self.v}"


class Acts:
    """Copied through a __deepcopy__ hook that runs `action` first."""

    def __init__(self, action: Callable[[], None]) -> None:
        self.action = action

    def __deepcopy__(self, memo: Any) -> "Acts":
        self.action()
        return self


class ActsInReduce:
    """Copied through a Python __reduce__ (no memo handed out) that runs
    `action` first."""

    def __init__(self, action: Callable[[], None]) -> None:
        self.action = action

    def __reduce__(self) -> Any:
        self.action()
        return (_rebuild, ())


def _rebuild() -> str:
    return "rebuilt"


def _register_int() -> None:
    # (3.14+: int taken out of copy._atomic_types first, which is checked
    # before the dispatch table; in place on 3.14, rebound on 3.15)
    _tables.register_copier(int, _plus_1000)


def _register_list() -> None:
    DISPATCH[list] = _tagged_list


def _register_reducer() -> None:
    copyreg.pickle(Item, _reduce_item)


def _register_int_then_undo() -> None:
    _tables.register_copier(int, _plus_1000)
    # and the stdlib's atomic copier put back: ints are atoms again
    _tables.make_atomic(int)


def _class_gets_hook() -> None:
    Item.__deepcopy__ = _item_hook  # type: ignore[attr-defined]


ACTIONS: dict[str, Callable[[], None]] = {
    "int_copier_registered": _register_int,
    "list_copier_registered": _register_list,
    "copyreg_reducer_registered": _register_reducer,
    "int_copier_registered_and_undone": _register_int_then_undo,
    "class_gets_a_deepcopy_hook": _class_gets_hook,
}


def _after(trigger: Any) -> Any:
    """A graph where `trigger` is copied before all of these."""
    return [
        1,
        [2, 3],
        trigger,
        4,
        [5, [6, "s"]],
        {"a": 7, "b": [8], "c": Item(9)},
        (10, 11),
        Item([12]),
        {"x": {"y": 13}},
    ]


def _inside_dict(trigger: Any) -> Any:
    """`trigger` in the middle of a dict: the values after it are copied
    by the same (patched) dict frame."""
    return {"k1": 1, "k2": [2], "t": trigger, "k3": 3, "k4": [4, 5], "k5": Item(6), "k6": (7, 8)}


def _in_a_tuple(trigger: Any) -> Any:
    return ([1], (trigger, 2, [3]), 4)


def _deep(trigger: Any) -> Any:
    return [[[{"t": trigger}], 1], {"after": [2, {"n": 3}]}, 4]


SHAPES: dict[str, Callable[[Any], Any]] = {
    "after": _after,
    "inside_dict": _inside_dict,
    "in_a_tuple": _in_a_tuple,
    "deep": _deep,
}

TRIGGERS: dict[str, type] = {"hook": Acts, "reducer": ActsInReduce}


def _restore() -> None:
    _tables.restore(_SAVED)
    if "__deepcopy__" in Item.__dict__:
        del Item.__deepcopy__  # type: ignore[attr-defined]


@pytest.mark.parametrize("trigger", sorted(TRIGGERS))
@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_change_from_inside_a_copy_applies_to_the_rest(action: str, shape: str, trigger: str) -> None:
    make = lambda: SHAPES[shape](TRIGGERS[trigger](ACTIONS[action]))  # noqa: E731
    xe = make()
    try:
        ye = copy.deepcopy(xe)
    finally:
        _restore()
    xa = make()
    try:
        ya = impl.deepcopy(xa)
    finally:
        _restore()
    assert_same_copy(xe, ye, ya, actual_original=xa)


def test_the_stdlib_answer_spelled_out() -> None:
    x = [1, Acts(_register_int), 2, {"a": 3}, [4]]
    try:
        y = impl.deepcopy(x)
    finally:
        _restore()
    assert y[0] == 1 and y[2] == 1002 and y[3] == {"a": 1003} and y[4] == [1004]


def test_next_call_after_a_change_is_unaffected_by_the_old_tables() -> None:
    try:
        impl.deepcopy([Acts(_register_int)])
        assert impl.deepcopy([1, {"a": 2}]) == [1001, {"a": 1002}]
    finally:
        _restore()
    assert impl.deepcopy([1, {"a": 2}]) == [1, {"a": 2}]


def _raising_copier(x: Any, memo: Any) -> Any:
    raise ValueError(f"no copy of {x!r}")


def _register_raising() -> None:
    _tables.register_copier(int, _raising_copier)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_copier_registered_midcopy_that_raises(shape: str) -> None:
    """A copier registered from a hook that fails: the first object it is
    asked for raises the stdlib's exception, type and message."""
    outcomes = []
    for deepcopy in (copy.deepcopy, impl.deepcopy):
        x = SHAPES[shape](Acts(_register_raising))
        try:
            with pytest.raises(ValueError) as info:
                deepcopy(x)
        finally:
            _restore()
        outcomes.append(str(info.value))
    assert outcomes[1] == outcomes[0]
