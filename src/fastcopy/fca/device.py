"""A software model of the design report's FastCopy Accelerator (FCA).

The report proposes a memory-mapped device that receives a descriptor of an
object graph built by the C module, copies the graph by DMA and raises a done
flag.  Nothing here is hardware: this module models

* the **register file** (64-bit registers at fixed offsets, reached only
  through :meth:`FCADevice.read` / :meth:`FCADevice.write`, as MMIO);
* a tiny **host memory** (:class:`HostMemory`) where the driver places the
  descriptor bytes, the leaf table and the source object and gets addresses
  back, so that registers carry addresses, never Python objects;
* the **protocol** of the report's steps 1-5 (:func:`accelerate` is the
  driver): build the descriptor (1), write the source and descriptor
  addresses (2), ring the doorbell (3), the device copies and sets DONE (4),
  the host reads RESULT_ADDR and fetches the copy (5);
* the **copy** itself, rebuilt from the descriptor by the rules of
  docs/descriptor.md (one post-order pass, back-reference targets created on
  demand).  ``python`` nodes (objects that need Python code: hooks, reducers)
  cannot be copied by a device: the model hands each one back to the host,
  which runs ``fastcopy.deepcopy`` on it with a memo shared by the whole copy,
  and counts a *host fallback*;
* a **cost model** (:class:`CostParams`, :class:`CostReport`): bytes read and
  written, cache lines, DMA bursts, allocations, turned into an estimated
  time.  The estimates are assumptions, not measurements; docs/fca.md
  explains every formula and default.
"""

from __future__ import annotations

import enum
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict, List, Optional, Tuple

from .descriptor import (
    BYTEARRAY,
    DICT,
    FROZENSET,
    HF_HAS_PYTHON,
    HF_OVERRIDES,
    HF_SHARED_STATE,
    HF_TUPLE_CYCLE,
    LIST,
    MAGIC,
    PLAIN,
    PYTHON,
    SET,
    TUPLE,
    Descriptor,
    DescriptorError,
    Node,
    index,
    is_leaf,
)

__all__ = [
    "Control",
    "CostParams",
    "CostReport",
    "ErrorCode",
    "FCABusError",
    "FCADevice",
    "FCAError",
    "HostMemory",
    "Reg",
    "Status",
    "accelerate",
    "object_blocks",
    "wait_for_result",
]

MASK64 = (1 << 64) - 1
LINE = 64  # cache line, bytes

# --------------------------------------------------------------------------
# Registers


class Reg(enum.IntEnum):
    """Register offsets (bytes) in the device's MMIO window; all 64-bit."""

    ID = 0x00  # RO: b"FCA1" in the low 32 bits, model version above
    CONTROL = 0x08  # WO: Control bits (the doorbell is START)
    STATUS = 0x10  # RO: Status bits
    SRC_ADDR = 0x18  # RW: host address of the source object
    DESC_ADDR = 0x20  # RW: host address of the descriptor bytes
    DESC_LEN = 0x28  # RW: length of the descriptor in bytes
    LEAF_ADDR = 0x30  # RW: host address of the leaf table (8 bytes per leaf)
    NODE_ADDR = 0x38  # RW: host address of the node source-address table (0: none)
    RESULT_ADDR = 0x40  # RO: host address of the copy; valid only when DONE
    ERROR_CODE = 0x48  # RO: ErrorCode of the last error
    FAULT_ADDR = 0x50  # RO: host address of the exception a host fallback raised


READ_ONLY = {Reg.ID, Reg.STATUS, Reg.RESULT_ADDR, Reg.ERROR_CODE, Reg.FAULT_ADDR}
WRITE_ONLY = {Reg.CONTROL}
ID_VALUE = int.from_bytes(b"FCA1", "little") | (1 << 32)


class Control(enum.IntFlag):
    START = 0x1  # the doorbell: start a copy with the programmed registers
    RESET = 0x2  # clear STATUS, ERROR_CODE, RESULT_ADDR, FAULT_ADDR and the address registers


class Status(enum.IntFlag):
    BUSY = 0x1
    DONE = 0x2
    ERROR = 0x4


