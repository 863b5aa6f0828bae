"""The accelerator model (fastcopy.fca.device, python -m fastcopy.fca).

Protocol at register level, the model's copies against copy.deepcopy, the
cost model's counts on small graphs worked out by hand, and the CLI.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import decimal
import os
import subprocess
import sys
from typing import Any

import pytest

from isomorphism import assert_same_copy

fca = pytest.importorskip("fastcopy.fca")  # needs the C extension (describe)

from fastcopy.fca import describe  # noqa: E402
from fastcopy.fca._corpus import corpus  # noqa: E402
from fastcopy.fca.device import (  # noqa: E402
    Control,
    CostParams,
    ErrorCode,
    FCABusError,
    FCADevice,
    FCAError,
    Reg,
    Status,
    accelerate,
    object_blocks,
    wait_for_result,
)
from fastcopy.fca.descriptor import DICT, LIST, SET, TUPLE  # noqa: E402

# --------------------------------------------------------------------------
# helpers


def _program(dev: FCADevice, obj: Any, *, data: bytes | None = None) -> None:
    """Step 1 and 2 by hand: place descriptor, leaf table and source."""
    d = describe(obj)
    mem = dev.memory
    data = d.data if data is None else data
    dev.write(Reg.DESC_ADDR, mem.place(data, len(data)))
    dev.write(Reg.DESC_LEN, len(data))
    dev.write(Reg.LEAF_ADDR, mem.place(tuple(d.leaves), 8 * len(d.leaves)))
    dev.write(Reg.SRC_ADDR, mem.place(obj))


def _status(dev: FCADevice) -> Status:
    return Status(dev.read(Reg.STATUS))


class Plain:
    pass


@dataclasses.dataclass
class DC:
    x: int
    items: list


class Hooked:
    """A python node: copied by the host through its __deepcopy__."""

    def __init__(self, v: Any) -> None:
        self.v = v

    def __deepcopy__(self, memo: dict) -> "Hooked":
        return Hooked(copy.deepcopy(self.v, memo))


class Peek:
    """A hook that records whether deepcopy had its target memoized already,
    so a memo that differs from the stdlib's shows in the copy."""

    def __init__(self, v: Any) -> None:
        self.v = v
        self.seen = None

    def __deepcopy__(self, memo: dict) -> "Peek":
        y = Peek(None)
        y.seen = id(self.v) in memo
        y.v = copy.deepcopy(self.v, memo)
        return y


class KeepsItself:
    def __deepcopy__(self, memo: dict) -> "KeepsItself":
        return self


class Boom:
    def __deepcopy__(self, memo: dict) -> None:
        raise ValueError("boom")


# --------------------------------------------------------------------------
# registers and protocol


def test_id_register_and_idle_state() -> None:
    dev = FCADevice()
    assert dev.read(Reg.ID) & 0xFFFFFFFF == int.from_bytes(b"FCA1", "little")
    assert dev.read(Reg.STATUS) == 0
    assert dev.read(Reg.ERROR_CODE) == 0


def test_doorbell_before_descriptor_address_is_an_error() -> None:
    dev = FCADevice()
    dev.write(Reg.SRC_ADDR, dev.memory.place([1]))
    dev.write(Reg.CONTROL, Control.START)
    assert _status(dev) & Status.ERROR
    assert not _status(dev) & Status.DONE
    assert dev.read(Reg.ERROR_CODE) == ErrorCode.NO_DESCRIPTOR
    with pytest.raises(FCAError, match="NO_DESCRIPTOR.*before DESC_ADDR") as info:
        wait_for_result(dev)
    assert info.value.code == ErrorCode.NO_DESCRIPTOR


def test_done_bit_and_result_read_back() -> None:
    dev = FCADevice()
    x = {"a": [1, 2], "b": (3, [4])}
    _program(dev, x)
    dev.write(Reg.CONTROL, Control.START)
    st = _status(dev)
    assert st & Status.DONE and not st & (Status.ERROR | Status.BUSY)
    addr = dev.read(Reg.RESULT_ADDR)
    assert addr != 0
    y = dev.memory.load(addr)
    assert_same_copy(x, copy.deepcopy(x), y)
    assert dev.last_report is not None and dev.last_report.objects == 4


