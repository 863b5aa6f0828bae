"""Selection of the implementation under test, and the stdlib oracle.

``FASTCOPY_TEST_IMPL=stdlib`` replaces ``fastcopy`` with a *separate
instance* of the running interpreter's ``copy`` module (loaded from
``copy.__file__`` under another name).  That lets the whole suite be checked
against an implementation that is the stdlib by construction, while tests
remain free to monkeypatch the real ``copy`` module (e.g. the stdlib-suite
test routes ``copy.deepcopy`` to the implementation under test).

The separate instance is adjusted so that it honours the same contract as
fastcopy: ``Error`` *is* ``copy.Error``, third-party registrations in the
real ``copy._deepcopy_dispatch`` are honoured, and ``replace`` exists on
3.10-3.12 too.

This module is importable from test modules and from the subprocesses that
the depth tests start (they put this directory on ``sys.path``).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import importlib.util
import os
import sys
import types
from typing import Any

ENV_VAR = "FASTCOPY_TEST_IMPL"
IMPL_NAME: str = os.environ.get(ENV_VAR, "fastcopy") or "fastcopy"
IS_STDLIB: bool = IMPL_NAME == "stdlib"

_MISSING = object()


def _builtin_replace_313(cls: type) -> Any:
    """The ``__replace__`` that CPython 3.13 gives cls, when it gives one.

    3.13 added ``__replace__`` to named tuples, dataclasses, date/time/
    datetime, code objects and SimpleNamespace, delegating to the replace
    functions these classes already had; fastcopy offers 3.13's behaviour on
    older interpreters, so the oracle there is those functions.
    """
    if dataclasses.is_dataclass(cls):
        return dataclasses.replace
    if issubclass(cls, tuple) and hasattr(cls, "_fields") and hasattr(cls, "_replace"):
        return cls._replace
    if issubclass(cls, (datetime.date, datetime.time, types.CodeType)):
        return cls.replace
    if issubclass(cls, types.SimpleNamespace):

        def replace_namespace(obj: Any, /, **changes: Any) -> Any:
            result = type(obj)(**obj.__dict__)
            result.__dict__.update(changes)
            return result

        return replace_namespace
    return None


def _replace_313(obj: Any, /, **changes: Any) -> Any:
    """The code of ``copy.replace`` from CPython 3.13 (with 3.13's
    ``__replace__`` methods of the builtin classes above)."""
    cls = obj.__class__
    func = getattr(cls, "__replace__", None)
    if func is None and isinstance(cls, type):
        func = _builtin_replace_313(cls)
    if func is None:
        raise TypeError(f"replace() does not support {cls.__name__} objects")
    return func(obj, **changes)


#: The oracle for ``replace``: the interpreter's own on 3.13+, else the 3.13 code.
oracle_replace = getattr(copy, "replace", _replace_313)


class _DispatchOverlay:
    """Stand-in for the separate instance's ``_deepcopy_dispatch``.

    A lookup consults the *real* ``copy._deepcopy_dispatch``: an entry that a
    third party added or replaced there wins; an entry that is still the
    stdlib's own resolves to this instance's function (so recursion stays in
    the separate instance).
    """

    def __init__(self, own: dict[type, Any], real: dict[type, Any]) -> None:
        self._own = own
        self._real = real
        self._pristine = dict(real)

    def get(self, key: type, default: Any = None) -> Any:
        found = self._real.get(key, _MISSING)
        if found is _MISSING:
            return default
        if self._pristine.get(key, _MISSING) is found:
            return self._own.get(key, default)
        return found


class _SetOverlay:
    """Stand-in for the separate instance's type sets (3.14+:
    ``_atomic_types``, ``_copy_atomic_types``, ``_copy_builtin_containers``):
    membership is that of the set the *real* ``copy`` module has under the
    same name now, so that a change a test makes there is honoured."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __contains__(self, item: Any) -> bool:
        return item in getattr(copy, self._name)


def load_stdlib_instance() -> types.ModuleType:
    """A fresh, independent instance of the stdlib ``copy`` module."""
    name = "_fastcopy_tests_stdlib_copy"
    spec = importlib.util.spec_from_file_location(name, copy.__file__)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.Error = mod.error = copy.Error  # the contract: Error *is* copy.Error
    mod._deepcopy_dispatch = _DispatchOverlay(mod._deepcopy_dispatch, copy._deepcopy_dispatch)
    for name in ("_atomic_types", "_copy_atomic_types", "_copy_builtin_containers"):
        if hasattr(mod, name):
            setattr(mod, name, _SetOverlay(name))
    if not hasattr(mod, "replace"):
        mod.replace = _replace_313
    return mod


def load_impl() -> Any:
    """The implementation under test: ``fastcopy``, or the stdlib stand-in."""
    if IS_STDLIB:
        return load_stdlib_instance()
    if IMPL_NAME != "fastcopy":
        raise RuntimeError(f"{ENV_VAR} must be 'stdlib' or 'fastcopy', not {IMPL_NAME!r}")
    import fastcopy

    return fastcopy


try:
    impl: Any = load_impl()
    IMPORT_ERROR: BaseException | None = None
except ImportError as exc:  # reported by conftest.py with a readable message
    impl = None
    IMPORT_ERROR = exc

PY_VERSION = sys.version_info[:2]
