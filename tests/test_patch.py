"""fastcopy.patch(): every caller of copy.deepcopy / copy.copy is routed,
references taken earlier included; unpatch() restores the stdlib exactly."""

from __future__ import annotations

import copy
import gc
import inspect
import io
import sys
import threading
import unittest
from copy import copy as early_copy
from copy import deepcopy as early_deepcopy
from typing import Any, Callable, Iterator

import pytest

from _impl import IS_STDLIB, impl
from differential import assert_same_outcome, run

pytestmark = pytest.mark.skipif(IS_STDLIB, reason="patching is fastcopy's feature; the stdlib stand-in has none")

MODES = ["function", "dispatch"]
DEPTH = 5000  # the stdlib raises RecursionError long before this


def _nested(depth: int) -> list[Any]:
    x: list[Any] = []
    for _ in range(depth):
        x = [x]
    return x


def _copies_deeply(fn: Callable[[Any], Any]) -> bool:
    try:
        fn(_nested(DEPTH))
    except RecursionError:
        return False
    return True


def _default_arg(x: Any, _deepcopy: Callable[..., Any] = copy.deepcopy) -> Any:
    return _deepcopy(x)


CALLABLES = {"copy.deepcopy": copy.deepcopy}


@pytest.fixture(autouse=True)
def _always_unpatch() -> Iterator[None]:
    impl.unpatch()
    yield
    impl.unpatch()


