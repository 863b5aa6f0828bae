"""The per-type strategy cache must never outlive what it was computed from.

fastcopy remembers, per class, how its instances are copied (guarded by the
class's version tag).  Every change that alters the stdlib's behaviour must
be seen by the next copy: compare with the stdlib after each mutation.
"""

from __future__ import annotations

import copy
import copyreg
from typing import Any, Callable

import pytest

from _impl import impl
from differential import assert_same_outcome, run


def _fresh_class() -> type:
    class Plain:
        def __init__(self) -> None:
            self.items = [1, 2]
            self.name = "p"

    return Plain


def _compare(obj: Any) -> None:
    e = run(lambda: copy.deepcopy(obj))
    a = run(lambda: impl.deepcopy(obj))
    assert_same_outcome(e, a, obj)


def _deepcopy_hook(self: Any, memo: Any) -> Any:
    return "from __deepcopy__"


def _reduce_hook(self: Any) -> Any:
    return (list, ([9],))


def _reduce_ex_hook(self: Any, proto: int) -> Any:
    return (dict, (), None, None, iter([("k", proto)]))


def _getstate_hook(self: Any) -> Any:
    return {"replaced": True}


def _setstate_hook(self: Any, state: Any) -> None:
    self.__dict__["via_setstate"] = state


def _getnewargs_hook(self: Any) -> tuple[Any, ...]:
    return ()