def test_result_before_done_is_an_error() -> None:
    dev = FCADevice()
    _program(dev, [1])
    assert dev.read(Reg.RESULT_ADDR) == 0  # doorbell not rung yet
    assert _status(dev) & Status.ERROR
    assert dev.read(Reg.ERROR_CODE) == ErrorCode.RESULT_NOT_READY
    with pytest.raises(FCAError, match="RESULT_NOT_READY"):
        wait_for_result(dev)
    # a new doorbell clears the error and runs the copy
    dev.write(Reg.CONTROL, Control.START)
    assert _status(dev) == Status.DONE
    assert dev.memory.load(dev.read(Reg.RESULT_ADDR)) == [1]


def test_bad_magic_is_an_error() -> None:
    dev = FCADevice()
    data = describe([1, 2]).data
    _program(dev, [1, 2], data=b"XXXX" + data[4:])
    dev.write(Reg.CONTROL, Control.START)
    assert _status(dev) & Status.ERROR
    assert dev.read(Reg.ERROR_CODE) == ErrorCode.BAD_MAGIC
    with pytest.raises(FCAError, match="BAD_MAGIC"):
        wait_for_result(dev)


def test_truncated_descriptor_and_bad_address() -> None:
    dev = FCADevice()
    data = describe([1, 2]).data
    _program(dev, [1, 2], data=data[:-4])
    dev.write(Reg.CONTROL, Control.START)
    assert dev.read(Reg.ERROR_CODE) == ErrorCode.BAD_DESCRIPTOR
    dev.write(Reg.DESC_ADDR, 0xDEAD_0000)
    dev.write(Reg.CONTROL, Control.START)
    assert dev.read(Reg.ERROR_CODE) == ErrorCode.BAD_ADDRESS


def test_read_only_registers_reset_and_bus_errors() -> None:
    dev = FCADevice()
    dev.write(Reg.RESULT_ADDR, 5)
    assert dev.read(Reg.ERROR_CODE) == ErrorCode.READ_ONLY_REGISTER
    dev.write(Reg.CONTROL, Control.RESET)
    assert dev.read(Reg.STATUS) == 0 and dev.read(Reg.ERROR_CODE) == 0
    with pytest.raises(FCABusError):
        dev.read(0x04)  # unaligned
    with pytest.raises(FCABusError):
        dev.read(0x400)  # no register
    with pytest.raises(FCABusError):
        dev.write(Reg.SRC_ADDR, 1 << 64)


def test_host_fallback_exception_is_reraised() -> None:
    with pytest.raises(ValueError, match="boom"):
        accelerate([1, Boom()])


# --------------------------------------------------------------------------
# the model's copies are deepcopy's copies


def _graphs() -> dict[str, Any]:
    a = [1]
    shared = {"a": a, "b": a, "t": (a, 2)}
    cyc: list = [1]
    cyc.append(cyc)
    d: dict = {"k": [1]}
    d["self"] = d
    d["inner"] = [d, (d["k"],)]
    p = Plain()
    p.x = [a, "s"]
    p.me = p
    empty = Plain()
    sets = {"s": {1, 2, frozenset({3})}, "f": frozenset({(1, 2), frozenset({4})}), "big": set(range(20))}
    ba = bytearray(b"abc")
    h = Hooked(a)
    hooked_first = [Hooked(a), a]  # the hook copies `a` before the device reaches it
    hooked_late = [a, Hooked(a)]  # the device copies `a` first; the hook must share it
    back = Hooked(None)
    holder = [back]
    back.v = holder  # the hook reaches an enclosing list
    s_cycle: set = set()
    q = Plain()
    q.s = s_cycle
    s_cycle.add(q)  # a set on a cycle: whole-graph host fallback
    keeps = KeepsItself()
    peek_up = Peek(None)
    peek_holder = [1, peek_up]
    peek_up.v = peek_holder  # deepcopy has the enclosing list memoized
    b = [2]
    inst = Plain()
    inst.x = [b, "s"]
    return {
        "list": [1, 2],
        "shared": shared,
        "self-list": cyc,
        "self-dict": d,
        "plain": {"p": p, "again": p, "empty": empty},
        "dataclass": [DC(1, [a]), DC(2, [a])],
        "sets": sets,
        "bytearray": [ba, ba, bytearray()],
        "python node": [h, h, (h,), a],
        "hook first": hooked_first,
        "hook late": hooked_late,
        "hook reaches ancestor": {"holder": holder},
        "set on cycle": s_cycle,
        "tuple kept": [(keeps, 1), keeps],
        "peek ancestor": {"x": peek_holder, "p": peek_up},
        "peek sibling": [b, Peek(b), Peek(a), a],  # b memoized already, a not yet
        "hook copies an instance first": [Hooked(inst), inst, inst.x],
        "reducers": [datetime.date(2020, 1, 2), decimal.Decimal("1.5")],
        "atom root": 5,
        "leaf tuple root": (1, "x"),
    }


