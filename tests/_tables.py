"""The copy module's tables, across versions: saved, compared, restored, and
changed the way a third party would change them.

3.10-3.13 list the atomic types as entries of ``copy._deepcopy_dispatch``
(copier ``copy._deepcopy_atomic``) and ``copy._copy_dispatch``.  3.14
replaced both with sets of types read on every call:
``copy._atomic_types`` (deepcopy, checked before the memo),
``copy._copy_atomic_types`` and ``copy._copy_builtin_containers`` (copy);
3.15 made them frozensets.  A set is changed in place, a frozenset by
binding a new one to the module's name: these helpers do whichever the
running interpreter's stdlib allows, so that a test states what it changes
("int is no longer atomic") and not how.
"""

from __future__ import annotations

import copy
import copyreg
from typing import Any

TYPE_SETS = ("_atomic_types", "_copy_atomic_types", "_copy_builtin_containers")
HAS_TYPE_SETS: bool = hasattr(copy, "_atomic_types")
DISPATCH: dict[Any, Any] = copy._deepcopy_dispatch  # type: ignore[attr-defined]


def snapshot() -> tuple[Any, ...]:
    """Everything a test may change: the dispatch tables' entries, the type
    sets (the object bound to each name and its members), copy.deepcopy."""
    sets = tuple((name, getattr(copy, name), frozenset(getattr(copy, name))) for name in TYPE_SETS if hasattr(copy, name))
    return (dict(DISPATCH), dict(copyreg.dispatch_table), sets, copy.deepcopy, copy.deepcopy.__code__)


def differences(before: tuple[Any, ...], after: tuple[Any, ...]) -> list[str]:
    """What changed between two snapshots, in words (empty if nothing)."""
    out = []
    for what, b, a in zip(("copy._deepcopy_dispatch", "copyreg.dispatch_table"), before, after):
        changed = {k for k in b.keys() | a.keys() if b.get(k) is not a.get(k)}
        if changed:
            out.append(f"{what} changed: {sorted(map(repr, changed))}")
    for (name, obj_b, members_b), (_, obj_a, members_a) in zip(before[2], after[2]):
        if obj_b is not obj_a:
            out.append(f"copy.{name} is bound to another object")
        if members_b != members_a:
            out.append(f"copy.{name} members changed: {sorted(map(repr, members_b ^ members_a))}")
    if before[3] is not after[3] or before[4] is not after[4]:
        out.append("copy.deepcopy patched")
    return out


def restore(saved: tuple[Any, ...]) -> None:
    """Put the tables back as snapshot() found them."""
    DISPATCH.clear()
    DISPATCH.update(saved[0])
    copyreg.dispatch_table.clear()
    copyreg.dispatch_table.update(saved[1])
    for name, obj, members in saved[2]:
        if isinstance(obj, set):
            obj.clear()
            obj.update(members)
        setattr(copy, name, obj)


def _change_set(name: str, add: Any = (), remove: Any = ()) -> None:
    current = getattr(copy, name)
    if isinstance(current, set):
        current.difference_update(remove)
        current.update(add)
    else:
        setattr(copy, name, (current - frozenset(remove)) | frozenset(add))


def make_not_atomic(tp: type) -> None:
    """deepcopy no longer returns instances of tp as they are."""
    if HAS_TYPE_SETS:
        _change_set("_atomic_types", remove=[tp])
    elif DISPATCH.get(tp) is copy._deepcopy_atomic:  # type: ignore[attr-defined]
        del DISPATCH[tp]


def make_atomic(tp: type) -> None:
    """deepcopy returns instances of tp as they are (what the stdlib does
    for its own atomic types)."""
    if HAS_TYPE_SETS:
        DISPATCH.pop(tp, None)
        _change_set("_atomic_types", add=[tp])
    else:
        DISPATCH[tp] = copy._deepcopy_atomic  # type: ignore[attr-defined]


def register_copier(tp: type, copier: Any) -> None:
    """copy._deepcopy_dispatch[tp] = copier, with tp no longer atomic (from
    3.14 the atomic check comes before the dispatch table)."""
    make_not_atomic(tp)
    DISPATCH[tp] = copier
