"""Checks of a function's preamble: global values, stack slots, dynamic types, signatures and
function references, heaps, tables, alias regions, memory types. Functions of the
`FunctionVerifier` `v`, which imports this module only for a function with a preamble."""

from __future__ import annotations

from ..diagnostics import Location
from ..ir.types import I32, I64, Type

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional

    from .core import FunctionVerifier


def gv_type(v: FunctionVerifier, gv: int, ptr: Type) -> Optional[Type]:
    data = v.func.global_values.get(gv)
    if data is None:
        return None
    if data.kind in ("load", "iadd_imm"):
        return data.type
    return ptr


def check_preamble(v: FunctionVerifier) -> None:
    func = v.func
    owners: dict[int, int] = {}
    for n, (user_id, _) in sorted(func.alias_regions.items()):
        if user_id in owners:
            v.report(v.decl_loc(f"region{n}"), f"duplicate alias region user_id {user_id}: region{n} "
                                                     f"and region{owners[user_id]} both have it")
        owners.setdefault(user_id, n)
    gvs = func.global_values
    has_vmctx = any(p.purpose == "vmctx" for p in func.signature.params)
    cycle_reported = False
    for gv, data in gvs.items():
        name = f"gv{gv}"
        loc = v.decl_loc(name)
        if data.kind in ("load", "iadd_imm"):
            base = data.base
            if base not in gvs:
                v.report(loc, f"{name}: base global value gv{base} is not declared")
                continue
            # Follow the chain of bases looking for a cycle.
            chain, cur = [gv], base
            while cur in gvs and gvs[cur].kind in ("load", "iadd_imm"):
                if cur in chain:
                    if not cycle_reported:
                        cycle = " -> ".join(f"gv{g}" for g in chain[chain.index(cur):] + [cur])
                        members = ", ".join(f"gv{g}" for g in chain[chain.index(cur):])
                        v.report(loc, f"global value cycle: [{members}]: {cycle}")
                        cycle_reported = True
                    break
                chain.append(cur)
                cur = gvs[cur].base
            else:
                for target, ptr in v.target.pointers:
                    base_type = gv_type(v, base, ptr)
                    if data.kind == "load" and base_type is not ptr:
                        v.report(loc, f"{name}: load base gv{base} has type {base_type}, "
                                         f"which is not the pointer type {ptr}")
                    if data.kind == "iadd_imm" and data.type is not None and data.type.is_int and base_type is not data.type:
                        v.report(loc, f"{name}: iadd_imm type {data.type} differs from the type {base_type} of its base gv{base}")
            if data.kind == "iadd_imm" and data.type is not None and not (data.type.is_int and data.type.is_scalar):
                v.report(loc, f"{name}: iadd_imm global value must have an integer type, not {data.type}")
        elif data.kind == "vmctx" and not has_vmctx:
            v.report(loc, f"undeclared vmctx reference: {name} = vmctx needs a parameter with the vmctx "
                             "purpose in the function signature")
    if func.stack_limit is not None and func.stack_limit not in gvs:
        v.report(v.decl_loc("stack_limit"), f"stack_limit refers to gv{func.stack_limit}, which is not declared")

    for ss, data in func.stack_slots.items():
        if data.size < 0 or data.size >= 1 << 32:
            v.report(v.decl_loc(f"ss{ss}"), f"ss{ss}: size {data.size} is out of range")
        if data.align is not None and (data.align <= 0 or data.align & (data.align - 1)):
            v.report(v.decl_loc(f"ss{ss}"), f"ss{ss}: alignment {data.align} is not a power of two")
    for dt, data in func.dynamic_types.items():
        if data.scale not in gvs:
            v.report(v.decl_loc(f"dt{dt}"), f"dt{dt}: scale global value gv{data.scale} is not declared")
        if not data.base_vector.is_vector or data.base_vector.dynamic:
            v.report(v.decl_loc(f"dt{dt}"), f"dt{dt}: base type {data.base_vector} is not a fixed vector type")
    for dss, data in func.dynamic_stack_slots.items():
        if data.dynamic_type not in func.dynamic_types:
            v.report(v.decl_loc(f"dss{dss}"), f"dss{dss}: dynamic type dt{data.dynamic_type} is not declared")
    inline = {data.signature: fn for fn, data in func.func_refs.items() if data.inline_signature}
    for sig_number, sig in func.signatures.items():
        # An inline signature (`fn0 = %g(i32)`) has no line of its own: it is the function reference's.
        name = f"fn{inline[sig_number]}" if sig_number in inline else f"sig{sig_number}"
        v.check_signature(sig, name, v.decl_loc(name))
    for fn, data in func.func_refs.items():
        if data.signature not in func.signatures:
            v.report(v.decl_loc(f"fn{fn}"), f"fn{fn}: signature sig{data.signature} is not declared")
    check_heaps_and_tables(v)
    check_memory_types(v)


