"""Structural comparison of copies: does ``actual`` copy ``original`` exactly
the way ``expected`` (the stdlib's copy) does?

The central entry point is :func:`assert_same_copy`.  It walks ``expected``
and ``actual`` in parallel (iteratively, so deep graphs are fine) and checks,
at every position:

* *identity with the original*: if the stdlib put an object of the original
  graph there, the implementation must put the very same object there, and
  must not put an original object where the stdlib made a new one;
* same exact type, and equal values for atoms (``repr`` for floats, so NaN
  and ``-0.0`` compare correctly);
* same sharing and cycles: the walk keeps a bijection between the objects of
  ``expected`` and those of ``actual``; meeting an object again must meet its
  partner again;
* containers: list / tuple / deque (in order), dict and 3.15's frozendict
  (in key order; keys and values), set / frozenset (elements matched by identity with originals, by
  already-established partners, then by a structural fingerprint, with trial
  matching for ambiguous groups), bound methods, exceptions' ``args``,
  ``xml.etree`` elements, and every instance's ``__dict__`` and ``__slots__``.

When the implementation and the oracle had to be run on two *separate but
identical* inputs (tests whose hooks mutate the input), pass the second input
as ``actual_original``: the two originals are matched first, and "identity
with the original" then means "the partner in the other original".

:func:`memo_shape` and :meth:`CopyMatcher.match_memos` compare memos left
behind by ``deepcopy(x, memo)``.
"""

from __future__ import annotations

import builtins
import collections
import enum
import types
import weakref
from collections.abc import Iterator
from typing import Any

__all__ = [
    "CopyMatcher",
    "Mismatch",
    "assert_same_copy",
    "assert_isomorphic",
    "memo_shape",
    "reachable",
]

_NO = object()

try:  # the C accelerator's class, when present
    import xml.etree.ElementTree as _ET

    _ELEMENT_TYPES: tuple[type, ...] = (_ET.Element,)
except ImportError:  # pragma: no cover
    _ELEMENT_TYPES = ()


class Mismatch(AssertionError):
    """The two copies differ."""


#: Objects that deepcopy never copies and that are compared by identity.
_IDENTITY_TYPES: tuple[type, ...] = (
    type,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.ModuleType,
    types.CodeType,
    types.MethodWrapperType,
    types.WrapperDescriptorType,
    types.MethodDescriptorType,
    types.ClassMethodDescriptorType,
    types.GetSetDescriptorType,
    types.MemberDescriptorType,
    property,
    weakref.ref,
    type(None),
    type(Ellipsis),
    type(NotImplemented),
    bool,
    enum.Enum,
)

#: Exact types whose instances are plain values: compared by value, identity
#: irrelevant (unless they belong to the original graph).
_VALUE_TYPES: frozenset[type] = frozenset({int, float, complex, str, bytes, range})


#: Mappings walked key by key: dict and its subclasses, and 3.15's frozendict
#: (which is not a dict subclass).
_FROZENDICT = getattr(builtins, "frozendict", None)
_MAPPING_TYPES: tuple[type, ...] = (dict,) if _FROZENDICT is None else (dict, _FROZENDICT)


def _is_identity(x: Any) -> bool:
    """Is x of an identity type?  By its real type: on 3.10 a GenericAlias
    (``list[int]``) passes ``isinstance(x, type)`` through ``__class__``,
    yet deepcopy makes a new one."""
    return issubclass(type(x), _IDENTITY_TYPES)


def _is_value(x: Any) -> bool:
    return type(x) in _VALUE_TYPES


def _value_key(x: Any) -> Any:
    """A comparable key for the value part of int/float/complex/str/bytes and subclasses."""
    if isinstance(x, bool):
        return ("bool", bool(x))
    if isinstance(x, int):
        return ("int", int.__repr__(x))
    if isinstance(x, float):
        return ("float", float.__repr__(x))
    if isinstance(x, complex):
        return ("complex", complex.__repr__(x))
    if isinstance(x, str):
        return ("str", str.__str__(x))
    if isinstance(x, bytes):
        return ("bytes", bytes(x))
    if isinstance(x, bytearray):
        return ("bytearray", bytes(x))
    if isinstance(x, range):
        return ("range", x.start, x.stop, x.step)
    return _NO


