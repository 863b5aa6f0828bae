"""3.15's builtin frozendict (PEP 814), copied as the stdlib copies it.

``copy._deepcopy_frozendict`` builds a dict of the items' copies (each
value copied before its key: ``y[deepcopy(k)] = deepcopy(v)`` evaluates its
right side first), returns the memo's entry if the frozendict was reached
again from inside itself, and otherwise a new frozendict -- always a new
one, even when every item is its own copy (tuples are returned as they are
then).  ``copy.copy`` returns it as it is (it is in ``_copy_atomic_types``).
fastcopy copies it natively; the generated graphs of the differential and
Template tests (tests/strategies.py) include frozendicts on 3.15 too.
"""

from __future__ import annotations

import copy
from typing import Any

import _tables
import pytest
from _impl import IS_STDLIB, impl
from classes import FROZENDICT
from differential import assert_same_outcome, check_deepcopy_twins, run

pytestmark = pytest.mark.skipif(FROZENDICT is None, reason="frozendict is new in 3.15")


class Hooked:
    """Logs the order in which the stdlib (or fastcopy) copies things."""

    def __init__(self, log: list[str], name: str) -> None:
        self.log = log
        self.name = name

    def __deepcopy__(self, memo: Any) -> Any:
        self.log.append(self.name)
        return Hooked(self.log, self.name + "'")

    def __hash__(self) -> int:
        return hash(self.name)

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Hooked) and other.name == self.name


SHAPES = {
    "atoms": lambda: FROZENDICT({"a": 1, "b": "s", 3: None}),
    "empty": lambda: FROZENDICT(),
    "mutable_values": lambda: FROZENDICT({"l": [1, [2]], "d": {"k": [3]}}),
    "shared": lambda: (lambda s: FROZENDICT({"a": s, "b": s, "c": (s,)}))([0]),
    "in_a_list_twice": lambda: (lambda f: [f, f, {"k": f}])(FROZENDICT({"l": [1]})),
    "tuple_keys": lambda: FROZENDICT({(1, 2): [3], (4,): (5, [6])}),
    "nested": lambda: FROZENDICT({"f": FROZENDICT({"g": FROZENDICT({"l": [1]})})}),
    "as_a_dict_key": lambda: {FROZENDICT({"a": 1}): [2]},
    "in_a_set": lambda: {FROZENDICT({"a": 1}), FROZENDICT({"b": (2,)})},
}


@pytest.mark.parametrize("memo", ["native", "dict"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_shapes(shape: str, memo: str) -> None:
    check_deepcopy_twins(SHAPES[shape], None if memo == "native" else dict)


def _cycle() -> Any:
    back: list[Any] = []
    f = FROZENDICT({"back": back, "n": [1]})
    back.append(f)
    return f


def _cycle_in_a_list() -> Any:
    back: list[Any] = []
    f = FROZENDICT({"back": back})
    back.append(f)
    return [back, f]


@pytest.mark.parametrize("memo", ["native", "dict"])
@pytest.mark.parametrize("make", [_cycle, _cycle_in_a_list])
def test_cycles_through_a_frozendict(make: Any, memo: str) -> None:
    """The frozendict is reached again while its items are copied: the
    inner reference copies it a second time (it is not memoized yet), and
    the outer call then returns the memo's entry, as the stdlib does."""
    check_deepcopy_twins(make, None if memo == "native" else dict)


def test_values_copied_before_their_keys() -> None:
    log_e: list[str] = []
    log_a: list[str] = []
    for log, deepcopy in ((log_e, copy.deepcopy), (log_a, impl.deepcopy)):
        f = FROZENDICT({Hooked(log, "k1"): Hooked(log, "v1"), Hooked(log, "k2"): Hooked(log, "v2")})
        y = deepcopy(f)
        assert type(y) is FROZENDICT and [k.name for k in y] == ["k1'", "k2'"]
    assert log_a == log_e == ["v1", "k1", "v2", "k2"]


def test_always_a_new_frozendict() -> None:
    f = FROZENDICT({"a": 1})
    assert copy.deepcopy(f) is not f and impl.deepcopy(f) is not f
    assert copy.copy(f) is f and impl.copy(f) is f


def test_subclass_goes_through_reduce() -> None:
    class Sub(FROZENDICT):  # type: ignore[misc,valid-type]
        pass

    check_deepcopy_twins(lambda: Sub({"a": [1]}))
    check_deepcopy_twins(lambda: [Sub({"a": [1]})], dict)


def test_key_whose_copy_cannot_be_hashed() -> None:
    """The key's copy is hashed as soon as it is made (before the next item
    is copied): the stdlib's exception, and nothing copied after it."""
    log_e: list[str] = []
    log_a: list[str] = []

    class Unhashable:
        def __init__(self, log: list[str]) -> None:
            self.log = log

        def __hash__(self) -> int:
            return 1

        def __deepcopy__(self, memo: Any) -> Any:
            self.log.append("key")
            return []

    outcomes = []
    for log, deepcopy in ((log_e, copy.deepcopy), (log_a, impl.deepcopy)):
        f = FROZENDICT({Unhashable(log): 1, "after": Hooked(log, "v2")})
        outcomes.append(run(lambda: deepcopy(f)))
    assert type(outcomes[0].exc) is type(outcomes[1].exc) is TypeError
    assert str(outcomes[0].exc) == str(outcomes[1].exc)
    assert log_a == log_e == ["key"]


def test_third_party_copier_for_frozendict_is_honoured() -> None:
    def copier(x: Any, memo: Any) -> Any:
        return ("copied", dict(x))

    saved = _tables.snapshot()
    try:
        _tables.DISPATCH[FROZENDICT] = copier
        check_deepcopy_twins(lambda: [FROZENDICT({"a": [1]})])
    finally:
        _tables.restore(saved)


@pytest.mark.skipif(IS_STDLIB, reason="Template is fastcopy's")
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_template(shape: str) -> None:
    x = SHAPES[shape]()
    t = impl.Template(x)
    for _ in range(2):
        y = t()
        assert_same_outcome(run(lambda: copy.deepcopy(t._snapshot)), run(lambda: y), t._snapshot)