MUTATIONS: dict[str, Callable[[type], None]] = {
    "__deepcopy__": lambda cls: setattr(cls, "__deepcopy__", _deepcopy_hook),
    "__reduce__": lambda cls: setattr(cls, "__reduce__", _reduce_hook),
    "__reduce_ex__": lambda cls: setattr(cls, "__reduce_ex__", _reduce_ex_hook),
    "__getstate__": lambda cls: setattr(cls, "__getstate__", _getstate_hook),
    "__setstate__": lambda cls: setattr(cls, "__setstate__", _setstate_hook),
    "__getnewargs__": lambda cls: setattr(cls, "__getnewargs__", _getnewargs_hook),
    "__slots__-like __slotnames__": lambda cls: setattr(cls, "__slotnames__", ["extra"]),
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_class_mutated_between_copies(name: str) -> None:
    cls = _fresh_class()
    obj = cls()
    _compare(obj)  # fills the cache for cls
    _compare(obj)
    MUTATIONS[name](cls)
    _compare(obj)
    _compare(cls())


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_base_class_mutated_between_copies(name: str) -> None:
    base = _fresh_class()

    class Child(base):  # type: ignore[misc, valid-type]
        pass

    obj = Child()
    _compare(obj)
    MUTATIONS[name](base)
    _compare(obj)


@pytest.mark.parametrize("name", ["__deepcopy__", "__reduce__", "__reduce_ex__", "__getstate__"])
def test_instance_attribute_shadows_class(name: str) -> None:
    cls = _fresh_class()
    obj = cls()
    _compare(obj)
    hooks = {
        "__deepcopy__": lambda memo: "instance hook",
        "__reduce__": lambda: (list, ([1],)),
        "__reduce_ex__": lambda proto: (list, ([proto],)),
        "__getstate__": lambda: {"from": "instance"},
    }
    obj.__dict__[name] = hooks[name]
    _compare(obj)


def test_hook_removed_again() -> None:
    cls = _fresh_class()
    obj = cls()
    cls.__deepcopy__ = _deepcopy_hook  # type: ignore[attr-defined]
    _compare(obj)
    del cls.__deepcopy__  # type: ignore[attr-defined]
    _compare(obj)


def test_copyreg_registration_after_caching() -> None:
    cls = _fresh_class()
    obj = cls()
    _compare(obj)
    copyreg.pickle(cls, lambda o: (tuple, ((1, 2),)))
    try:
        _compare(obj)
        assert impl.deepcopy(obj) == (1, 2)
    finally:
        del copyreg.dispatch_table[cls]
    _compare(obj)
    assert type(impl.deepcopy(obj)) is cls


def test_dunder_class_changed() -> None:
    a_cls, b_cls = _fresh_class(), _fresh_class()
    b_cls.__reduce__ = _reduce_hook  # type: ignore[method-assign]
    obj = a_cls()
    _compare(obj)
    obj.__class__ = b_cls
    _compare(obj)


def test_overridden_reduce_class_mutated() -> None:
    class R:
        def __init__(self) -> None:
            self.a = [1]

        def __reduce__(self) -> Any:
            return (R, (), self.__dict__)

    obj = R()
    _compare(obj)
    R.__reduce_ex__ = _reduce_ex_hook  # type: ignore[method-assign]
    _compare(obj)
    del R.__reduce_ex__  # type: ignore[attr-defined]
    R.__deepcopy__ = _deepcopy_hook  # type: ignore[attr-defined]
    _compare(obj)


def test_many_classes_share_the_cache() -> None:
    """More classes than cache slots, interleaved with mutations."""
    classes = [_fresh_class() for _ in range(300)]
    objs = [c() for c in classes]
    for o in objs:
        _compare(o)
    for c in classes[::3]:
        c.__reduce__ = _reduce_hook  # type: ignore[method-assign]
    for o in objs:
        _compare(o)


def test_plain_class_variants() -> None:
    """Classes just outside the fast paths' conditions copy as the stdlib does."""

    class WithNew:
        def __new__(cls, *args: Any) -> Any:
            self = super().__new__(cls)
            self.made_by_new = True
            return self

        def __init__(self) -> None:
            self.v = [1]

    class WithSetstate:
        def __init__(self) -> None:
            self.v = [1]

        def __setstate__(self, state: Any) -> None:
            self.__dict__.update(state, restored=True)

    class DictProperty:
        def __init__(self) -> None:
            self.v = [1]

    class Child(WithSetstate):
        pass

    class Empty:
        pass

    for obj in (WithNew(), WithSetstate(), Child(), DictProperty(), Empty()):
        _compare(obj)
        _compare([obj, obj, {"again": obj}])


def test_instance_dict_shared_elsewhere() -> None:
    """The instance __dict__ reachable on its own keeps the stdlib's sharing."""
    cls = _fresh_class()
    obj = cls()
    _compare([obj, vars(obj)])
    _compare([vars(obj), obj])


def _cache_set(cls: type) -> int:
    # the 2-way set fc_type_set (state.h) picks for a class (by address)
    return ((id(cls) * 0x9E3779B97F4A7C15) & (2**64 - 1)) >> 56 & 127


def test_classes_on_one_cache_set() -> None:
    """Three classes of different strategies whose addresses fall on one
    set of the 2-way cache (so they evict each other), copied interleaved,
    with one of them mutated between copies."""

    def make(i: int) -> type:
        if i % 3 == 0:
            return _fresh_class()

        if i % 3 == 1:
            class Slotted:
                __slots__ = ("a", "b")

                def __init__(self) -> None:
                    self.a, self.b = [1], "s"

            return Slotted

        class Hooked:
            def __init__(self) -> None:
                self.v = [2]

            def __deepcopy__(self, memo: Any) -> Any:
                return ("hooked", memo is not None)

        return Hooked

    by_set: dict[int, dict[int, type]] = {}
    keep = []
    chosen = None
    for i in range(20000):
        cls = make(i)
        keep.append(cls)
        kinds = by_set.setdefault(_cache_set(cls), {})
        kinds.setdefault(i % 3, cls)
        if len(kinds) == 3:
            chosen = [kinds[0], kinds[1], kinds[2]]
            break
    assert chosen is not None
    objs = [c() for c in chosen]
    for _ in range(3):
        _compare([objs[0], objs[1], objs[2], objs[0], objs[2], objs[1]])
    chosen[1].__reduce__ = _reduce_hook  # type: ignore[method-assign]
    _compare([objs[1], objs[0], objs[2], objs[1]])
    chosen[0].__deepcopy__ = _deepcopy_hook  # type: ignore[attr-defined]
    _compare([objs[0], objs[1], objs[2], objs[0]])
