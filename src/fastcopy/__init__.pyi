"""Type stubs for fastcopy: copy.deepcopy, copy.copy and copy.replace in C."""

from contextlib import AbstractContextManager
from copy import Error as Error
from typing import Any, Callable, Generic, Literal, Protocol, TypeVar, final

__all__ = [
    "Error",
    "Template",
    "copy",
    "deepcopy",
    "deepcopy_dict_c",
    "deepcopy_list_c",
    "deepcopy_tuple_c",
    "is_patched",
    "patch",
    "patch_mode",
    "patched",
    "replace",
    "replicate",
    "unpatch",
]
MAX_DEPTH: int
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

_Mode = Literal["function", "dispatch"]

def patch(mode: _Mode = "function") -> None:
    """Route every copy.deepcopy / copy.copy call in the process through
    fastcopy, including references taken before the call.  Idempotent."""

def unpatch() -> None:
    """Restore the standard library's behaviour exactly.  Idempotent."""

def is_patched() -> bool:
    """True while patch() is in effect."""

def patch_mode() -> _Mode | None:
    """The mode patch() is in effect with, or None."""

def patched(mode: _Mode = "function") -> AbstractContextManager[None]:
    """Context manager: patched for the block, previous state restored after."""

def deepcopy_list_c(x: list[Any], memo: dict[int, Any], deepcopy: Callable[..., Any] = ..., /) -> list[Any]:
    """copy._deepcopy_list in C (the design report's interface)."""

def deepcopy_dict_c(x: dict[Any, Any], memo: dict[int, Any], deepcopy: Callable[..., Any] = ..., /) -> dict[Any, Any]:
    """copy._deepcopy_dict in C (the design report's interface)."""

def deepcopy_tuple_c(x: tuple[Any, ...], memo: dict[int, Any], deepcopy: Callable[..., Any] = ..., /) -> tuple[Any, ...]:
    """copy._deepcopy_tuple in C (the design report's interface)."""


@final
class Template(Generic[_T]):
    """A snapshot of an object that makes deep copies fast.

    ``Template(obj)`` describes obj's object graph once (docs/descriptor.md);
    each call returns a new deep copy of obj *as it was when the Template was
    built*, isomorphic to what copy.deepcopy(obj) returned then.  Graphs of
    builtin containers and plain instances are rebuilt from the descriptor
    without running Python code; graphs that need Python code (hooks,
    reducers) are deep-copied from a private snapshot.  Usable from several
    threads at once.
    """

    def __new__(cls, obj: _T, /) -> Template[_T]: ...
    def __call__(self) -> _T:
        """A new deep copy of the snapshot."""
    def replicate(self, n: int, /) -> list[_T]:
        """A list of n new deep copies."""
    @property
    def descriptor(self) -> bytes:
        """The descriptor of the snapshot (docs/descriptor.md)."""
    @property
    def leaves(self) -> tuple[Any, ...]:
        """The objects the descriptor's leaf references point to."""
    @property
    def replayable(self) -> bool:
        """True when a call rebuilds the copy without running Python code."""
    @property
    def nodes(self) -> int:
        """Number of node records in the descriptor."""

def replicate(obj: _T, n: int) -> list[_T]:
    """n deep copies of obj: Template(obj).replicate(n)."""
