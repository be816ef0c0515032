"""Environments inferred from heap and table declarations, for run tests that write no directives.

Heap-era tests often declare everything the harness needs to know::

    function %f(i64 vmctx, i32, i32) -> i32 {
        gv0 = vmctx
        gv1 = load.i64 notrap aligned gv0+0
        gv2 = load.i64 notrap aligned gv0+8
        gv3 = load.i64 notrap aligned gv0+16
        heap0 = static gv1, min 0x1000, bound 0x1_0000_0000, offset_guard 0, index_type i64
        heap1 = dynamic gv2, bound gv3, offset_guard 0
    ...
    ; run: %f(1, 2) == 3

When a run line calls a function that takes ``vmctx`` first and neither it nor its group has
``; heap:`` / ``; table:`` directives, `infer_environment` writes the directives the declarations
imply (of the function and of every function it can reach, the callee's first), exactly as if
they had been written, one per base slot in declaration order (so ``%heap_grow`` numbers them
that way):

* a static heap whose base loads from vmctx+P: ``static, size=MIN, ptr=vmctx+P`` (MIN: its
  ``min``, plus the offset of a derived base);
* a dynamic heap with base vmctx+P and bound vmctx+B: ``dynamic, size=MIN, ptr=vmctx+P,
  bound=vmctx+B``, MIN being its ``min`` or `DEFAULT_DYNAMIC_BYTES` (16 KiB) when that is 0;
* a table with base vmctx+P and bound vmctx+B: ``elements=MIN, element_size=S, ptr=vmctx+P,
  bound=vmctx+B``, MIN being its ``min`` or as many elements as fill 16 KiB when that is 0;
* a static heap over vmctx itself makes the struct at least ``offset + min`` bytes.

Declarations on a slot already inferred only count towards the reservation
(`reservations.reserve`). A declaration the harness cannot lay out (a base or bound that is not
a load from a fixed vmctx offset) is a located error.
"""

from __future__ import annotations

from typing import Mapping, Optional

from ..ir.function import Function
from ..limits import over
from ..reader.directives import takes_vmctx
from ..environment.layout import DEFAULT_MAX_HEAP_BYTES, Environment, HeapRequest, _check_slots
from ..environment.reservations import declaration_error, declaration_loc, declarations, gv_address, reachable

DEFAULT_DYNAMIC_BYTES = 16 * 1024  # a dynamic heap declared with min 0
DEFAULT_TABLE_BYTES = 16 * 1024  # a table declared with min 0 gets as many elements as fill this


def _cannot(func: Function, name: str, why: str):
    return declaration_error(func, name, f"cannot lay out its memory without directives: {why}; "
                                         "write `; heap:` / `; table:` directives")


def _bound_slot(func: Function, name: str, decl) -> int:
    address = gv_address(func, decl.bound) if decl.bound is not None else None
    if address is None or address[0] is None or address[1] != 0:
        raise _cannot(func, name, f"its bound gv{decl.bound} does not load from a fixed vmctx offset")
    return address[0]


def infer_environment(entry: Function, functions: Mapping[str, Function], pointer_bytes: int = 8,
                      max_heap_bytes: int = DEFAULT_MAX_HEAP_BYTES) -> Optional[Environment]:
    """The environment the heap and table declarations reachable from `entry` imply (see the module
    doc), or None when `entry` takes no vmctx or nothing is declared. Raises ClifError, located."""
    if not takes_vmctx(entry):
        return None
    requests: list[HeapRequest] = []
    slots: set[int] = set()
    vmctx_min = 0
    for func in reachable(entry, functions):
        for name, decl in declarations(func):
            table = name.startswith("table")
            address = gv_address(func, decl.base)
            if address is None:
                raise _cannot(func, name, f"its base gv{decl.base} is not vmctx or a load from a fixed vmctx offset")
            slot, delta = address
            if delta < 0:
                raise _cannot(func, name, f"its base gv{decl.base} lies {-delta:#x} bytes before what it is derived from")
            if slot is None:
                if table or decl.style != "static":
                    raise _cannot(func, name, "only a static heap can lie over vmctx itself")
                vmctx_min = max(vmctx_min, delta + decl.min_size)
                continue
            if slot in slots:
                continue
            loc = declaration_loc(func, name) or func.loc
            if table:
                if decl.element_size < 1:
                    raise _cannot(func, name, "its element_size is 0")
                elements = decl.min_size or max(1, DEFAULT_TABLE_BYTES // decl.element_size)
                size = elements * decl.element_size
                request = HeapRequest(len(requests), "table", size, slot, _bound_slot(func, name, decl), size, 0, loc,
                                      decl.element_size)
            elif decl.style == "static":
                size = delta + decl.min_size
                request = HeapRequest(len(requests), "static", size, slot, None, size, 0, loc)
            else:
                size = decl.min_size or DEFAULT_DYNAMIC_BYTES
                request = HeapRequest(len(requests), "dynamic", size, slot, _bound_slot(func, name, decl), size, 0, loc)
            if size > max_heap_bytes:
                raise declaration_error(func, name, over("heap" if not table else "table", size, max_heap_bytes))
            slots.add(slot)
            requests.append(request)
    if vmctx_min > max_heap_bytes:
        raise declaration_error(entry, "gv0", over("vmctx struct", vmctx_min, max_heap_bytes))
    if not requests and not vmctx_min:
        return None
    _check_slots(requests, pointer_bytes)
    return Environment(tuple(requests), pointer_bytes, vmctx_min=vmctx_min, inferred=True)
