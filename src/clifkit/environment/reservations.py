"""How much address space each region of a run line's environment must own, from the declarations.

A static heap declaration promises ``bound + offset_guard`` bytes of address space after its base:
native code skips the bounds checks that the promise makes unnecessary, so an access the check
would have caught lands somewhere in that span and must fault there. The promise is made by
*every* heap declaration that can see the environment, not only by the function a run line calls:
its callees (reached through ``call``, ``return_call``, ``func_addr`` or a ``symbol`` global value
naming a function of the file) get the same vmctx and may declare the same heap again, larger.

`reserve` matches every heap and table declaration of every function reachable from the run
line's callee to the environment region its base points into, and records in the environment
how far past each region's base those declarations may reach:

* a base that loads from vmctx+N is the heap or table whose directive writes its base to vmctx+N;
* a derived base (``iadd_imm`` of such a load, any depth) adds its offset: a heap at base+0x100
  with ``bound + offset_guard`` = B needs 0x100 + B bytes after the directive's base;
* a base that is vmctx itself (or derived from it) is a heap over the vmctx struct: vmctx then
  owns that much address space after it.

A declaration whose base cannot be matched to a region (a slot no directive writes, a symbol, a
load through a heap's memory, a negative offset), or whose bound reads another slot than its
region's bound slot, or a table over a heap directive (its bound slot counts bytes, not elements)
or whose ``element_size`` differs from its ``; table:`` directive's, is a located error: never memory that nobody reserved.
(The 2022 dialect takes a table over a heap directive as its harness did: the bound slot's byte
count is read as the element count, and the region reserves that many elements.) The numbers recorded here are the ones
both engines reserve and the ones `clifkit test --max-reservation` checks. A callee's vmctx is
assumed to be its caller's (heap-era tests pass it along); that is what makes its declarations
count.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Mapping, Optional

from ..diagnostics import ClifError, Diagnostic, Location, source_line
from ..dialect import CURRENT, Dialect
from ..ir.function import Function, reachable  # noqa: F401  (reachable: named here as before)
from ..ir.numbers import sign_extend
from ..limits import DEFAULT_MAX_RESERVATION, over
from .layout import Environment, HeapRequest
from .guarantee import grown_in_place_extent

Address = tuple[Optional[int], int]  # (vmctx slot the value was loaded from, or None for vmctx itself; offset added)


def gv_address(func: Function, gv: int, depth: int = 0) -> Optional[Address]:
    """What global value `gv` of `func` is, in terms of the environment: vmctx itself plus an offset
    (``(None, d)``), the value of vmctx slot N plus an offset (``(N, d)``), or None (anything else)."""
    data = func.global_values.get(gv)
    if data is None or depth > len(func.global_values):
        return None
    if data.kind == "vmctx":
        return (None, 0)
    if data.kind not in ("load", "iadd_imm") or data.base is None:
        return None
    base = gv_address(func, data.base, depth + 1)
    if base is None:
        return None
    slot, delta = base
    offset = sign_extend(data.offset or 0, 64)
    if data.kind == "iadd_imm":
        return (slot, delta + offset)
    if slot is not None:
        return None  # a load through a heap's memory: nothing the environment writes
    return (delta + offset, 0)


def declaration_loc(func: Function, name: str) -> Optional[Location]:
    """Where preamble entity `name` (``heap0``, ``table1``) of `func` is declared, as the reader found it."""
    return func.entity_locs.get(name)


def declaration_error(func: Function, name: str, message: str, prefix: bool = True) -> ClifError:
    """A located error at `func`'s declaration of `name`; `prefix` names it (``heap0 of %f: ...``)."""
    where = declaration_loc(func, name) or func.loc or Location("<unknown>", 1, 1)
    text = f"{name} of {func.name}: {message}" if prefix else message
    return ClifError(Diagnostic(where, text, source_line=source_line(where)))


def declarations(func: Function) -> Iterable[tuple[str, object]]:
    """(name, declaration) of `func`'s heaps, then its tables, in number order."""
    for number in sorted(func.heaps):
        yield f"heap{number}", func.heaps[number]
    for number in sorted(func.tables):
        yield f"table{number}", func.tables[number]


