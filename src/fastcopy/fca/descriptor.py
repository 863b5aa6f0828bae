"""Reading the binary descriptor that fastcopy's C code builds.

The layout is documented in docs/descriptor.md; this module is its reference
reader (used by the device model and by ``Descriptor.dump()``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Iterator, List, Sequence, Tuple

MAGIC = b"FCD1"
VERSION = 1
HEADER = struct.Struct("<4sHHIIIIII")  # 32 bytes
NODE = struct.Struct("<BBHIII")  # 16 bytes
REF = struct.Struct("<I")

LIST, DICT, TUPLE, SET, FROZENSET, BYTEARRAY, PLAIN, PYTHON = range(1, 9)
KIND_NAMES = {
    LIST: "list",
    DICT: "dict",
    TUPLE: "tuple",
    SET: "set",
    FROZENSET: "frozenset",
    BYTEARRAY: "bytearray",
    PLAIN: "plain",
    PYTHON: "python",
}

NF_BACKREF = 0x01

HF_REPLAYABLE = 0x0001
HF_HAS_PYTHON = 0x0002
HF_TUPLE_CYCLE = 0x0004
HF_SHARED_STATE = 0x0008
HF_OVERRIDES = 0x0010
HEADER_FLAG_NAMES = {
    HF_REPLAYABLE: "replayable",
    HF_HAS_PYTHON: "has-python-nodes",
    HF_TUPLE_CYCLE: "tuple-on-cycle",
    HF_SHARED_STATE: "shared-instance-dict",
    HF_OVERRIDES: "dispatch-tables-modified",
}


def is_leaf(ref: int) -> bool:
    """A reference's low bit: 1 for a leaf, 0 for a node."""
    return bool(ref & 1)


def index(ref: int) -> int:
    """The leaf or node index a reference points to."""
    return ref >> 1


@dataclass(frozen=True)
class Node:
    """One node record."""

    index: int
    kind: int
    flags: int
    count: int
    first: int
    aux: int
    refs: Tuple[int, ...]

    @property
    def kind_name(self) -> str:
        return KIND_NAMES.get(self.kind, f"kind{self.kind}")

    @property
    def backref(self) -> bool:
        return bool(self.flags & NF_BACKREF)


class DescriptorError(ValueError):
    """The bytes are not a valid descriptor."""


class Descriptor:
    """A parsed descriptor: header fields, node records, references, leaves."""

    def __init__(self, data: bytes, leaves: Sequence[Any]) -> None:
        data = bytes(data)
        if len(data) < HEADER.size:
            raise DescriptorError("descriptor shorter than its header")
        magic, version, flags, n_nodes, n_leaves, n_refs, root, _r1, _r2 = HEADER.unpack_from(data, 0)
        if magic != MAGIC:
            raise DescriptorError(f"bad magic {magic!r}")
        if version != VERSION:
            raise DescriptorError(f"unsupported descriptor version {version}")
        want = HEADER.size + NODE.size * n_nodes + REF.size * n_refs
        if len(data) != want:
            raise DescriptorError(f"descriptor is {len(data)} bytes, header says {want}")
        if n_leaves != len(leaves):
            raise DescriptorError(f"header says {n_leaves} leaves, {len(leaves)} given")
        self.data = data
        self.leaves: List[Any] = list(leaves)
        self.version = version
        self.flags = flags
        self.root = root
        off = HEADER.size + NODE.size * n_nodes
        self.refs: Tuple[int, ...] = struct.unpack_from(f"<{n_refs}I", data, off)
        nodes = []
        for i in range(n_nodes):
            kind, nflags, _pad, count, first, aux = NODE.unpack_from(data, HEADER.size + NODE.size * i)
            width = 2 * count if kind == DICT else count
            if first + width > n_refs:
                raise DescriptorError(f"node {i} references past the end of the reference array")
            nodes.append(Node(i, kind, nflags, count, first, aux, self.refs[first : first + width]))
        self.nodes: List[Node] = nodes
        for ref in self.refs + (root,):
            limit = len(self.leaves) if is_leaf(ref) else len(nodes)
            if index(ref) >= limit:
                raise DescriptorError(f"reference {ref:#x} out of range")

    @property
    def replayable(self) -> bool:
        return bool(self.flags & HF_REPLAYABLE)

    @property
    def flag_names(self) -> List[str]:
        return [name for bit, name in HEADER_FLAG_NAMES.items() if self.flags & bit]

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def ref_text(self, ref: int) -> str:
        if is_leaf(ref):
            text = repr(self.leaves[index(ref)])
            if len(text) > 40:
                text = text[:37] + "..."
            return f"L{index(ref)}={text}"
        return f"N{index(ref)}"

    def dump(self) -> str:
        """A readable listing: header, then one line per node."""
        lines = [
            f"descriptor v{self.version}: {len(self.nodes)} nodes, {len(self.leaves)} leaves, "
            f"{len(self.refs)} refs, {len(self.data)} bytes; root {self.ref_text(self.root)}; "
            f"flags {', '.join(self.flag_names) or 'none'}"
        ]
        for n in self.nodes:
            extra = ""
            if n.kind in (PLAIN, PYTHON, BYTEARRAY):
                extra = f" aux={self.ref_text((n.aux << 1) | 1)}"
            mark = " (back-referenced)" if n.backref else ""
            if n.kind == DICT:
                items = ", ".join(
                    f"{self.ref_text(n.refs[2 * j])}: {self.ref_text(n.refs[2 * j + 1])}" for j in range(n.count)
                )
            else:
                items = ", ".join(self.ref_text(r) for r in n.refs)
            lines.append(f"N{n.index} {n.kind_name}[{n.count}]{mark}{extra} {{{items}}}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Descriptor {len(self.nodes)} nodes, {len(self.leaves)} leaves, {len(self.data)} bytes>"
