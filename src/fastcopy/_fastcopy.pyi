"""Stubs for the native module (use the `fastcopy` package instead)."""

from copy import Error as Error
from typing import Any, TypeVar

_T = TypeVar("_T")

MAX_DEPTH: int

def deepcopy(x: _T, memo: dict[int, Any] | None = None) -> _T: ...
def copy(x: _T) -> _T: ...
def replace(obj: _T, /, **changes: Any) -> _T: ...
