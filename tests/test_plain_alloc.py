"""Plain instances (STRAT_PLAIN_DICT) are created with the type's allocator
alone on 3.11/3.12 (no inline values, see compat.h fc_new_plain_instance).
The copies must behave, and compare, exactly like the stdlib's: attribute
reads, writes and deletions, __dict__ and vars(), pickling, weak
references, abstract classes (object.__new__'s own check)."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import sys
import weakref

import pytest

import fastcopy


class Plain:
    def __init__(self, n):
        self.a = n
        self.b = [n, str(n)]
        self.c = {"k": (n,)}


@dataclasses.dataclass
class Data:
    x: int
    tags: list
    meta: dict


def test_attributes_of_copies_behave():
    for obj in (Plain(3), Data(1, ["t"], {"m": [1]})):
        got, want = fastcopy.deepcopy(obj), copy.deepcopy(obj)
        assert vars(got) == vars(want)
        assert list(vars(got)) == list(vars(want))
        assert got.__dict__ is vars(got)
        got.extra = 1                     # a new attribute
        want.extra = 1
        assert vars(got) == vars(want)
        first = next(iter(vars(obj)))
        delattr(got, first)
        delattr(want, first)
        assert vars(got) == vars(want)
        with pytest.raises(AttributeError):
            getattr(got, first)
        assert pickle.loads(pickle.dumps(got)).__dict__ == got.__dict__
        assert weakref.ref(got)() is got


def test_empty_instance_then_attributes():
    class E:
        pass

    got = fastcopy.deepcopy(E())
    assert vars(got) == {}
    with pytest.raises(AttributeError):
        got.missing
    got.q = [1]
    assert vars(got) == {"q": [1]}
    assert fastcopy.deepcopy(got).q == [1]


def test_many_copies_share_nothing():
    objs = [Plain(i) for i in range(300)]
    got = fastcopy.deepcopy(objs)
    assert [vars(g) for g in got] == [vars(o) for o in objs]
    for g, o in zip(got, objs):
        assert g.b is not o.b and g.c is not o.c
        g.b.append("x")
        assert o.b == [o.a, str(o.a)]


def test_class_made_abstract_after_instances_exist():
    class A:
        def __init__(self):
            self.v = [1]

    a = A()
    assert fastcopy.deepcopy(a).v == [1]
    A.__abstractmethods__ = frozenset({"f"})
    with pytest.raises(TypeError) as want:
        copy.deepcopy(a)
    with pytest.raises(TypeError) as got:
        fastcopy.deepcopy(a)
    assert str(got.value) == str(want.value)
    A.__abstractmethods__ = frozenset()
    assert fastcopy.deepcopy(a).v == [1]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="managed dicts exist from 3.11")
def test_instance_size_and_dict_like_stdlib():
    # the copy's attributes live in a real dict, as after the stdlib's
    # y.__dict__.update(state)
    obj = Plain(5)
    got = fastcopy.deepcopy(obj)
    got.__dict__["b"].append(1)
    assert got.b == [5, "5", 1]
    got.__dict__ = {"z": 1}
    assert got.z == 1 and not hasattr(got, "a")


@pytest.mark.parametrize("name", ["__deepcopy__", "__reduce_ex__", "__reduce__", "__getstate__"])
def test_protocol_names_in_shared_instance_keys(name):
    # Instances of one class share their __dict__ keys (split tables on
    # 3.11+).  One instance sets a protocol name as an instance attribute,
    # which adds it to the keys the others share without a value: the
    # others must still copy as plain instances, the one must be honoured.
    class S:
        def __init__(self, i):
            self.a = i
            self.b = [i]

    objs = [S(i) for i in range(6)]
    hooks = {
        "__deepcopy__": lambda memo: ("hooked", len(memo) > 0),
        "__reduce_ex__": lambda proto: (S, (99,)),
        "__reduce__": lambda: (S, (98,)),  # __reduce_ex__ is object's: not consulted by it on an instance
        "__getstate__": lambda: {"a": "state", "b": []},
    }
    setattr(objs[2], name, hooks[name])
    later = S(7)                           # created after the key was added
    x = [objs, later]
    want = copy.deepcopy(x)
    got = fastcopy.deepcopy(x)

    def view(o):
        if isinstance(o, S):
            return ("S", {k: v for k, v in vars(o).items() if not callable(v)})
        return o

    assert [view(o) for o in got[0]] == [view(o) for o in want[0]]
    assert view(got[1]) == view(want[1])
    for g, o in zip(got[0], objs):
        if isinstance(g, S) and g is not o:
            assert g.b is not o.b


# --------------------------------------------------------------------------
# 3.13: the state's items are written into the new instance's inline values
# (compat.h, fc_set_inline_values); every layout the guards send back to
# y.__dict__.update(state) must give the stdlib's result too.


def _attrs(o):
    """An instance's attributes, in order, with values shown by repr."""
    return [(k, repr(v)) for k, v in vars(o).items()]


