"""fastcopy.Template and fastcopy.replicate against the stdlib's deepcopy.

A Template's copies must be what ``copy.deepcopy`` returns for the object
as it was when the Template was built: same types, leaves, sharing, cycles.
"""

from __future__ import annotations

import collections
import copy
import copyreg
import dataclasses
import gc
import sys
import threading
import weakref
from typing import Any

import pytest
from hypothesis import given, settings

import fastcopy
from fastcopy import Template, replicate
from fastcopy.fca import describe
from isomorphism import assert_isomorphic, assert_same_copy
from strategies import DC, Plain, WithDeepcopy, object_graphs


def check(x: Any) -> Template:
    """Template(x)() copies x like copy.deepcopy does (twice, independently).

    A replayable Template rebuilds copies of x itself: compared object by
    object with copy.deepcopy(x).  Otherwise its calls are deep copies of a
    private snapshot (``t._snapshot``, fastcopy's deep copy of x), so the
    snapshot is compared with copy.deepcopy(x) and each call with
    copy.deepcopy(snapshot), object by object.  copy.deepcopy(x) is not the
    oracle for a call: where a cycle runs through a reducer's arguments the
    stdlib copies an object twice, so a copy has other sharing than x, and
    copying that copy changes it again
    (test_snapshot_with_a_cycle_through_reduce_args).  Nor is the stdlib's
    copy of its own copy: when such a cycle runs through a set's elements,
    which object is copied twice depends on the set's iteration order, i.e.
    on addresses, so two copies of copies can differ from each other.  Both
    copies of the one snapshot iterate its sets in the same order.
    """
    expected = copy.deepcopy(x)
    t = Template(x)
    snap = t._snapshot
    assert (snap is None) == t.replayable
    if snap is not None:
        assert_same_copy(x, expected, snap)
    for _ in range(2):
        y = t()
        if snap is None:
            assert_same_copy(x, expected, y)
        else:
            assert_same_copy(snap, copy.deepcopy(snap), y)
    return t


# --------------------------------------------------------------------------
# generated graphs (the differential generator of the core-engine tests)


@given(object_graphs())
def test_template_matches_deepcopy_on_generated_graphs(x: Any) -> None:
    check(x)


@given(object_graphs())
def test_describe_round_trips_on_generated_graphs(x: Any) -> None:
    d = describe(x)
    assert d.nodes == [] or d.nodes[-1].index == len(d.nodes) - 1
    # every reference resolves (the reader validates), and the root is the
    # last node unless the whole object is a leaf
    if d.nodes:
        assert d.root == (len(d.nodes) - 1) << 1 or d.root & 1


# --------------------------------------------------------------------------
# shapes that matter for the replay rules


def test_builtin_data_is_replayed_natively() -> None:
    shared = [1, 2, 3]
    x = {
        "list": shared,
        "again": shared,
        "tuple": (shared, "s"),
        "atoms": (1, "a", None),
        "set": {1, (2, 3)},
        "frozen": frozenset({"a", (1, 2)}),
        "bytes": bytearray(b"xyz"),
        "nested": [[{"k": [shared]}]],
        "empty": [{}, [], (), set(), frozenset()],
    }
    t = check(x)
    assert t.replayable
    y = t()
    assert y["list"] is y["again"] is y["tuple"][0] is y["nested"][0][0]["k"][0]
    assert y["atoms"] is x["atoms"]          # a tuple of atoms is its own copy


def test_cycles() -> None:
    a: list[Any] = []
    a.append(a)
    d: dict[str, Any] = {}
    d["self"] = d
    d["list"] = [d, a]
    for x in (a, d, [a, d]):
        assert Template(x).replayable
        check(x)