@pytest.mark.parametrize("name", list(_graphs()))
def test_model_copy_matches_deepcopy(name: str) -> None:
    x = _graphs()[name]
    y, report = accelerate(x)
    assert_same_copy(x, copy.deepcopy(x), y)


@pytest.mark.parametrize("name", list(corpus()))
def test_model_copies_corpus_workloads(name: str) -> None:
    x = corpus()[name]()
    y, _ = accelerate(x)
    assert_same_copy(x, copy.deepcopy(x), y)


def test_template_matches_deepcopy_on_the_model_graphs() -> None:
    """Template replays the same descriptors; a set on a cycle must not be
    replayed in one pass (it was, and gave the cycle the outer copy)."""
    import fastcopy

    for name, x in _graphs().items():
        assert_same_copy(x, copy.deepcopy(x), fastcopy.Template(x)())
    assert not describe(_graphs()["set on cycle"]).replayable


def test_fallback_accounting() -> None:
    g = _graphs()
    _, r = accelerate(g["python node"])
    assert r.host_fallbacks == 1 and not r.whole_graph_fallback and r.host_fallback_ns > 0
    _, r = accelerate(g["set on cycle"])
    assert r.whole_graph_fallback and r.host_fallbacks == 1 and r.objects == 0
    _, r = accelerate(g["shared"])
    assert r.host_fallbacks == 0 and r.host_fallback_ns == 0


# --------------------------------------------------------------------------
# the cost model, by hand (docs/fca.md has the formulas)


def test_object_block_formulas() -> None:
    assert object_blocks(LIST, 0) == [56]
    assert object_blocks(LIST, 3) == [56, 24]
    assert object_blocks(TUPLE, 2) == [56]
    # CPython 3.11+: {'a': 1} is 184 bytes, {1: 1} is 224, six int keys 352
    assert sum(object_blocks(DICT, 1, all_str_keys=True)) == 184
    assert sum(object_blocks(DICT, 1)) == 224
    assert sum(object_blocks(DICT, 6)) == 352
    assert object_blocks(SET, 4) == [216]
    assert sum(object_blocks(SET, 5)) == 728  # sys.getsizeof(set(range(5)))


def test_cost_list_of_two_ints() -> None:
    _, r = accelerate([1, 2])
    # descriptor 32 + 16 (one node) + 2 * 4 (refs) = 56 B; leaf table 2 * 8 B;
    # refcount read-modify-write of the 2 leaves: 8 B read + 8 B written each
    assert r.descriptor_bytes == 56
    assert r.bytes_read == 56 + 16 + 2 * 8
    # the list object (56) and its item array (2 * 8), then the 2 refcounts
    assert r.bytes_written == 56 + 16 + 2 * 8
    assert (r.lines_read, r.lines_written, r.lines_touched) == (1 + 1 + 2, 1 + 1 + 2, 6)
    assert (r.read_bursts, r.write_bursts, r.read_rounds) == (4, 4, 2)
    assert (r.objects, r.allocations, r.external_refs) == (1, 2, 2)
    c = r.components()
    assert c["transfer"] == (88 + 88) / 16.0
    assert c["read latency"] == 2 * 600.0
    assert c["allocation"] == 2 * 25.0
    assert r.device_ns == 200.0 + 11.0 + 1200.0 + 50.0 + 1000.0
    assert r.largest()[0] == "read latency"


def test_cost_two_lists_not_shared() -> None:
    _, r = accelerate({"a": [1], "b": [1]})
    # nodes list, list, dict; leaves 'a', 1, 'b'; refs 1 + 1 + 4
    assert r.descriptor_bytes == 32 + 3 * 16 + 6 * 4 == 104
    assert r.bytes_read == 104 + 3 * 8 + 3 * 8
    # 2 lists (56 + 8) + dict 64 + str-keyed table 32 + 8 + 5 * 16 = 120
    assert r.bytes_written == 2 * (56 + 8) + 64 + 120 + 3 * 8 == 336
    assert (r.lines_read, r.lines_written, r.lines_touched) == (2 + 1 + 3, 6 + 1 + 3, 13)
    assert (r.read_bursts, r.write_bursts, r.read_rounds) == (1 + 1 + 3, 6 + 3, 2)
    assert (r.objects, r.allocations) == (3, 6)
    assert r.device_ns == 200.0 + (152 + 336) / 16.0 + 1200.0 + 6 * 25.0 + 1000.0


