"""A plain instance's state copied straight into the new instance's values
array (3.11-3.13 GIL builds, deepcopy.c "PLAIN_INLINE and PLAIN_STATE"),
and the settle that turns it back into the stdlib's loop when Python code
is about to run.

Each test puts Python code (a __deepcopy__ hook) somewhere in a plain
instance's attributes and checks, against the stdlib: what the hook sees
in the memo (the state dict with the items copied so far, the new
instance still empty), the copy and its sharing, and what happens when
the hook changes the original while its __dict__ is being iterated.
On 3.10 and free-threaded builds the same tests check the ordinary path.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import pytest

from _impl import impl
from isomorphism import assert_same_copy


class Bag:
    pass


def _bag(**attrs: Any) -> Bag:
    b = Bag()
    for k, v in attrs.items():
        setattr(b, k, v)
    return b


def _view(o: Any) -> Any:
    if isinstance(o, Bag):
        return ("Bag", [(k, _view(v)) for k, v in vars(o).items()])
    if isinstance(o, list):
        return [_view(v) for v in o]
    if isinstance(o, dict):
        return {k: _view(v) for k, v in o.items()}
    if isinstance(o, tuple):
        return tuple(_view(v) for v in o)
    return o


def _run(make: Callable[[], Any], seen: list) -> tuple[Any, Any, list, list]:
    seen.clear()
    xe = make()
    ye = copy.deepcopy(xe)
    want_seen = list(seen)
    seen.clear()
    xa = make()
    ya = impl.deepcopy(xa)
    got_seen = list(seen)
    assert_same_copy(xe, ye, ya, actual_original=xa)
    assert _view(ya) == _view(ye)
    assert got_seen == want_seen
    return ye, ya, want_seen, got_seen


class Peek:
    """Records, when copied, what the memo says of its owner: the state
    dict's items so far and the new instance's attributes."""

    def __init__(self, seen: list) -> None:
        self.seen = seen
        self.owner: Any = None

    def __deepcopy__(self, memo: dict) -> Any:
        state = memo.get(id(self.owner.__dict__))
        new = memo.get(id(self.owner))
        self.seen.append(
            (
                None if state is None else _view(state),
                None if new is None else _view(vars(new)),
                state is not None and new is not None and state is vars(new),
            )
        )
        return "peeked"


@pytest.mark.parametrize("where", [0, 1, 3, 5])
def test_hook_sees_the_partial_state_and_an_empty_copy(where: int) -> None:
    seen: list = []

    def make() -> Any:
        peek = Peek(seen)
        attrs: dict[str, Any] = {"a": 1, "b": [2], "c": (3, [4]), "d": "s", "e": {"f": [5]}}
        items = list(attrs.items())
        items.insert(where, ("peek", peek))
        owner = _bag(**dict(items))
        peek.owner = owner
        return [owner, [6]]

    _, _, want_seen, _ = _run(make, seen)
    assert want_seen and want_seen[0][1] == {}
    assert len(want_seen[0][0]) == where


def test_settle_of_nested_plain_instances() -> None:
    seen: list = []

    def make() -> Any:
        peek = Peek(seen)
        inner = _bag(x=[1], peek=peek, y=[2])
        peek.owner = inner
        outer = _bag(first=[0], inner=inner, last=[3])
        return [outer, _bag(after=[4])]

    _run(make, seen)


class Mutate:
    def __init__(self, action: str) -> None:
        self.action = action
        self.owner: Any = None

    def __deepcopy__(self, memo: dict) -> Any:
        o = self.owner
        if self.action == "add":
            o.added = [1]
        elif self.action == "replace_later":
            o.z = ["replaced"]
        elif self.action == "delete_earlier":
            del o.a
        elif self.action == "new_dict":
            o.__dict__ = {"other": 1}
        return self.action


@pytest.mark.parametrize("action", ["add", "replace_later", "delete_earlier", "new_dict"])
def test_hook_changes_the_original_during_its_state_copy(action: str) -> None:
    def make() -> Any:
        m = Mutate(action)
        o = _bag(a=[0], m=m, z=["z"])
        m.owner = o
        return [o]

    xe, xa = make(), make()
    try:
        ye = copy.deepcopy(xe)
    except Exception as e:  # the stdlib's own error is the oracle
        with pytest.raises(type(e)) as got:
            impl.deepcopy(xa)
        assert str(got.value) == str(e)
        return
    ya = impl.deepcopy(xa)
    assert _view(ya) == _view(ye)


def test_many_instances_and_a_late_hook() -> None:
    # hundreds of instances copied inline, then Python code: every state
    # dict the memo must hold is rebuilt (DONE_AS_ATTRS), distinct from
    # the copy's own __dict__
    seen: list = []

    class Count:
        def __deepcopy__(self, memo: dict) -> Any:
            dicts = [v for v in memo.values() if isinstance(v, dict)]
            seen.append((len(memo), len(dicts), sorted(len(d) for d in dicts)[:3]))
            return "counted"

    def make() -> Any:
        return [_bag(i=i, l=[i], d={"k": i}) for i in range(300)] + [Count()]

    ye, ya, _, _ = _run(make, seen)
    assert all(vars(a) == vars(e) for a, e in zip(ya[:-1], ye[:-1]))


def test_error_while_copying_inline_leaves_no_trace() -> None:
    class Boom:
        def __deepcopy__(self, memo: dict) -> Any:
            raise ValueError("boom")

    class Slow:
        def __reduce_ex__(self, proto: int) -> Any:
            raise ValueError("boom")

    for bad in (Boom(), Slow()):
        x = [_bag(a=[1], b=bad, c=[2])]
        with pytest.raises(ValueError, match="boom"):
            impl.deepcopy(x)
        assert vars(x[0])["a"] == [1]
