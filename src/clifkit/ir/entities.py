"""Preamble entities: the data of the declarations before a function's first block (stack slots,
dynamic types, global values, function references, and the heap era's heaps and tables), kept
by number in `Function`'s dicts. Apart from `function.py`: only a function with a preamble (the
reader's `declarations`) makes them."""

from __future__ import annotations

from dataclasses import dataclass

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional

    from .function import ExternalName
    from .memflags import MemFlags
    from .types import Type


@dataclass
class StackSlotData:
    """An explicit stack slot (``ssN = explicit_slot SIZE, align = A``)."""

    kind: str  # "explicit_slot"
    size: int
    align: Optional[int] = None  # bytes, as written after `align =`; None when absent
    key: Optional[int] = None


@dataclass
class DynamicStackSlotData:
    """A dynamic stack slot (``dssN = explicit_dynamic_slot dtN``)."""

    kind: str  # "explicit_dynamic_slot"
    dynamic_type: int  # dtN


@dataclass
class DynamicTypeData:
    """A dynamic vector type (``dtN = i32x4*gvM``): a base vector scaled by a global value."""

    base_vector: Type  # e.g. i32x4
    scale: int  # the global value giving the scale


@dataclass
class GlobalValueData:
    """One of: vmctx; load.T [flags] gvB[+off]; iadd_imm.T gvB, off; symbol [colocated] [tls] name[+off];
    dyn_scale_target_const.T."""

    kind: str
    base: Optional[int] = None
    offset: int = 0
    type: Optional[Type] = None
    flags: Optional[MemFlags] = None
    name: Optional[ExternalName] = None
    colocated: bool = False
    tls: bool = False
    vector_type: Optional[Type] = None


@dataclass
class ExtFuncData:
    """A function reference (``fnN = ...``): the callee's name and signature."""

    name: ExternalName
    signature: int  # a sigN number (inline signatures get one of their own)
    colocated: bool = False
    patchable: bool = False
    inline_signature: bool = False  # written as `fn0 = %f(i32) -> i32` rather than `fn0 = %f sig0`


@dataclass
class HeapData:
    """Heap era: ``heap0 = static gv0, min 0x1000, bound 0x1_0000_0000, offset_guard 0x8000_0000, index_type i32``."""

    style: str  # "static" or "dynamic"
    base: int  # global value holding the base address
    min_size: int = 0
    bound: int = 0  # static: bytes; dynamic: a global value number
    offset_guard: int = 0
    index_type: Optional[Type] = None  # None: not written (i32)
    written: tuple[str, ...] = ()  # attribute names in the order the text gave them ("min", "bound", ...)


@dataclass
class TableData:
    """Heap era: ``table0 = dynamic gv0, min 1, bound gv1, element_size 16, index_type i32``."""

    base: int
    min_size: int = 0
    bound: Optional[int] = None  # a global value number
    element_size: int = 0
    index_type: Optional[Type] = None
    written: tuple[str, ...] = ()  # attribute names in the order the text gave them
