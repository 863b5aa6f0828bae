"""CPython's own ``test.test_copy``, with ``copy.deepcopy`` / ``copy.copy``
(and ``copy.replace`` on 3.13+) routed to the implementation under test."""

from __future__ import annotations

import contextlib
import copy
import io
import unittest
from typing import Any, Iterator

import pytest

from _impl import impl

test_copy = pytest.importorskip("test.test_copy", reason="the interpreter's test package is not installed")

CALLS: dict[str, int] = {"deepcopy": 0, "copy": 0, "replace": 0}


def _make_wrappers() -> dict[str, Any]:
    """Python wrappers that look like the stdlib's functions (``__module__``,
    names, ``deepcopy``'s ``(x, memo=None, _nil=[])`` signature), so the
    suite's introspection (``test__all__`` on 3.13+) is satisfied."""

    def deepcopy(x: Any, memo: Any = None, _nil: Any = []) -> Any:  # noqa: B006 - the stdlib's signature
        CALLS["deepcopy"] += 1
        return impl.deepcopy(x, memo)

    def copy_(x: Any) -> Any:
        CALLS["copy"] += 1
        return impl.copy(x)

    def replace(obj: Any, /, **changes: Any) -> Any:
        CALLS["replace"] += 1
        return impl.replace(obj, **changes)

    wrappers = {"deepcopy": deepcopy, "copy": copy_, "replace": replace}
    for name, func in wrappers.items():
        func.__module__ = "copy"
        func.__name__ = func.__qualname__ = name
        func.__doc__ = getattr(copy, name, func).__doc__
    return wrappers


@contextlib.contextmanager
def routed_to_impl() -> Iterator[None]:
    wrappers = _make_wrappers()
    names = ["deepcopy", "copy"] + (["replace"] if hasattr(copy, "replace") else [])
    saved = {name: getattr(copy, name) for name in names}
    for name in names:
        setattr(copy, name, wrappers[name])
    try:
        yield
    finally:
        for name, func in saved.items():
            setattr(copy, name, func)


def _run_suite() -> unittest.TestResult:
    suite = unittest.defaultTestLoader.loadTestsFromModule(test_copy)
    stream = io.StringIO()
    with routed_to_impl():
        result = unittest.TextTestRunner(stream=stream, verbosity=2).run(suite)
    result.output = stream.getvalue()  # type: ignore[attr-defined]
    return result


@pytest.fixture(scope="module")
def suite_result() -> unittest.TestResult:
    for key in CALLS:
        CALLS[key] = 0
    return _run_suite()


def test_cpython_test_copy_passes(suite_result: unittest.TestResult) -> None:
    problems = [f"{kind}: {test}\n{tb}" for kind, pairs in (("ERROR", suite_result.errors), ("FAIL", suite_result.failures)) for test, tb in pairs]
    problems += [f"UNEXPECTED SUCCESS: {t}" for t in suite_result.unexpectedSuccesses]
    assert suite_result.wasSuccessful(), "\n\n".join(problems) or suite_result.output  # type: ignore[attr-defined]
    assert suite_result.testsRun > 50, suite_result.testsRun


def test_routing_was_in_effect(suite_result: unittest.TestResult) -> None:
    assert CALLS["deepcopy"] > 50, CALLS
    assert CALLS["copy"] > 20, CALLS
    if hasattr(copy, "replace"):
        assert CALLS["replace"] > 0, CALLS


def test_routing_is_undone(suite_result: unittest.TestResult) -> None:
    assert copy.deepcopy.__code__.co_filename == copy.__file__
    assert copy.copy.__code__.co_filename == copy.__file__
