"""Implementations of ``python -m fastcopy.bench``: how a workload is copied.

Each implementation turns one object into a *call*: ``(function, args)``,
prepared outside the timed loop, whose ``function(*args)`` makes one copy.

=====================  ======================================================
``stdlib``             ``copy.deepcopy(obj)``
``fastcopy``           ``fastcopy.deepcopy(obj)``
``fastcopy-dispatch``  ``fastcopy.patch(mode="dispatch")`` once, then
                       ``copy.deepcopy(obj)``: the design report's
                       integration (C list/dict/tuple entries in
                       ``copy._deepcopy_dispatch``, the rest in Python)
``fastcopy-patch``     ``fastcopy.patch()`` once, then ``copy.deepcopy(obj)``
                       (the stdlib's function routed to fastcopy; only
                       with ``-i``, not in the default set)
``template``           ``t = fastcopy.Template(obj)`` once, then ``t()``
                       (skipped with a note while fastcopy has no Template)
``pickle``             ``pickle.loads(pickle.dumps(obj, HIGHEST_PROTOCOL))``
``copium`` ...         every importable peer: ``<module>.deepcopy(obj)``
``floor``              ``_fastcopy._alloc_floor(containers)``: allocate and
                       fill the graph's containers only (the physical
                       reference, see ``floor.c``); not a copy
=====================  ======================================================
"""

from __future__ import annotations

import copy
import importlib
import pickle
from typing import Any, Callable

from .workloads import collect_containers

__all__ = ["IMPLS", "PEERS", "available", "prepare", "select", "ImplError", "is_peer"]


class ImplError(ValueError):
    """A bad implementation selection (reported as a CLI error)."""


BUILTIN = ("stdlib", "fastcopy", "fastcopy-dispatch", "fastcopy-patch", "template", "pickle")
NOT_DEFAULT = ("fastcopy-patch",)
# peer name -> (module, function); more with --peer NAME=MODULE:FUNC
PEERS: dict[str, tuple[str, str]] = {"copium": ("copium", "deepcopy")}
FLOOR = "floor"
IMPLS = BUILTIN + tuple(PEERS) + (FLOOR,)


def add_peer(spec: str) -> str:
    """Register ``NAME=MODULE:FUNC`` as a peer; return NAME."""
    name, sep, target = spec.partition("=")
    mod, sep2, func = target.partition(":")
    if not (sep and sep2 and name and mod and func) or "/" in name:
        raise ImplError(f"--peer {spec!r}: expected NAME=MODULE:FUNCTION, e.g. mycopy=mycopy:deepcopy")
    if name in BUILTIN or name == FLOOR:
        raise ImplError(f"--peer {spec!r}: {name!r} is a built-in implementation")
    PEERS[name] = (mod, func)
    return name


def all_names() -> list[str]:
    return list(BUILTIN) + list(PEERS) + [FLOOR]


def default_names() -> list[str]:
    return [n for n in all_names() if n not in NOT_DEFAULT]


def is_peer(name: str) -> bool:
    return name in PEERS


def available(name: str) -> tuple[bool, str]:
    """(usable here, note): the note says why not, or the version used."""
    if name == "stdlib" or name == "pickle":
        return True, ""
    if name in ("fastcopy", "fastcopy-dispatch", "fastcopy-patch", FLOOR):
        import fastcopy

        return True, f"fastcopy {fastcopy.__version__}"
    if name == "template":
        import fastcopy

        if not hasattr(fastcopy, "Template"):
            return False, ("fastcopy.Template does not exist in this build of fastcopy "
                           f"({fastcopy.__file__}); the 'template' implementation is skipped")
        return True, ""
    if name in PEERS:
        mod, func = PEERS[name]
        try:
            module = importlib.import_module(mod)
        except ImportError as exc:
            hint = " (pip install copium, or pip install 'fastcopy[bench]')" if name == "copium" else ""
            return False, f"peer {name!r} is not installed: cannot import {mod} ({exc}){hint}; skipped"
        if not callable(getattr(module, func, None)):
            return False, f"peer {name!r}: {mod}.{func} is not callable; skipped"
        try:
            from importlib.metadata import version

            return True, f"{mod} {version(mod)}"
        except Exception:  # noqa: BLE001 - the version is only informative
            return True, f"{mod} {getattr(module, '__version__', '?')}"
    raise ImplError(f"unknown implementation {name!r}; known: {', '.join(all_names())}")