class ErrorCode(enum.IntEnum):
    NONE = 0
    NO_DESCRIPTOR = 1  # doorbell with DESC_ADDR (or DESC_LEN) not written
    NO_SOURCE = 2  # doorbell with SRC_ADDR not written
    BAD_ADDRESS = 3  # an address register points at nothing in host memory
    BAD_MAGIC = 4  # the descriptor does not start with b"FCD1"
    BAD_DESCRIPTOR = 5  # any other malformed descriptor
    RESULT_NOT_READY = 6  # RESULT_ADDR read while DONE is clear
    HOST_EXCEPTION = 7  # a host fallback raised; FAULT_ADDR holds the exception
    READ_ONLY_REGISTER = 8  # write to a read-only register
    BUSY = 9  # doorbell while a copy is running


class FCABusError(ValueError):
    """An access no bus would carry: unknown or unaligned offset, value not 64-bit."""


class FCAError(RuntimeError):
    """The device reported an error (STATUS.ERROR); ``code`` is its ERROR_CODE."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"FCA error {code.name} ({int(code)}): {message}")
        self.code = code


# --------------------------------------------------------------------------
# Host memory


class HostMemory:
    """The host's memory as the device sees it: address -> stored thing.

    ``place`` stores a Python object (bytes for the descriptor, a tuple for the
    leaf table, the source object, the result) at a fresh 64-byte aligned
    address and returns it; addresses are never reused, so a stale address is
    caught.  Sizes only matter for address arithmetic; the cost model does its
    own accounting.
    """

    BASE = 0x1000_0000

    def __init__(self) -> None:
        self._store: Dict[int, Any] = {}
        self._next = self.BASE

    def place(self, obj: Any, size: int = LINE) -> int:
        addr = self._next
        self._store[addr] = obj
        self._next += max(LINE, -(-max(size, 1) // LINE) * LINE)
        return addr

    def load(self, addr: int) -> Any:
        try:
            return self._store[addr]
        except KeyError:
            raise KeyError(f"no object at host address {addr:#x}") from None

    def free(self, addr: int) -> None:
        self._store.pop(addr, None)

    def __contains__(self, addr: object) -> bool:
        return addr in self._store

    def __len__(self) -> int:
        return len(self._store)


# --------------------------------------------------------------------------
# Cost model


@dataclass(frozen=True)
class CostParams:
    """Parameters that turn counts into time.  Defaults: a PCIe-attached device
    (docs/fca.md says why each value was chosen); :meth:`on_chip` gives a
    device sitting next to the CPU's last-level cache."""

    bandwidth_gbps: float = 16.0  # DMA bandwidth, GB/s (= bytes per ns)
    burst_bytes: int = 256  # largest DMA transfer (PCIe max payload size)
    burst_latency_ns: float = 600.0  # round trip of one DMA read
    outstanding: int = 32  # DMA reads in flight at once
    alloc_ns: float = 25.0  # per memory block (host refills the device's pool)
    doorbell_ns: float = 200.0  # MMIO doorbell write reaching the device
    completion_ns: float = 1000.0  # host noticing DONE (poll of a flag / interrupt)

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
                raise ValueError(f"CostParams.{f.name} must be a non-negative number, got {v!r}")
        if self.bandwidth_gbps <= 0 or self.burst_bytes < 1 or self.outstanding < 1:
            raise ValueError("bandwidth_gbps, burst_bytes and outstanding must be positive")
        if int(self.burst_bytes) != self.burst_bytes or int(self.outstanding) != self.outstanding:
            raise ValueError("burst_bytes and outstanding must be integers")

    @classmethod
    def on_chip(cls) -> "CostParams":
        """A device on the CPU's coherent interconnect (next to the LLC)."""
        return cls(
            bandwidth_gbps=50.0,
            burst_bytes=64,
            burst_latency_ns=80.0,
            outstanding=16,
            alloc_ns=25.0,
            doorbell_ns=20.0,
            completion_ns=50.0,
        )


