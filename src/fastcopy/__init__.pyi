"""Type stubs for fastcopy: copy.deepcopy, copy.copy and copy.replace in C."""

from copy import Error as Error
from typing import Any, Protocol, TypeVar

__all__ = ["Error", "copy", "deepcopy", "replace"]
__version__: str

_T = TypeVar("_T")

class _SupportsReplace(Protocol):
    # In reality the method takes the fields to replace as keyword arguments.
    def __replace__(self, /, **changes: Any) -> Any: ...

_SR = TypeVar("_SR", bound=_SupportsReplace)

def deepcopy(x: _T, memo: dict[int, Any] | None = None) -> _T:
    """Deep copy of x, with copy.deepcopy's exact semantics.

    memo, when given, is used and left exactly as copy.deepcopy leaves it.
    """

def copy(x: _T) -> _T:
    """Shallow copy of x, with copy.copy's exact semantics."""

def replace(obj: _SR, /, **changes: Any) -> _SR:
    """New object with the given fields replaced (copy.replace of 3.13)."""
