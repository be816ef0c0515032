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

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from ..diagnostics import ClifError, Diagnostic, Location, source_line
from ..limits import DEFAULT_MAX_MEMORY, over

if TYPE_CHECKING:  # (the native worker imports this module, and needs no IR)
    from ..ir.function import Function, FunctionDetails

# Requests above this are refused with a located message rather than exhausting memory
# (`clifkit.limits`: `clifkit test --max-memory` sets it; `--max-reservation` the address space).
DEFAULT_MAX_HEAP_BYTES = DEFAULT_MAX_MEMORY
GROW_FUNCTION = "%heap_grow"


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


_KEY_RE = re.compile(r"\s*([a-z_]+)\s*(?:=\s*([^,]*?))?\s*(?:,|$)")
_SLOT_RE = re.compile(r"vmctx\s*\+\s*(0x[0-9a-fA-F_]+|\d[\d_]*)\Z")


def _error(loc: Location, col_offset: int, message: str) -> ClifError:
    at = Location(loc.path, loc.line, loc.col + col_offset)
    return ClifError(Diagnostic(at, message, source_line=source_line(at)))


def _int(text: str) -> Optional[int]:
    t = text.replace("_", "")
    try:
        return int(t, 16) if t.lower().startswith("0x") else int(t, 10)
    except ValueError:
        return None


Fields = dict[str, tuple[str, int]]  # key -> (value text, column offset of the value)


def _fields(text: str, loc: Location, keys: tuple[str, ...], what: str = "table", leading: tuple[str, ...] = ()) -> Fields:
    """Split ``key=value, ...`` (after an optional leading word from `leading`, stored under "")."""
    fields: Fields = {}
    pos = 0
    while pos < len(text):
        m = _KEY_RE.match(text, pos)
        if not m or m.end() == pos:
            raise _error(loc, pos, f"malformed {what} directive near {text[pos:].strip()!r}")
        key, value = m.group(1), m.group(2)
        col = m.start(1)
        if leading and "" not in fields:
            if value is not None or key not in leading:
                raise _error(loc, col, f"{what} directive must start with " + " or ".join(f"'{w}'" for w in leading))
            fields[""] = (key, col)
        elif key not in keys:
            raise _error(loc, col, f"unknown {what} attribute '{key}' (expected {', '.join(keys[:-1])} or {keys[-1]})")
        elif value is None or value == "":
            raise _error(loc, col, f"{what} attribute '{key}' needs a value: {key}=...")
        elif key in fields:
            raise _error(loc, col, f"{what} attribute '{key}' given twice")
        else:
            fields[key] = (value, col + len(key) + 1)
        pos = m.end()
    if leading and "" not in fields:
        raise _error(loc, 0, f"{what} directive must start with " + " or ".join(f"'{w}'" for w in leading))
    return fields


def _number(fields: Fields, key: str, loc: Location, what: str = "table") -> Optional[int]:
    if key not in fields:
        return None
    value, col = fields[key]
    n = _int(value)
    if n is None or n < 0:
        raise _error(loc, col, f"{what} attribute '{key}' must be a non-negative integer, not {value!r}")
    return n


def _slot(fields: Fields, key: str, loc: Location, what: str = "table", max_bytes: Optional[int] = None) -> Optional[int]:
    if key not in fields:
        return None
    value, col = fields[key]
    m = _SLOT_RE.match(value)
    if not m:
        raise _error(loc, col, f"{what} attribute '{key}' must be a vmctx slot such as vmctx+8, not {value!r}")
    offset = _int(m.group(1))
    # The struct is as large as its furthest slot (8-byte slots: the pointer size of the targets).
    if max_bytes is not None and offset is not None and offset + 8 > max_bytes:
        raise _error(loc, col, over("vmctx struct", offset + 8, max_bytes))
    return offset


def parse_heap_directive(text: str, loc: Location, index: int, max_bytes: int = DEFAULT_MAX_HEAP_BYTES) -> HeapRequest:
    """Read the text after ``heap:``. `loc` points at that text's first character."""
    fields = _fields(text, loc, ("size", "ptr", "bound", "max", "guard"), "heap", ("static", "dynamic"))
    style = fields[""][0]
    size = _number(fields, "size", loc, "heap")
    if size is None:
        raise _error(loc, 0, "heap directive needs size=")
    ptr = _slot(fields, "ptr", loc, "heap", max_bytes)
    if ptr is None:
        raise _error(loc, 0, "heap directive needs ptr=vmctx+N")
    bound = _slot(fields, "bound", loc, "heap", max_bytes)
    if bound is None and style == "dynamic":
        raise _error(loc, 0, "a dynamic heap needs bound=vmctx+N")
    max_size = _number(fields, "max", loc, "heap")
    if max_size is None:
        max_size = size
    elif max_size < size:
        raise _error(loc, fields["max"][1], f"heap max=0x{max_size:x} is smaller than its size=0x{size:x}")
    guard = _number(fields, "guard", loc, "heap") or 0
    total = max_size + guard
    if total > max_bytes:
        raise _error(loc, 0, over("heap", total, max_bytes))
    return HeapRequest(index, style, size, ptr, bound, max_size, guard, loc)


def parse_table_directive(text: str, loc: Location, index: int, max_bytes: int = DEFAULT_MAX_HEAP_BYTES) -> HeapRequest:
    """Read the text after ``table:``: ``elements=N, element_size=S, ptr=vmctx+P, bound=vmctx+B``."""
    fields = _fields(text, loc, ("elements", "element_size", "ptr", "bound"))
    elements = _number(fields, "elements", loc)
    element_size = _number(fields, "element_size", loc)
    for key, value in (("elements", elements), ("element_size", element_size)):
        if value is None:
            raise _error(loc, 0, f"table directive needs {key}=")
    if element_size == 0:
        raise _error(loc, fields["element_size"][1], "table element_size must be at least 1")
    ptr, bound = _slot(fields, "ptr", loc, max_bytes=max_bytes), _slot(fields, "bound", loc, max_bytes=max_bytes)
    if ptr is None or bound is None:
        raise _error(loc, 0, "table directive needs ptr=vmctx+N and bound=vmctx+N")
    size = elements * element_size
    if size > max_bytes:
        raise _error(loc, 0, over("table", size, max_bytes))
    return HeapRequest(index, "table", size, ptr, bound, size, 0, loc, element_size)


def build_environment(details: FunctionDetails, pointer_bytes: int = 8,
                      max_heap_bytes: int = DEFAULT_MAX_HEAP_BYTES) -> Optional[Environment]:
    """The environment the function's heap directives ask for, or None when there are none.
    `max_heap_bytes` caps what a heap, a table or the vmctx struct may hold (`clifkit.limits`).
    How much address space each region reserves depends on the functions a run line can reach:
    `reservations.reserve` works it out (and checks it against ``--max-reservation``)."""
    heaps = []
    for d in details.directives:
        if d.kind == "heap":
            heaps.append(parse_heap_directive(d.text, d.loc, len(heaps), max_heap_bytes))
        elif d.kind == "table":
            heaps.append(parse_table_directive(d.text, d.loc, len(heaps), max_heap_bytes))
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