def _instance_dict(x: Any) -> Any:
    """``x.__dict__`` without triggering ``__getattr__``; ``_NO`` if absent."""
    try:
        d = object.__getattribute__(x, "__dict__")
    except AttributeError:
        return _NO
    except Exception:  # hostile descriptors: nothing to compare
        return _NO
    return d if isinstance(d, dict) else _NO


def _mangle(klass: type, name: str) -> str:
    if name.startswith("__") and not name.endswith("__"):
        return f"_{klass.__name__.lstrip('_')}{name}"
    return name


def _slot_values(x: Any) -> list[tuple[str, Any]]:
    """(slot name, value or _NO if unset) for every named slot of ``type(x)``."""
    out: list[tuple[str, Any]] = []
    for klass in type(x).__mro__:
        slots = klass.__dict__.get("__slots__", ())
        if isinstance(slots, str):
            slots = (slots,)
        for name in slots:
            if name in ("__dict__", "__weakref__"):
                continue
            mangled = _mangle(klass, name)
            desc = klass.__dict__.get(mangled)
            if not isinstance(desc, types.MemberDescriptorType):
                continue
            try:
                value = desc.__get__(x, type(x))
            except AttributeError:
                value = _NO
            out.append((f"{klass.__qualname__}.{mangled}", value))
    return out


def _has_own_eq(t: type) -> bool:
    return getattr(t, "__eq__", object.__eq__) is not object.__eq__


def _identity_eq(e: Any, a: Any) -> bool:
    """True when the equality of e's type is object's after all: two
    distinct objects of that type answer NotImplemented both ways.  CPython
    3.12 gives static builtin types, in a subinterpreter, an ``__eq__`` slot
    wrapper of their own even where the slot is object's (list_iterator,
    zip, map...), which fools :func:`_has_own_eq` there."""
    if type(a) is not type(e):
        return False
    try:
        eq = type(e).__eq__
        return eq(e, a) is NotImplemented and eq(a, e) is NotImplemented
    except Exception:
        return False


def _children(x: Any) -> Iterator[Any]:
    """Everything the walkers descend into (used to collect the original graph)."""
    if _is_identity(x) or _is_value(x):
        return
    if isinstance(x, _MAPPING_TYPES):
        for k, v in list(x.items()):
            yield k
            yield v
        if isinstance(x, collections.defaultdict):
            yield x.default_factory
    elif isinstance(x, (list, tuple, collections.deque, set, frozenset)):
        yield from list(x)
    elif isinstance(x, types.MethodType):
        yield x.__func__
        yield x.__self__
    elif isinstance(x, BaseException):
        yield x.args
    elif _ELEMENT_TYPES and isinstance(x, _ELEMENT_TYPES):
        yield x.tag
        yield x.attrib
        yield x.text
        yield x.tail
        yield from list(x)
    d = _instance_dict(x)
    if d is not _NO:
        yield d
    for _, v in _slot_values(x):
        if v is not _NO:
            yield v


def reachable(root: Any) -> dict[int, Any]:
    """All objects reachable from ``root`` (as the walkers see it), by id."""
    seen: dict[int, Any] = {}
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen[id(obj)] = obj
        stack.extend(_children(obj))
    return seen


def _short(x: Any) -> str:
    try:
        r = repr(x)
    except Exception as exc:  # pragma: no cover - hostile repr
        r = f"<unrepresentable {type(x).__name__}: {exc!r}>"
    return r if len(r) <= 120 else r[:117] + "..."


