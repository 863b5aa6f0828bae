"""Fuzzing with hostile object graphs (hypothesis).

Hypothesis draws a *recipe*: a small tree of containers (list, dict, tuple,
set, frozenset), atoms, references back to containers already built (so
sharing and cycles), and instances of hostile classes.  Each hostile class
misbehaves in one way in one protocol method: ``__deepcopy__``,
``__copy__``, ``__reduce_ex__``, ``__reduce__``, ``__getstate__``,
``__setstate__``, ``__getattr__``, ``__eq__`` or ``__hash__`` raise, return
the wrong type, mutate the container being copied, re-enter ``deepcopy``
with the memo it was given or with a new one, or delete attributes.

The recipe is built twice, into two separate but identical graphs, one per
implementation; every hostile behaviour depends only on the graph it lives
in (per-object counters, never global state), so both runs see the same
thing.  The stdlib runs on one, the implementation on the other; the outcome
must be the same: equivalent copies (values, types, sharing, cycles,
identity with the original; see ``isomorphism.py``) and, with a memo, the
same memo contents; or the same exception type and message.  A crash fails
the run.

Budget: the hypothesis profile's ``max_examples`` (200 by default, see
conftest.py), or ``FASTCOPY_FUZZ_EXAMPLES``.  A long run::

    FASTCOPY_FUZZ_EXAMPLES=100000 python -m pytest tests/test_fuzz_hostile.py
"""

from __future__ import annotations

import copy
import os
from typing import Any, Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from _impl import impl
from differential import assert_same_outcome, run

EXAMPLES = int(os.environ.get("FASTCOPY_FUZZ_EXAMPLES", "0")) or None


class Run:
    """What the hooks of the run in progress may use: the implementation's
    ``deepcopy`` (so a hook re-enters the implementation under test, as a
    real hook calling ``copy.deepcopy`` would while patched) and whether
    ``__eq__``/``__hash__`` misbehave (only while copying, never while the
    graph is built or compared)."""

    deepcopy: Callable[..., Any] = copy.deepcopy
    armed = False
    # Copies with a fresh memo lose sharing, so nested re-entering hooks on a
    # graph with shared nodes cost exponential time: bounded per run (the
    # count is the same in both runs, which call hooks in the same order).
    fresh_copies = 0


# --------------------------------------------------------------------------
# hostile classes: one misbehaviour each


class Hostile:
    """Base: ``children`` (built from the recipe), ``parent`` (the container
    this object was put in, or None) and a per-object call counter."""

    def __init__(self, children: list[Any], parent: Any, arg: int) -> None:
        self.children = children
        self.parent = parent
        self.arg = arg
        self.calls = 0

    def _tick(self) -> int:
        calls = self.__dict__.get("calls", 0) + 1
        self.__dict__["calls"] = calls
        return calls

    def _mutate_parent(self) -> None:
        p = self.__dict__.get("parent")
        if isinstance(p, list):
            if self.arg % 2:
                p.append(self.arg)
            elif p:
                p.pop()
        elif isinstance(p, dict):
            p[("added", self.arg)] = self.arg


def _wrong(arg: int) -> Any:
    return [42, None, "s", (1,), [1, 2], {"k": 1}][arg % 6]


class DeepcopyRaises(Hostile):
    def __deepcopy__(self, memo: Any) -> Any:
        raise ValueError("__deepcopy__ raised")


class DeepcopyWrongType(Hostile):
    def __deepcopy__(self, memo: Any) -> Any:
        return _wrong(self.arg)


class DeepcopyReentersSameMemo(Hostile):
    def __deepcopy__(self, memo: Any) -> Any:
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        new.children = Run.deepcopy(self.children, memo)
        new.seen = id(self.children) in memo
        return new


class DeepcopyReentersNewMemo(Hostile):
    def __deepcopy__(self, memo: Any) -> Any:
        Run.fresh_copies += 1
        if Run.fresh_copies > 20:
            return self.arg
        return [Run.deepcopy(self.children, {}), Run.deepcopy(self.children)]


class DeepcopyMutatesParent(Hostile):
    def __deepcopy__(self, memo: Any) -> Any:
        self._mutate_parent()
        return self.arg

    def __copy__(self) -> Any:
        self._mutate_parent()
        return self.arg


