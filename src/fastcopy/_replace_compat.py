"""copy.replace for Python 3.10-3.12.

Python 3.13 added copy.replace together with ``__replace__`` methods on
named tuples, dataclasses, datetime objects, code objects and
SimpleNamespace.  On older interpreters those classes have no
``__replace__``, so this module supplies the 3.13 behaviour for them and
defers to ``__replace__`` for every class that defines one.
"""

from __future__ import annotations

import types

from ._fastcopy import replace as _native_replace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _replace_namespace(obj: types.SimpleNamespace, **changes: Any) -> Any:
    result = obj.__class__(**obj.__dict__)
    result.__dict__.update(changes)
    return result


def _builtin_replacer(obj: Any) -> Any:
    """The 3.13 __replace__ of obj's class, or None."""
    # Imported on the first call, not with fastcopy: under FASTCOPY_PATCH=1
    # fastcopy is imported at every interpreter start, and these two (with
    # what dataclasses imports: inspect, tokenize, ...) took 11 ms of it.
    import dataclasses
    import datetime

    cls = obj.__class__
    if dataclasses.is_dataclass(cls):
        return dataclasses.replace
    if isinstance(obj, tuple) and hasattr(cls, "_fields") and hasattr(cls, "_replace"):
        return cls._replace
    if isinstance(obj, (datetime.date, datetime.time, types.CodeType)):
        return cls.replace
    if isinstance(obj, types.SimpleNamespace):
        return _replace_namespace
    return None


def replace(obj: Any, /, **changes: Any) -> Any:
    """Return a new object replacing specified fields with new values.

    Same as copy.replace of Python 3.13: calls ``obj.__class__.__replace__``;
    named tuples, dataclasses, date/time/datetime, code objects and
    SimpleNamespace are supported as in 3.13.
    """
    if getattr(obj.__class__, "__replace__", None) is None:
        func = _builtin_replacer(obj)
        if func is not None:
            return func(obj, **changes)
    return _native_replace(obj, **changes)
