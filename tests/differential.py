"""Run the oracle and the implementation, and compare what they did."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Callable

from _impl import impl
from isomorphism import _NO, assert_same_copy


@dataclasses.dataclass
class Outcome:
    """What a call did: returned ``value`` or raised ``exc``."""

    value: Any = None
    exc: BaseException | None = None

    def describe(self) -> str:
        if self.exc is not None:
            return f"raised {type(self.exc).__qualname__}: {self.exc}"
        return "returned a value"


def run(call: Callable[[], Any], catch: type[BaseException] | tuple[type[BaseException], ...] = Exception) -> Outcome:
    """Call ``call()`` and record its result or its exception."""
    try:
        return Outcome(value=call())
    except catch as exc:
        return Outcome(exc=exc)


def assert_same_exception(expected: BaseException, actual: BaseException, *, compare_message: bool = True) -> None:
    """Same exception type and (unless told otherwise) the same message."""
    assert type(actual) is type(expected), (
        f"implementation raised {type(actual).__qualname__}: {actual}\n"
        f"stdlib raised         {type(expected).__qualname__}: {expected}"
    )
    if compare_message and not isinstance(expected, RecursionError):
        assert str(actual) == str(expected), f"messages differ:\n  stdlib: {expected}\n  impl:   {actual}"


def assert_same_outcome(
    expected: Outcome,
    actual: Outcome,
    original: Any,
    *,
    memos: tuple[Any, Any] | None = None,
    actual_original: Any = _NO,
    compare_message: bool = True,
) -> None:
    """Both returned equivalent copies (see ``assert_same_copy``), or both
    raised the same exception."""
    if expected.exc is not None:
        assert actual.exc is not None, f"stdlib {expected.describe()}, implementation returned a value"
        assert_same_exception(expected.exc, actual.exc, compare_message=compare_message)
        return
    if actual.exc is not None:
        raise AssertionError(f"stdlib returned a value, implementation {actual.describe()}") from actual.exc
    assert_same_copy(original, expected.value, actual.value, memos=memos, actual_original=actual_original)


def check_deepcopy_twins(factory: Callable[[], Any], memo: Callable[[], Any] | None = None) -> tuple[Outcome, Outcome]:
    """For inputs that hooks (or the tables they change) make one-shot: each
    implementation deep-copies its own twin, made by ``factory``; with
    ``memo``, each gets a memo it makes, and the memos are compared too."""
    xe, xa = factory(), factory()
    if memo is None:
        e = run(lambda: copy.deepcopy(xe))
        a = run(lambda: impl.deepcopy(xa))
        assert_same_outcome(e, a, xe, actual_original=xa)
    else:
        me, ma = memo(), memo()
        e = run(lambda: copy.deepcopy(xe, me))
        a = run(lambda: impl.deepcopy(xa, ma))
        assert_same_outcome(e, a, xe, actual_original=xa, memos=(me, ma))
    return e, a