class CopyMatcher:
    """Parallel walk of two copies with a sharing bijection (see module doc)."""

    def __init__(self, original: Any = _NO, actual_original: Any = _NO) -> None:
        self.fwd: dict[int, Any] = {}  # id(expected object) -> actual object
        self.rev: dict[int, Any] = {}  # id(actual object) -> expected object
        self._alive: list[Any] = []  # keeps walked objects (and so their ids) alive
        self._deferred: list[list[tuple[list[Any], list[Any], str]]] = []
        self.orig_e: dict[int, Any] = {}  # original objects, expected side
        self.orig_a: dict[int, Any] = {}  # original objects, actual side
        self.orig_pair: dict[int, Any] = {}  # id(expected-side original) -> actual-side
        self._same_original = actual_original is _NO or actual_original is original
        if original is _NO:
            return
        self.orig_e = reachable(original)
        if self._same_original:
            self.orig_a = self.orig_e
            self.orig_pair = dict(self.orig_e)
        else:
            pairing = CopyMatcher()
            pairing.match(original, actual_original, "original")
            self.orig_a = reachable(actual_original)
            self.orig_pair = dict(pairing.fwd)
            self._alive.append(pairing)

    # -- public API ---------------------------------------------------------

    def match(self, expected: Any, actual: Any, path: str = "root") -> None:
        """Raise :class:`Mismatch` unless ``actual`` is a copy like ``expected``."""
        self._run([(expected, actual, path)])

    def memo_work(self, exp_memo: Any, act_memo: Any, path: str = "memo") -> list[tuple[Any, Any, str]]:
        """Check the memos' shapes; return the (expected, actual) value pairs
        still to be walked (with the results, so that sharing is checked
        against a single bijection)."""
        shape_e, shape_a = memo_shape(exp_memo), memo_shape(act_memo)
        if shape_e != shape_a:
            raise Mismatch(f"{path}: memo shapes differ:\n  expected {shape_e}\n  actual   {shape_a}")
        keys_a = {_describe_key(act_memo, k): k for k in list(act_memo.keys())}
        work = []
        for k in list(exp_memo.keys()):
            desc = _describe_key(exp_memo, k)
            work.append((exp_memo[k], act_memo[keys_a[desc]], f"{path}[{desc}]"))
        return work

    def match_memos(self, exp_memo: Any, act_memo: Any, path: str = "memo") -> None:
        """Compare memos left by ``deepcopy(x, memo)`` (after :meth:`match`)."""
        self._run(self.memo_work(exp_memo, act_memo, path))

    def _fail(self, path: str, msg: str, e: Any, a: Any) -> None:
        raise Mismatch(f"at {path}: {msg}\n  expected: {_short(e)}\n  actual:   {_short(a)}")

    def _run(self, stack: list[tuple[Any, Any, str]]) -> None:
        """Walk to completion.  Set elements that only structure could pair
        (ambiguous groups) are deferred until everything else has been
        walked, then paired by a backtracking search."""
        deferred: list[tuple[list[Any], list[Any], str]] = []
        self._walk(stack, deferred)
        self._solve(deferred)

    def _walk(self, stack: list[tuple[Any, Any, str]], deferred: list[tuple[list[Any], list[Any], str]]) -> None:
        stack = stack[::-1]
        self._deferred.append(deferred)
        try:
            while stack:
                e, a, path = stack.pop()
                children = self._step(e, a, path)
                if children:
                    stack.extend(reversed(children))
        finally:
            self._deferred.pop()

    def _save(self) -> tuple[dict[int, Any], dict[int, Any], int]:
        return dict(self.fwd), dict(self.rev), len(self._alive)

    def _restore(self, saved: tuple[dict[int, Any], dict[int, Any], int]) -> None:
        self.fwd, self.rev = dict(saved[0]), dict(saved[1])
        del self._alive[saved[2]:]

    def _solve(self, deferred: list[tuple[list[Any], list[Any], str]]) -> None:
        """Pair the deferred set elements; backtrack over ambiguous choices."""
        if not deferred:
            return
        (xs, ys, path), rest = deferred[0], list(deferred[1:])
        unique: list[tuple[Any, Any, str]] = []
        ambiguous: list[tuple[list[Any], list[Any]]] = []
        for gx, gy in self._groups(xs, ys, path, xs, ys):
            if len(gx) == 1:
                unique.append((gx[0], gy[0], f"{path}{{{_short(gx[0])}}}"))
            else:
                ambiguous.append((gx, gy))
        if unique:  # progress without a choice; then look again
            more: list[tuple[list[Any], list[Any], str]] = []
            self._walk(unique, more)
            left_x = [x for gx, _ in ambiguous for x in gx]
            left_y = [y for _, gy in ambiguous for y in gy]
            self._solve(([(left_x, left_y, path)] if left_x else []) + rest + more)
            return
        gx, gy = ambiguous[0]
        x = gx[0]
        others_x = gx[1:] + [v for g, _ in ambiguous[1:] for v in g]
        first_error: Mismatch | None = None
        for j, y in enumerate(gy):
            saved = self._save()
            try:
                more = []
                self._walk([(x, y, f"{path}{{{_short(x)}}}")], more)
                others_y = gy[:j] + gy[j + 1:] + [v for _, g in ambiguous[1:] for v in g]
                self._solve(([(others_x, others_y, path)] if others_x else []) + rest + more)
                return
            except Mismatch as exc:
                first_error = first_error or exc
                self._restore(saved)
        assert first_error is not None
        raise first_error

    def _step(self, e: Any, a: Any, path: str) -> list[tuple[Any, Any, str]] | None:
        ie, ia = id(e), id(a)
        # 1. identity with the original graph
        if ie in self.orig_e:
            partner = self.orig_pair.get(ie, _NO)
            if partner is not _NO:
                if a is not partner:
                    if _is_value(e) and _value_key(e) != _value_key(a):
                        self._fail(path, "different value", e, a)
                    self._fail(path, "the stdlib kept the original object here; the implementation did not", e, a)
                return None
            # separate originals, value atom: both must come from their original
            if ia not in self.orig_a:
                self._fail(path, "the stdlib kept an original atom here; the implementation made a new one", e, a)
        elif ia in self.orig_a and not _is_value(a):
            self._fail(path, "the implementation returned an object of the original where the stdlib made a new one", e, a)
        # 2. type
        if type(e) is not type(a):
            self._fail(path, f"type {type(a).__qualname__} instead of {type(e).__qualname__}", e, a)
        # 3. objects compared by identity
        if _is_identity(e):
            if e is not a:
                self._fail(path, "different object (compared by identity)", e, a)
            return None
        # 4. plain values
        if _is_value(e):
            if _value_key(e) != _value_key(a):
                self._fail(path, "different value", e, a)
            return None
        # 5. sharing bijection
        prev = self.fwd.get(ie, _NO)
        if prev is not _NO:
            if prev is not a:
                self._fail(path, "sharing differs: this expected object was already matched to another actual object", e, a)
            return None
        back = self.rev.get(ia, _NO)
        if back is not _NO:
            self._fail(path, "sharing differs: this actual object was already matched to another expected object", e, a)
        self.fwd[ie] = a
        self.rev[ia] = e
        self._alive.append((e, a))
        if e is a:
            return None
        return self._structure(e, a, path)

    def _structure(self, e: Any, a: Any, path: str) -> list[tuple[Any, Any, str]]:
        out: list[tuple[Any, Any, str]] = []
        handled = False
        vk = _value_key(e)
        if vk is not _NO:  # subclasses of value types, bytearray
            handled = True
            if vk != _value_key(a):
                self._fail(path, "different value", e, a)
        if isinstance(e, _MAPPING_TYPES):
            handled = True
            ie_items, ia_items = list(e.items()), list(a.items())
            if len(ie_items) != len(ia_items):
                self._fail(path, f"dict of length {len(ia_items)} instead of {len(ie_items)}", e, a)
            for i, ((ke, ve), (ka, va)) in enumerate(zip(ie_items, ia_items)):
                out.append((ke, ka, f"{path}.keys()[{i}]"))
                out.append((ve, va, f"{path}[{_short(ke)}]"))
            if isinstance(e, collections.defaultdict):
                out.append((e.default_factory, a.default_factory, f"{path}.default_factory"))
        elif isinstance(e, (list, tuple, collections.deque)):
            handled = True
            le, la = list(e), list(a)
            if len(le) != len(la):
                self._fail(path, f"length {len(la)} instead of {len(le)}", e, a)
            if isinstance(e, collections.deque) and e.maxlen != a.maxlen:
                self._fail(path, "deque maxlen differs", e, a)
            out.extend((x, y, f"{path}[{i}]") for i, (x, y) in enumerate(zip(le, la)))
        elif isinstance(e, (set, frozenset)):
            handled = True
            out.extend(self._match_set(e, a, path))
        elif isinstance(e, types.MethodType):
            handled = True
            out.append((e.__func__, a.__func__, f"{path}.__func__"))
            out.append((e.__self__, a.__self__, f"{path}.__self__"))
        elif isinstance(e, BaseException):
            out.append((e.args, a.args, f"{path}.args"))
        elif _ELEMENT_TYPES and isinstance(e, _ELEMENT_TYPES):
            handled = True
            for attr in ("tag", "attrib", "text", "tail"):
                out.append((getattr(e, attr), getattr(a, attr), f"{path}.{attr}"))
            out.append((list(e), list(a), f"{path}.children"))
        de, da = _instance_dict(e), _instance_dict(a)
        if (de is _NO) != (da is _NO):
            self._fail(path, "one has a __dict__, the other not", e, a)
        if de is not _NO:
            handled = True
            out.append((de, da, f"{path}.__dict__"))
        se, sa = _slot_values(e), _slot_values(a)
        for (name, ve), (_, va) in zip(se, sa):
            handled = True
            if (ve is _NO) != (va is _NO):
                self._fail(f"{path}.{name}", "slot set in one copy and unset in the other", ve, va)
            if ve is not _NO:
                out.append((ve, va, f"{path}.{name}"))
        if not handled and _has_own_eq(type(e)) and not _identity_eq(e, a):
            try:
                same = bool(e == a)
            except Exception:
                same = False
            if not same and repr(e) != repr(a):
                self._fail(path, "values differ (==)", e, a)
        return out

    # -- sets ---------------------------------------------------------------

    def _fp(self, x: Any, expected_side: bool, depth: int = 3) -> Any:
        """A structural fingerprint; equal for partners, cheap, cycle-safe."""
        ix = id(x)
        if expected_side:
            if ix in self.orig_e:
                partner = self.orig_pair.get(ix, _NO)
                if partner is not _NO:
                    return ("orig", id(partner))
                if ix in self.orig_a and not _is_value(x):
                    return ("orig", ix)  # in both twins (None, True, a class, ...)
                return ("origvalue", type(x).__qualname__, repr(_value_key(x)))
            if ix in self.fwd:
                return ("paired", id(self.fwd[ix]))
        else:
            if ix in self.orig_a:
                if _is_value(x) and not self._same_original:
                    return ("origvalue", type(x).__qualname__, repr(_value_key(x)))
                return ("orig", ix)
            if ix in self.rev:
                return ("paired", ix)
        t = type(x)
        tname = f"{t.__module__}.{t.__qualname__}"
        if _is_identity(x):
            return ("id", ix)
        vk = _value_key(x)
        if depth <= 0:
            return (tname,)
        parts: list[Any] = [tname, repr(vk) if vk is not _NO else None]
        d = depth - 1
        if isinstance(x, _MAPPING_TYPES):
            parts.append(tuple((self._fp(k, expected_side, d), self._fp(v, expected_side, d)) for k, v in list(x.items())))
        elif isinstance(x, (list, tuple, collections.deque)):
            parts.append(tuple(self._fp(c, expected_side, d) for c in list(x)))
        elif isinstance(x, (set, frozenset)):
            parts.append(tuple(sorted((repr(self._fp(c, expected_side, d)) for c in list(x)))))
        dx = _instance_dict(x)
        if dx is not _NO:
            parts.append(tuple(sorted((repr(k), repr(self._fp(v, expected_side, d))) for k, v in list(dx.items()))))
        parts.append(tuple((n, self._fp(v, expected_side, d) if v is not _NO else None) for n, v in _slot_values(x)))
        return tuple(parts)

    def _groups(self, xs: list[Any], ys: list[Any], path: str, e: Any, a: Any) -> list[tuple[list[Any], list[Any]]]:
        groups_e: dict[str, list[Any]] = {}
        groups_a: dict[str, list[Any]] = {}
        for x in xs:
            groups_e.setdefault(repr(self._fp(x, True)), []).append(x)
        for y in ys:
            groups_a.setdefault(repr(self._fp(y, False)), []).append(y)
        if sorted((k, len(v)) for k, v in groups_e.items()) != sorted((k, len(v)) for k, v in groups_a.items()):
            self._fail(path, "set elements differ", e, a)
        return [(group, groups_a[key]) for key, group in groups_e.items()]

    def _match_set(self, e: Any, a: Any, path: str) -> list[tuple[Any, Any, str]]:
        le, la = list(e), list(a)
        if len(le) != len(la):
            self._fail(path, f"set of length {len(la)} instead of {len(le)}", e, a)
        out: list[tuple[Any, Any, str]] = []
        ambiguous_e: list[Any] = []
        ambiguous_a: list[Any] = []
        for xs, ys in self._groups(le, la, path, e, a):
            if len(xs) == 1:
                out.append((xs[0], ys[0], f"{path}{{{_short(xs[0])}}}"))
            else:
                ambiguous_e += xs
                ambiguous_a += ys
        if ambiguous_e:
            self._deferred[-1].append((ambiguous_e, ambiguous_a, path))
        return out


