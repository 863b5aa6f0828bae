"""3.14+: the copy module's type sets, changed by a third party.

3.14 replaced ``copy._copy_dispatch`` and the atomic entries of
``copy._deepcopy_dispatch`` with three sets of types that ``copy`` and
``deepcopy`` test on every call: ``_atomic_types`` (deepcopy returns such
objects as they are, before it looks at the memo), ``_copy_atomic_types``
(copy returns them as they are) and ``_copy_builtin_containers`` (copy
returns ``cls.copy(x)``).  3.14's are sets, changed in place; 3.15's are
frozensets, replaced by binding a new one.  fastcopy reads them once and
must notice either change before its next call, and in the middle of a
copy after any Python code ran (tests/test_tables_changed_midcopy.py covers
the latter).  Every case is compared with the stdlib.
"""

from __future__ import annotations

import collections
import copy
from typing import Any, Iterator

import pytest

import _tables
from _impl import IS_STDLIB, impl
from differential import assert_same_outcome, check_deepcopy_twins, run

pytestmark = pytest.mark.skipif(not _tables.HAS_TYPE_SETS, reason="the type sets are new in 3.14")


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    saved = _tables.snapshot()
    yield
    _tables.restore(saved)


class Box:
    def __init__(self, v: Any) -> None:
        self.v = v


def _both_shallow(make: Any) -> None:
    xe, xa = make(), make()
    assert_same_outcome(run(lambda: copy.copy(xe)), run(lambda: impl.copy(xa)), xe, actual_original=xa)


def _change(name: str, add: Any = (), remove: Any = ()) -> None:
    _tables._change_set(name, add=add, remove=remove)


def test_a_class_added_to_atomic_types_is_returned_as_is() -> None:
    b = Box([1])
    assert impl.deepcopy([b])[0] is not b
    _change("_atomic_types", add=[Box])
    y = impl.deepcopy([b, {"k": b}])
    assert y[0] is b and y[1]["k"] is b
    assert copy.deepcopy([b])[0] is b
    _change("_atomic_types", remove=[Box])
    assert impl.deepcopy([b])[0] is not b


@pytest.mark.parametrize("tp", [int, str, float, bool, type(None), bytes, range, complex])
def test_a_builtin_removed_from_atomic_types_is_copied_as_the_stdlib_does(tp: type) -> None:
    samples = {int: 10**30, str: "text", float: 2.5, bool: True, type(None): None, bytes: b"ab",
               range: range(3), complex: 1j}
    make = lambda: [samples[tp], {"k": samples[tp]}, (samples[tp], [samples[tp]])]  # noqa: E731
    _tables.make_not_atomic(tp)
    check_deepcopy_twins(make)
    # and with a memo the caller passes in (atoms are not memoized by the stdlib)
    memos: list[dict[int, Any]] = []
    check_deepcopy_twins(make, lambda: memos.append({}) or memos[-1])
    memo_e, memo_a = memos
    assert len(memo_a) == len(memo_e)


@pytest.mark.parametrize("tp", [list, dict, tuple, set, frozenset])
def test_a_container_type_added_to_atomic_types(tp: type) -> None:
    """Containers of that type are then returned as they are, wherever they
    are met: a tuple's item, an instance's attribute, a list's item, a
    dict's value, a memo hit; the root is of another type."""
    shared = tp([1]) if tp is not dict else {"a": [1]}

    def make() -> Any:
        other = Box(0)
        items = [shared, (shared, other), Box((shared, other)), Box([shared, other]), {"k": (shared, other)}]
        return tuple(items) if tp is not tuple else Box(items)

    _change("_atomic_types", add=[tp])
    check_deepcopy_twins(make)
    assert impl.deepcopy(shared) is shared
    y = impl.deepcopy(make())
    y = y if tp is not tuple else y.v
    assert y[0] is shared and y[1][0] is shared and y[2].v[0] is shared


def test_every_member_swapped_for_a_class_in_turn() -> None:
    """Remove each atomic type in turn and add a class in its place: the set's
    size stays the same, and the class often lands in the slot the removed
    type left (3.14's sets reuse such slots), which a size check alone would
    miss."""
    b = Box(1)
    for tp in sorted(copy._atomic_types, key=repr):  # type: ignore[attr-defined]
        saved = _tables.snapshot()
        _change("_atomic_types", add=[Box], remove=[tp])
        y = impl.deepcopy([b])
        assert y[0] is b, f"{tp.__name__} swapped for Box: Box instances must be atoms"
        _tables.restore(saved)
        assert impl.deepcopy([b])[0] is not b


class MakesBoxAtomic:
    """Makes Box atomic from a __deepcopy__ hook (which gets the memo)."""

    def __deepcopy__(self, memo: Any) -> Any:
        _change("_atomic_types", add=[Box])
        return self


def _rebuilt() -> str:
    return "rebuilt"


class MakesBoxAtomicInReduce:
    """Makes Box atomic from __reduce__ (Python code that gets no memo, so
    fastcopy's memo stays its native table)."""

    def __reduce__(self) -> Any:
        _change("_atomic_types", add=[Box])
        return (_rebuilt, ())