def test_dict_values_patched_into_prototype_copies() -> None:
    # dicts of leaf keys whose values are nodes are copied from a prototype
    # and the node values written into the copy (in place where compat.h
    # allows it): the copies must be ordinary, consistent, tracked dicts
    inner = [1, 2]
    x = {
        "str_keys": {"a": inner, "b": 1, "c": {"d": inner}, "e": None},
        "int_keys": {1: inner, 2: "two", (3, 4): [inner], 5.5: {}},
        "only_nodes": {f"k{i}": [i] for i in range(100)},
        "empty": {},
    }
    t = check(x)
    assert t.replayable
    for _ in range(3):
        y = t()
        assert y["str_keys"]["a"] is y["str_keys"]["c"]["d"] is y["int_keys"][1]
        assert y["str_keys"]["a"] is not inner
        for name, d in y.items():
            assert d == x[name]
            assert list(d) == list(x[name])
            if name != "empty":
                assert gc.is_tracked(d)
            for k in x[name]:
                assert d[k] == x[name][k]    # lookups find the patched values
            d2 = dict(d)
            d["new"] = 0                     # and the table stays usable
            del d[next(iter(x[name]), "new")]
            assert len(d) == len(d2)
    # a dict whose values refer back to itself (patched late, through
    # PyDict_SetItem)
    d: dict[str, Any] = {"x": 1}
    d["me"] = d
    d["lst"] = [d]
    y = Template(d)()
    assert y["me"] is y and y["lst"][0] is y and gc.is_tracked(y)


def test_tuple_on_a_cycle_falls_back_and_matches() -> None:
    lst: list[Any] = []
    t1 = (lst,)
    t2 = (t1, 1)
    lst.append(t2)
    # root a tuple that is re-entered through the list: deepcopy's own
    # tuple memo dance; the template goes through the engine
    t = check(t1)
    assert not t.replayable
    check(lst)


def test_plain_instances_and_dataclasses() -> None:
    p = Plain()
    p.a = [1, 2]
    p.me = p
    q = Plain()
    q.shared = p.a
    dc = DC(1, [p])  # type: ignore[call-arg]
    t = check([p, q, dc, p])
    assert t.replayable


def test_instance_dict_shared_elsewhere_matches() -> None:
    p = Plain()
    p.v = 1
    x = [p.__dict__, p]
    assert "shared-instance-dict" in describe(x).flag_names
    check(x)   # the Template copies a snapshot, in which the dict is no longer shared


def test_python_nodes_run_hooks_at_replay() -> None:
    calls = []

    class Hook:
        def __init__(self, v: Any) -> None:
            self.v = v

        def __deepcopy__(self, memo: dict) -> "Hook":
            calls.append(1)
            return Hook(copy.deepcopy(self.v, memo))

    shared = [1]
    x = [Hook(shared), shared, WithDeepcopy([2])]
    t = Template(x)
    assert not t.replayable
    n = len(calls)
    y = t()
    assert len(calls) == n + 1
    assert y[0].v is y[1]
    check(x)


def test_atoms_and_leaf_roots() -> None:
    for x in (1, "s", None, (1, 2), int, len, (1, (2, "x"))):
        t = Template(x)
        assert t() is x
        assert t.nodes == 0


# --------------------------------------------------------------------------
# snapshot semantics, lifetime, invalidation


def test_snapshot_semantics() -> None:
    x = {"a": [1, 2], "p": Plain()}
    x["p"].v = [3]
    t = Template(x)
    x["a"].append(99)
    x["b"] = 1
    x["p"].v.append(4)
    x["p"].w = 5
    y = t()
    assert y["a"] == [1, 2] and "b" not in y
    assert y["p"].v == [3] and not hasattr(y["p"], "w")


def test_snapshot_semantics_with_python_nodes() -> None:
    x = [WithDeepcopy([1])]
    t = Template(x)
    x[0].child.append(2)
    assert t()[0].child == [1]


def test_leaves_kept_alive_and_released() -> None:
    def leaf() -> None:
        pass

    ref = weakref.ref(leaf)
    t = Template([leaf, {"f": leaf}])
    del leaf
    gc.collect()
    assert ref() is not None
    assert t()[0] is ref()
    del t
    gc.collect()
    assert ref() is None


