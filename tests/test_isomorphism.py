"""Meta-tests: the checker used by the differential tests must detect differences."""

from __future__ import annotations

import copy
from typing import Any, Callable

import pytest
from hypothesis import given

from differential import Outcome, assert_same_outcome
from isomorphism import Mismatch, assert_isomorphic, assert_same_copy, memo_shape
from strategies import Plain, Slotted, object_graphs


def _cyclic_list() -> list[Any]:
    lst: list[Any] = [1]
    lst.append(lst)
    return lst


def test_identical_copies_pass() -> None:
    shared = [1]
    x = [shared, shared, {"k": (shared, 2)}, _cyclic_list()]
    assert_same_copy(x, copy.deepcopy(x), copy.deepcopy(x))


@given(object_graphs())
def test_two_stdlib_copies_always_match(x: Any) -> None:
    me, ma = {}, {}
    try:
        e = copy.deepcopy(x, me)
    except Exception:  # pragma: no cover - the generated graphs are copyable
        return
    assert_same_copy(x, e, copy.deepcopy(x, ma), memos=(me, ma))
    assert_same_copy(x, copy.copy(x), copy.copy(x))


def _broken_sharing() -> tuple[Any, Any, Any]:
    s = [1]
    x = [s, s]
    return x, copy.deepcopy(x), [[1], [1]]


def _extra_sharing() -> tuple[Any, Any, Any]:
    x = [[1], [1]]
    y = [1]
    return x, copy.deepcopy(x), [y, y]


def _wrong_type() -> tuple[Any, Any, Any]:
    x = [[1]]
    return x, copy.deepcopy(x), [(1,)]


def _wrong_subclass() -> tuple[Any, Any, Any]:
    class L(list):
        pass

    x = [L([1])]
    return x, copy.deepcopy(x), [[1]]


def _missing_cycle() -> tuple[Any, Any, Any]:
    x = _cyclic_list()
    return x, copy.deepcopy(x), [1, [1, []]]


def _cycle_to_wrong_node() -> tuple[Any, Any, Any]:
    inner: list[Any] = []
    x = [inner]
    inner.append(x)  # x -> inner -> x
    actual_inner: list[Any] = []
    actual = [actual_inner]
    actual_inner.append(actual_inner)  # inner -> inner
    return x, copy.deepcopy(x), actual


def _original_leaked_into_copy() -> tuple[Any, Any, Any]:
    inner = [1]
    x = [inner]
    return x, copy.deepcopy(x), [inner]


def _original_not_kept() -> tuple[Any, Any, Any]:
    t = (1, "a", (2, 3))
    return t, copy.deepcopy(t), tuple([1, "a", tuple([2, 3])])


def _big_int_copied() -> tuple[Any, Any, Any]:
    x = [10**30]
    return x, copy.deepcopy(x), [int(str(10**30))]


def _different_value() -> tuple[Any, Any, Any]:
    x = [0.0]
    return x, copy.deepcopy(x), [-0.0]


def _bool_for_int() -> tuple[Any, Any, Any]:
    x = [[1]]
    return x, copy.deepcopy(x), [[True]]


def _dict_order() -> tuple[Any, Any, Any]:
    x = {"a": 1, "b": 2}
    return x, copy.deepcopy(x), {"b": 2, "a": 1}


def _set_elements() -> tuple[Any, Any, Any]:
    x = {1, 2, 3}
    return x, copy.deepcopy(x), {1, 2, 4}


def _set_of_instances() -> tuple[Any, Any, Any]:
    a, b = Plain(v=1), Plain(v=2)
    x = {a, b}
    return x, copy.deepcopy(x), {Plain(v=1), Plain(v=3)}


def _set_backref_shared() -> tuple[Any, Any, Any]:
    """The stdlib's peculiar result has the element point to a *second* set."""
    s: set[Any] = set()
    p = Plain()
    p.parent = s
    s.add(p)
    actual: set[Any] = set()
    q = Plain()
    q.parent = actual
    actual.add(q)
    return s, copy.deepcopy(s), actual


def _slot_unset() -> tuple[Any, Any, Any]:
    o = Slotted()
    o.a = 1
    other = Slotted()
    other.a = 1
    other.b = 2
    return o, copy.deepcopy(o), other


def _attr_value() -> tuple[Any, Any, Any]:
    p = Plain(v=[1, 2])
    return p, copy.deepcopy(p), Plain(v=[1, 3])