def _stdlib_frames(fn: Callable[[], Any]) -> set[str]:
    """Names of the Python functions of Lib/copy.py that ran during fn()."""
    seen: set[str] = set()

    def profiler(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code.co_filename == copy.__file__:
            seen.add(frame.f_code.co_name)

    sys.setprofile(profiler)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return seen


def test_function_mode_routes_every_reference() -> None:
    assert not _copies_deeply(early_deepcopy)
    impl.patch()
    assert impl.is_patched() and impl.patch_mode() == "function"
    for fn in (copy.deepcopy, early_deepcopy, _default_arg, CALLABLES["copy.deepcopy"]):
        assert _copies_deeply(fn)
    assert _stdlib_frames(lambda: early_deepcopy({"a": [1, (2, [3])]})) == set()
    assert _stdlib_frames(lambda: early_copy([1, 2])) == set()
    impl.unpatch()
    assert not impl.is_patched()
    assert not _copies_deeply(early_deepcopy)
    # the stdlib's own frames run again
    assert {"deepcopy", "_deepcopy_list"} <= _stdlib_frames(lambda: early_deepcopy([[1]]))
    assert "copy" in _stdlib_frames(lambda: early_copy([1]))


def test_dispatch_mode_keeps_stdlib_in_charge() -> None:
    table = copy._deepcopy_dispatch  # type: ignore[attr-defined]
    before = dict(table)
    impl.patch("dispatch")
    assert impl.patch_mode() == "dispatch"
    assert table[list] is impl.deepcopy_list_c
    assert table[dict] is impl.deepcopy_dict_c
    assert table[tuple] is impl.deepcopy_tuple_c
    frames = _stdlib_frames(lambda: copy.deepcopy([{"a": (1, [2])}]))
    assert "deepcopy" in frames and "_deepcopy_list" not in frames
    impl.unpatch()
    assert table == before and all(table[k] is before[k] for k in before)


@pytest.mark.parametrize("mode", MODES)
def test_identity_and_metadata_unchanged(mode: str) -> None:
    funcs = (copy.deepcopy, copy.copy)
    meta = [(f.__name__, f.__qualname__, f.__module__, f.__doc__, inspect.signature(f)) for f in funcs]
    impl.patch(mode)
    assert (copy.deepcopy, copy.copy) == funcs
    assert [(f.__name__, f.__qualname__, f.__module__, f.__doc__, inspect.signature(f)) for f in funcs] == meta
    impl.unpatch()
    assert [(f.__name__, f.__qualname__, f.__module__, f.__doc__, inspect.signature(f)) for f in funcs] == meta


def test_wrapped_is_the_stdlib_code_while_patched() -> None:
    originals = {f: f.__code__ for f in (copy.deepcopy, copy.copy)}
    assert not hasattr(copy.deepcopy, "__wrapped__")
    impl.patch()
    for f, code in originals.items():
        inner = inspect.unwrap(f)
        assert inner is not f and inner.__code__ is code
        assert inner.__code__.co_filename == copy.__file__
        assert inspect.signature(inner) == inspect.signature(f)
    impl.unpatch()
    for f, code in originals.items():
        assert not hasattr(f, "__wrapped__") and f.__code__ is code


@pytest.mark.parametrize("mode", MODES)
def test_idempotent(mode: str) -> None:
    impl.patch(mode)
    impl.patch(mode)
    assert impl.patch_mode() == mode
    impl.unpatch()
    impl.unpatch()
    assert not impl.is_patched()
    assert not _copies_deeply(copy.deepcopy)


def test_switching_modes_and_context_manager() -> None:
    impl.patch("dispatch")
    impl.patch("function")
    assert copy._deepcopy_dispatch[list] is not impl.deepcopy_list_c  # type: ignore[attr-defined]
    with impl.patched("dispatch"):
        assert impl.patch_mode() == "dispatch"
    assert impl.patch_mode() == "function"
    impl.unpatch()
    with impl.patched():
        assert _copies_deeply(early_deepcopy)
    assert not impl.is_patched()


@pytest.mark.parametrize("mode", MODES)
def test_cpython_test_copy_passes_patched(mode: str) -> None:
    import copyreg
    import test.test_copy as tc

    impl.patch(mode)
    suite = unittest.defaultTestLoader.loadTestsFromModule(tc)
    stream = io.StringIO()
    registered = dict(copyreg.dispatch_table)
    try:
        result = unittest.TextTestRunner(stream=stream, verbosity=0).run(suite)
    finally:
        # CPython's test_copy_registry tests leave their local classes in
        # copyreg.dispatch_table
        copyreg.dispatch_table.clear()
        copyreg.dispatch_table.update(registered)
    assert result.wasSuccessful(), stream.getvalue()[-5000:]
    assert result.testsRun > 50


@pytest.mark.parametrize("mode", MODES)
def test_patched_results_match_stdlib(mode: str) -> None:
    class Node:
        def __init__(self) -> None:
            self.children: list[Any] = []
            self.parent: Any = None

    root = Node()
    kid = Node()
    kid.parent = root
    root.children.append(kid)
    samples = [
        {"a": [1, 2, (3, [4])], "b": {1, 2}},
        root,
        ([],),
        [1, "x", None, 2.5, b"b"],
    ]
    expected = [run(lambda s=s: copy.deepcopy(s)) for s in samples]
    impl.patch(mode)
    actual = [run(lambda s=s: copy.deepcopy(s)) for s in samples]
    for s, e, a in zip(samples, expected, actual):
        assert_same_outcome(e, a, s)


def test_keyword_and_odd_calls_fall_back_to_stdlib_errors() -> None:
    impl.patch()
    assert copy.deepcopy(x=[1]) == [1]
    memo: dict[int, Any] = {}
    y = copy.deepcopy([1], memo=memo)
    assert memo[id(memo)] and y == [1]
    odd_calls = (
        lambda: copy.deepcopy(),
        lambda: copy.deepcopy([1], bogus=1),
        lambda: copy.copy(),
        # the private third parameter _nil (up to 3.14; a TypeError on 3.15)
        lambda: copy.deepcopy([1], None, []),
        lambda: copy.deepcopy([1], _nil=[]),
        lambda: copy.deepcopy([1], {}, [], 4),
    )
    for call in odd_calls:
        impl.unpatch()
        e = run(call, catch=TypeError)
        impl.patch()
        a = run(call, catch=TypeError)
        assert type(e.exc) is type(a.exc) and str(e.exc) == str(a.exc)
        if e.exc is None:
            assert a.value == e.value


def test_thread_safety_of_patch_toggling() -> None:
    data = {"k": [1, 2, {"z": (3, [4])}], "s": "t"}
    errors: list[BaseException] = []
    stop = threading.Event()

    def copier() -> None:
        try:
            while not stop.is_set():
                assert copy.deepcopy(data) == data
                assert early_copy(data) == data
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=copier) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for i in range(200):
            impl.patch(MODES[i % 2])
            impl.unpatch()
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors
    assert not impl.is_patched()


class _NestedHook:
    """Its __deepcopy__ calls copy.deepcopy again, so calls of the patched
    function nest (a nested call needs a new frame; 3.10 reuses a code
    object's last frame only when it is free)."""

    def __init__(self, v: Any) -> None:
        self.v = v

    def __deepcopy__(self, memo: dict[int, Any]) -> _NestedHook:
        return _NestedHook(copy.deepcopy(self.v, memo))


def _unhook(x: Any) -> Any:
    if isinstance(x, _NestedHook):
        return ("hook", _unhook(x.v))
    if isinstance(x, list):
        return [_unhook(v) for v in x]
    return x


