"""Python code that runs inside an allocation, in the middle of a copy.

Before 3.12, CPython runs the garbage collector inside the allocation that
crosses a threshold, and a collection runs Python code: ``gc.callbacks``
entries, finalizers, weakref callbacks, and (through them) switches to other
threads.  Hypothesis installs such a callback, so in a test run this is the
common case, not an exotic one.  That code may change the very containers
being copied.  Whatever it does, the copy must be one the stdlib's loops
could make (the container read as it is when read, or the stdlib's
``RuntimeError``), and nothing may be read from what the container held
before the allocation: a list cleared there has freed its item array.
fastcopy holds collections off between the points where it lets Python
code run (``docs/design.md``, "Collections during a copy"), so there the
callbacks fire at those points or outside the copy.

Each case arms a ``gc.callbacks`` entry that changes one container of the
graph at the k-th collection of the copy, for every k up to past the last
collection, with the threshold at 1 (a collection every other GC
allocation) and the free lists drained (so allocations reach the
collector).  On 3.12+ collections wait for the eval loop, so no callback
fires inside the copy and each case checks the ordinary copy.

Written after the thread stress test segfaulted once in CI on 3.11, inside
a collection during a copy; before the fixes, the list, dict and Template
cases here segfault deterministically on 3.11.
"""

from __future__ import annotations

import collections
import copy
import gc
from typing import Any, Callable

import pytest
from _impl import IS_STDLIB, impl
from classes import Plain

KS = range(1, 9)


def _drain() -> list[Any]:
    """Objects that empty the list and dict free lists (a collection fills
    them), so that the next allocations reach the collector; keep them."""
    return [[] for _ in range(100)] + [{} for _ in range(100)]


def _collecting(x: Any, fn: Callable[[Any], Any], at_start: Callable[[], bool]) -> Any:
    """fn(x) (or the RuntimeError it raises) with a collection every other
    container allocation; at_start() runs at each collection's start and
    says whether to keep draining the free lists after collections."""
    held = [_drain()]
    drain = True

    def hook(phase: str, info: dict[str, Any]) -> None:
        nonlocal drain
        if phase == "start":
            drain = at_start()
        elif drain:
            held.append(_drain())

    old = gc.get_threshold()
    gc.callbacks.append(hook)
    gc.set_threshold(1)
    try:
        try:
            return fn(x)
        except RuntimeError as exc:
            return exc
    finally:
        gc.set_threshold(*old)
        gc.callbacks.remove(hook)


def _copy_with_hook(x: Any, k: int, mutate: Callable[[], None], fn: Callable[[Any], Any]) -> tuple[bool, Any]:
    """fn(x) with mutate() run at the k-th collection start during it.
    Returns (whether it ran during the call, the copy or the exception)."""
    n = 0
    fired = False

    def at_start() -> bool:
        nonlocal n, fired
        n += 1
        if n == k and not fired:
            fired = True
            mutate()
        return not fired

    result = _collecting(x, fn, at_start)
    return fired, result


def _pads(n: int) -> list[Any]:
    """Containers copied before the target: they move the collections."""
    return [[[i]] for i in range(n)]


def _target_copy(y: Any, fired: bool, pad: int, tp: type) -> Any:
    """The copy of the target from a run's result, or None when the run
    raised the stdlib's RuntimeError (only after the change, and only
    "... changed size/keys during iteration")."""
    if isinstance(y, RuntimeError):
        assert fired and "changed" in str(y), y
        return None
    assert not isinstance(y, BaseException), y
    got = y[pad]
    assert type(got) is tp
    return got


MEMOS: dict[str, Callable[[], Any]] = {
    "native": lambda: None,
    "dict": dict,
    # every memo operation is Python code: the engine does not hold the
    # collector off then, so collections run inside its allocations
    "mapping": collections.UserDict,
}


def _deepcopy_with(memo: str) -> Callable[[Any], Any]:
    make = MEMOS[memo]
    return lambda x: impl.deepcopy(x, make())