def _bound_method_self() -> tuple[Any, Any, Any]:
    p = Plain()
    x = [p, p.method]
    return x, copy.deepcopy(x), [Plain(), Plain().method]


BROKEN: list[Callable[[], tuple[Any, Any, Any]]] = [
    _broken_sharing, _extra_sharing, _wrong_type, _wrong_subclass, _missing_cycle,
    _cycle_to_wrong_node, _original_leaked_into_copy, _original_not_kept, _big_int_copied,
    _different_value, _bool_for_int, _dict_order, _set_elements, _set_of_instances,
    _set_backref_shared, _slot_unset, _attr_value, _bound_method_self,
]


@pytest.mark.parametrize("case", BROKEN, ids=[f.__name__.strip("_") for f in BROKEN])
def test_checker_detects(case: Callable[[], tuple[Any, Any, Any]]) -> None:
    original, expected, actual = case()
    with pytest.raises(Mismatch):
        assert_same_copy(original, expected, actual)


def test_new_nan_matches_new_nan() -> None:
    assert_isomorphic([float("nan"), complex("nan+1j")], [float("nan"), complex("nan+1j")])
    with pytest.raises(Mismatch):
        assert_isomorphic([0.0], [-0.0])


def test_original_atoms_must_be_kept() -> None:
    x = [float("nan")]
    with pytest.raises(Mismatch):
        assert_same_copy(x, copy.deepcopy(x), [float("nan")])


def test_set_of_lookalike_instances_matches_in_any_order() -> None:
    members = [Plain(v=1), Plain(v=1), Plain(v=2)]
    x = [frozenset(members), members[0]]
    expected = copy.deepcopy(x)
    actual = copy.deepcopy(x)
    assert_same_copy(x, expected, actual)
    # ...but not when the second item is a look-alike outside the set
    with pytest.raises(Mismatch):
        assert_same_copy(x, expected, [actual[0], Plain(v=1)])


def test_twin_originals() -> None:
    def make() -> list[Any]:
        s = [1]
        return [s, s, (1, 2), tuple([3, 4])]

    xe, xa = make(), make()
    assert_same_copy(xe, copy.deepcopy(xe), copy.deepcopy(xa), actual_original=xa)
    with pytest.raises(Mismatch):  # the copy of xa must not be compared with xe's parts
        assert_same_copy(xe, copy.deepcopy(xe), copy.deepcopy(xe), actual_original=xa)


def test_memo_shapes() -> None:
    x = [[1], (2, [3])]
    me, ma = {}, {}
    expected = copy.deepcopy(x, me)
    actual = copy.deepcopy(x, ma)
    assert memo_shape(me) == memo_shape(ma)
    assert_same_copy(x, expected, actual, memos=(me, ma))
    ma[12345] = None
    with pytest.raises(Mismatch):
        assert_same_copy(x, expected, actual, memos=(me, ma))
    del ma[12345]
    ma[id(ma)].append(x)
    with pytest.raises(Mismatch):
        assert_same_copy(x, expected, actual, memos=(me, ma))
    ma[id(ma)].pop()
    ma[id(x)] = copy.deepcopy(x)  # right keys, value not shared with the result
    with pytest.raises(Mismatch):
        assert_same_copy(x, expected, actual, memos=(me, ma))


def test_memo_without_keepalive_differs() -> None:
    x = [[1]]
    me: dict[int, Any] = {}
    copy.deepcopy(x, me)
    ma = {k: v for k, v in me.items() if k != id(me)}
    assert memo_shape(me) != memo_shape(ma)


def test_isomorphic_without_original() -> None:
    assert_isomorphic(_cyclic_list(), _cyclic_list())
    with pytest.raises(Mismatch):
        assert_isomorphic(_cyclic_list(), [1, [1]])


def test_outcome_comparison() -> None:
    assert_same_outcome(Outcome(exc=TypeError("a")), Outcome(exc=TypeError("a")), None)
    with pytest.raises(AssertionError):
        assert_same_outcome(Outcome(exc=TypeError("a")), Outcome(exc=TypeError("b")), None)
    with pytest.raises(AssertionError):
        assert_same_outcome(Outcome(exc=TypeError("a")), Outcome(exc=ValueError("a")), None)
    with pytest.raises(AssertionError):
        assert_same_outcome(Outcome(exc=TypeError("a")), Outcome(value=1), None)
    with pytest.raises(AssertionError):
        assert_same_outcome(Outcome(value=1), Outcome(exc=TypeError("a")), None)
    assert_same_outcome(Outcome(exc=RecursionError("x")), Outcome(exc=RecursionError("y")), None)