def check_memory_types(v: FunctionVerifier) -> None:
    """A struct's fields lie within it, in offset order (Cranelift v33's `verify_memory_types`)."""
    for mt, data in sorted(v.func.memory_types.items()):
        loc, size, last = v.decl_loc(f"mt{mt}"), data.size, 0
        for f in data.fields if data.kind == "struct" else ():
            if f.offset < last:
                v.report(loc, f"memory type mt{mt} has a field at offset {f.offset}, which is out-of-order")
            last = f.offset + f.type.bytes
            if last >> 64:
                v.report(loc, f"memory type mt{mt} has a field at offset {f.offset} of size {f.type.bytes}; "
                                 f"offset plus size overflows a u64")
                break
            if last > size:
                v.report(loc, f"memory type mt{mt} has a field at offset {f.offset} of size {f.type.bytes} "
                                 f"that overflows the struct size {size}")


def check_region_base(v: FunctionVerifier, name: str, loc, base: int) -> None:
    """A heap's or table's base: a declared global value of the pointer type."""
    if base not in v.func.global_values:
        v.report(loc, f"{name}: base global value gv{base} is not declared")
        return
    for _, ptr in v.target.pointers:
        base_type = gv_type(v, base, ptr)
        if base_type is not ptr:
            v.report(loc, f"{name}: base gv{base} has type {base_type}, which is not the pointer type {ptr}")


def check_heaps_and_tables(v: FunctionVerifier) -> None:
    func = v.func
    gvs = func.global_values
    for h, heap in func.heaps.items():
        name, loc = f"heap{h}", v.decl_loc(f"heap{h}")
        index_type = heap.index_type or I32
        if index_type not in (I32, I64):
            v.report(loc, f"{name}: index_type must be i32 or i64, not {index_type}")
        check_region_base(v, name, loc, heap.base)
        for what, amount in (("min", heap.min_size), ("offset_guard", heap.offset_guard)):
            if amount < 0 or amount >= 1 << 64:
                v.report(loc, f"{name}: {what} size {amount:#x} is out of range")
        if heap.style == "dynamic":
            if heap.bound not in gvs:
                v.report(loc, f"{name}: bound global value gv{heap.bound} is not declared")
            else:
                for _, ptr in v.target.pointers:
                    bound_type = gv_type(v, heap.bound, ptr)
                    if bound_type is not ptr and bound_type is not index_type:
                        v.report(loc, f"{name}: bound gv{heap.bound} has type {bound_type}; expected the "
                                         f"pointer type {ptr} or the index type {index_type}")
        elif heap.style == "static":
            if heap.bound < 0 or heap.bound >= 1 << 64:
                v.report(loc, f"{name}: bound {heap.bound:#x} is out of range")
            elif heap.min_size > heap.bound:
                v.report(loc, f"{name}: min size {heap.min_size:#x} exceeds the static bound {heap.bound:#x}")
        else:
            v.report(loc, f"{name}: unknown heap style {heap.style!r}")
    for t, table in func.tables.items():
        name, loc = f"table{t}", v.decl_loc(f"table{t}")
        index_type = table.index_type or I32
        check_region_base(v, name, loc, table.base)
        if table.bound is None or table.bound not in gvs:
            v.report(loc, f"{name}: bound global value gv{table.bound} is not declared")
        else:
            for _, ptr in v.target.pointers:
                bound_type = gv_type(v, table.bound, ptr)
                if bound_type is not index_type:
                    v.report(loc, f"{name}: bound gv{table.bound} has type {bound_type}, "
                                     f"which differs from the index type {index_type}")
        if table.element_size < 0 or table.element_size >= 1 << 64:
            v.report(loc, f"{name}: element_size {table.element_size} is out of range")