def _keepalive(memo: Any) -> Any:
    try:
        return memo[id(memo)]
    except KeyError:
        return _NO


def _describe_key(memo: Any, key: Any) -> tuple[Any, ...]:
    if key == id(memo):
        return ("keepalive-list",)
    ka = _keepalive(memo)
    if ka is not _NO and isinstance(ka, list):
        for i, o in enumerate(ka):
            if id(o) == key:
                return ("id-of-keepalive", i)
    return ("raw", repr(key))


def memo_shape(memo: Any) -> tuple[Any, ...]:
    """A comparable summary of a memo left by ``deepcopy(x, memo)``:
    its number of keys, the length of the keep-alive list at ``memo[id(memo)]``
    and the sorted descriptions of its keys (``id(memo)``, the id of the i-th
    keep-alive object, or any other key verbatim)."""
    keys = list(memo.keys())
    ka = _keepalive(memo)
    ka_len = len(ka) if isinstance(ka, list) else (None if ka is _NO else f"not a list: {type(ka).__name__}")
    descs = sorted((_describe_key(memo, k) for k in keys), key=repr)
    return (len(keys), ka_len, tuple(descs))


def assert_same_copy(
    original: Any,
    expected: Any,
    actual: Any,
    *,
    memos: tuple[Any, Any] | None = None,
    actual_original: Any = _NO,
) -> CopyMatcher:
    """Assert that ``actual`` copies ``original`` exactly like ``expected`` does.

    ``memos=(expected_memo, actual_memo)`` also compares the memos left behind.
    ``actual_original``: the implementation ran on this twin of ``original``.
    """
    m = CopyMatcher(original, actual_original)
    work = [(expected, actual, "root")]
    if memos is not None:
        work += m.memo_work(*memos)
    m._run(work)
    return m


def assert_isomorphic(a: Any, b: Any) -> None:
    """Same types, values, sharing and cycles (no original to refer to)."""
    CopyMatcher().match(a, b)
