"""The engine's DICT_PATCH path: a dict copy starts as PyDict_Copy(x) (a
split table, item by item) and
the values that need copying are replaced, in place in the copy's table
where CPython's layout allows it (3.11-3.13 with the GIL), else with
PyDict_SetItem.  Each case is compared with the stdlib's copy: contents,
key order, sharing, cycles and the garbage collector's tracking."""

from __future__ import annotations

import copy
import gc
import sys

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


class _Attrs:
    def __init__(self, n, container_every=0):
        for i in range(n):
            setattr(self, f"a{i}", [i] if container_every and i % container_every == 0 else i)


class _StateReducer:
    """pyperformance's deepcopy_reduce shape: the state is the instance's own
    __dict__ (a split table), copied as a plain dict."""

    def __init__(self, n):
        for i in range(n):
            setattr(self, f"s{i}", [i] if i % 2 else i)

    def __reduce__(self):
        return (_StateReducer.__new__, (_StateReducer,), self.__dict__)


@pytest.mark.parametrize("n", [1, 2, 5, 6, 11, 30])
@pytest.mark.parametrize("container_every", [0, 1, 3])
def test_split_dict_copy_has_the_stdlibs_table(n, container_every):
    """An instance's __dict__ copied as a dict (vars(obj) in data, a reduce
    state) gets a combined table built item by item, as the stdlib's copy,
    so it has the stdlib's size from 3.11 on (PyDict_Copy would keep the
    class's shared keys and a values array sized by them: 296 bytes on 3.11
    for a 2-attribute object's dict, 184 for the stdlib's copy; on 3.10
    replacing a value made it a combined table of 400 bytes, against
    232)."""
    d = _Attrs(n, container_every).__dict__
    got = check(d)
    want = copy.deepcopy(d)
    assert sys.getsizeof(got) == sys.getsizeof(want)
    got["extra"] = 1                      # the copy is a dict of its own
    assert "extra" not in d and "extra" not in _Attrs(n).__dict__


@pytest.mark.parametrize("n", [2, 7])
def test_split_dict_as_reduce_state(n):
    x = [_StateReducer(n) for _ in range(3)]
    got = fastcopy.deepcopy(x)
    want = copy.deepcopy(x)
    assert [vars(o) for o in got] == [vars(o) for o in want]
    assert [list(vars(o)) for o in got] == [list(vars(o)) for o in want]
    for g, o in zip(got, x):
        assert all(g.__dict__[k] is not v for k, v in vars(o).items() if isinstance(v, list))


class _SeesMemo:
    """A value whose hook sees the memo while its dict is half copied."""

    def __init__(self):
        self.seen = None

    def __deepcopy__(self, memo):
        new = _SeesMemo()
        new.seen = sorted(type(v).__name__ for k, v in memo.items() if k != id(memo))
        return new


def test_split_dict_cut_back_when_a_hook_sees_the_memo():
    o = _Attrs(0)
    o.first = [1]
    o.hook = _SeesMemo()
    o.last = [2]
    for d in (o.__dict__, [o.__dict__, o.__dict__]):
        got, want = fastcopy.deepcopy(d), copy.deepcopy(d)
        g = got if isinstance(got, dict) else got[0]
        w = want if isinstance(want, dict) else want[0]
        assert list(g) == list(w)
        assert g["hook"].seen == w["hook"].seen
        assert g == {"first": [1], "hook": g["hook"], "last": [2]}


# ---------------------------------------------------------------------------
# Runs of memo hits: after a value found in the memo, the entries that follow
# are patched straight from x's table into y's (step_dict's dict_patch_run)
# until one needs more than a memo lookup.  Each case below is compared with
# the stdlib's copy, sharing included.


def sharing(d):
    """For each value of d, in order, the position of the first value that
    is the same object: equal lists for two dicts means equal sharing."""
    first = {}
    return [first.setdefault(id(v), n) for n, v in enumerate(d.values())]


def check_shared(x):
    want = copy.deepcopy(x)
    got = check(x)
    assert sharing(got) == sharing(want)
    originals = {id(v) for v in x.values()}
    for v in got.values():
        if isinstance(v, list):
            assert id(v) not in originals
    return got, want


def general_key(i):
    # int, float, bool and None keys make a general (non-unicode) table
    return (i, i + 0.5, None if i == 0 else i)[i % 3] if i > 1 else bool(i)


@pytest.mark.parametrize("keyf", [lambda i: f"k{i}", general_key], ids=["str", "general"])
def test_runs_of_memo_hits_mixed_with_atoms_and_misses(keyf):
    pool = [[i, f"s{i}"] for i in range(30)]
    x = {}
    for i in range(400):
        if i % 37 == 36:
            x[keyf(i)] = [i, [i]]          # a container seen once: a miss mid-run
        elif i % 5 == 4:
            x[keyf(i)] = i                 # an atom: y already holds it
        else:
            x[keyf(i)] = pool[(i * 7) % 30]  # the first 30 or so miss, then hits
    got, _ = check_shared(x)
    assert got[keyf(0)] is got[keyf(30)]          # pool[0] both times


