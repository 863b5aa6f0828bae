"""Signal handlers run inside a long copy (the engine checks for them every
16,384 frames, as the stdlib's loop would run them between bytecodes): an
exception a handler raises comes out of deepcopy, and a handler that
empties the very containers being copied leaves a consistent copy, not a
use of freed memory (run it under ASan or PYTHONMALLOC=debug to see the
difference: the engine takes the frame's reference to a container before
the check, since its list and dict path holds none of its own)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from _impl import IS_STDLIB, impl

pytestmark = pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs signal.setitimer")


class Stop(Exception):
    pass


def test_exception_from_a_signal_handler_stops_the_copy() -> None:
    x = [[{"k": [i]}] for i in range(200_000)]
    def handler(signum: int, frame: object) -> None:
        raise Stop

    old = signal.signal(signal.SIGALRM, handler)
    raised = 0
    try:
        for _ in range(5):
            signal.setitimer(signal.ITIMER_REAL, 0.001)
            try:
                y = impl.deepcopy(x)
            except Stop:
                raised += 1
            else:
                assert y == x
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, old)
    assert raised >= 1


_EMPTYING = textwrap.dedent(
    """
    import signal, sys, time
    sys.path.insert(0, {tests!r})
    from _impl import impl

    inside = 0
    copying = False
    outer = []

    def handler(signum, frame):
        global inside
        if copying:
            signal.setitimer(signal.ITIMER_REAL, 0)    # once a copy
            inside += 1
            for e in outer:        # drop every element's only reference
                e.clear()
            outer.clear()

    signal.signal(signal.SIGALRM, handler)
    t0 = time.monotonic()
    n = 0
    while inside < 30 and time.monotonic() - t0 < 30:
        # every element is a list or dict that pushes a frame; the first
        # elements shift which one the check falls on
        outer = [[[n]] for _ in range(n % 5)]
        outer += [[[i], i] if i % 2 else {{"a": i, "b": [i]}} for i in range(30_000)]
        copying = True
        signal.setitimer(signal.ITIMER_REAL, 0.0002, 0.0002)   # pending at the check
        try:
            y = impl.deepcopy(outer)
        except RuntimeError as e:        # a dict emptied under its iteration
            assert "changed size during iteration" in str(e), e
            y = None
        copying = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        if y is not None:
            assert type(y) is list
            for e in y:
                assert type(e) in (list, dict)
        n += 1
    print(inside, n)
    """
)


def test_signal_handler_emptying_the_containers_being_copied() -> None:
    code = _EMPTYING.format(tests=os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    # freed memory overwritten, unless a run under ASan routes it there
    env.setdefault("PYTHONMALLOC", "debug")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert int(proc.stdout.split()[0]) >= 20, proc.stdout