def _slots(env: Environment) -> str:
    slots = [f"vmctx+{h.ptr_offset}" for h in env.heaps]
    return ", ".join(slots) if slots else "none"


def _region(env: Environment, func: Function, name: str, decl) -> tuple[Optional[HeapRequest], int]:
    """The directive `decl`'s base points into (None: vmctx itself) and the offset from its base."""
    address = gv_address(func, decl.base)
    gv = f"gv{decl.base}"
    if address is None:
        raise declaration_error(func, name, f"its base {gv} is not vmctx, a load from a vmctx slot, or an offset "
                                            "from one, so it cannot be matched to a heap or table directive")
    slot, delta = address
    request = None
    if slot is not None:
        request = env.heap_for_base_offset(slot)
        if request is None:
            raise declaration_error(func, name, f"its base {gv} loads from vmctx+{slot}, where no heap or table "
                                                f"directive writes a base (they write at: {_slots(env)})")
    if delta < 0:
        where = "vmctx" if request is None else f"the base of heap directive {request.index}"
        raise declaration_error(func, name, f"its base {gv} lies {-delta:#x} bytes before {where}, outside "
                                            "any memory the environment holds")
    return request, delta


def _check_bound(env: Environment, func: Function, name: str, decl, request: Optional[HeapRequest],
                 widths: dict) -> None:
    """A dynamic heap's or a table's bound must be the bound slot of the region its base is in.
    Records in `widths` (directive index -> (bytes, func, name)) how wide a value the declarations
    load from it: every declaration must load the same width, and the value must fit in it."""
    address = gv_address(func, decl.bound) if decl.bound is not None else None
    wanted = request.bound_offset if request is not None else None
    if address is not None and address[1] == 0 and address[0] is not None and address[0] == wanted:
        ty = func.global_values[decl.bound].type
        width = min(ty.bits // 8, env.pointer_bytes) if ty is not None else env.pointer_bytes
        seen = widths.setdefault(request.index, (width, func, name))
        if seen[0] != width:
            raise declaration_error(func, name, f"its bound gv{decl.bound} loads {width} bytes from vmctx+{wanted}, "
                                                f"where {seen[2]} of {seen[1].name} loads {seen[0]}: one slot holds "
                                                "one width")
        most = request.max_size // request.element_size
        if most >> (8 * width):
            raise declaration_error(func, name, f"its bound gv{decl.bound} loads {width} bytes from vmctx+{wanted}, "
                                                f"too narrow for the bound {most:#x} of heap directive {request.index}")
        return
    if request is not None and wanted is None:
        if env.inferred:
            what = (f"that of the static heap inferred first for vmctx+{request.ptr_offset}, which has no bound "
                    f"slot for its bound gv{decl.bound} to load; write `; heap:` directives with bound=vmctx+N")
        else:
            what = (f"heap directive {request.index}'s, a static heap with no bound=, so no slot holds the size "
                    f"its bound gv{decl.bound} loads; give the directive bound=vmctx+N")
        raise declaration_error(func, name, f"its base gv{decl.base} is {what}")
    owner = f"heap directive {request.index}'s bound slot vmctx+{wanted}" if wanted is not None else "a bound slot"
    raise declaration_error(func, name, f"its bound gv{decl.bound} must load {owner}, which holds the size of "
                                        "the memory its base points into")


U32_MAX = (1 << 32) - 1


def bounds_check_left_out(index_bits: int, bound: int, offset_guard: int, end: int) -> bool:
    """Whether native code leaves out the bounds check of a static heap access reaching `end`
    bytes past its index (offset + size): the heap-era legalizer's rule (`native.legalize`), an
    i32 index whose every value lands within bound + offset_guard, counting on the guard to
    fault. (An access with `end` past the bound always traps, and is never left unchecked.)"""
    return index_bits == 32 and end <= bound and U32_MAX <= bound + offset_guard - end


_HEAP_ACCESSES = ("heap_addr", "heap_load", "heap_store")


def _access_ends(func: Function, number: int) -> Iterable[int]:
    """How far past its index each `heap_addr`, `heap_load` and `heap_store` of `func`'s heap
    `number` reaches (offset + size: the `end` of `bounds_check_left_out`)."""
    for inst in func.instructions():
        if inst.heap != number or inst.opcode.name not in _HEAP_ACCESSES:
            continue
        if inst.opcode.name == "heap_addr":
            size = inst.size or 0
        else:  # the loaded or stored value's bytes
            value = inst.results[0] if inst.opcode.name == "heap_load" else inst.args[1]
            ty = func.value_types.get(func.resolve(value))
            size = ty.bytes if ty is not None else 0
        yield (inst.offset or 0) + size


def _check_unchecked_bound(env: Environment, func: Function, name: str, decl, request: Optional[HeapRequest],
                           delta: int) -> None:
    """A static declaration with an access whose bounds check native code leaves out
    (`bounds_check_left_out`) must not have accessible bytes past its bound: the check is left
    out counting on every byte from the bound to the end of the guard to fault. If the
    environment makes bytes past the bound accessible (a directive's size or max= larger than
    the bound, or a derived base too close to the end), such an access there reads memory natively
    where the interpreter traps heap_oob, so the declaration is refused. A declaration whose
    accesses all keep their check may have any bound."""
    index_bits = 32 if decl.index_type is None else decl.index_type.bits  # not written: i32
    if index_bits != 32 or decl.bound + decl.offset_guard < U32_MAX:
        return  # (no access of it can be left unchecked: no need to look for them)
    if not any(bounds_check_left_out(index_bits, decl.bound, decl.offset_guard, end)
               for end in _access_ends(func, int(name[len("heap"):]))):
        return
    if request is None:
        accessible, what = env.vmctx_size, "the vmctx struct holds"
    else:
        accessible = request.max_size
        if env.inferred:
            what = f"the heap inferred for vmctx+{request.ptr_offset} holds"
        elif request.style == "table":
            what = f"table directive {request.index} holds"
        else:
            what = f"heap directive {request.index} makes accessible"
    past = f"{delta:#x} + bound {decl.bound:#x}" if delta else f"bound {decl.bound:#x}"
    left_out = (f"native code leaves its bounds check out (index_type i32, and bound {decl.bound:#x} + "
                f"offset_guard {decl.offset_guard:#x} covers every 32-bit index), counting on nothing past the bound "
                f"being accessible, but ")
    if delta + decl.bound < accessible:
        raise declaration_error(func, name, f"{left_out}{what} {accessible:#x} bytes from its base, past {past}: "
                                            f"give it a bound that covers them, or an offset_guard small enough "
                                            f"to keep the check")
    if request is None or request.style != "static":
        return  # (only a static directive grows in place: a dynamic one moves, a table does not grow)
    grown = grown_in_place_extent(request.size, request.max_size)
    if delta + decl.bound < grown:
        raise declaration_error(func, name, f"{left_out}heap directive {request.index} grows in place up to "
                                            f"max={request.max_size:#x}, and native memory is open in whole pages: "
                                            f"grown, the rest of its last page is readable, {grown:#x} bytes from "
                                            f"its base, past {past}: give it a bound that covers them, a max= that "
                                            f"ends its last page, or an offset_guard small enough to keep the check")


def _table_over_heap(env: Environment, decl, request) -> str:
    """Why a table may not lie over a heap's memory today, worded for what the file wrote."""
    if env.inferred:
        whose = (f"the heap inferred for vmctx+{request.ptr_offset} from the heap declarations (the file "
                 "writes no directive), whose bound slot counts bytes; a table needs a `; table:` directive")
    else:
        whose = (f"heap directive {request.index}'s, whose bound slot counts bytes; a table needs a "
                 "`; table:` directive")
    return (f"its base gv{decl.base} is {whose}, whose bound slot counts elements (the run-test harness of "
            "2022 read the heap's byte count as the table's element count: --cranelift 2022)")


def reserve(env: Environment, entry: Function, functions: Mapping[str, Function],
            max_reservation: int = DEFAULT_MAX_RESERVATION, dialect: Dialect = CURRENT) -> Environment:
    """`env` with each region's reach set from every declaration reachable from `entry` (see the
    module doc), checked against `max_reservation`; `dialect` says whether a table may lie over a
    heap directive (`clifkit.dialect`). Raises ClifError, located."""
    reach = {h.index: (h.reach, None) for h in env.heaps}  # directive index -> (reach, (func, name) driving it)
    vmctx_reach: tuple[int, Optional[tuple]] = (env.vmctx_reach, None)
    widths: dict = {}  # directive index -> (bytes its bound declarations load, func, name)
    for func in reachable(entry, functions):
        for name, decl in declarations(func):
            request, delta = _region(env, func, name, decl)
            if name.startswith("table"):
                _check_bound(env, func, name, decl, request, widths)
                if request is not None and request.style != "table" and decl.element_size != 1:
                    if dialect.tables_over_heaps:
                        # 2022: the bound slot's byte count is the table's element count, so the
                        # table may address that many elements: all of it is reserved, and what
                        # lies past the heap's bytes traps heap_oob as any reserved memory does.
                        elements = request.max_size // request.element_size
                        extent = delta + elements * decl.element_size
                        if extent + request.guard > max_reservation:
                            parts = (f"{delta:#x} + " if delta else "") + (
                                f"{elements:#x} elements, the heap directive's bytes, x element_size "
                                f"{decl.element_size}") + (f" + guard={request.guard:#x}" if request.guard else "")
                            raise declaration_error(func, name, f"{name} reservation of {extent + request.guard:#x} "
                                                                f"bytes ({parts}) exceeds the limit of "
                                                                f"{max_reservation:#x} bytes", prefix=False)
                        if extent > reach[request.index][0]:
                            reach[request.index] = (extent, None)
                        continue
                    raise declaration_error(func, name, _table_over_heap(env, decl, request))
                if request is not None and request.style == "table" and decl.element_size != request.element_size:
                    raise declaration_error(func, name, f"element_size {decl.element_size} differs from the "
                                                        f"table directive's element_size={request.element_size}")
                continue
            if decl.style == "dynamic":
                _check_bound(env, func, name, decl, request, widths)
                continue
            _check_unchecked_bound(env, func, name, decl, request, delta)
            extent = delta + decl.bound + decl.offset_guard
            if request is None:
                if extent > vmctx_reach[0]:
                    vmctx_reach = (extent, (func, name, delta, decl))
            elif extent > reach[request.index][0]:
                reach[request.index] = (extent, (func, name, delta, decl))
    heaps = tuple(dataclasses.replace(h, reach=reach[h.index][0],
                                      bound_bytes=widths[h.index][0] if h.index in widths else h.bound_bytes)
                  for h in env.heaps)
    out = dataclasses.replace(env, heaps=heaps, vmctx_reach=vmctx_reach[0])
    for request in out.heaps:
        _check_limit(request.reservation() + request.guard, max_reservation, reach[request.index][1], request)
    _check_limit(out.vmctx_reservation, max_reservation, vmctx_reach[1], None)
    return out


def _check_limit(span: int, limit: int, driver: Optional[tuple], request: Optional[HeapRequest]) -> None:
    if span <= limit:
        return
    if driver is not None and (request is None or driver[3].bound + driver[3].offset_guard + driver[2] > request.max_size):
        func, name, delta, decl = driver
        parts = (f"{delta:#x} + " if delta else "") + f"bound {decl.bound:#x} + offset_guard {decl.offset_guard:#x}"
        if request is not None and request.guard:
            parts += f" + guard={request.guard:#x}"
        raise declaration_error(func, name, f"{name} reservation of {span:#x} bytes ({parts}) exceeds the limit "
                                            f"of {limit:#x} bytes", prefix=False)
    if request is None or request.loc is None:
        return  # nothing declared drives it: the struct itself, already within --max-memory
    raise ClifError(Diagnostic(request.loc, over("heap reservation", span, limit), source_line=source_line(request.loc)))
