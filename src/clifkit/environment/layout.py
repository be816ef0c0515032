"""The run-test environment: heaps a test asks for, and the vmctx struct that points at them.

A test asks for memory with directives after its function::

    ; heap: static, size=0x1000, ptr=vmctx+0, bound=vmctx+8
    ; heap: dynamic, size=0x100, ptr=vmctx+16, bound=vmctx+24, max=0x1000
    ; table: elements=16, element_size=8, ptr=vmctx+32, bound=vmctx+40

This module only *describes* that environment, the same for every engine:
which heaps exist, how large they are, where their base and bound slots sit in
vmctx (written by `slot_writes`, in the target's pointer width and byte
order). How much address space each region reserves is worked out from the
heap declarations a run line can reach (`reservations.py`); when a test writes
no directives they may be implied by the declarations (`inferred.py`). Each
engine materialises the result (the interpreter in its virtual address
space, the native engine in real mappings), reserving exactly those numbers,
and every run line gets a fresh, zeroed copy. Engines import this module;
it imports no engine.

The bound slot holds the heap's current size in bytes, which is what a
dynamic heap's ``bound gvN`` means in CLIF; a table's bound slot holds its
number of elements, which is what a table's ``bound gvN`` means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from .. import lazy
from ..diagnostics import ClifError, Diagnostic, Location, source_line
from ..limits import DEFAULT_MAX_MEMORY, over
from . import GROW_FUNCTION  # noqa: F401  (defined in the package; named here as before)

# The reader is imported where a directive is read: the native worker, which only rebuilds
# environments from the wire (`native/memory.py`), then never imports it (above all under QEMU,
# where importing the reader and the IR is most of an emulated worker's start).
if TYPE_CHECKING:  # (the native worker imports this module, and needs no IR)
    from ..ir.function import Function, FunctionDetails
    from ..reader.fields import DirectiveFields

# Requests above this are refused with a located message rather than exhausting memory
# (`clifkit.limits`: `clifkit test --max-memory` sets it; `--max-reservation` the address space).
DEFAULT_MAX_HEAP_BYTES = DEFAULT_MAX_MEMORY


@dataclass(frozen=True)
class HeapRequest:
    """One ``; heap:`` directive."""

    index: int  # position among the function's heap directives: the growth function's heap index
    style: str  # "static", "dynamic", or "table"
    size: int  # accessible bytes when the run starts
    ptr_offset: int  # vmctx offset of the slot holding the heap's base address
    bound_offset: Optional[int]  # vmctx offset of the slot holding its current size in bytes
    max_size: int  # the most it may grow to (== size when it cannot grow)
    guard: int  # bytes after the reservation that always trap
    loc: Location
    element_size: int = 1  # tables: bytes per element; the bound slot counts elements
    # How far past the base the heap declarations that can see this region may address without a
    # bounds check (offset of a derived base + bound + offset_guard): `reservations.reserve`.
    reach: int = 0
    # Bytes the declarations load from the bound slot (4 for an ``i32`` bound, which a heap or table
    # with ``index_type i32`` must have); 0: the pointer width. `reservations.reserve` sets it.
    bound_bytes: int = 0

    @property
    def bound_value(self) -> int:
        """What the bound slot holds at the start: bytes for a heap, elements for a table."""
        return self.size // self.element_size

    def reservation(self) -> int:
        """Address space the region reserves after its base (before its ``guard=``): all a static
        heap may ever use, what a dynamic heap or table currently holds (they move when they
        grow), and at least the `reach` its declarations promise."""
        held = self.max_size if self.style == "static" else self.size
        return max(held, self.reach)


@dataclass(frozen=True)
class Environment:
    heaps: tuple[HeapRequest, ...]
    pointer_bytes: int = 8
    vmctx_min: int = 0  # the struct holds at least this many bytes (an inferred heap over vmctx)
    vmctx_reach: int = 0  # how far past vmctx heap declarations over vmctx may address (`reserve`)
    inferred: bool = False  # laid out from the heap declarations, not from directives (`inferred.py`)

    @property
    def vmctx_size(self) -> int:
        """The struct is as large as its furthest slot."""
        ends = [h.ptr_offset + self.pointer_bytes for h in self.heaps]
        ends += [h.bound_offset + self.pointer_bytes for h in self.heaps if h.bound_offset is not None]
        return max(ends + [self.vmctx_min], default=0)

    @property
    def vmctx_reservation(self) -> int:
        """Address space vmctx owns after its base: the struct, and what heaps over it reach."""
        return max(self.vmctx_size, self.vmctx_reach)

    def heap_for_base_offset(self, offset: int) -> Optional[HeapRequest]:
        for heap in self.heaps:
            if heap.ptr_offset == offset:
                return heap
        return None


def _error(loc: Location, col_offset: int, message: str) -> ClifError:
    at = Location(loc.path, loc.line, loc.col + col_offset)
    return ClifError(Diagnostic(at, message, source_line=source_line(at)))


def heap_request(fields: DirectiveFields, index: int, max_bytes: int = DEFAULT_MAX_HEAP_BYTES) -> HeapRequest:
    """The region a heap or table directive asks for, as the reader read it (`reader.fields`),
    checked against `max_bytes`. Raises a `ClifError` located at the field at fault."""
    values, cols, fail = fields.values, fields.cols, fields.error
    for key in lazy.module("clifkit.reader.fields").SLOT_KEYS & values.keys():
        # The struct is as large as its furthest slot (8-byte slots: the pointer size of the targets).
        if values[key] + 8 > max_bytes:
            raise fail(cols[key], over("vmctx struct", values[key] + 8, max_bytes))
    if fields.kind == "table":
        return _table_request(fields, index, max_bytes)
    style, size = fields.style, values.get("size")
    if size is None:
        raise fail(0, "heap directive needs size=")
    ptr, bound = values.get("ptr"), values.get("bound")
    if ptr is None:
        raise fail(0, "heap directive needs ptr=vmctx+N")
    if bound is None and style == "dynamic":
        raise fail(0, "a dynamic heap needs bound=vmctx+N")
    max_size = values.get("max")
    if max_size is None:
        max_size = size
    elif max_size < size:
        raise fail(cols["max"], f"heap max=0x{max_size:x} is smaller than its size=0x{size:x}")
    guard = values.get("guard") or 0
    total = max_size + guard
    if total > max_bytes:
        raise fail(0, over("heap", total, max_bytes))
    return HeapRequest(index, style, size, ptr, bound, max_size, guard, fields.loc)


def _table_request(fields: DirectiveFields, index: int, max_bytes: int) -> HeapRequest:
    values, fail = fields.values, fields.error
    elements, element_size = values.get("elements"), values.get("element_size")
    for key, value in (("elements", elements), ("element_size", element_size)):
        if value is None:
            raise fail(0, f"table directive needs {key}=")
    if element_size == 0:
        raise fail(fields.cols["element_size"], "table element_size must be at least 1")
    ptr, bound = values.get("ptr"), values.get("bound")
    if ptr is None or bound is None:
        raise fail(0, "table directive needs ptr=vmctx+N and bound=vmctx+N")
    size = elements * element_size
    if size > max_bytes:
        raise fail(0, over("table", size, max_bytes))
    return HeapRequest(index, "table", size, ptr, bound, size, 0, fields.loc, element_size)


def parse_heap_directive(text: str, loc: Location, index: int, max_bytes: int = DEFAULT_MAX_HEAP_BYTES) -> HeapRequest:
    """The heap that the text after ``heap:`` asks for (`loc`: that text's first character)."""
    from ..reader.fields import read_fields

    return heap_request(read_fields("heap", text, loc, source_line(loc)), index, max_bytes)


def parse_table_directive(text: str, loc: Location, index: int, max_bytes: int = DEFAULT_MAX_HEAP_BYTES) -> HeapRequest:
    """The table that the text after ``table:`` asks for: ``elements=N, element_size=S, ptr=vmctx+P, bound=vmctx+B``."""
    from ..reader.fields import read_fields

    return heap_request(read_fields("table", text, loc, source_line(loc)), index, max_bytes)


def build_environment(details: FunctionDetails, pointer_bytes: int = 8,
                      max_heap_bytes: int = DEFAULT_MAX_HEAP_BYTES) -> Optional[Environment]:
    """The environment the function's heap directives ask for, or None when there are none.
    `max_heap_bytes` caps what a heap, a table or the vmctx struct may hold (`clifkit.limits`).
    How much address space each region reserves depends on the functions a run line can reach:
    `reservations.reserve` works it out (and checks it against ``--max-reservation``)."""
    # (the reader's modules by `lazy`: a fuzz campaign builds an environment for most programs)
    read, keys = lazy.module("clifkit.reader.directives").read, lazy.module("clifkit.reader.fields").KEYS
    heaps = []
    for d in details.directives:
        if d.kind in keys:
            heaps.append(heap_request(read(d), len(heaps), max_heap_bytes))  # read once, by the reader
    if not heaps:
        return None
    _check_slots(heaps, pointer_bytes)
    _check_vmctx_param(details.function, heaps[0].loc, pointer_bytes)
    return Environment(tuple(heaps), pointer_bytes)


def _check_slots(heaps: list[HeapRequest], pointer_bytes: int) -> None:
    taken: dict[int, str] = {}
    for heap in heaps:
        for what, offset in (("ptr", heap.ptr_offset), ("bound", heap.bound_offset)):
            if offset is None:
                continue
            name = f"heap {heap.index} {what}"
            if offset % pointer_bytes:
                raise _error(heap.loc, 0, f"{name} slot vmctx+{offset} is not {pointer_bytes}-byte aligned")
            if offset in taken:
                raise _error(heap.loc, 0, f"{name} slot vmctx+{offset} overlaps {taken[offset]} slot")
            taken[offset] = name


def _check_vmctx_param(func: Function, loc: Location, pointer_bytes: int) -> None:
    params = func.signature.params
    first = params[0] if params else None
    if first is None or first.purpose != "vmctx" or first.type.bits != pointer_bytes * 8 or not first.type.is_int:
        where = func.loc or loc
        raise ClifError(
            Diagnostic(
                where,
                f"function {func.name} has heap directives, so its first parameter must be "
                f"`i{pointer_bytes * 8} vmctx`",
                source_line=source_line(where),
            )
        )


def grown_size(style: str, size: int, max_size: int, delta: int) -> Optional[int]:
    """The size in bytes ``%heap_grow`` gives a heap of `size` asked to grow by `delta` (an i64
    bit pattern), or None when it refuses: a table, a negative delta, or past ``max_size``.
    Every engine applies this one rule, then moves or extends its own memory."""
    if style == "table" or delta >> 63:
        return None
    new = size + delta
    return new if new <= max_size else None


def slot_writes(heap, pointer_bytes: int, byteorder: str) -> list[tuple[int, bytes]]:
    """What to write into vmctx for a live heap or table (each engine's: anything with `base`,
    `size`, `ptr_offset`, `bound_offset` and `element_size`): (offset, bytes) of its base slot and
    of its bound slot (the size in bytes; a table's in elements), in the target's pointer width and
    byte order; a bound its declarations load narrower (``bound_bytes``) is written in that width at
    the slot's offset, zero-padded to the pointer width, so that a big-endian target's narrow load
    reads the value rather than its high half. The one writer of slots: every engine writes these bytes, at the start of a call
    and whenever ``%heap_grow`` moves or extends a heap."""
    mask = (1 << (8 * pointer_bytes)) - 1
    out = [(heap.ptr_offset, (heap.base & mask).to_bytes(pointer_bytes, byteorder))]
    if heap.bound_offset is not None:
        width = min(getattr(heap, "bound_bytes", 0) or pointer_bytes, pointer_bytes)
        value = (heap.size // heap.element_size) & ((1 << (8 * width)) - 1)
        out.append((heap.bound_offset, value.to_bytes(width, byteorder) + bytes(pointer_bytes - width)))
    return out