def keep_available(names: list[str]) -> list[str]:
    """The names of ``names`` that can run here; prints a note for each other."""
    kept = []
    for n in names:
        ok, note = available(n)
        if ok:
            kept.append(n)
        else:
            print(f"note: {note}")
    return kept


def driver_args(ns: Any) -> list[str]:
    """The child driver's arguments for the workload sources and peers given
    on the command line (``--workload-module``, ``--pickle``, ``--peer``)."""
    out: list[str] = []
    for m in ns.workload_module:
        out += ["--workload-module", m]
    for f in ns.pickle:
        out += ["--pickle", f]
    for s in ns.peer:
        out += ["--peer", s]
    return out


def select(patterns: list[str] | None, default: list[str] | None = None) -> list[str]:
    """Implementation names matching the names/globs, in canonical order."""
    import fnmatch

    names = all_names()
    if not patterns:
        return list(default) if default is not None else default_names()
    chosen: set[str] = set()
    for pat in patterns:
        hits = [n for n in names if fnmatch.fnmatchcase(n, pat)]
        if not hits:
            raise ImplError(f"no implementation matches {pat!r}; known: {', '.join(names)}")
        chosen.update(hits)
    return [n for n in names if n in chosen]


def _pickle_round_trip(obj: Any, _dumps=pickle.dumps, _loads=pickle.loads, _p=pickle.HIGHEST_PROTOCOL) -> Any:
    return _loads(_dumps(obj, _p))


def prepare(name: str, obj: Any) -> tuple[Callable[..., Any], tuple[Any, ...]]:
    """The call that copies ``obj`` once with implementation ``name``.

    Run outside the timed loop.  ``fastcopy-dispatch`` patches the process
    (dispatch mode) and leaves it patched: the benchmark workers run one
    implementation each; other callers must call ``fastcopy.unpatch()``.
    """
    if name == "stdlib":
        return copy.deepcopy, (obj,)
    if name == "fastcopy":
        import fastcopy

        return fastcopy.deepcopy, (obj,)
    if name == "fastcopy-dispatch":
        import fastcopy

        fastcopy.patch(mode="dispatch")  # idempotent; undoes another mode first
        return copy.deepcopy, (obj,)
    if name == "fastcopy-patch":
        import fastcopy

        fastcopy.patch()  # function mode; idempotent; undoes dispatch mode first
        return copy.deepcopy, (obj,)
    if name == "template":
        import fastcopy

        t = fastcopy.Template(obj)  # type: ignore[attr-defined]
        return t, ()
    if name == "pickle":
        return _pickle_round_trip, (obj,)
    if name == FLOOR:
        from fastcopy._fastcopy import _alloc_floor

        return _alloc_floor, (collect_containers(obj),)
    if name in PEERS:
        mod, func = PEERS[name]
        return getattr(importlib.import_module(mod), func), (obj,)
    raise ImplError(f"unknown implementation {name!r}")


def copier(name: str) -> Callable[[Any], Any]:
    """``obj -> copy`` for implementation ``name`` (for verification):
    prepares and calls once per object."""

    def run(obj: Any) -> Any:
        fn, args = prepare(name, obj)
        try:
            return fn(*args)
        finally:
            if name in ("fastcopy-dispatch", "fastcopy-patch"):
                import fastcopy

                fastcopy.unpatch()

    return run