def _memo_less_deepcopy(x: Any) -> Any:
    """A plausible but wrong implementation: no memo, so no sharing or cycles."""
    if isinstance(x, list):
        return [_memo_less_deepcopy(v) for v in x]
    if isinstance(x, dict):
        return {k: _memo_less_deepcopy(v) for k, v in x.items()}
    return copy.deepcopy(x)


def test_a_wrong_implementation_is_caught() -> None:
    s = [1]
    x = [s, {"a": s}]
    with pytest.raises(Mismatch):
        assert_same_copy(x, copy.deepcopy(x), _memo_less_deepcopy(x))


@pytest.mark.parametrize("attempt", range(20))
def test_lookalike_set_elements_with_memo(attempt: int) -> None:
    """Pairing of look-alike set elements must agree with the memo's lists
    (whatever the set iteration order of this run is)."""
    a, b = Slotted(), Slotted()
    s = {a, b}
    x = [0, s, [s, a]]
    me, ma = {}, {}
    assert_same_copy(x, copy.deepcopy(x, me), copy.deepcopy(x, ma), memos=(me, ma))


def test_backtracking_across_sets() -> None:
    """Two sets of look-alikes linked crosswise: only one pairing is consistent."""
    p, q = Plain(), Plain()
    r, t = Plain(), Plain()
    p.partner, q.partner = r, t
    r.back, t.back = p, q
    x = [{p, q}, {r, t}, [t]]
    assert_same_copy(x, copy.deepcopy(x), copy.deepcopy(x))


# --------------------------------------------------------------------------
# the differential property tests fail for plausible wrong implementations


def _mutant_memo_per_item(x: Any, memo: Any = None) -> Any:
    """Copies the items of a top-level list with separate memos."""
    if type(x) is list:
        return [copy.deepcopy(v) for v in x]
    return copy.deepcopy(x, memo)


def _mutant_set_memoized_first(x: Any, memo: Any = None) -> Any:
    """Memoizes sets before their elements (not the stdlib's reduce order)."""
    memo = {} if memo is None else memo

    def one(o: Any) -> Any:
        if type(o) is set:
            y: set[Any] = set()
            memo[id(o)] = y
            y.update(copy.deepcopy(e, memo) for e in o)
            return y
        return copy.deepcopy(o, memo)

    if type(x) is list:
        out: list[Any] = []
        memo[id(x)] = out
        out.extend(one(e) for e in x)
        return out
    return one(x)


def _mutant_new_tuples(x: Any, memo: Any = None) -> Any:
    """Returns new tuples where the stdlib returns the original."""
    y = copy.deepcopy(x, memo)
    return [tuple(v) if type(v) is tuple else v for v in y] if type(y) is list else y


def _mutant_no_keepalive(x: Any, memo: Any = None) -> Any:
    """Forgets the keep-alive list in a user memo."""
    y = copy.deepcopy(x, memo)
    if memo is not None:
        memo.pop(id(memo), None)
    return y


MUTANTS = {
    "memo_per_item": (_mutant_memo_per_item, ["plain", "user_memo"]),
    "set_memoized_first": (_mutant_set_memoized_first, ["plain", "user_memo"]),
    "new_tuples": (_mutant_new_tuples, ["plain", "user_memo"]),
    "no_keepalive": (_mutant_no_keepalive, ["user_memo"]),
}


@pytest.mark.parametrize("mutant", list(MUTANTS))
def test_differential_tests_catch_mutants(mutant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    from hypothesis import Phase, settings

    import test_differential as td
    from strategies import object_graphs as graphs

    func, variants = MUTANTS[mutant]
    monkeypatch.setattr(td, "impl", types.SimpleNamespace(deepcopy=func, copy=copy.copy))
    tests = {
        "plain": td.test_deepcopy_matches_stdlib,
        "user_memo": td.test_deepcopy_with_user_memo_matches_stdlib,
    }
    for variant in variants:
        inner = tests[variant].hypothesis.inner_test  # type: ignore[attr-defined]
        # derandomize: the same examples every run, so the check cannot flake
        fresh = settings(
            max_examples=500, phases=[Phase.generate], database=None, deadline=None, derandomize=True
        )(given(graphs())(inner))
        with pytest.raises(AssertionError):
            fresh()