class DeepcopyReadsMemo(Hostile):
    """Looks at the memo as real hooks do: is the parent memoized, and what
    does copying it through the memo give.  (Not the keep-alive list's
    length: without a memo argument, fastcopy's omits the temporary lists
    the stdlib memoizes when it copies sets -- a documented difference.)"""

    def __deepcopy__(self, memo: Any) -> Any:
        return (id(self.parent) in memo, Run.deepcopy(self.parent, memo))


class ReduceExRaises(Hostile):
    def __reduce_ex__(self, protocol: int) -> Any:
        raise LookupError(f"__reduce_ex__({protocol}) raised")


class ReduceExWrong(Hostile):
    def __reduce_ex__(self, protocol: int) -> Any:
        return [
            42, None, (), (type(self),), (type(self), 5), (5, ()), (type(self), (), 5),
            (list, (), None, 5), (dict, (), None, None, iter([1])), (type(self), (), None, None, None, None),
            "not_a_global", (list, (), None, iter([1, [2]])), (dict, (), None, None, iter([("k", [3])])),
        ][self.arg % 13]


class ReduceExMutatesParent(Hostile):
    def __reduce_ex__(self, protocol: int) -> Any:
        self._mutate_parent()
        return (Hostile, (self.children, None, self.arg))


class ReduceRaises(Hostile):
    def __reduce__(self) -> Any:
        raise ValueError("__reduce__ raised")


class ReduceWrong(Hostile):
    def __reduce__(self) -> Any:
        return [42, (), (Hostile, (1, 2)), (Hostile, ([], None, 0), {"children": self.children})][self.arg % 4]


class GetstateRaises(Hostile):
    def __getstate__(self) -> Any:
        raise ValueError("__getstate__ raised")


class GetstateWrong(Hostile):
    def __getstate__(self) -> Any:
        return [5, "str", (1, 2, 3), ({"a": 1}, 5), (None, {"x": self.children}), None, {}][self.arg % 7]


class GetstateDeletesAttributes(Hostile):
    def __getstate__(self) -> Any:
        self.__dict__.pop("children", None)
        self._mutate_parent()
        return dict(self.__dict__)


class SetstateRaises(Hostile):
    def __setstate__(self, state: Any) -> None:
        if self._tick() >= 1:
            raise ValueError("__setstate__ raised")


class SetstateDeletesAttributes(Hostile):
    def __setstate__(self, state: Any) -> None:
        self.__dict__.update(state)
        del self.children
        self.state_type = type(state).__name__


class SetstateReenters(Hostile):
    def __setstate__(self, state: Any) -> None:
        self.__dict__.update(state)
        Run.fresh_copies += 1
        self.again = Run.deepcopy(state) if Run.fresh_copies <= 20 else None


class GetattrRaises(Hostile):
    def __getattr__(self, name: str) -> Any:
        raise KeyError(name)


class GetattrReturns(Hostile):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and self.__dict__.get("arg", 0) % 2:
            return None
        raise AttributeError(name)


class GetattrDeepcopyNotCallable(Hostile):
    def __getattr__(self, name: str) -> Any:
        if name == "__deepcopy__":
            return 5
        raise AttributeError(name)


class HashRaises(Hostile):
    def __hash__(self) -> int:
        if Run.armed:
            raise TypeError("__hash__ raised")
        return self.arg


class EqRaises(Hostile):
    def __hash__(self) -> int:
        return 7  # every instance collides

    def __eq__(self, other: Any) -> bool:
        if Run.armed:
            raise ValueError("__eq__ raised")
        return self is other


HOSTILE: list[type[Hostile]] = [
    Hostile, DeepcopyRaises, DeepcopyWrongType, DeepcopyReentersSameMemo, DeepcopyReentersNewMemo,
    DeepcopyMutatesParent, DeepcopyReadsMemo, ReduceExRaises, ReduceExWrong, ReduceExMutatesParent,
    ReduceRaises, ReduceWrong, GetstateRaises, GetstateWrong, GetstateDeletesAttributes, SetstateRaises,
    SetstateDeletesAttributes, SetstateReenters, GetattrRaises, GetattrReturns, GetattrDeepcopyNotCallable,
    HashRaises, EqRaises,
]
class Key(Hostile):
    """A well-behaved key whose hash is deterministic (set order must be the
    same in both twins: identity hashes would differ)."""

    def __hash__(self) -> int:
        return self.arg