@pytest.mark.parametrize("trigger", [MakesBoxAtomic, MakesBoxAtomicInReduce])
@pytest.mark.parametrize("memo", ["native", "dict"])
def test_a_type_made_atomic_in_the_middle_of_a_copy(memo: str, trigger: type) -> None:
    """A Box copied (and memoized) before Python code makes Box atomic: the
    stdlib then returns that Box itself where it meets it again, not its
    copy (the atomic check comes before the memo from 3.14).  fastcopy's
    native memo, consulted first for speed, must step aside from then on,
    in a list, in a dict and in a tuple."""

    def make() -> Any:
        b = Box([1])
        return [b, {"k": b}, trigger(), b, 1, b, [b], {"k": b, "l": [b]}, (b,), Box(2)]

    outcomes = []
    xs = []
    for deepcopy in (copy.deepcopy, impl.deepcopy):
        saved = _tables.snapshot()
        x = make()
        xs.append(x)
        try:
            outcomes.append(run(lambda: deepcopy(x) if memo == "native" else deepcopy(x, {})))
        finally:
            _tables.restore(saved)
    assert_same_outcome(outcomes[0], outcomes[1], xs[0], actual_original=xs[1])
    y = outcomes[1].value
    assert y[0] is not xs[1][0] and y[3] is y[5] is y[6][0] is xs[1][0] and y[9] is xs[1][9]


def test_class_added_to_copy_atomic_types() -> None:
    _change("_copy_atomic_types", add=[Box])
    b = Box([1])
    assert impl.copy(b) is b and copy.copy(b) is b


def test_tuple_removed_from_copy_atomic_types() -> None:
    _change("_copy_atomic_types", remove=[tuple])
    _both_shallow(lambda: (1, [2]))


def test_deque_added_to_builtin_containers() -> None:
    """copy() then returns deque.copy(x), as the stdlib does."""
    _change("_copy_builtin_containers", add=[collections.deque])
    calls: list[Any] = []

    class Spy(collections.deque):  # type: ignore[type-arg]
        def copy(self) -> Any:
            calls.append(self)
            return super().copy()

    _change("_copy_builtin_containers", add=[Spy])
    _both_shallow(lambda: collections.deque([1, [2]], maxlen=4))
    s = Spy([1])
    assert impl.copy(s) == Spy([1]) and calls == [s]


@pytest.mark.parametrize("tp", [list, dict, set, bytearray])
def test_builtin_container_removed_goes_through_reduce(tp: type) -> None:
    samples = {list: lambda: [1, [2]], dict: lambda: {"a": [1]}, set: lambda: {1, 2}, bytearray: lambda: bytearray(b"ab")}
    _change("_copy_builtin_containers", remove=[tp])
    _both_shallow(samples[tp])


def test_members_that_are_not_types_are_ignored() -> None:
    _change("_atomic_types", add=["not a type", 42])
    check_deepcopy_twins(lambda: ["not a type", 42, [1]])


@pytest.mark.skipif(IS_STDLIB, reason="fastcopy's own limit and message")
@pytest.mark.parametrize("name", _tables.TYPE_SETS)
def test_a_name_bound_to_something_else_is_a_clear_error(name: str) -> None:
    """fastcopy reads the sets' members itself: anything but a set or a
    frozenset is a RuntimeError naming it (the stdlib would use it with
    `in`); putting a set back makes fastcopy work again."""
    saved = getattr(copy, name)
    setattr(copy, name, list(saved))
    try:
        with pytest.raises(RuntimeError, match=f"copy.{name} is missing or not a set or frozenset"):
            impl.deepcopy([1]) if name == "_atomic_types" else impl.copy([1])
    finally:
        setattr(copy, name, saved)
    assert impl.deepcopy([1, {"a": 2}]) == [1, {"a": 2}]
    assert impl.copy([1]) == [1]


@pytest.mark.skipif(IS_STDLIB, reason="fastcopy's own limit and message")
def test_more_types_than_fastcopy_reads_is_a_clear_error() -> None:
    classes = [type(f"C{i}", (), {}) for i in range(70)]
    _change("_atomic_types", add=classes)
    with pytest.raises(RuntimeError, match="more than 64 types in copy._atomic_types"):
        impl.deepcopy([1])
    _change("_atomic_types", remove=classes)
    assert impl.deepcopy([1]) == [1]


@pytest.mark.skipif(IS_STDLIB, reason="Template is fastcopy's")
@pytest.mark.parametrize("when", ["after_build", "before_build"])
def test_templates_follow_the_atomic_types_of_the_moment(when: str) -> None:
    """A call of a Template gives what deepcopy of its snapshot gives now.
    x = [b, b.v]: while Box is atomic, deepcopy keeps the snapshot's Box and
    copies the list on its own, so the copy's Box does not hold the copy's
    list; otherwise the Box is copied first and the list is shared."""
    b = Box([1])
    x = [b, b.v]
    if when == "before_build":
        _change("_atomic_types", add=[Box])
    t = impl.Template(x)
    if when == "after_build":
        y = t()
        assert y[0] is not b and y[0].v is y[1]
        _change("_atomic_types", add=[Box])
    for _ in range(2):
        y = t()
        assert y[0].v is not y[1] and y[0].v == y[1] == [1]
        e = copy.deepcopy(x)
        assert e[0] is b and e[0].v is not e[1]
    _change("_atomic_types", remove=[Box])
    y = t()
    if when == "after_build":
        assert y[0] is not b and y[0].v is y[1] and y[1] == [1]
    else:
        # the snapshot was taken while Box was atomic: it holds b itself,
        # beside a copy of b.v, and that is what is copied now
        assert t._snapshot[0] is b and t._snapshot[1] is not b.v
        assert_same_outcome(run(lambda: copy.deepcopy(t._snapshot)), run(lambda: y), t._snapshot)
