"""The design report's descriptor-driven copy: descriptors of object graphs
(``describe``) and a model of the proposed copy accelerator
(``python -m fastcopy.fca``).  See docs/descriptor.md and docs/fca.md.
"""

from __future__ import annotations

from typing import Any

from .._fastcopy import _describe
from .descriptor import Descriptor, DescriptorError, Node
from .device import CostParams, CostReport, FCADevice, FCAError, accelerate

__all__ = [
    "CostParams",
    "CostReport",
    "Descriptor",
    "DescriptorError",
    "FCADevice",
    "FCAError",
    "Node",
    "accelerate",
    "describe",
]


def describe(obj: Any) -> Descriptor:
    """Build the descriptor of ``obj``'s object graph (in C, one traversal).

    The result holds the bytes (``.data``), the leaf objects the bytes refer
    to (``.leaves``, kept alive by the Descriptor) and the parsed records;
    ``.dump()`` gives a readable listing.
    """
    data, leaves = _describe(obj)
    return Descriptor(data, leaves)