@dataclass
class CostReport:
    """What one copy cost the model, and the estimate built from it."""

    params: CostParams
    # what was copied
    nodes: int = 0
    leaves: int = 0
    objects: int = 0  # new objects created by the device (one per node copy)
    allocations: int = 0  # memory blocks (a list is 2: object + item array)
    host_fallbacks: int = 0  # python nodes (or whole graphs) copied by the host
    whole_graph_fallback: bool = False
    # traffic
    descriptor_bytes: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    lines_read: int = 0
    lines_written: int = 0
    lines_touched: int = 0  # distinct 64-byte lines read or written
    read_bursts: int = 0
    write_bursts: int = 0
    read_rounds: int = 0  # dependent rounds of `outstanding` reads in flight
    external_refs: int = 0  # distinct host objects whose refcount the device bumps
    # time (ns)
    host_fallback_ns: float = 0.0  # measured, not estimated
    describe_ns: Optional[float] = None  # step 1 on the host, measured (if known)
    _phase_bursts: List[int] = field(default_factory=lambda: [0, 0], repr=False)

    # -- accounting helpers (used by the device) --------------------------
    def _read(self, nbytes: int, phase: int) -> None:
        if nbytes <= 0:
            return
        b = _bursts(nbytes, self.params.burst_bytes)
        self.bytes_read += nbytes
        self.lines_read += _lines(nbytes)
        self.lines_touched += _lines(nbytes)
        self.read_bursts += b
        self._phase_bursts[phase] += b

    def _write_block(self, nbytes: int) -> None:
        self.bytes_written += nbytes
        self.lines_written += _lines(nbytes)
        self.lines_touched += _lines(nbytes)
        self.write_bursts += _bursts(nbytes, self.params.burst_bytes)
        self.allocations += 1

    def _refcount_update(self) -> None:
        """Read-modify-write of one external object's 8-byte refcount."""
        self.external_refs += 1
        self.bytes_read += 8
        self.bytes_written += 8
        self.lines_read += 1
        self.lines_written += 1
        self.lines_touched += 1
        self.read_bursts += 1
        self.write_bursts += 1
        self._phase_bursts[1] += 1

    def _finish(self) -> None:
        o = self.params.outstanding
        self.read_rounds = sum(-(-b // o) for b in self._phase_bursts if b)

    # -- the estimate ------------------------------------------------------
    def components(self) -> Dict[str, float]:
        """Estimated time per component, ns (host fallback and step 1 measured)."""
        p = self.params
        out = {
            "doorbell": p.doorbell_ns,
            "transfer": (self.bytes_read + self.bytes_written) / p.bandwidth_gbps,
            "read latency": self.read_rounds * p.burst_latency_ns,
            "allocation": self.allocations * p.alloc_ns,
            "completion": p.completion_ns,
            "host fallback": self.host_fallback_ns,
        }
        return out

    @property
    def device_ns(self) -> float:
        """Estimated time of steps 2-5 (descriptor already built)."""
        return sum(self.components().values())

    @property
    def total_ns(self) -> Optional[float]:
        """Steps 1-5: ``device_ns`` plus the measured descriptor build."""
        return None if self.describe_ns is None else self.device_ns + self.describe_ns

    def largest(self) -> Tuple[str, float]:
        """The component the estimate spends most on, and its share (0-1)."""
        comps = self.components()
        name = max(comps, key=lambda k: comps[k])
        total = sum(comps.values())
        return name, (comps[name] / total if total else 0.0)

    def format(self) -> str:
        lines = [
            "FCA MODEL estimate (assumptions, not a measurement)",
            "params: " + ", ".join(f"{k}={v}" for k, v in asdict(self.params).items()),
            f"graph: {self.nodes} nodes, {self.leaves} leaves, descriptor {self.descriptor_bytes} B; "
            f"{self.objects} objects in {self.allocations} blocks; host fallbacks {self.host_fallbacks}"
            + (" (whole graph)" if self.whole_graph_fallback else ""),
            f"traffic: read {self.bytes_read} B in {self.read_bursts} bursts ({self.read_rounds} rounds), "
            f"wrote {self.bytes_written} B in {self.write_bursts} bursts; lines read {self.lines_read}, "
            f"written {self.lines_written}, touched {self.lines_touched}",
        ]
        for k, v in self.components().items():
            lines.append(f"  {k:<14} {v / 1000:10.3f} us")
        lines.append(f"  {'device total':<14} {self.device_ns / 1000:10.3f} us")
        if self.describe_ns is not None:
            lines.append(f"  {'+ describe':<14} {self.describe_ns / 1000:10.3f} us (measured, step 1)")
        return "\n".join(lines)


def _lines(nbytes: int) -> int:
    return -(-nbytes // LINE) if nbytes > 0 else 0


def _bursts(nbytes: int, burst: int) -> int:
    return -(-nbytes // burst) if nbytes > 0 else 0


# Sizes of new objects on 64-bit CPython (bytes, including the 16-byte GC
# header of container objects).  Each entry of the returned list is one
# memory block.  docs/fca.md gives the sources.
LIST_OBJECT = 56
TUPLE_OBJECT = 40
DICT_OBJECT = 64
DICT_KEYS_HEADER = 32
SET_OBJECT = 216  # includes the 8-slot small table
BYTEARRAY_OBJECT = 56
PLAIN_OBJECT = 48


def _dict_keys_block(n: int, all_str_keys: bool) -> int:
    log2 = 3
    while (2 << log2) // 3 < n:
        log2 += 1
    size = 1 << log2
    usable = (size << 1) // 3
    width = 1 if size <= 0xFF else 2 if size <= 0xFFFF else 4 if size <= 0xFFFFFFFF else 8
    return DICT_KEYS_HEADER + size * width + usable * (16 if all_str_keys else 24)


def _set_table_slots(n: int) -> int:
    if n <= 4:
        return 8
    slots = 8
    while slots <= 4 * n:
        slots <<= 1
    return slots


def object_blocks(kind: int, count: int, *, all_str_keys: bool = False, nbytes: int = 0) -> List[int]:
    """Memory blocks (sizes in bytes) of a new object of a descriptor kind.

    list: 56 + an 8*n item array; tuple: 40 + 8*n in one block; dict: 64 +
    a keys table (32 + slots*index width + usable*(16 for str-only keys, else
    24), slots the least power of two >= 8 whose two thirds hold n); set and
    frozenset: 216 (with 8 inline slots) + 16*slots when n > 4 (slots the
    least power of two > 4n); bytearray: 56 + n+1; plain instance: 48.
    """
    if kind == LIST:
        return [LIST_OBJECT] + ([8 * count] if count else [])
    if kind == TUPLE:
        return [TUPLE_OBJECT + 8 * count]
    if kind == DICT:
        return [DICT_OBJECT] + ([_dict_keys_block(count, all_str_keys)] if count else [])
    if kind in (SET, FROZENSET):
        slots = _set_table_slots(count)
        return [SET_OBJECT] + ([16 * slots] if slots > 8 else [])
    if kind == BYTEARRAY:
        return [BYTEARRAY_OBJECT] + ([nbytes + 1] if nbytes else [])
    if kind == PLAIN:
        return [PLAIN_OBJECT]
    return []


# --------------------------------------------------------------------------
# The device


class _HostException(Exception):
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class FCADevice:
    """The register file and the copy engine.

    Accessed only through :meth:`read` and :meth:`write` (plus ``memory``,
    the host memory it does DMA to, and ``last_report``, the cost model's
    account of the last copy, which a real device would expose as
    performance counters).  The model is synchronous: ringing the doorbell
    runs the whole copy before ``write`` returns, so BUSY is only ever seen
    set from inside a host fallback.
    """

    def __init__(self, memory: Optional[HostMemory] = None, params: CostParams = CostParams()) -> None:
        self.memory = memory if memory is not None else HostMemory()
        self.params = params
        self.last_report: Optional[CostReport] = None
        self._regs: Dict[int, int] = {}
        self._reset()

    # -- MMIO ---------------------------------------------------------------
    def _reset(self) -> None:
        self._regs = {int(r): 0 for r in Reg}
        self._regs[Reg.ID] = ID_VALUE

    @staticmethod
    def _check_offset(offset: int) -> Reg:
        if not isinstance(offset, int) or offset % 8:
            raise FCABusError(f"unaligned or non-integer register offset {offset!r}")
        try:
            return Reg(offset)
        except ValueError:
            raise FCABusError(f"no register at offset {offset:#x}") from None

    def read(self, offset: int) -> int:
        """A 64-bit MMIO read.  Reading RESULT_ADDR before DONE returns 0 and
        latches ERROR with RESULT_NOT_READY."""
        reg = self._check_offset(offset)
        if reg in WRITE_ONLY:
            return 0
        if reg == Reg.RESULT_ADDR and not self._regs[Reg.STATUS] & Status.DONE:
            self._error(ErrorCode.RESULT_NOT_READY)
            return 0
        return self._regs[reg]

    def write(self, offset: int, value: int) -> None:
        """A 64-bit MMIO write.  Writing CONTROL.START rings the doorbell."""
        reg = self._check_offset(offset)
        if not isinstance(value, int) or not 0 <= value <= MASK64:
            raise FCABusError(f"register value must be a 64-bit unsigned integer, got {value!r}")
        if reg in READ_ONLY:
            self._error(ErrorCode.READ_ONLY_REGISTER)
            return
        if reg != Reg.CONTROL:
            self._regs[reg] = value
            return
        if value & Control.RESET:
            self._reset()
        if value & Control.START:
            self._doorbell()

    def _error(self, code: ErrorCode) -> None:
        self._regs[Reg.STATUS] = (self._regs[Reg.STATUS] & ~(Status.BUSY | Status.DONE)) | Status.ERROR
        self._regs[Reg.ERROR_CODE] = int(code)

    # -- one copy -----------------------------------------------------------
    def _doorbell(self) -> None:
        regs = self._regs
        if regs[Reg.STATUS] & Status.BUSY:
            self._error(ErrorCode.BUSY)
            return
        regs[Reg.STATUS] = int(Status.BUSY)
        regs[Reg.ERROR_CODE] = 0
        regs[Reg.RESULT_ADDR] = 0
        regs[Reg.FAULT_ADDR] = 0
        if not regs[Reg.DESC_ADDR] or not regs[Reg.DESC_LEN]:
            return self._error(ErrorCode.NO_DESCRIPTOR)
        if not regs[Reg.SRC_ADDR]:
            return self._error(ErrorCode.NO_SOURCE)
        mem = self.memory
        try:
            data = mem.load(regs[Reg.DESC_ADDR])
            leaves = mem.load(regs[Reg.LEAF_ADDR]) if regs[Reg.LEAF_ADDR] else ()
            src = mem.load(regs[Reg.SRC_ADDR])
            sources = mem.load(regs[Reg.NODE_ADDR]) if regs[Reg.NODE_ADDR] else None
        except KeyError:
            return self._error(ErrorCode.BAD_ADDRESS)
        if not isinstance(data, (bytes, bytearray)) or len(data) < regs[Reg.DESC_LEN]:
            return self._error(ErrorCode.BAD_ADDRESS)
        data = bytes(data[: regs[Reg.DESC_LEN]])
        if data[:4] != MAGIC:
            return self._error(ErrorCode.BAD_MAGIC)
        try:
            desc = Descriptor(data, leaves)
        except DescriptorError:
            return self._error(ErrorCode.BAD_DESCRIPTOR)
        report = CostReport(self.params, nodes=len(desc.nodes), leaves=len(desc.leaves), descriptor_bytes=len(data))
        try:
            result = _Engine(desc, src, sources, report).run()
        except _HostException as e:
            regs[Reg.FAULT_ADDR] = mem.place(e.exc)
            return self._error(ErrorCode.HOST_EXCEPTION)
        except DescriptorError:
            return self._error(ErrorCode.BAD_DESCRIPTOR)
        report._finish()
        self.last_report = report
        regs[Reg.RESULT_ADDR] = mem.place(result)
        regs[Reg.STATUS] = int(Status.DONE)


class _Engine:
    """Rebuilds a copy from a descriptor (docs/descriptor.md, "Rebuilding a
    copy") and accounts for what a device would have read and written."""

    def __init__(self, desc: Descriptor, src: Any, sources: Optional[List[Any]], report: CostReport) -> None:
        self.desc = desc
        self.src = src
        self.nodes = desc.nodes
        self.leaves = desc.leaves
        self.r = report
        n = len(self.nodes)
        self.copies: List[Any] = [None] * n
        self.made = [False] * n  # copy exists (perhaps not filled yet)
        self.done = [False] * n  # copy complete
        self.external: Dict[int, Any] = {}  # id -> object whose refcount we bump
        # A plain node's __dict__ is filled straight into the new instance.
        self.owner: Dict[int, int] = {}
        for node in self.nodes:
            if node.kind == PLAIN and node.count:
                self.owner[index(node.refs[0])] = node.index
        # Host fallbacks share one memo; it needs each node's source object.
        self.has_python = bool(desc.flags & HF_HAS_PYTHON)
        self.sources = sources
        self.memo: Optional[Dict[int, Any]] = {} if self.has_python else None
        if self.has_python and (sources is None or len(sources) != n):
            raise DescriptorError("python nodes need the node source-address table (NODE_ADDR)")
        self.parent: List[int] = []

    # -- entry ----------------------------------------------------------------
    def run(self) -> Any:
        r = self.r
        r._read(len(self.desc.data), 0)  # the descriptor
        r._read(8 * len(self.leaves), 0)  # the leaf table (pointers)
        if self._unsupported():
            return self._whole_graph_fallback()
        if self.has_python:
            self.parent = self._dfs_parents()
        for node in self.nodes:
            if not self.done[node.index]:
                self._fill(node)
        return self._resolve(self.desc.root)

    def _unsupported(self) -> bool:
        """Graphs a one-pass replay cannot rebuild the way deepcopy does: a
        tuple, frozenset or set on a cycle (deepcopy creates those after
        their items), an instance __dict__ shared with other references, or
        modified dispatch tables."""
        if self.desc.flags & (HF_TUPLE_CYCLE | HF_SHARED_STATE | HF_OVERRIDES):
            return True
        return any(n.backref and n.kind in (TUPLE, FROZENSET, SET) for n in self.nodes)

    def _whole_graph_fallback(self) -> Any:
        import fastcopy

        self.r.whole_graph_fallback = True
        self.r.host_fallbacks += 1
        t0 = time.perf_counter_ns()
        try:
            y = fastcopy.deepcopy(self.src)
        except BaseException as e:  # noqa: BLE001 - handed to the host as a fault
            raise _HostException(e) from None
        self.r.host_fallback_ns += time.perf_counter_ns() - t0
        return y

    def _dfs_parents(self) -> List[int]:
        """The tree of deepcopy's depth-first walk: parent[i] is the node
        whose reference first reached node i (-1 for the root).  Ancestors
        are the containers deepcopy has open when it reaches a node."""
        n = len(self.nodes)
        parent = [-2] * n
        root = self.desc.root
        if is_leaf(root):
            return parent
        parent[index(root)] = -1
        stack = [(index(root), 0)]
        while stack:
            i, pos = stack.pop()
            refs = self.nodes[i].refs
            while pos < len(refs):
                ref = refs[pos]
                pos += 1
                if not is_leaf(ref) and parent[index(ref)] == -2:
                    parent[index(ref)] = i
                    stack.append((i, pos))
                    stack.append((index(ref), 0))
                    break
        return parent

    # -- node copies ---------------------------------------------------------
    def _external(self, obj: Any) -> Any:
        if id(obj) not in self.external:
            self.external[id(obj)] = obj
            self.r._refcount_update()
        return obj

    def _resolve(self, ref: int) -> Any:
        i = index(ref)
        if is_leaf(ref):
            return self._external(self.leaves[i])
        if not self.made[i]:
            # a back-reference: create the enclosing container now, fill later
            self._make(i)
        return self.copies[i]

    def _from_memo(self, i: int) -> bool:
        """A host fallback already copied node i's source object."""
        if self.memo is None or self.sources is None:
            return False
        y = self.memo.get(id(self.sources[i]), _MISSING)
        if y is _MISSING:
            return False
        self.copies[i] = self._external(y)
        self.made[i] = self.done[i] = True
        return True

    def _account(self, node: Node, **kw: Any) -> None:
        for size in object_blocks(node.kind, node.count, **kw):
            self.r._write_block(size)
        self.r.objects += 1

    def _memoize(self, i: int, y: Any) -> None:
        if self.memo is not None and i not in self.owner:
            self.memo[id(self.sources[i])] = y  # type: ignore[index]

    def _make(self, i: int) -> None:
        """Create node i's (empty) copy: lists, dicts, sets, instances,
        bytearrays.  Tuples and frozensets are made complete in _fill."""
        if self._from_memo(i):
            return
        node = self.nodes[i]
        kind = node.kind
        if kind == LIST:
            y: Any = [None] * node.count
            self._account(node)
        elif kind == DICT:
            keys = [node.refs[2 * j] for j in range(node.count)]
            all_str = all(is_leaf(k) and type(self.leaves[index(k)]) is str for k in keys)
            if i in self.owner:
                o = self.owner[i]
                if not self.made[o]:
                    self._make(o)
                y = self.copies[o].__dict__
            else:
                y = {}
            self._account(node, all_str_keys=all_str)
        elif kind == SET:
            y = set()
            self._account(node)
        elif kind == PLAIN:
            cls = self._external(self.leaves[node.aux])
            y = cls.__new__(cls)
            self._account(node)
        elif kind == BYTEARRAY:
            contents = self.leaves[node.aux]  # read, not referenced
            y = bytearray(contents)
            self.r._read(len(contents), 1)
            self._account(node, nbytes=len(contents))
            self.done[i] = True
        else:
            raise DescriptorError(f"node {i} ({node.kind_name}) is referenced before it is described")
        self.copies[i] = y
        self.made[i] = True
        self._memoize(i, y)

    def _fill(self, node: Node) -> None:
        i = node.index
        kind = node.kind
        if kind in (TUPLE, FROZENSET):
            if self._from_memo(i):
                return
            items = [self._resolve(ref) for ref in node.refs]
            if kind == TUPLE:
                if self.sources is not None and all(
                    y is x for y, x in zip(items, self.sources[i])  # type: ignore[index]
                ):
                    # deepcopy returns a tuple whose items all copy to themselves
                    y = self._external(self.sources[i])  # type: ignore[index]
                else:
                    y = tuple(items)
                    self._account(node)
            else:
                y = frozenset(items)
                self._account(node)
            self.copies[i] = y
            self.made[i] = self.done[i] = True
            if y is not (self.sources[i] if self.sources is not None else None):
                self._memoize(i, y)
            return
        if kind == PYTHON:
            self._host_fallback(node)
            return
        if not self.made[i]:
            self._make(i)
        if self.done[i]:
            return
        y = self.copies[i]
        refs = node.refs
        if kind == LIST:
            for j, ref in enumerate(refs):
                y[j] = self._resolve(ref)
        elif kind == DICT:
            for j in range(0, len(refs), 2):
                k = self._resolve(refs[j])
                y[k] = self._resolve(refs[j + 1])
        elif kind == SET:
            for ref in refs:
                y.add(self._resolve(ref))
        elif kind == PLAIN:
            pass  # its dict node (a lower index) was filled into y.__dict__
        else:
            raise DescriptorError(f"node {i} has unknown kind {kind}")
        self.done[i] = True

    def _host_fallback(self, node: Node) -> None:
        """A python node: the device cannot run Python code.  The host copies
        the object with fastcopy.deepcopy and a memo shared by the whole copy,
        pre-seeded with the containers deepcopy would have open (memoized)
        at this point, so sharing with the rest of the graph is kept."""
        import fastcopy

        i = node.index
        if self._from_memo(i):
            return
        a = self.parent[i]
        while a >= 0:
            if self.nodes[a].kind in (LIST, DICT, PLAIN) and not self.made[a]:
                self._make(a)
            a = self.parent[a]
        obj = self.leaves[node.aux]
        self.r.host_fallbacks += 1
        t0 = time.perf_counter_ns()
        try:
            y = fastcopy.deepcopy(obj, self.memo)
        except BaseException as e:  # noqa: BLE001 - handed to the host as a fault
            raise _HostException(e) from None
        self.r.host_fallback_ns += time.perf_counter_ns() - t0
        self.copies[i] = self._external(y)
        self.made[i] = self.done[i] = True


_MISSING = object()


# --------------------------------------------------------------------------
# The driver (the host side: what fastcopy.c would do)


def _node_sources(desc: Descriptor, obj: Any) -> List[Any]:
    """Host side of step 1 for graphs with python nodes: the source object of
    every node (the report's descriptor carries child addresses; ours is
    position independent, so the driver supplies them in a separate table).
    Found by walking ``obj`` alongside the descriptor."""
    nodes = desc.nodes
    out: List[Any] = [_MISSING] * len(nodes)
    if is_leaf(desc.root):
        return out
    out[index(desc.root)] = obj
    stack = [index(desc.root)]
    while stack:
        i = stack.pop()
        node, x = nodes[i], out[i]
        if node.kind == DICT:
            children: List[Any] = [v for kv in x.items() for v in kv]
        elif node.kind == PLAIN:
            children = [x.__dict__] if node.count else []
        elif node.kind in (PYTHON, BYTEARRAY):
            children = []
        else:
            children = list(x)
        if len(children) != len(node.refs):
            raise RuntimeError("the object changed since its descriptor was built")
        for ref, child in zip(node.refs, children):
            if not is_leaf(ref) and out[index(ref)] is _MISSING:
                out[index(ref)] = child
                stack.append(index(ref))
    return out


_MESSAGES = {
    ErrorCode.NO_DESCRIPTOR: "doorbell rung before DESC_ADDR and DESC_LEN were written",
    ErrorCode.NO_SOURCE: "doorbell rung before SRC_ADDR was written",
    ErrorCode.BAD_ADDRESS: "an address register points at nothing in host memory",
    ErrorCode.BAD_MAGIC: "the descriptor does not start with b'FCD1'",
    ErrorCode.BAD_DESCRIPTOR: "the descriptor is malformed",
    ErrorCode.RESULT_NOT_READY: "RESULT_ADDR was read before STATUS.DONE was set",
    ErrorCode.READ_ONLY_REGISTER: "a read-only register was written",
    ErrorCode.BUSY: "doorbell rung while a copy was running",
}


def wait_for_result(dev: FCADevice) -> Any:
    """Steps 4 and 5 on the host: poll STATUS, then read RESULT_ADDR and fetch
    the copy from host memory.  Raises :class:`FCAError` if STATUS.ERROR is
    set, or re-raises the exception a host fallback raised (HOST_EXCEPTION)."""
    mem = dev.memory
    status = dev.read(Reg.STATUS)  # the model is synchronous: one poll suffices
    if status & Status.ERROR:
        code = ErrorCode(dev.read(Reg.ERROR_CODE))
        if code == ErrorCode.HOST_EXCEPTION:
            fault = dev.read(Reg.FAULT_ADDR)
            exc = mem.load(fault)
            mem.free(fault)
            raise exc
        raise FCAError(code, _MESSAGES.get(code, "device error"))
    if not status & Status.DONE:
        raise FCAError(ErrorCode.NONE, f"the device is not done (STATUS={status:#x}); was the doorbell rung?")
    result_addr = dev.read(Reg.RESULT_ADDR)
    result = mem.load(result_addr)
    mem.free(result_addr)
    return result


def accelerate(
    obj: Any, params: CostParams = CostParams(), *, device: Optional[FCADevice] = None
) -> Tuple[Any, CostReport]:
    """Deep-copy ``obj`` through the device model: the report's steps 1-5.

    Returns the copy and the cost model's report (``describe_ns`` is the
    measured time of step 1: the C descriptor build; the driver's Python-side
    parsing and, for python nodes, its node source table are not counted).
    Raises :class:`FCAError` if the device reports an error, or re-raises
    the exception a host fallback raised.
    """
    from .._fastcopy import _describe

    dev = device if device is not None else FCADevice(params=params)
    mem = dev.memory
    # 1. build the descriptor in C (timed: this is what fastcopy.c would do
    # per copy), then parse it here (the driver's own bookkeeping, untimed)
    t0 = time.perf_counter_ns()
    data, leaves = _describe(obj)
    describe_ns = time.perf_counter_ns() - t0
    desc = Descriptor(data, leaves)
    sources = _node_sources(desc, obj) if desc.flags & HF_HAS_PYTHON else None
    placed = [
        mem.place(desc.data, len(desc.data)),
        mem.place(tuple(desc.leaves), 8 * len(desc.leaves)),
        mem.place(obj),
    ]
    if sources is not None:
        placed.append(mem.place(sources, 8 * len(sources)))
    try:
        # 2. program the source and descriptor addresses
        dev.write(Reg.CONTROL, Control.RESET)
        dev.write(Reg.DESC_ADDR, placed[0])
        dev.write(Reg.DESC_LEN, len(desc.data))
        dev.write(Reg.LEAF_ADDR, placed[1])
        dev.write(Reg.SRC_ADDR, placed[2])
        dev.write(Reg.NODE_ADDR, placed[3] if sources is not None else 0)
        # 3. ring the doorbell
        dev.write(Reg.CONTROL, Control.START)
        # 4. wait for DONE, 5. fetch the result
        result = wait_for_result(dev)
    finally:
        for addr in placed:
            mem.free(addr)
    report = dev.last_report
    assert report is not None
    report.describe_ns = describe_ns
    return result, report