@pytest.mark.parametrize("memo", MEMOS)
@pytest.mark.parametrize("pad", range(3))
@pytest.mark.parametrize("k", KS)
def test_list_of_atoms_cleared(pad: int, k: int, memo: str) -> None:
    t = list(range(2000))
    x = _pads(pad) + [t]
    fired, y = _copy_with_hook(x, k, t.clear, _deepcopy_with(memo))
    assert not isinstance(y, BaseException), y
    assert y[:pad] == x[:pad]
    # `for a in x` read live: what was read before the clear, a prefix (a
    # read past the new end is a read of the freed item array: the crash,
    # or under ASan the report, this case exists for)
    got = y[pad]
    assert got == list(range(len(got)))
    if not fired:
        assert len(got) == 2000


@pytest.mark.parametrize("memo", MEMOS)
@pytest.mark.parametrize("pad", range(3))
@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("change", ["halve", "extend", "replace"])
def test_list_changed(pad: int, k: int, change: str, memo: str) -> None:
    t = list(range(500)) + [[j] for j in range(50)] + list(range(500))
    before = list(t)
    after: list[Any] = []

    def mutate() -> None:
        if change == "halve":
            del t[len(t) // 2 :]
        elif change == "extend":
            t.extend([[-j] for j in range(300)])
        else:
            t[:] = [("new", j) for j in range(10)]
        after[:] = t

    x = _pads(pad) + [t]
    fired, y = _copy_with_hook(x, k, mutate, _deepcopy_with(memo))
    assert not isinstance(y, BaseException), y
    got = y[pad]
    if not fired:
        assert got == before
        return
    # `for a in x` read live: a prefix of what t held, then what it holds
    # from the change on, at the same positions
    assert len(got) <= max(len(before), len(after)), (len(got), len(before), len(after))
    for i, item in enumerate(got):
        assert (i < len(before) and item == before[i]) or (i < len(after) and item == after[i]), i


@pytest.mark.parametrize("memo", MEMOS)
@pytest.mark.parametrize("pad", range(3))
@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("change", ["clear", "grow", "drop", "replace"])
@pytest.mark.parametrize("values", ["atoms", "lists"])
def test_dict_changed(pad: int, k: int, change: str, values: str, memo: str) -> None:
    t: dict[Any, Any] = {i: (i if values == "atoms" else [i]) for i in range(300)}
    seen: dict[Any, list[Any]] = {key: [v] for key, v in t.items()}

    def mutate() -> None:
        if change == "clear":
            t.clear()
        elif change == "grow":
            for j in range(1000, 1200):
                t[j] = [j]
        elif change == "drop":
            for j in range(0, 300, 2):
                del t[j]
        else:
            for j in range(300):
                t[j] = ("new", j)
        for key, v in t.items():
            seen.setdefault(key, []).append(v)

    x = _pads(pad) + [t]
    fired, y = _copy_with_hook(x, k, mutate, _deepcopy_with(memo))
    got = _target_copy(y, fired, pad, dict)
    if got is None:
        return
    if not fired:
        assert got == {i: (i if values == "atoms" else [i]) for i in range(300)}
        return
    for key, v in got.items():
        assert key in seen and v in seen[key], (key, v)


@pytest.mark.parametrize("pad", range(3))
@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("change", ["add", "delete", "replace", "new_dict"])
def test_instance_dict_changed(pad: int, k: int, change: str) -> None:
    t = Plain(a=[1], b=2, c=[3], d="four", e=[5], f=6)
    seen: dict[str, list[Any]] = {key: [v] for key, v in vars(t).items()}

    def mutate() -> None:
        if change == "add":
            for j in range(20):
                setattr(t, f"extra{j}", [j])
        elif change == "delete":
            del t.a, t.c, t.e
        elif change == "replace":
            for key in list(vars(t)):
                setattr(t, key, ("new", key))
        else:
            t.__dict__ = {"z": [26]}
        for key, v in vars(t).items():
            seen.setdefault(key, []).append(v)

    x = _pads(pad) + [t]
    fired, y = _copy_with_hook(x, k, mutate, impl.deepcopy)
    got = _target_copy(y, fired, pad, Plain)
    if got is None:
        return
    if not fired:
        assert vars(got) == {"a": [1], "b": 2, "c": [3], "d": "four", "e": [5], "f": 6}
        return
    for key, v in vars(got).items():
        assert key in seen and v in seen[key], (key, v)


@pytest.mark.parametrize("pad", range(3))
@pytest.mark.parametrize("k", KS)
def test_set_changed(pad: int, k: int) -> None:
    t = set(range(300)) | {(j, "t") for j in range(50)}
    before = set(t)

    def mutate() -> None:
        t.clear()
        t.update(range(1000, 1400))

    x = _pads(pad) + [t]
    fired, y = _copy_with_hook(x, k, mutate, impl.deepcopy)
    got = _target_copy(y, fired, pad, set)
    if got is None:
        return
    # the stdlib copies list(x), one read of the whole set
    assert got == before or (fired and got == set(range(1000, 1400)))


def _copy_with_flips(x: Any, flip: Callable[[], None], fn: Callable[[Any], Any]) -> tuple[int, Any]:
    """fn(x) with flip() run at every collection start during it (so a
    collection at any allocation changes the graph).  Returns (the number
    of flips, the result or the RuntimeError)."""
    flips = 0

    def at_start() -> bool:
        nonlocal flips
        flips += 1
        flip()
        return True

    result = _collecting(x, fn, at_start)
    return flips, result


@pytest.mark.skipif(not hasattr(impl, "Template"), reason="Template is fastcopy's")
@pytest.mark.parametrize("pad", range(4))
@pytest.mark.parametrize("start", ["small", "large"])
def test_template_of_a_changing_dict(pad: int, start: str) -> None:
    """Template(x) describes a dict whose size flips at every collection:
    the description must be of one state (or the stdlib's RuntimeError for
    a dict that changed while it was read), never a mix or a torn one."""
    small = {i: [i] for i in range(50)}
    large = {**small, **{j: j for j in range(100, 400)}}
    t: dict[Any, Any] = dict(small if start == "small" else large)

    def flip() -> None:
        if len(t) == len(small):
            t.update(large)
        else:
            for j in range(100, 400):
                del t[j]

    # the builder allocates one list per dict it reads: dicts as pads move
    # the collections by one allocation each
    x = [{"pad": [i]} for i in range(pad)] + [t]
    flips, tpl = _copy_with_flips(x, flip, impl.Template)
    if isinstance(tpl, RuntimeError):
        assert flips and "changed" in str(tpl), tpl
        return
    assert not isinstance(tpl, BaseException), tpl
    got = tpl()
    assert got[:pad] == x[:pad]
    assert got[pad] in (small, large)


class _SeesGC:
    """Records gc.isenabled() when its __deepcopy__ runs; optionally
    changes it, copies something nested, or raises."""

    def __init__(self, action: str = "") -> None:
        self.action = action
        self.seen: list[bool] = []

    def __deepcopy__(self, memo: Any) -> Any:
        self.seen.append(gc.isenabled())
        if self.action == "disable":
            gc.disable()
        elif self.action == "enable":
            gc.enable()
        elif self.action == "nested":
            impl.deepcopy([[i] for i in range(100)])
            self.seen.append(gc.isenabled())
        elif self.action == "raise":
            raise ValueError("from the hook")
        return _SeesGC()


def _graph_around(hook: _SeesGC) -> Any:
    return [[[i], {"k": [i]}] for i in range(200)] + [hook] + [{"d": [[j] for j in range(50)]}]


@pytest.mark.parametrize("enabled", [True, False])
@pytest.mark.parametrize("action", ["", "nested", "raise", "disable", "enable"])
def test_hooks_and_caller_see_the_collector_as_left(enabled: bool, action: str) -> None:
    """The engine may hold collections off between Python calls, never
    across them: a hook sees the collector as the caller left it, and the
    caller finds it as it (or a hook) left it, after an error too."""
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        hook = _SeesGC(action)
        x = _graph_around(hook)
        try:
            impl.deepcopy(x)
        except ValueError:
            assert action == "raise"
        assert hook.seen[0] is enabled
        if action == "nested":
            assert hook.seen[1] is enabled
        expect = {"disable": False, "enable": True}.get(action, enabled)
        assert gc.isenabled() is expect
        # the oracle: the running interpreter's copy module, same scenario
        (gc.enable if enabled else gc.disable)()
        oracle = _SeesGC(action)
        y = _graph_around(oracle)
        try:
            copy.deepcopy(y)
        except ValueError:
            pass
        assert hook.seen == oracle.seen
        assert gc.isenabled() is expect
    finally:
        (gc.enable if was else gc.disable)()


class _BadReduce:
    """__reduce_ex__ returns something deepcopy rejects (or raises)."""

    def __init__(self, rv: Any) -> None:
        self.rv = rv

    def __reduce_ex__(self, protocol: int) -> Any:
        if isinstance(self.rv, BaseException):
            raise self.rv
        return self.rv


@pytest.mark.parametrize("enabled", [True, False])
@pytest.mark.parametrize(
    "rv",
    [42, (), (list,), (list, "not a tuple"), (list, (), None, 7), ValueError("from __reduce_ex__")],
    ids=["int", "empty", "short", "args_str", "listiter_int", "raises"],
)
def test_bad_input_mid_copy_raises_the_stdlib_error_and_restores_the_collector(enabled: bool, rv: Any) -> None:
    """A reducer returning garbage in the middle of a graph whose copy holds
    collections off: the stdlib's exception (type and message), and the
    collector as the caller left it."""
    x = [[[i], {"k": [i]}] for i in range(300)] + [_BadReduce(rv)]
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        with pytest.raises(Exception) as expected:
            copy.deepcopy(x)
        assert gc.isenabled() is enabled
        with pytest.raises(type(expected.value)) as got:
            impl.deepcopy(x)
        assert str(got.value) == str(expected.value)
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_collections_held_off_still_happen() -> None:
    """A collection the copy's allocations call for runs afterwards."""
    starts = 0

    def hook(phase: str, info: dict[str, Any]) -> None:
        nonlocal starts
        starts += phase == "start"

    x = [[i] for i in range(20_000)]
    old = gc.get_threshold()
    gc.callbacks.append(hook)
    gc.set_threshold(100)
    try:
        y = impl.deepcopy(x)
        for _ in range(300):       # allocations (and eval-loop checks) after
            [[]]
    finally:
        gc.set_threshold(*old)
        gc.callbacks.remove(hook)
    assert y == x
    assert starts >= 1


class _HashSeesGC:
    """A dict key / set element whose __hash__ (Python code a replay runs)
    records gc.isenabled()."""

    seen: list[bool] = []

    def __init__(self, v: int) -> None:
        self.v = v

    def __hash__(self) -> int:
        _HashSeesGC.seen.append(gc.isenabled())
        return hash(self.v)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _HashSeesGC) and other.v == self.v


