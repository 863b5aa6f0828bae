"""The user classes of the differential tests: one per copy protocol
(``__slots__``, ``__reduce__``, ``__reduce_ex__`` with list/dict iterators,
``__getstate__`` / ``__setstate__``, ``__deepcopy__`` / ``__copy__``,
``__getnewargs__``, ``__getnewargs_ex__``), dataclasses, namedtuples, enums,
a metaclass, subclasses of builtins.

:mod:`strategies` builds graphs of them with hypothesis.  They live here,
apart, so that code that cannot import hypothesis can use them: an
interpreter with a GIL of its own cannot load hypothesis's extension module
(``tests/test_subinterpreters.py`` runs the hostile tests in one).
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import enum
import reprlib
import weakref
from typing import Any, NamedTuple


class Plain:
    """An ordinary instance with a ``__dict__``."""

    def __init__(self, **attrs: Any) -> None:
        self.__dict__.update(attrs)

    def method(self) -> Any:
        return self

    @reprlib.recursive_repr()
    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.__dict__!r})"


class Slotted:
    __slots__ = ("a", "b", "__weakref__")


class SlottedDict:
    __slots__ = ("a", "__dict__")


class SlotsChild(Slotted):
    __slots__ = ("c", "__hidden")  # the second one is name-mangled


class ListSub(list):
    pass


class DictSub(dict):
    pass


class TupleSub(tuple):
    pass


class SetSub(set):
    pass


class FrozenSub(frozenset):
    pass


#: 3.15's builtin frozendict (PEP 814), None before
FROZENDICT: Any = getattr(__import__("builtins"), "frozendict", None)

if FROZENDICT is not None:

    class FrozenDictSub(FROZENDICT):  # type: ignore[misc,valid-type]
        pass


class IntSub(int):
    pass


class StrSub(str):
    pass


@dataclasses.dataclass
class DC:
    a: Any = None
    b: Any = None


@dataclasses.dataclass(frozen=True)
class FrozenDC:
    a: Any = None
    b: Any = None


@dataclasses.dataclass(slots=True)
class SlotsDC:
    a: Any = None
    b: Any = None


@dataclasses.dataclass
class DCOddNames:
    """Field names that collide with ``replace``'s own parameter names."""

    obj: Any = None
    cls: Any = None
    changes: Any = None


Point = collections.namedtuple("Point", "x y")


class TypedPair(NamedTuple):
    left: Any
    right: Any = None


class WithReduce:
    """``__reduce__`` with constructor args and a state dict."""

    def __init__(self, a: Any) -> None:
        self.a = a
        self.b = None

    def __reduce__(self) -> Any:
        return (type(self), (self.a,), {"b": self.b})

    @reprlib.recursive_repr()
    def __repr__(self) -> str:
        return f"WithReduce(a={self.a!r}, b={self.b!r})"


class Bag:
    """``__reduce_ex__`` with state, a list iterator and a dict iterator."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.mapping: dict[Any, Any] = {}
        self.tag: Any = None

    def append(self, item: Any) -> None:
        self.items.append(item)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.mapping[key] = value

    def __reduce_ex__(self, protocol: int) -> Any:
        return (type(self), (), {"tag": self.tag}, iter(self.items), iter(self.mapping.items()))

    @reprlib.recursive_repr()
    def __repr__(self) -> str:
        return f"Bag(items={self.items!r}, mapping={self.mapping!r}, tag={self.tag!r})"


class WithState:
    """``__getstate__`` / ``__setstate__``."""

    def __init__(self) -> None:
        self.payload: Any = None

    def __getstate__(self) -> Any:
        return {"payload": self.payload, "version": 2}

    def __setstate__(self, state: Any) -> None:
        self.payload = state["payload"]
        self.restored_version = state["version"]

    @reprlib.recursive_repr()
    def __repr__(self) -> str:
        return f"WithState({self.__dict__!r})"


class WithDeepcopy:
    """``__deepcopy__`` using the memo like real-world hooks do, and ``__copy__``."""

    def __init__(self, child: Any = None) -> None:
        self.child = child

    def __deepcopy__(self, memo: Any) -> Any:
        hit = memo.get(id(self), None)
        if hit is not None:  # cannot happen through deepcopy(), but hooks check
            return hit
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        new.child = copy.deepcopy(self.child, memo)
        new.child_memoized = id(self.child) in memo
        return new

    def __copy__(self) -> Any:
        new = type(self).__new__(type(self))
        new.child = self.child
        new.shallow = True
        return new

    @reprlib.recursive_repr()
    def __repr__(self) -> str:
        return f"WithDeepcopy({self.__dict__!r})"


class ReturnsSelf:
    """A ``__deepcopy__`` that declares the object immutable."""

    def __init__(self, tag: Any = None) -> None:
        self.tag = tag

    def __deepcopy__(self, memo: Any) -> Any:
        return self

    def __repr__(self) -> str:
        return f"ReturnsSelf({self.tag!r})"


class WithNewargs:
    """``__getnewargs__`` feeding ``__new__``."""

    def __new__(cls, a: Any) -> Any:
        self = super().__new__(cls)
        self.a = a
        return self

    def __getnewargs__(self) -> tuple[Any, ...]:
        return (self.a,)

    @reprlib.recursive_repr()
    def __repr__(self) -> str:
        return f"WithNewargs({self.__dict__!r})"


class WithNewargsEx:
    """``__getnewargs_ex__`` feeding a keyword-only ``__new__``."""

    def __new__(cls, a: Any, *, k: Any = None) -> Any:
        self = super().__new__(cls)
        self.a = a
        self.k = k
        return self

    def __getnewargs_ex__(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return ((self.a,), {"k": self.k})

    @reprlib.recursive_repr()
    def __repr__(self) -> str:
        return f"WithNewargsEx({self.__dict__!r})"


class Color(enum.Enum):
    RED = 1
    GREEN = 2


class Perm(enum.IntFlag):
    R = 4
    W = 2


class Meta(type):
    pass


class WithMeta(metaclass=Meta):
    pass


def module_function(x: Any) -> Any:
    return x


module_lambda = lambda: None  # noqa: E731
module_property = property(lambda self: 1)
module_weakref = weakref.ref(Plain)