def _same_as_stdlib(x):
    got, want = fastcopy.deepcopy(x), copy.deepcopy(x)
    gs = got if isinstance(got, list) else [got]
    ws = want if isinstance(want, list) else [want]
    assert [_attrs(g) for g in gs] == [_attrs(w) for w in ws]
    return got, want


class Bag:
    pass


def test_attribute_orders_differ_between_instances():
    a, b = Bag(), Bag()
    a.p, a.q, a.r = 1, [2], {"s": 3}
    b.r, b.q, b.p = {"s": 3}, [2], 1          # same shared keys, other order
    got, _ = _same_as_stdlib([a, b])
    got[1].t = 4
    assert list(vars(got[1])) == ["r", "q", "p", "t"]


def test_deleted_attribute_leaves_a_hole_in_the_shared_keys():
    a = Bag()
    a.p, a.q, a.r = 1, [2], 3
    del a.q
    got, _ = _same_as_stdlib(a)
    assert not hasattr(got, "q")
    got.q = "back"
    assert list(vars(got)) == ["p", "r", "q"]


def test_more_attributes_than_a_shared_keys_table_holds():
    a = Bag()
    for i in range(60):
        setattr(a, f"f{i}", [i])
    _same_as_stdlib(a)


def test_non_str_key_in_an_instance_dict():
    a = Bag()
    a.p = [1]
    a.__dict__[7] = "seven"
    got, _ = _same_as_stdlib(a)
    assert got.__dict__[7] == "seven"


def test_replaced_dict_and_materialised_dict():
    a, b = Bag(), Bag()
    a.__dict__ = {"z": [1], "y": 2}            # a dict of its own
    b.m = [3]
    vars(b)                                     # b's dict made (embedded)
    _same_as_stdlib([a, b])


def test_hook_sets_an_attribute_on_the_copy_before_its_state_lands():
    # the hook's attribute comes first, then the state's, as after the
    # stdlib's update (the hook runs Python code, so the state's copy was
    # settled into an ordinary dict and the update path merges it)
    class Inject:
        def __deepcopy__(self, memo):
            owner = next(v for v in memo.values() if isinstance(v, Bag))
            owner.injected = "early"
            return "inj"

    def make():
        a = Bag()
        a.first = [1]
        a.hook = Inject()
        a.last = 2
        return a

    got, want = fastcopy.deepcopy(make()), copy.deepcopy(make())
    assert _attrs(got) == _attrs(want)
    assert list(vars(got))[0] == "injected"


def test_state_dict_shared_by_two_references():
    # the state (x.__dict__) is also reachable from elsewhere in the graph:
    # its copy is memoized and must be the same object at both places
    a = Bag()
    a.v = [1]
    x = [a, a.__dict__]
    got, want = fastcopy.deepcopy(x), copy.deepcopy(x)
    assert vars(got[0]) == got[1] == vars(want[0]) == want[1]
    assert (got[1] is vars(got[0])) == (want[1] is vars(want[0]))
    got[1]["v"].append(2)
    assert got[0].v == [1, 2]
