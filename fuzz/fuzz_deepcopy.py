"""atheris (libFuzzer) harness: fuzz bytes -> hostile object graph -> the
stdlib and fastcopy must agree.

The bytes are decoded into a recipe of the same shape as the hypothesis
fuzzer's (tests/test_fuzz_hostile.py): containers, atoms, references back
to containers already built (sharing, cycles) and instances of the hostile
classes defined there.  The recipe is built twice; ``copy.deepcopy`` (or
``copy.copy``) runs on one graph, fastcopy on the other, and the outcomes
must be the same (equivalent copies and memos, or the same exception type
and message).  A mismatch raises, which libFuzzer reports with the input
that caused it; a crash of the interpreter is reported as such.

Run (tests/ must be importable):

    PYTHONPATH=tests python fuzz/fuzz_deepcopy.py -runs=20000
    PYTHONPATH=tests python fuzz/fuzz_deepcopy.py -max_total_time=600 CORPUS_DIR
    PYTHONPATH=tests python fuzz/fuzz_deepcopy.py fuzz/regressions/*   # replay

fuzz/regressions/ holds inputs that once failed (the dict fast path hashing
a key before its value was copied); the nox session replays them first.

Coverage feedback comes from the instrumented Python code (the decoder, the
hostile classes, the comparison); fastcopy's C code is not instrumented
(that needs a clang build with -fsanitize=fuzzer-no-link).
"""

from __future__ import annotations

import copy
import sys
from typing import Any

import atheris

import fastcopy
import hypothesis  # noqa: F401  (imported by the hostile classes' module; not instrumented)
from differential import assert_same_outcome, run

with atheris.instrument_imports(include=["test_fuzz_hostile"]):
    from test_fuzz_hostile import HOSTILE, Builder, _run

MAX_NODES = 40
MAX_DEPTH = 6


class Decoder:
    def __init__(self, data: bytes) -> None:
        self.fdp = atheris.FuzzedDataProvider(data)
        self.nodes = 0

    def atom(self) -> Any:
        k = self.fdp.ConsumeIntInRange(0, 5)
        if k == 0:
            return self.fdp.ConsumeIntInRange(-300, 300)
        if k == 1:
            return self.fdp.ConsumeUnicodeNoSurrogates(self.fdp.ConsumeIntInRange(0, 3))
        if k == 2:
            return None
        if k == 3:
            return self.fdp.ConsumeBool()
        if k == 4:
            f = self.fdp.ConsumeRegularFloat()
            return f
        return ("hkey", self.fdp.ConsumeIntInRange(0, 40))

    def key(self) -> Any:
        return self.atom()

    def recipe(self, depth: int = 0) -> Any:
        self.nodes += 1
        leaf = depth >= MAX_DEPTH or self.nodes >= MAX_NODES or self.fdp.remaining_bytes() == 0
        kind = self.fdp.ConsumeIntInRange(0, 1 if leaf else 6)
        if kind == 0:
            a = self.atom()
            return ("atom", None if isinstance(a, tuple) else a)
        if kind == 1:
            return ("ref", self.fdp.ConsumeIntInRange(0, 20))
        n = self.fdp.ConsumeIntInRange(0, 4)
        if kind == 2:
            return ("list", [self.recipe(depth + 1) for _ in range(n)])
        if kind == 3:
            return ("tuple", [self.recipe(depth + 1) for _ in range(n)])
        if kind == 4:
            return ("dict", [(self.key(), self.recipe(depth + 1)) for _ in range(n)])
        if kind == 5:
            return ("set", [self.key() for _ in range(n)])
        return ("hostile", self.fdp.ConsumeIntInRange(0, len(HOSTILE) - 1), self.fdp.ConsumeIntInRange(0, 1000),
                [self.recipe(depth + 1) for _ in range(min(n, 3))])


def TestOneInput(data: bytes) -> None:
    d = Decoder(data)
    op = d.fdp.ConsumeIntInRange(0, 2)
    wrap = d.fdp.ConsumeBool()
    recipe = d.recipe()

    def make() -> Any:
        x = Builder().build(recipe)
        return [x, [x]] if wrap else x

    xe, xa = make(), make()
    memo_e: Any = {} if op == 1 else None
    memo_a: Any = {} if op == 1 else None
    kind = "copy" if op == 2 else "deepcopy"
    expected = run(lambda: _run(kind, copy, xe, memo_e))
    actual = run(lambda: _run(kind, fastcopy, xa, memo_a))
    memos = (memo_e, memo_a) if memo_e is not None and expected.exc is None else None
    try:
        assert_same_outcome(expected, actual, xe, actual_original=xa, memos=memos)
    except AssertionError:
        print("recipe:", repr(recipe), "op:", kind, "memo:", op == 1, "wrap:", wrap, file=sys.stderr)
        raise


def main() -> None:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