@pytest.mark.skipif(not hasattr(impl, "Template"), reason="Template is fastcopy's")
@pytest.mark.parametrize("enabled", [True, False])
@pytest.mark.parametrize("shape", ["dict_key", "set_element", "atoms_only"])
def test_template_replay_and_the_collector(enabled: bool, shape: str) -> None:
    """A replay may hold collections off (3.10/3.11) only while it runs no
    Python code: a key's __hash__ sees the collector as the caller left it,
    and the caller finds it unchanged."""
    rows = [{"id": i, "tags": [i, "x"], "n": {"a": [i]}} for i in range(300)]
    if shape == "dict_key":
        rows.append({_HashSeesGC(1): [1]})      # type: ignore[dict-item]
    elif shape == "set_element":
        rows.append({"s": {_HashSeesGC(2)}})    # type: ignore[dict-item]
    tpl = impl.Template(rows)
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        _HashSeesGC.seen.clear()
        for _ in range(3):
            got = tpl()
        assert got == rows
        assert gc.isenabled() is enabled
        if shape != "atoms_only":
            assert _HashSeesGC.seen and set(_HashSeesGC.seen) == {enabled}
    finally:
        (gc.enable if was else gc.disable)()


@pytest.mark.skipif(not hasattr(impl, "Template"), reason="Template is fastcopy's")
def test_template_replay_postpones_collections_only() -> None:
    starts = 0

    def hook(phase: str, info: dict[str, Any]) -> None:
        nonlocal starts
        starts += phase == "start"

    tpl = impl.Template([[i, {"k": [i]}] for i in range(20_000)])
    old = gc.get_threshold()
    gc.callbacks.append(hook)
    gc.set_threshold(100)
    try:
        y = tpl()
        for _ in range(300):
            [[]]
    finally:
        gc.set_threshold(*old)
        gc.callbacks.remove(hook)
    assert len(y) == 20_000 and y[5] == [5, {"k": [5]}]
    assert starts >= 1


