"""Heap-era instructions: bounds-checked heap and table addressing.

``heap_addr``, ``heap_load``, ``heap_store`` and ``table_addr`` name a heap or
table declared in the function's preamble, whose base and bound are global
values (usually loads from vmctx). Their semantics, as Cranelift defined them
before heaps left its core:

- ``heap_addr.T heapN, index, offset, size`` yields ``base + index + offset``
  and traps ``heap_oob`` unless ``index + offset + size <= bound``. A static
  heap's bound is the declared byte count; a dynamic heap's is the value of its
  bound global value, the heap's current size in bytes. The old three-operand
  form ``heap_addr.T heapN, index, size`` has offset 0.
- ``heap_load``/``heap_store`` are a ``heap_addr`` of the access size followed
  by the load or store, with the instruction's memory flags.
- ``table_addr.T tableN, index, +offset`` yields
  ``base + index * element_size + offset`` and traps ``table_oob`` unless
  ``index < bound`` (the bound global value counts elements).

Indices of type i32 are zero-extended. Address arithmetic is done in
unbounded integers, so overflow of ``index + offset + size`` cannot wrap past
the check: it simply exceeds the bound and traps, as the legalizer's
overflow-checked arithmetic did.
"""

from __future__ import annotations

from .memory_ops import TRUSTED, _load_value, _store_value, global_value_expr, is_big
from .registry import OpContext, Trap, impl

ADDR_MASK = (1 << 64) - 1


def _heap(ctx: OpContext):
    heap = ctx.function.heaps.get(ctx.inst.heap)
    if heap is None:
        raise NotImplementedError(f"heap{ctx.inst.heap} is not declared")
    return heap


def _bound_expr(ctx: OpContext, heap) -> str:
    if heap.style == "static":
        return str(heap.bound)
    return global_value_expr(ctx, heap.bound)


def _checker(end: int, offset: int):
    """index -> address check for an access of `end` bytes (offset + size) at `offset`."""

    def check(index: int, base: int, bound: int) -> int:
        if index + end > bound:
            raise Trap("heap_oob", f"heap access of {end - offset} bytes at index {index:#x}+{offset:#x} "
                                   f"is beyond the bound {bound:#x}")
        return (base + index + offset) & ADDR_MASK

    return check


def _checked_address(ctx: OpContext, index: str, offset: int, size: int) -> str:
    heap = _heap(ctx)
    base = global_value_expr(ctx, heap.base)
    check = ctx.interpreter.bind(_checker(offset + size, offset), "heapchk")
    if heap.style == "static" and heap.bound >= offset + size:
        # The bound is a constant: the check inline, the checker called only to trap. (The base is
        # then read after the check; a vmctx that cannot be read traps heap_oob either way.)
        return (f"((({index} + {base} + {offset}) & {ADDR_MASK:#x}) if {index} <= {heap.bound - offset - size} "
                f"else {check}({index}, 0, {heap.bound}))")
    return f"{check}({index}, {base}, {_bound_expr(ctx, heap)})"


@impl("heap_addr")
def _heap_addr(ctx: OpContext):
    inst = ctx.inst
    return _checked_address(ctx, "{0}", inst.offset or 0, inst.size or 0)


@impl("heap_load")
def _heap_load(ctx: OpContext):
    t = ctx.result_types[0]
    addr = _checked_address(ctx, "{0}", ctx.inst.offset or 0, t.bytes)
    flags = ctx.inst.flags or TRUSTED
    return _load_value(addr, t, flags, is_big(ctx, flags), compact=ctx.once)


@impl("heap_store")
def _heap_store(ctx: OpContext):
    t = ctx.arg_types[1]
    addr = _checked_address(ctx, "{0}", ctx.inst.offset or 0, t.bytes)
    flags = ctx.inst.flags or TRUSTED
    return _store_value(addr, t, "{1}", flags, is_big(ctx, flags), compact=ctx.once)


@impl("table_addr")
def _table_addr(ctx: OpContext):
    inst = ctx.inst
    table = ctx.function.tables.get(inst.table)
    if table is None:
        raise NotImplementedError(f"table{inst.table} is not declared")
    if table.bound is None:
        raise NotImplementedError(f"table{inst.table} has no bound")
    base = global_value_expr(ctx, table.base)
    bound = global_value_expr(ctx, table.bound)
    element_size, offset = table.element_size, inst.offset or 0

    def table_address(index: int, base: int, bound: int) -> int:
        if index >= bound:
            raise Trap("table_oob", f"table index {index} is not below the bound {bound}")
        return (base + index * element_size + offset) & ADDR_MASK

    name = ctx.interpreter.bind(table_address, "tabaddr")
    return f"{name}({{0}}, {base}, {bound})"


# -- references (r32, r64): opaque pointers whose null is 0 ------------------------------------


@impl("null")
def lower_null(ctx: OpContext):
    return "0"


@impl("is_null")
def lower_is_null(ctx: OpContext):
    return "(1 if {0} == 0 else 0)"


@impl("is_invalid")
def lower_is_invalid(ctx: OpContext):
    """Invalid is the all-ones pattern (Cranelift's x86 and aarch64 lowerings compared with -1)."""
    return "(1 if {0} == %s else 0)" % hex((1 << ctx.arg_types[0].bits) - 1)
