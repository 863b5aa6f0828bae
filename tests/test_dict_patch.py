"""The engine's DICT_PATCH path: a dict copy starts as PyDict_Copy(x) and
the values that need copying are replaced, in place in the copy's table
where CPython's layout allows it (3.11-3.13 with the GIL), else with
PyDict_SetItem.  Each case is compared with the stdlib's copy: contents,
key order, sharing, cycles and the garbage collector's tracking."""

from __future__ import annotations

import copy
import gc

import pytest

import fastcopy


def check(x):
    want = copy.deepcopy(x)
    got = fastcopy.deepcopy(x)
    assert got == want
    assert list(got) == list(want)                       # key order
    assert [type(v) for v in got.values()] == [type(v) for v in want.values()]
    assert gc.is_tracked(got) == gc.is_tracked(want)
    for k, v in x.items():
        if isinstance(v, (list, dict)):
            assert got[k] is not v                       # a copy, not the original
    return got


def test_str_keys_container_values():
    check({"a": [1], "b": 2, "c": {"d": [3]}, "e": "s", "f": [4, [5]]})


def test_general_keys():
    # int and mixed hot keys: a general (non-unicode) keys table
    check({1: [1], 2.5: [2], None: {"x": [3]}, True: [4], "s": [5]})


def test_table_with_deleted_entries():
    x = {f"k{i}": [i] for i in range(40)}
    for i in range(0, 40, 7):
        del x[f"k{i}"]
    x["late"] = [99]
    check(x)


def test_many_entries_every_value_copied():
    x = {f"key{i}": [i, str(i)] for i in range(10_000)}
    got = check(x)
    x["key5"].append("changed")
    assert got["key5"] == [5, "5"]


def test_untracked_original():
    x = {"t": (1, 2), "e": {}, "n": None}
    gc.collect()
    check(x)
    y = {"t": (1, 2), "l": [1]}
    check(y)


def test_values_shared_and_cyclic():
    shared = [1, 2]
    x = {"a": shared, "b": shared, "c": [shared]}
    x["self"] = x
    x["back"] = [x]
    got = fastcopy.deepcopy(x)
    assert got["a"] is got["b"] is got["c"][0]
    assert got["self"] is got
    assert got["back"][0] is got
    assert got["a"] is not shared


def test_instance_dicts():
    class A:
        pass

    objs = []
    for i in range(50):
        a = A()
        a.x = [i]
        a.y = {"k": [i]}
        a.z = i
        objs.append(a)
    got = fastcopy.deepcopy(objs)
    want = copy.deepcopy(objs)
    assert [(o.x, o.y, o.z) for o in got] == [(o.x, o.y, o.z) for o in want]
    assert all(g.x is not o.x for g, o in zip(got, objs))
    for o in objs[:5]:
        check(o.__dict__)


@pytest.mark.parametrize("n", [1, 5, 8, 9, 100])
def test_sizes(n):
    check({f"k{i}": ([i] if i % 2 else i) for i in range(n)})


class ReturnsSelf:
    """A __deepcopy__ hook whose copy is the object itself: its dict entry
    needs no patch, but the hook is Python code, so the dict in progress
    is settled (cut back to the entries done) before it runs."""

    def __deepcopy__(self, memo):
        return self


@pytest.mark.parametrize(
    "x",
    [
        {"a": (1, 2), "b": [1], "c": ("x", None)},           # tuples of atoms: their own copy
        {"t": (1, (2, 3)), "l": [(4,)], "n": 0},              # nested tuples of atoms
        {"s": ReturnsSelf(), "z": [2]},                       # first value scanned is its own copy
        {"x": 1, "s": ReturnsSelf(), "z": 2, "w": (3,)},     # ... after a leading atom
        {"l": [1], "s": ReturnsSelf(), "t": (1,), "d": {"k": ReturnsSelf()}},
    ],
    ids=["tuples", "nested-tuples", "self-first", "self-after-atom", "mixed"],
)
def test_values_that_are_their_own_copy(x):
    got = check(x)
    for k, v in x.items():
        if isinstance(v, (tuple, ReturnsSelf)):
            assert got[k] is v


def test_own_copy_hook_keeps_every_entry_in_order():
    # A hook copies the dict's memo-visible state: the entries after it must
    # still all be there, in x's order (a wrongly skipped patch after the
    # settle would drop the hook's entry).
    s = ReturnsSelf()
    x = {f"k{i}": (s if i == 3 else (i,)) for i in range(8)}
    got = check(x)
    assert got["k3"] is s