def test_cost_two_lists_shared() -> None:
    a = [1]
    _, r = accelerate({"a": a, "b": a})
    # nodes list, dict; refs 1 + 4
    assert r.descriptor_bytes == 32 + 2 * 16 + 5 * 4 == 84
    assert r.bytes_read == 84 + 24 + 24
    assert r.bytes_written == (56 + 8) + 64 + 120 + 24 == 272
    # blocks: list 56 (1 line), items 8 (1), dict 64 (1), keys table 120 (2)
    assert (r.lines_read, r.lines_written, r.lines_touched) == (6, 5 + 3, 6 + 5)
    assert (r.read_bursts, r.write_bursts, r.read_rounds) == (5, 4 + 3, 2)
    assert (r.objects, r.allocations) == (2, 4)


def test_cost_params_change_the_estimate() -> None:
    p = CostParams(burst_bytes=32, outstanding=1, burst_latency_ns=100.0)
    _, r = accelerate([1, 2], p)
    # descriptor 56 B = 2 bursts of 32 B; leaf table 1; 2 refcount reads
    assert r.read_bursts == 2 + 1 + 2
    # phase 1: 3 bursts one at a time; phase 2: 2
    assert r.read_rounds == 5
    assert r.components()["read latency"] == 500.0
    with pytest.raises(ValueError):
        CostParams(bandwidth_gbps=0)
    with pytest.raises(ValueError):
        CostParams(burst_bytes=1.5)  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# the CLI


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    import fastcopy

    env = dict(os.environ)
    src = os.path.dirname(os.path.dirname(fastcopy.__file__))
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "fastcopy.fca", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_cli_quick() -> None:
    out = _cli("--quick")
    assert out.returncode == 0, out.stderr
    assert "FCA MODEL" in out.stdout and "ESTIMATES" in out.stdout
    for name in corpus():
        rows = [line for line in out.stdout.splitlines() if line.strip().startswith(name + " ")]
        assert len(rows) == 2, name  # the table row and the "where the time goes" line


def test_cli_selection_params_and_errors() -> None:
    out = _cli("--quick", "-w", "deepcopy", "--params", "alloc_ns=0", "--detail")
    assert out.returncode == 0, out.stderr
    assert "alloc_ns=0.0" in out.stdout and "json_api" not in out.stdout
    assert _cli("--help").returncode == 0
    bad = _cli("--params", "nope=1")
    assert bad.returncode == 2 and "unknown parameter 'nope'" in bad.stderr
    bad = _cli("-w", "nope")
    assert bad.returncode == 2 and "unknown workload" in bad.stderr


def test_c_and_python_descriptor_constants_agree():
    """The descriptor layout is defined twice: in C (template.h, which
    writes it) and in fastcopy.fca.descriptor (which reads it).  Parse the
    header and compare every constant, so neither side changes alone."""
    import re
    from pathlib import Path

    from fastcopy.fca import descriptor as D

    header = Path(__file__).resolve().parents[1] / "src" / "fastcopy" / "_native" / "template.h"
    text = header.read_text()
    defines = {m[1]: m[2] for m in re.finditer(r"^#define (FCD_\w+) (\S+)", text, re.M)}
    kinds = {m[1]: int(m[2]) for m in re.finditer(r"\b(FCD_[A-Z]+) = (\d+)", text)}

    assert defines["FCD_MAGIC"] == '"' + D.MAGIC.decode() + '"'
    assert int(defines["FCD_VERSION"]) == D.VERSION
    assert int(defines["FCD_HEADER_SIZE"]) == D.HEADER.size
    assert int(defines["FCD_NODE_SIZE"]) == D.NODE.size
    assert int(defines["FCD_NF_BACKREF"], 0) == D.NF_BACKREF
    flags = {k[len("FCD_HF_"):]: int(v, 0) for k, v in defines.items() if k.startswith("FCD_HF_")}
    assert flags == {k[len("HF_"):]: getattr(D, k) for k in dir(D) if k.startswith("HF_")}
    assert len(kinds) == len(D.KIND_NAMES) == 8
    for name, value in kinds.items():
        assert getattr(D, name[len("FCD_"):]) == value, name
