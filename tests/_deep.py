"""Deeply nested inputs for test_depth.py, run inside child processes.

Usage (from a child): ``python -c "import _deep; _deep.main()" MODE KIND DEPTH``
with MODE one of ``copy`` (must copy), ``copy-or-recursion`` (a correct copy
or a clean RecursionError) and ``build`` (build and free the input, no copy: a control).
Prints ``ok`` / ``RecursionError``, then ``dropped`` once the result is freed,
then ``original-dropped`` once the input is freed (so a crash while freeing is
attributed to the copy or to the input); any other outcome is a traceback and
a non-zero exit status (a crash is a signal).

Everything here is iterative: building, verifying and walking never recurse.
"""

from __future__ import annotations

import collections
import copy
import sys
from typing import Any, Callable

# --------------------------------------------------------------------------
# nodes for chains through Python-level protocols


class Node:
    def __init__(self, nxt: Any) -> None:
        self.next = nxt


class SlotNode:
    __slots__ = ("next",)

    def __init__(self, nxt: Any) -> None:
        self.next = nxt


class ListNode(list):  # type: ignore[type-arg]
    pass


class StateNode:
    def __init__(self, nxt: Any) -> None:
        self.next = nxt

    def __getstate__(self) -> Any:
        return {"n": self.next}

    def __setstate__(self, state: Any) -> None:
        self.next = state["n"]


class HookNode:
    """``__deepcopy__`` recursing through the stdlib's ``copy.deepcopy``."""

    def __init__(self, nxt: Any) -> None:
        self.next = nxt

    def __deepcopy__(self, memo: Any) -> Any:
        return type(self)(copy.deepcopy(self.next, memo))


class ImplHookNode:
    """``__deepcopy__`` recursing through the implementation under test."""

    impl: Any = None

    def __init__(self, nxt: Any) -> None:
        self.next = nxt

    def __deepcopy__(self, memo: Any) -> Any:
        return type(self)(ImplHookNode.impl.deepcopy(self.next, memo))


class MethodNode:
    """Linked through a bound method: ``m`` is ``next.method`` (F_METHOD
    frames alternate with reduce frames)."""

    def __init__(self, nxt: Any) -> None:
        self.m = nxt.method if nxt is not None else None

    def method(self) -> Any:
        return self


class RegisteredNode:
    """Copied through a copyreg reducer (registered by main() only)."""

    def __init__(self, nxt: Any) -> None:
        self.next = nxt


def reduce_registered(node: RegisteredNode) -> Any:
    return (RegisteredNode, (node.next,))


class DispatchedNode:
    """Copied by a third-party copier in copy._deepcopy_dispatch (registered
    by main() only) that recurses through copy.deepcopy."""

    def __init__(self, nxt: Any) -> None:
        self.next = nxt


def copy_dispatched(node: DispatchedNode, memo: Any) -> Any:
    return DispatchedNode(copy.deepcopy(node.next, memo))


def _method_next(o: Any) -> Any:
    return o.m.__self__ if o.m is not None else None


def _od(nxt: Any) -> Any:
    d: collections.OrderedDict[str, Any] = collections.OrderedDict()
    if nxt is not None:
        d["k"] = nxt
    return d


def _dd(nxt: Any) -> Any:
    # CPython cannot free a long direct chain of defaultdicts (defdict_dealloc
    # bypasses the trashcan and overflows the C stack at ~100,000): a list
    # between two levels lets the list's trashcan bound the C recursion.
    d: collections.defaultdict[str, Any] = collections.defaultdict(list)
    if nxt is not None:
        d["k"] = [nxt]
    return d


def _dd_next(d: Any) -> Any:
    return d["k"][0] if "k" in d else None


def _ln(nxt: Any) -> Any:
    return ListNode([] if nxt is None else [nxt])


def _mapping_next(d: Any) -> Any:
    return d.get("k")


def _list_next(lst: Any) -> Any:
    return lst[0] if lst else None


def _attr_next(o: Any) -> Any:
    return o.next


#: kind -> (make(next) with next=None at the bottom, next(node), node type)
CHAINS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any], type]] = {
    "ordered_dict": (_od, _mapping_next, collections.OrderedDict),
    "defaultdict": (_dd, _dd_next, collections.defaultdict),
    "instance": (Node, _attr_next, Node),
    "slots": (SlotNode, _attr_next, SlotNode),
    "list_subclass": (_ln, _list_next, ListNode),
    "setstate": (StateNode, _attr_next, StateNode),
    "deepcopy_hook": (HookNode, _attr_next, HookNode),
    "deepcopy_hook_impl": (ImplHookNode, _attr_next, ImplHookNode),
    "bound_method": (MethodNode, _method_next, MethodNode),
    "copyreg_reducer": (RegisteredNode, _attr_next, RegisteredNode),
    "dispatch_copier": (DispatchedNode, _attr_next, DispatchedNode),
}


