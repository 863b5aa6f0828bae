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