def test_no_leak_over_build_replay_drop() -> None:
    x = {"a": [1, 2, (3, [4])], "s": {1, 2}, "p": Plain()}
    x["p"].v = x["a"]
    for _ in range(200):
        Template(x)()
    gc.collect()
    before = len(gc.get_objects())
    rc = sys.getrefcount(x["a"])
    for i in range(2000):
        t = Template(x)
        t()
        t.replicate(2)
        del t
    gc.collect()
    rc_after = sys.getrefcount(x["a"])  # (not inside assert: pytest's rewrite holds a temporary)
    assert rc_after == rc
    after = len(gc.get_objects())
    assert after <= before + 5


def test_class_changed_after_build() -> None:
    class K:
        pass

    k = K()
    k.v = [1]
    t = Template([k])
    assert t.replayable
    K.__deepcopy__ = lambda self, memo: "hooked"  # type: ignore[attr-defined]
    try:
        assert t() == ["hooked"]
        assert copy.deepcopy([k]) == ["hooked"]
    finally:
        del K.__deepcopy__  # type: ignore[attr-defined]
    y = t()
    assert type(y[0]) is K and y[0].v == [1]


def test_copyreg_change_after_build() -> None:
    t = Template([{1, 2}])

    def reduce_set(s: set) -> Any:
        return (set, (sorted(s, reverse=True),))

    copyreg.pickle(set, reduce_set)
    try:
        expected = copy.deepcopy([{1, 2}])
        assert_isomorphic(expected, t())
    finally:
        del copyreg.dispatch_table[set]
    assert t() == [{1, 2}]


def test_dispatch_table_change_after_build() -> None:
    t = Template({"a": [1]})
    copy._deepcopy_dispatch[list] = lambda x, memo, deepcopy=None: "L"  # type: ignore[attr-defined]
    try:
        assert t() == {"a": "L"}
    finally:
        copy._deepcopy_dispatch[list] = copy._deepcopy_list  # type: ignore[attr-defined]
    assert t() == {"a": [1]}


# --------------------------------------------------------------------------
# API


def test_replicate() -> None:
    x = {"a": [1], "b": (2, [3])}
    copies = replicate(x, 5)
    assert len(copies) == 5
    assert len({id(c) for c in copies}) == 5
    for c in copies:
        assert_same_copy(x, copy.deepcopy(x), c)
    assert Template(x).replicate(0) == []
    with pytest.raises(ValueError):
        Template(x).replicate(-1)
    with pytest.raises(TypeError):
        Template(x).replicate("3")  # type: ignore[arg-type]


