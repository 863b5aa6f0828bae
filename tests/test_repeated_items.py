"""A list holding the same object several times in a row ([a] * n).

fastcopy gives an item that is the previous item again, when the memo held
that one, the same copy without looking it up (docs/design.md, "Repeated
items").  That is the stdlib's answer only while the memo is unchanged
since the previous item: these tests put every kind of work between two
occurrences -- an atom, a tuple of atoms (its own copy, never memoized), a
hook that rewrites the memo, a hook that changes the list being copied, a
copy that runs Python code -- and compare the copy, its sharing and the
memo with the stdlib's.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import pytest

from _impl import impl
from isomorphism import assert_same_copy, memo_shape


class Plain:
    def __init__(self, v: Any) -> None:
        self.v = v


class Hooked:
    """Copied by a __deepcopy__ hook (Python code that sees the memo)."""

    def __init__(self, v: Any) -> None:
        self.v = v

    def __deepcopy__(self, memo: dict) -> "Hooked":
        return Hooked(copy.deepcopy(self.v, memo))


class SelfCopy:
    """A hook that returns the object itself: deepcopy does not memoize it,
    so every occurrence calls the hook again."""

    calls = 0

    def __deepcopy__(self, memo: dict) -> "SelfCopy":
        SelfCopy.calls += 1
        return self


class RewritesMemo:
    """A hook that replaces the memo's entry for `target`: the occurrences
    of `target` after it get the replacement, as with the stdlib."""

    def __init__(self, target: Any) -> None:
        self.target = target

    def __deepcopy__(self, memo: dict) -> "RewritesMemo":
        memo[id(self.target)] = ["replacement"]
        return self


class ChangesList:
    """A hook that stores `new` at `index` of the list being copied: the
    stdlib's loop reads that item after the hook has run."""

    def __init__(self, owner: list, index: int, new: Any) -> None:
        self.owner, self.index, self.new = owner, index, new

    def __deepcopy__(self, memo: dict) -> "ChangesList":
        self.owner[self.index] = self.new
        return self


def _shared() -> list:
    return [1, "two", 3.0]


SHAPES: dict[str, Callable[[], Any]] = {
    "list_x100": lambda: [_shared()] * 100,
    "dict_x5": lambda: [{"k": [1]}] * 5,
    "instance_x5": lambda: [Plain([1, 2])] * 5,
    "atom_between": lambda: (lambda a: [a, a, 7, a, a])(_shared()),
    "atom_tuple_between": lambda: (lambda a: [a, a, (1, "x"), a])(_shared()),
    "two_alternating": lambda: (lambda a, b: [a, b, a, b, b, a])(_shared(), _shared()),
    "nested_rows": lambda: [[_shared()] * 3] * 4,
    "inside_dict_value": lambda: {"rows": [_shared()] * 4, "again": _shared()},
    "repeated_atom_tuple": lambda: [(1, 2)] * 4,
    "empty_list_x4": lambda: [[]] * 4,
    "hooked_x4": lambda: [Hooked([1])] * 4,
    "hook_inside_item": lambda: [[Hooked(2)]] * 4,
    "self_copy_between": lambda: (lambda a: [a, a, SelfCopy(), a, a])(_shared()),
    "item_contains_list": lambda: (lambda a: [a, a])([[_shared()]]),
    "cycle": lambda: (lambda l: (l.extend([l, l, l]), l)[1])([]),
    "tuple_holding_repeats": lambda: ((lambda a: [a, a, a])(_shared()),),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_repeated_item_copies_as_the_stdlib(shape: str) -> None:
    make = SHAPES[shape]
    xe, xa = make(), make()
    ye, ya = copy.deepcopy(xe), impl.deepcopy(xa)
    assert_same_copy(xe, ye, ya, actual_original=xa)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_repeated_item_with_a_caller_memo(shape: str) -> None:
    make = SHAPES[shape]
    xe, xa = make(), make()
    me: dict = {}
    ma: dict = {}
    ye, ya = copy.deepcopy(xe, me), impl.deepcopy(xa, ma)
    assert_same_copy(xe, ye, ya, actual_original=xa, memos=(me, ma))
    assert memo_shape(ma) == memo_shape(me)


def test_every_occurrence_is_the_same_copy() -> None:
    a = _shared()
    y = impl.deepcopy([a] * 50)
    assert y[0] is not a and y[0] == a
    assert all(item is y[0] for item in y)


def _memo_rewritten() -> list:
    a = _shared()
    return [a, a, RewritesMemo(a), a, a]


def test_hook_rewriting_the_memo_between_occurrences() -> None:
    xe, xa = _memo_rewritten(), _memo_rewritten()
    ye, ya = copy.deepcopy(xe), impl.deepcopy(xa)
    assert_same_copy(xe, ye, ya, actual_original=xa)
    # the stdlib's answer, spelled out: the replacement from the hook on
    assert ye[3] == ["replacement"] and ye[3] is ye[4] and ye[0] is ye[1]
    assert ya[3] == ["replacement"] and ya[3] is ya[4] and ya[0] is ya[1]
    assert ya[0] is not ya[3]


def _list_changed() -> list:
    a, b = _shared(), _shared()
    x: list = [a, a, None, a, a]
    x[2] = ChangesList(x, 3, b)
    return x


def test_hook_changing_the_list_between_occurrences() -> None:
    xe, xa = _list_changed(), _list_changed()
    ye, ya = copy.deepcopy(xe), impl.deepcopy(xa)
    assert_same_copy(xe, ye, ya, actual_original=xa)
    assert ya[3] is not ya[1] and ya[4] is ya[1]


def test_hook_returning_itself_runs_for_every_occurrence() -> None:
    s = SelfCopy()
    SelfCopy.calls = 0
    copy.deepcopy([s] * 5)
    expected = SelfCopy.calls
    SelfCopy.calls = 0
    y = impl.deepcopy([s] * 5)
    assert SelfCopy.calls == expected == 5
    assert all(item is s for item in y)