def build_chain(kind: str, depth: int) -> Any:
    make = CHAINS[kind][0]
    x = make(None)
    for _ in range(depth - 1):
        x = make(x)
    return x


def verify_chain(kind: str, depth: int, original: Any, result: Any) -> None:
    _, nxt, typ = CHAINS[kind]
    o, c, level = original, result, 0
    while o is not None:
        assert type(c) is typ, f"level {level}: {type(c).__name__} instead of {typ.__name__}"
        assert c is not o, f"level {level}: the copy shares the original node"
        o, c, level = nxt(o), nxt(c), level + 1
    assert c is None, f"the copy is deeper than the original ({level} levels)"
    assert level == depth, (level, depth)


# --------------------------------------------------------------------------
# builtin containers


def _build_builtin(kind: str, depth: int) -> Any:
    if kind == "list":
        x: Any = []
        for _ in range(depth):
            x = [x]
    elif kind == "dict":
        x = {}
        for _ in range(depth):
            x = {"k": x}
    elif kind == "tuple_of_atoms":
        x = ()
        for i in range(depth):
            x = (x, i & 7)
    elif kind == "tuple_with_list":
        x = ([],)
        for _ in range(depth):
            x = (x,)
    elif kind == "frozenset":
        x = frozenset()
        for _ in range(depth):
            x = frozenset([x])
    elif kind == "set_of_frozensets":
        x = frozenset()
        for _ in range(depth - 1):
            x = frozenset([x, 1])
        x = {x, 2}
    elif kind == "mixed":
        x = []
        for i in range(depth):
            x = ([x], {"k": x}, (x,))[i % 3]
    else:
        raise ValueError(kind)
    return x


def _frozenset_child(x: Any) -> Any:
    for e in x:
        if type(e) is frozenset:
            return e
    return None


def _builtin_child(x: Any) -> Any:
    """The one container inside ``x`` (None at the bottom); cheap, no recursion."""
    t = type(x)
    if t is list or t is tuple:
        return x[0] if x else None
    if t is dict:
        return x.get("k")
    return _frozenset_child(x)


def verify_builtin(kind: str, depth: int, original: Any, result: Any) -> None:
    if kind == "tuple_of_atoms":
        assert result is original, "a tuple of atoms (however deep) is its own deep copy"
        return
    o, c, level = original, result, 0
    while True:
        t = type(o)
        assert type(c) is t, f"level {level}: {type(c).__name__} instead of {t.__name__}"
        if o or t is not frozenset:
            assert c is not o, f"level {level}: the copy shares the original container"
        assert len(c) == len(o), f"level {level}: length {len(c)} instead of {len(o)}"
        if t is set or t is frozenset:
            assert (1 in o) == (1 in c) and (2 in o) == (2 in c), f"level {level}: different atoms"
        o, c = _builtin_child(o), _builtin_child(c)
        if o is None:
            assert c is None, f"level {level}: the copy is deeper than the original"
            break
        assert c is not None, f"level {level}: the copy is shallower than the original"
        level += 1
    expected_levels = depth + (1 if kind == "tuple_with_list" else 0)
    assert level == expected_levels, (level, expected_levels)


BUILTIN_KINDS = ["list", "dict", "tuple_of_atoms", "tuple_with_list", "frozenset", "set_of_frozensets", "mixed"]


def main() -> None:
    mode, kind, depth_s = sys.argv[1:4]
    depth = int(depth_s)
    options = sys.argv[4:]
    with_memo = "memo" in options
    from _impl import impl

    ImplHookNode.impl = impl
    builtin = kind in BUILTIN_KINDS
    if kind == "dispatch_copier":
        # Only where the chain needs it: an entry added to the stdlib's
        # table turns fastcopy's atom shortcuts off (they skip a memo
        # lookup the stdlib then makes), so registering it for every
        # kind hid the paths a plain copy of builtin data takes.
        copy._deepcopy_dispatch[DispatchedNode] = copy_dispatched
    elif kind == "copyreg_reducer":
        import copyreg

        copyreg.pickle(RegisteredNode, reduce_registered)
    deepcopy = impl.deepcopy
    if "patched" in options:  # through the stdlib's function, patched
        impl.patch()
        deepcopy = copy.deepcopy
    elif "dispatch" in options:  # the design report's integration
        impl.patch("dispatch")
        deepcopy = copy.deepcopy
    original = _build_builtin(kind, depth) if builtin else build_chain(kind, depth)
    if mode == "build":
        del original
        print("original-dropped", flush=True)
        return
    memo: Any = {} if with_memo else None
    try:
        result = deepcopy(original, memo)
    except RecursionError:
        if mode != "copy-or-recursion":
            raise
        print("RecursionError", flush=True)
    else:
        (verify_builtin if builtin else verify_chain)(kind, depth, original, result)
        if with_memo:
            assert memo[id(original)] is result or kind == "tuple_of_atoms"
        print("ok", flush=True)
        del result
    memo = None
    print("dropped", flush=True)
    del original
    print("original-dropped", flush=True)