def test_replicate_more_than_memory_can_hold_is_a_memoryerror_at_once() -> None:
    """Room for the n results is reserved before the first copy: an n no
    memory can hold is a MemoryError at once, as `[None] * n` is, and not
    after copying until the machine runs out (an earlier replicate appended
    without reserving, and `replicate([1], sys.maxsize)` went on until the
    kernel killed the process).  The hook stops a regression after a few
    copies instead."""
    calls = []

    class Counted:
        def __deepcopy__(self, memo: dict[int, Any]) -> Any:
            calls.append(1)
            if len(calls) > 50:
                raise AssertionError("replicate copied before reserving room for n")
            return Counted()

    templates = [Template([Counted()]), Template({"a": [1, (2, [3])]})]
    assert not templates[0].replayable and templates[1].replayable
    for n in (sys.maxsize, sys.maxsize // 8, 2**56):
        for t in templates:
            calls.clear()       # the hook's Template copied its snapshot once when built
            with pytest.raises(MemoryError):
                t.replicate(n)
            assert calls == []
        with pytest.raises(MemoryError):
            replicate([Counted()], n)
        assert len(calls) == 1  # the snapshot, when replicate() builds its Template
    calls.clear()
    assert len(templates[0].replicate(3)) == 3 and len(calls) == 3


def test_bad_arguments() -> None:
    with pytest.raises(TypeError):
        Template()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Template(1, 2)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Template(1, x=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Template([1])(1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        class Sub(Template):  # type: ignore[misc]
            pass


def test_errors_of_python_nodes_propagate() -> None:
    class Boom:
        def __deepcopy__(self, memo: dict) -> Any:
            raise ZeroDivisionError("boom")

    with pytest.raises(ZeroDivisionError):
        Template([Boom()])


def test_descriptor_attributes() -> None:
    x = [1, [2]]
    t = Template(x)
    d = describe(x)
    assert t.descriptor == d.data
    assert list(t.leaves) == d.leaves
    assert "list" in d.dump()
    assert "native replay" in repr(t)


def test_threads_share_a_template() -> None:
    x = {"k": [list(range(20)) for _ in range(20)], "p": Plain()}
    x["p"].v = x["k"][0]
    t = Template(x)
    expected = copy.deepcopy(x)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(200):
                assert_same_copy(x, expected, t())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors[0]


@dataclasses.dataclass
class Rec:
    name: str
    tags: list
    meta: dict


def test_dataclass_records_are_replayable() -> None:
    x = [Rec(f"n{i}", ["a", "b"], {"i": i}) for i in range(50)]
    t = check(x)
    assert t.replayable


@settings(max_examples=50)
@given(object_graphs(budget=40, max_depth=8))
def test_template_deeper_graphs(x: Any) -> None:
    check(x)


class Attrs:
    pass


def _attrs(o: Any) -> list:
    return [(k, repr(v)) for k, v in vars(o).items()]


def test_instance_attributes_replayed_in_their_order() -> None:
    # 3.11-3.13: the replay writes a plain instance's attributes straight
    # into its values array (template.c r_fill_values); orders that differ
    # between instances of one class, holes, and attributes added to the
    # class's shared keys after the Template was built must all come out
    # as copy.deepcopy gives them
    a, b, c = Attrs(), Attrs(), Attrs()
    a.p, a.q, a.r = 1, [2], {"s": 3}
    b.r, b.q, b.p = {"s": 3}, [2], 1
    c.p, c.q, c.r = 1, [2], 3
    del c.q
    x = [a, b, c]
    t = check(x)
    assert t.replayable
    later = Attrs()
    later.z1, later.z2, later.z3 = 1, 2, 3      # the shared keys grow
    for _ in range(2):
        y = t()
        want = copy.deepcopy(x)
        assert [_attrs(o) for o in y] == [_attrs(o) for o in want]
        y[1].t = "new"
        assert list(vars(y[1])) == ["r", "q", "p", "t"]
        assert not hasattr(y[2], "q") and y[2].r == 3
        assert y[0].q is not a.q and y[0].q == [2]


def test_instance_dicts_the_values_path_does_not_take() -> None:
    a, b = Attrs(), Attrs()
    a.__dict__ = {"own": [1], "dict": 2}      # not on the shared keys
    for i in range(40):                        # more than shared keys hold
        setattr(b, f"f{i}", [i])
    x = [a, b]
    t = check(x)
    y = t()
    assert _attrs(y[0]) == _attrs(a) and _attrs(y[1]) == _attrs(b)


def test_snapshot_with_a_cycle_through_reduce_args() -> None:
    # found by hypothesis: K's __getnewargs_ex__ arguments reach K again
    # (K.k is a method of P, P.x holds W, W's arguments hold K), so the
    # stdlib rebuilds K twice and deepcopy(x) shares less than x does;
    # a Template's calls copy its snapshot and must match a copy of a copy
    from strategies import WithNewargsEx

    def make() -> Any:
        p = Plain()
        k = WithNewargsEx(0, k=p.method)
        p.x = [WithNewargsEx(k, k=0), 0]
        return [0, collections.OrderedDict([(k, p)])]

    x = make()
    with pytest.raises(Exception, match="sharing differs"):
        assert_isomorphic(copy.deepcopy(x), copy.deepcopy(copy.deepcopy(x)))
    t = check(x)
    assert not t.replayable


def test_deep_nesting() -> None:
    x: Any = None
    for _ in range(100_000):
        x = [x]
    y = Template(x)()
    depth = 0
    while y is not None:
        y = y[0]
        depth += 1
    assert depth == 100_000


def test_fastcopy_deepcopy_is_unaffected() -> None:
    x = {"a": [1]}
    Template(x)
    assert fastcopy.deepcopy(x) == x