@pytest.mark.parametrize("key", [("t", 1), frozenset({1}), b"bytes"], ids=["tuple", "frozenset", "bytes"])
def test_run_of_hits_stops_at_a_key_to_copy(key):
    pool = [[i] for i in range(5)]
    x = {f"k{i}": pool[i % 5] for i in range(20)}
    x[key] = pool[0]                       # not a hot key: the copy goes on key by key
    for i in range(20, 40):
        x[f"k{i}"] = pool[i % 5]
    got, want = check_shared(x)
    assert list(got) == list(want)


def test_run_of_hits_over_a_table_with_deleted_entries():
    pool = [[i] for i in range(4)]
    x = {f"k{i}": pool[i % 4] for i in range(60)}
    for i in range(5, 60, 6):
        del x[f"k{i}"]
    x["late"] = pool[1]
    check_shared(x)


def test_run_of_hits_then_the_dict_itself():
    pool = [[i] for i in range(3)]
    x = {f"k{i}": pool[i % 3] for i in range(12)}
    x["self"] = x                          # a hit on the dict being copied
    x["after"] = pool[2]
    want = copy.deepcopy(x)
    got = fastcopy.deepcopy(x)
    assert list(got) == list(want)
    assert got["self"] is got and want["self"] is want
    assert sharing(got) == sharing(want)
    assert all(got[k] == want[k] and got[k] is not x[k] for k in x if k != "self")


def test_run_of_hits_in_every_value_of_nested_dicts():
    pool = [[i] for i in range(8)]
    rows = [{f"c{j}": pool[(i + j) % 8] for j in range(6)} for i in range(50)]
    want = copy.deepcopy(rows)
    got = fastcopy.deepcopy(rows)
    assert got == want
    flat = [v for r in got for v in r.values()]
    flat_want = [v for r in want for v in r.values()]
    first_got, first_want = {}, {}
    assert [first_got.setdefault(id(v), n) for n, v in enumerate(flat)] == \
           [first_want.setdefault(id(v), n) for n, v in enumerate(flat_want)]
    assert len(first_got) == 8


class _Node:
    pass


def _dict_chain(depth, split, hits):
    """A chain of `depth` dicts, each holding the next as its first value
    that needs copying (visit_dict copies that one by calling visit() at
    once, which recurses on the C stack up to FC_DICT_NEST_MAX levels, then
    leaves it to step_dict).  Each level also holds an atom before the
    child, and after it a list shared by every level (a memo hit), a fresh
    list and a reference back to the root (a cycle).  split: the dicts are
    instances' __dict__ (a split table: the item-by-item scan on 3.11+)."""
    shared = ["shared"]
    keep = []
    dicts = []
    for i in range(depth):
        if split:
            o = _Node()
            keep.append(o)
            o.n = i
            o.child = None
            d = o.__dict__
        else:
            d = {"n": i, "child": None}
        dicts.append(d)
    for i, d in enumerate(dicts):
        d["child"] = dicts[i + 1] if i + 1 < depth else "end"
        if hits:
            d["shared"] = shared
            d["own"] = [i]
            d["root"] = dicts[0]
    return dicts[0], keep


@pytest.mark.parametrize("depth", [1, 15, 16, 17, 18, 33, 200])
@pytest.mark.parametrize("split", [False, True], ids=["table", "split"])
@pytest.mark.parametrize("hits", [False, True], ids=["chain", "shared"])
def test_dict_chains_past_the_c_recursion_bound(depth, split, hits):
    from isomorphism import assert_same_copy

    x, keep = _dict_chain(depth, split, hits)
    want = copy.deepcopy(x)
    assert_same_copy(x, want, fastcopy.deepcopy(x))
    assert keep or not split


def test_dict_chain_a_million_deep_in_a_thread():
    # a thread's stack (threading.stack_size) is all the engine gets: the
    # C recursion of a dict chain must stay bounded there too
    import threading

    x = {}
    for _ in range(1_000_000):
        x = {"k": x}
    out = []
    old = threading.stack_size(256 * 1024)
    try:
        t = threading.Thread(target=lambda: out.append(fastcopy.deepcopy(x)))
        t.start()
        t.join()
    finally:
        threading.stack_size(old)
    y, depth = out[0], 0
    while y:
        assert type(y) is dict and list(y) == ["k"]
        y, depth = y["k"], depth + 1
    assert depth == 1_000_000
    del out, y