HASHABLE_HOSTILE = [HashRaises, EqRaises, Key]


# --------------------------------------------------------------------------
# recipes and building

atoms = st.one_of(st.none(), st.booleans(), st.integers(-5, 300), st.text(max_size=3), st.floats(allow_nan=False))

recipes = st.recursive(
    st.one_of(atoms.map(lambda a: ("atom", a)), st.integers(0, 20).map(lambda i: ("ref", i))),
    lambda inner: st.one_of(
        st.tuples(st.just("list"), st.lists(inner, max_size=4)),
        st.tuples(st.just("tuple"), st.lists(inner, max_size=3)),
        st.tuples(st.just("dict"), st.lists(st.tuples(st.one_of(atoms, st.integers(0, 40).map(lambda i: ("hkey", i))),
                                                       inner), max_size=3)),
        st.tuples(st.just("set"), st.lists(st.one_of(atoms, st.integers(0, 40).map(lambda i: ("hkey", i))),
                                           max_size=3)),
        st.tuples(st.just("hostile"), st.integers(0, len(HOSTILE) - 1), st.integers(0, 1000),
                  st.lists(inner, max_size=3)),
    ),
    max_leaves=12,
)


class Builder:
    """Turns a recipe into a fresh graph; the same recipe, the same graph."""

    def __init__(self) -> None:
        self.containers: list[Any] = []

    def key(self, k: Any, parent: Any) -> Any:
        if isinstance(k, tuple) and k[0] == "hkey":
            cls = HASHABLE_HOSTILE[k[1] % len(HASHABLE_HOSTILE)]
            return cls([], None, k[1])
        if isinstance(k, float) and k != k:
            return 0.0
        return k

    def build(self, r: Any, parent: Any = None) -> Any:
        kind = r[0]
        if kind == "atom":
            return r[1]
        if kind == "ref":
            return self.containers[r[1] % len(self.containers)] if self.containers else None
        if kind == "list":
            out: list[Any] = []
            self.containers.append(out)
            for c in r[1]:
                out.append(self.build(c, out))
            return out
        if kind == "tuple":
            return tuple(self.build(c, None) for c in r[1])
        if kind == "dict":
            d: dict[Any, Any] = {}
            self.containers.append(d)
            for k, v in r[1]:
                d[self.key(k, d)] = self.build(v, d)
            return d
        if kind == "set":
            return {self.key(k, None) for k in r[1]}
        if kind == "hostile":
            cls = HOSTILE[r[1]]
            obj = cls([], parent, r[2])
            self.containers.append(obj)
            obj.__dict__["children"] = [self.build(c, None) for c in r[3]]
            return obj
        raise AssertionError(kind)


def _run(op: str, fn_module: Any, x: Any, memo: Any) -> Any:
    Run.deepcopy = fn_module.deepcopy
    Run.fresh_copies = 0
    Run.armed = True
    try:
        if op == "copy":
            return fn_module.copy(x)
        return fn_module.deepcopy(x, memo)
    finally:
        Run.armed = False
        Run.deepcopy = copy.deepcopy


@settings(max_examples=EXAMPLES) if EXAMPLES else (lambda f: f)
@given(recipe=recipes, op=st.sampled_from(["deepcopy", "deepcopy-memo", "copy"]), wrap=st.booleans())
def test_hostile_graphs_match_stdlib(recipe: Any, op: str, wrap: bool) -> None:
    def make() -> Any:
        x = Builder().build(recipe)
        return [x, [x]] if wrap else x

    xe, xa = make(), make()
    memo_e: Any = {} if op == "deepcopy-memo" else None
    memo_a: Any = {} if op == "deepcopy-memo" else None
    kind = "copy" if op == "copy" else "deepcopy"
    expected = run(lambda: _run(kind, copy, xe, memo_e))
    actual = run(lambda: _run(kind, impl, xa, memo_a))
    memos = (memo_e, memo_a) if memo_e is not None and expected.exc is None else None
    assert_same_outcome(expected, actual, xe, actual_original=xa, memos=memos)