def _cyclic_pair() -> dict[str, Any]:
    a: dict[str, Any] = {"n": [1, 2]}
    a["peer"] = {"peer": a}
    return a


def _loop_collects(call: Callable[[], Any], loops: int = 5000) -> tuple[int, int]:
    """(collections started, objects gc.collect() then still had to free)
    over a loop that allocates containers only inside `call`."""
    starts = 0

    def hook(phase: str, info: dict[str, Any]) -> None:
        nonlocal starts
        starts += phase == "start"

    gc.collect()
    gc.callbacks.append(hook)
    try:
        for _ in range(loops):
            call()
    finally:
        gc.callbacks.remove(hook)
    left = len(gc.get_objects())
    gc.collect()
    return starts, left - len(gc.get_objects())


@pytest.mark.skipif(IS_STDLIB, reason="the stdlib's copy runs Python code, so collections run inside it")
@pytest.mark.parametrize("how", ["deepcopy", "template"])
@pytest.mark.parametrize("first", ["dropped", "kept"])
def test_a_copy_that_runs_no_python_code_starts_no_collection(how: str, first: str) -> None:
    """Collections are held off while a copy runs no Python code, so its
    allocations start none, inside it (3.10/3.11) or right after it returns
    with the new copy alive (3.12+, where the allocation that crosses the
    threshold schedules one for the eval loop's next check).  If the copy
    is dropped, its containers are freed by reference counting and count
    off the collector's tally again: no collection is owed any more.  If it
    is kept, the collection it owes starts at the next copy's checkpoint,
    before that copy allocates anything."""
    x = [{"k": [i]} for i in range(3000)]          # 6,001 containers
    call: Callable[[], Any] = (lambda: impl.deepcopy(x)) if how == "deepcopy" else impl.Template(x)
    events: list[str] = []

    def hook(phase: str, info: dict[str, Any]) -> None:
        events.append(phase)

    # Between the two copies nothing allocates a container: any allocation
    # would start (3.10/3.11) or schedule (3.12+) the owed collection.
    alive: list[Any] = [None, None]
    gc.collect()
    gc.callbacks.append(hook)
    try:
        alive[0] = call()
        after_first = len(events)
        if first == "dropped":
            alive[0] = None
        alive[1] = call()
        after_second = len(events)
    finally:
        gc.callbacks.remove(hook)
    assert alive[1] == x
    assert after_first == 0, events
    if first == "dropped":
        assert after_second == 0, events
    else:
        assert "start" in events[:after_second], "the collection the first copy called for never ran"


@pytest.mark.parametrize("how", ["deepcopy", "template"])
def test_a_loop_of_cyclic_copies_alone_still_collects(how: str) -> None:
    """Each copy drops a cycle the collector must free.  With every
    container allocated inside a hold, a collection could start nowhere
    (before the checkpoint: no collection in 20,000 copies on 3.11): the
    collector must run as often as for the stdlib, and garbage must not
    pile up beyond a collection's worth."""
    a = _cyclic_pair()
    if how == "deepcopy":
        call: Callable[[], Any] = lambda: impl.deepcopy(a)
    else:
        if not hasattr(impl, "Template"):
            pytest.skip("Template is fastcopy's")
        call = impl.Template(a)
    starts, piled = _loop_collects(call)
    stdlib_starts, _ = _loop_collects(lambda: copy.deepcopy(a))
    assert starts >= stdlib_starts // 4 > 0, (starts, stdlib_starts)
    # 5,000 copies of 3 containers; one collection's worth is the threshold
    assert piled <= 3 * gc.get_threshold()[0], piled