def test_toggling_from_a_collection_inside_a_call() -> None:
    """A collection that runs inside a call of copy.deepcopy (before 3.12 it
    runs in the allocation of the call's frame) toggles patch()/unpatch().

    Regression: on 3.10 fastcopy used to swap ``__code__``, and 3.10 sizes
    a new frame for the code it read before allocating and then stores the
    function's code as it is after: the toggle in between left a frame of
    one code object running the other, and this test segfaulted every run
    (patch.c's header comment).  The same happened with threads in
    tests/test_threads.py."""
    data = [_NestedHook([_NestedHook({"k": (i, [i])}) for i in range(3)]) for _ in range(3)]
    expected = _unhook(copy.deepcopy(data))
    armed = False
    toggles = 0

    def toggle(phase: str, info: dict[str, Any]) -> None:
        nonlocal armed, toggles
        if phase != "start" or not armed:
            return
        armed = False  # patch() allocates too: no nested toggling
        try:
            if impl.is_patched():
                impl.unpatch()
            else:
                impl.patch()
            toggles += 1
        finally:
            armed = True

    threshold = gc.get_threshold()
    gc.callbacks.append(toggle)
    gc.set_threshold(1)
    try:
        for _ in range(1500):
            armed = True
            got = copy.deepcopy(data)
            armed = False
            assert _unhook(got) == expected
    finally:
        armed = False
        gc.set_threshold(*threshold)
        gc.callbacks.remove(toggle)
    assert toggles > 1000, toggles


def test_patch_mechanism_per_version() -> None:
    """3.10 and 3.12+ patch the functions' entry point and leave their code
    alone; 3.11 swaps __code__ for a trampoline (see _patch.py)."""
    codes = {f: f.__code__ for f in (copy.deepcopy, copy.copy)}
    with impl.patched():
        for f, code in codes.items():
            if sys.version_info[:2] == (3, 11):
                assert f.__code__ is not code and f.__code__.co_filename == "<fastcopy.patch>"
            else:
                assert f.__code__ is code
            assert _copies_deeply(f) if f is copy.deepcopy else f([1]) == [1]
    assert all(f.__code__ is code for f, code in codes.items())


def test_bad_mode() -> None:
    with pytest.raises(ValueError):
        impl.patch("everything")
    assert not impl.is_patched()


# --------------------------------------------------------------------------
# the design report's functions, one by one against the stdlib's


_PAIRS = [
    ("deepcopy_list_c", "_deepcopy_list", [1, [2, 3], {"a": (4,)}]),
    ("deepcopy_dict_c", "_deepcopy_dict", {"a": [1], (1, 2): {"b": 2}, "c": None}),
    ("deepcopy_tuple_c", "_deepcopy_tuple", (1, [2], (3, [4]))),
    ("deepcopy_tuple_c", "_deepcopy_tuple", (1, 2, "atoms only")),
]


@pytest.mark.parametrize("native,stdlib,x", _PAIRS, ids=[p[0] + str(i) for i, p in enumerate(_PAIRS)])
def test_report_functions_match_stdlib(native: str, stdlib: str, x: Any) -> None:
    from isomorphism import memo_shape

    me: dict[int, Any] = {}
    ma: dict[int, Any] = {}
    e = run(lambda: getattr(copy, stdlib)(x, me))
    a = run(lambda: getattr(impl, native)(x, ma))
    assert_same_outcome(e, a, x)
    assert memo_shape(me) == memo_shape(ma)
    # with an explicit deepcopy callable, as copy.py passes it
    a2 = run(lambda: getattr(impl, native)(x, {}, copy.deepcopy))
    assert_same_outcome(e, a2, x)


def test_report_functions_bad_input() -> None:
    for name in ("deepcopy_list_c", "deepcopy_dict_c", "deepcopy_tuple_c"):
        fn = getattr(impl, name)
        with pytest.raises(TypeError):
            fn(5, {})
        with pytest.raises(TypeError):
            fn([])
        with pytest.raises(TypeError):
            fn([], {}, copy.deepcopy, "extra")

    class Grow:
        def __deepcopy__(self, memo: Any) -> int:
            d["new"] = 1
            return 1

    d: dict[str, Any] = {"g": Grow(), "x": 2}
    with pytest.raises(RuntimeError, match="changed size"):
        impl.deepcopy_dict_c(d, {})


def test_fastcopy_itself_while_dispatch_patched() -> None:
    x = {"a": [1, (2, [3])], "b": {4}}
    expected = copy.deepcopy(x)
    impl.patch("dispatch")
    assert impl.deepcopy(x) == expected
