"""Memory semantics: loads, stores, stack slots, global values, atomics, pinned register.

Lowerings here return templates that use names the compiler provides in every
generated function (see `compiler.py`):

- ``_m``: the `Machine`; ``_pg``: its dict of fast pages (``_m.pages``);
- ``_sp``: the frame base (the stack pointer inside this function);
  ``_fpg`` / ``_fo``: the page holding the whole frame and the frame's offset
  in it (frames up to a page only; see `Machine.push_frame`);
- ``_a``, ``_p``, ``_o``: scratch names set with ``:=`` inside one template;
- the helpers in `memory.RUNTIME_MEMORY`, bound as globals of the generated code.

A load is one expression: if the address's page is a fast page and the
access does not run past its end (and is aligned when the ``aligned`` flag
asks), the bytes are unpacked with `struct` straight from the page; otherwise
`Memory.load` checks the region, allocates pages, handles page-crossing
accesses and traps (``heap_oob`` or the flags' trap code, ``heap_misaligned``).
Stores mirror loads. Addresses are `p + offset` as unsigned 64-bit values.

Byte order: the ``big``/``little`` flags; without one, the target's
(`OpContext.big_endian`, from `Interpreter(byteorder=...)`), chosen when the
function is compiled, so each access is one `struct` call in a fixed order.
A vector's lane i is at byte offset i × lane size, each lane in the access's
byte order, as Cranelift's s390x backend lays vectors out (docs/heaps.md,
"Byte order"): a little-endian vector is the integer of its 16 bytes with lane
0 in the least significant bits; a big-endian one, with lane 0 in the most
significant bits. (Cranelift's interpreter instead reverses all 16 bytes.)
"""

from __future__ import annotations

from ..ir.memflags import DEFAULT_FLAGS, MemFlags
from ..ir.opcodes import OPCODES
from ..ir.types import Type
from .machine import Unsupported, dynamic_scale, frame_layout
from .memory import (ADDR_MASK, PAGE_BITS, PAGE_MASK, PAGE_SIZE, RETURN_ADDRESS, RMW_OPS, RUNTIME_MEMORY,
                     checked_name)
from .registry import OpContext, Trap, by_shape, by_shape_once, impl, mask

TRUSTED = MemFlags(trap_code=None, aligned=True)

# -- template builders ---------------------------------------------------------------


def is_big(ctx: OpContext, flags: MemFlags | None) -> bool:
    """Is an access (or bitcast) with `flags` big-endian? Its flag says, else the target's order."""
    if flags is not None and flags.endianness is not None:
        return flags.endianness == "big"
    return ctx.big_endian


def _fast_condition(addr: str, size: int, reuse: bool) -> str:
    """The fast path's test; it leaves the page in _p, the address in _a, the offset in _o.
    With `reuse`, the previous access of the same block already computed them for this address."""
    if reuse:
        return f"_p is not None and _o <= {PAGE_SIZE - size}"
    return f"(_p := _pg.get((_a := {addr}) >> {PAGE_BITS})) is not None and (_o := _a & {PAGE_MASK}) <= {PAGE_SIZE - size}"


def raw_load(addr: str, size: int, flags: MemFlags | None, big: bool, reuse: bool = False,
             compact: bool = False) -> str:
    """An expression: the unsigned integer in the `size` bytes at address expression `addr`,
    in big-endian order when `big`. `compact`: the checked path alone, one call (code that runs
    once per call, `OpContext.once`: shorter to compile, slower to run)."""
    flags = flags or DEFAULT_FLAGS
    code = flags.trap_code or "heap_oob"
    align = size if flags.aligned else 0
    slow = f"_ld(_m, _a, {size}, {big}, {code!r}, {align})"
    if compact or size not in (1, 2, 4, 8, 16):
        bound = checked_name("_ld", size, big, code, align)
        if bound is not None:
            return f"{bound}(_m, {addr})"
        return f"_ld(_m, {addr}, {size}, {big}, {code!r}, {align})"
    e = "b" if big else "l"
    cond = _fast_condition(addr, size, reuse)
    if align > 1:
        cond += f" and not _o & {size - 1}"
    return f"(_u{size}{e}(_p, _o)[0] if {cond} else {slow})"


def raw_store(addr: str, size: int, value: str, flags: MemFlags | None, big: bool, reuse: bool = False,
              compact: bool = False) -> str:
    """A statement: store the integer expression `value` (already `size` bytes wide) at `addr`
    (`compact`: as for `raw_load`)."""
    flags = flags or DEFAULT_FLAGS
    code = flags.trap_code or "heap_oob"
    align = size if flags.aligned else 0
    if compact or size not in (1, 2, 4, 8, 16):
        bound = checked_name("_st", size, big, code, align)
        if bound is not None:
            return f"{bound}(_m, {addr}, {value})"
        return f"_st(_m, {addr}, {size}, {value}, {big}, {code!r}, {align})"
    e = "b" if big else "l"
    cond = _fast_condition(addr, size, reuse)
    if align > 1:
        cond += f" and not _o & {size - 1}"
    return f"_s{size}{e}(_p, _o, {value}) if {cond} else _st(_m, _a, {size}, {value}, {big}, {code!r}, {align})"


def split_lanes(raw: str, t: Type, big: bool = False, compact: bool = False) -> str:
    """Expression: the tuple of lanes of vector type `t` held in the integer expression `raw`
    (read from memory in big-endian order when `big`: lane 0 in the most significant bits;
    `compact`: one call rather than the lanes unrolled)."""
    bits, lanes = t.lane_bits, t.lanes
    if compact or lanes > 16:
        return f"_vsplit({raw}, {bits}, {lanes}, {big})"
    m = hex(mask(bits))
    shifts = [bits * (lanes - 1 - i if big else i) for i in range(lanes)]
    parts = [f"(_x >> {k}) & {m}" if k else f"_x & {m}" for k in shifts]
    parts[0] = parts[0].replace("_x", f"(_x := {raw})", 1)
    return "(" + ", ".join(parts) + ",)"


def join_lanes(value: str, t: Type, big: bool = False, compact: bool = False) -> str:
    """Expression: the integer holding the lanes of the vector expression `value` of type `t`
    (to be written to memory in big-endian order when `big`; `compact`: one call)."""
    bits, lanes = t.lane_bits, t.lanes
    if compact or lanes > 16:
        return f"_vjoin({value}, {bits}, {big})"
    shifts = [bits * (lanes - 1 - i if big else i) for i in range(lanes)]
    parts = [f"(_t[{i}] << {k})" if k else f"_t[{i}]" for i, k in enumerate(shifts)]
    parts[0] = parts[0].replace("_t", f"(_t := {value})", 1)
    return "(" + " | ".join(parts) + ")"


def value_bytes(t: Type) -> int:
    return t.bits // 8


def address(ptr: str, offset: int) -> str:
    if not offset:
        return ptr
    return f"{ptr} + {offset}" if offset > 0 else f"{ptr} - {-offset}"


def _vector_lanes(t: Type) -> Type:
    if t.dynamic:
        raise NotImplementedError(f"dynamic vector type {t} in memory")
    return t


# -- loads and stores -------------------------------------------------------------------


def _load_value(addr: str, t: Type, flags, big: bool, reuse: bool = False, compact: bool = False) -> str:
    raw = raw_load(addr, value_bytes(t), flags, big, reuse, compact)
    return split_lanes(raw, _vector_lanes(t), big, compact) if t.is_vector else raw


def _store_value(addr: str, t: Type, value: str, flags, big: bool, reuse: bool = False,
                 compact: bool = False) -> str:
    if t.is_vector:
        value = join_lanes(value, _vector_lanes(t), big, compact)
    return raw_store(addr, value_bytes(t), value, flags, big, reuse, compact)


# Accesses through an address operand (the table's `addr` column) whose fast path leaves
# _p/_a/_o for the next access to reuse: all but those whose lowering reads memory its own way.
_OWN_ACCESS = frozenset({
    "uload8x8", "sload8x8", "uload16x4", "sload16x4", "uload32x2", "sload32x2",  # one 8-byte read, then lanes
    "atomic_rmw", "atomic_cas",  # read and write under one helper
})  # fmt: skip
ADDRESSED = {op: op.addr for op in OPCODES.values() if op.addr is not None and op.name not in _OWN_ACCESS}


def access_key(ctx: OpContext):
    """(pointer value, offset) of an ADDRESSED access: two accesses with the same key in one
    block address the same bytes (values are SSA), so the second can reuse the first's page lookup."""
    index = ADDRESSED.get(ctx.inst.opcode)
    if index is None:
        return None
    return ctx.function.resolve(ctx.inst.args[index]), ctx.inst.offset or 0


def _reuse(ctx: OpContext) -> bool:
    hint = ctx.memory_hint
    return hint is not None and hint == access_key(ctx)


@impl("load")
@by_shape_once
def _load(ctx: OpContext):
    t = ctx.result_types[0]
    flags = ctx.inst.flags
    return _load_value(address("{0}", ctx.inst.offset or 0), t, flags, is_big(ctx, flags), _reuse(ctx), ctx.once)


@impl("store")
@by_shape_once
def _store(ctx: OpContext):
    t = ctx.arg_types[0]
    flags = ctx.inst.flags
    return _store_value(address("{1}", ctx.inst.offset or 0), t, "{0}", flags, is_big(ctx, flags), _reuse(ctx),
                        ctx.once)


def _narrow(flag: str, vector: bool) -> list[str]:
    """The table's loads or stores that move fewer bits than their value (`vector`: in several lanes)."""
    return [op.name for op in OPCODES.values()
            if flag in op.flags and op.access is not None and op.access.narrow and (op.access.lanes > 1) == vector]


@impl(*_narrow("load", vector=False))
@by_shape_once
def _extending_load(ctx: OpContext):
    access = ctx.inst.opcode.access
    bits, signed = access.bits, access.signed
    t = ctx.result_types[0]
    flags = ctx.inst.flags
    raw = raw_load(address("{0}", ctx.inst.offset or 0), bits // 8, flags, is_big(ctx, flags), _reuse(ctx),
                   ctx.once)
    if not signed:
        return raw
    s = hex(1 << (bits - 1))
    return f"((({raw} ^ {s}) - {s}) & {hex(mask(t.bits))})"


@impl(*_narrow("store", vector=False))
@by_shape_once
def _truncating_store(ctx: OpContext):
    bits = ctx.inst.opcode.access.bits
    value = "{0} & %s" % hex(mask(bits))
    flags = ctx.inst.flags
    return raw_store(address("{1}", ctx.inst.offset or 0), bits // 8, f"({value})", flags, is_big(ctx, flags),
                     _reuse(ctx), ctx.once)


@impl(*_narrow("load", vector=True))
@by_shape_once
def _vector_extending_load(ctx: OpContext):
    access = ctx.inst.opcode.access
    bits, signed = access.bits, access.signed
    t = ctx.result_types[0]
    big = is_big(ctx, ctx.inst.flags)
    raw = raw_load(address("{0}", ctx.inst.offset or 0), 8, ctx.inst.flags, big, compact=ctx.once)
    m = hex(mask(bits))
    lanes = []
    for i in range(t.lanes):
        lane = f"((_x >> {bits * (t.lanes - 1 - i if big else i)}) & {m})"
        if i == 0:
            lane = lane.replace("_x", f"(_x := {raw})", 1)
        if signed:
            s = hex(1 << (bits - 1))
            lane = f"((({lane} ^ {s}) - {s}) & {hex(mask(t.lane_bits))})"
        lanes.append(lane)
    return "(" + ", ".join(lanes) + ",)"


# -- stack slots ------------------------------------------------------------------------


def _slot_access(ctx: OpContext, nbytes: int) -> tuple[int, bool]:
    """(frame offset of the access, whether it stays inside the frame) for stack_load/stack_store.

    An access to ``ssN+offset`` is an ordinary access to the frame's memory, as in
    native code: one past a slot reaches the next slot (the corpus's `test run`
    files rely on it), and only an access leaving the stack traps. (Cranelift's
    interpreter also traps an offset at or past the slot's size; no valid test
    depends on that.) Accesses leaving the frame take the checked path."""
    func, inst = ctx.function, ctx.inst
    ss = inst.stack_slot
    if ss not in func.stack_slots:
        raise Unsupported(f"ss{ss} is not declared")
    layout = frame_layout(func)
    k = layout.offsets[ss] + (inst.offset or 0)
    return k, 0 <= k and k + nbytes <= layout.size


def _frame_offset(k: int) -> str:
    return f"_fo + {k}" if k else "_fo"


def _frame_address(k: int) -> str:
    return address("_sp", k)


def frame_load(ctx: OpContext, k: int, t: Type, in_frame: bool = True) -> str:
    """A load at frame offset `k`: straight from the frame's page when the frame fits one page."""
    layout = frame_layout(ctx.function)
    n = value_bytes(t)
    big = ctx.big_endian
    if in_frame and layout.size <= PAGE_SIZE and n in (1, 2, 4, 8, 16):
        raw = f"_u{n}{'b' if big else 'l'}(_fpg, {_frame_offset(k)})[0]"
    else:
        raw = raw_load(_frame_address(k), n, None, big, compact=ctx.once)
    return split_lanes(raw, _vector_lanes(t), big, ctx.once) if t.is_vector else raw


def frame_store(ctx: OpContext, k: int, t: Type, value: str, in_frame: bool = True) -> str:
    layout = frame_layout(ctx.function)
    n = value_bytes(t)
    big = ctx.big_endian
    if t.is_vector:
        value = join_lanes(value, _vector_lanes(t), big, ctx.once)
    if in_frame and layout.size <= PAGE_SIZE and n in (1, 2, 4, 8, 16):
        return f"_s{n}{'b' if big else 'l'}(_fpg, {_frame_offset(k)}, {value})"
    return raw_store(_frame_address(k), n, value, None, big, compact=ctx.once)


@impl("stack_load")
@by_shape
def _stack_load(ctx: OpContext):
    t = ctx.result_types[0]
    k, in_frame = _slot_access(ctx, value_bytes(t))
    return frame_load(ctx, k, t, in_frame)


@impl("stack_store")
@by_shape
def _stack_store(ctx: OpContext):
    t = ctx.arg_types[0]
    k, in_frame = _slot_access(ctx, value_bytes(t))
    return frame_store(ctx, k, t, "{0}", in_frame)


@impl("stack_addr")
@by_shape
def _stack_addr(ctx: OpContext):
    k, _ = _slot_access(ctx, 0)
    return f"({_frame_address(k)})"


def _dynamic_slot(ctx: OpContext) -> int:
    dss = ctx.inst.stack_slot
    layout = frame_layout(ctx.function)
    if dss not in layout.dynamic_offsets:
        raise Unsupported(f"dss{dss} is not declared")
    return layout.dynamic_offsets[dss]


def _dynamic_as_fixed(ctx: OpContext, t: Type) -> Type:
    """A dynamic vector type at run time: its base vector times the slot's scale."""
    if not t.dynamic:
        return t
    dss = ctx.inst.stack_slot
    size = frame_layout(ctx.function).dynamic_sizes[dss]
    lanes = size * 8 // t.lane_bits
    return Type.get(t.kind, t.lane_bits, lanes)


@impl("dynamic_stack_load")
def _dynamic_stack_load(ctx: OpContext):
    return frame_load(ctx, _dynamic_slot(ctx), _dynamic_as_fixed(ctx, ctx.result_types[0]))


@impl("dynamic_stack_store")
def _dynamic_stack_store(ctx: OpContext):
    return frame_store(ctx, _dynamic_slot(ctx), _dynamic_as_fixed(ctx, ctx.arg_types[0]), "{0}")


@impl("dynamic_stack_addr")
def _dynamic_stack_addr(ctx: OpContext):
    return f"({_frame_address(_dynamic_slot(ctx))})"


# -- global values ---------------------------------------------------------------------


def global_value_expr(ctx: OpContext, gv: int, depth: int = 0) -> str:
    """An expression computing global value `gv` of the function (Cranelift's resolve_global_value)."""
    func = ctx.function
    data = func.global_values.get(gv)
    if data is None:
        raise Unsupported(f"gv{gv} is not declared")
    if depth > 64:
        raise Unsupported(f"gv{gv}: global values form a cycle")
    kind = data.kind
    if kind == "vmctx":
        for i, param in enumerate(func.signature.params):
            if param.purpose == "vmctx":
                entry = func.entry
                if entry is None or i >= len(entry.params):
                    break
                return f"v{func.resolve(entry.params[i])}"
        raise Unsupported(f"gv{gv} = vmctx, but the function has no vmctx parameter")
    if kind == "load":
        base = global_value_expr(ctx, data.base, depth + 1)
        t = data.type
        # Cranelift's interpreter loads global values as trusted (notrap aligned) accesses.
        return _load_value(address(f"({base})", data.offset or 0), t, TRUSTED, ctx.big_endian, compact=ctx.once)
    if kind == "iadd_imm":
        base = global_value_expr(ctx, data.base, depth + 1)
        bits = data.type.bits if data.type is not None else 64
        return f"((({base}) + {data.offset or 0}) & {hex(mask(bits))})"
    if kind == "symbol":
        if data.tls:
            raise NotImplementedError(f"gv{gv}: thread-local symbols")
        name = data.name.text if data.name is not None else ""
        offset = data.offset or 0
        interp = ctx.interpreter
        fixed = interp.function_address(name) if interp is not None else None
        if fixed is not None:
            return hex((fixed + offset) & ADDR_MASK)
        return f"((_m.symbol({name!r}) + {offset}) & {hex(ADDR_MASK)})"
    if kind == "dyn_scale_target_const":
        return str(dynamic_scale(func, gv))
    raise NotImplementedError(f"gv{gv}: global value kind {kind!r}")


@impl("global_value", "symbol_value")
def _global_value(ctx: OpContext):
    gv = ctx.inst.global_value
    data = ctx.function.global_values.get(gv)
    want = ctx.result_types[0] if ctx.result_types else None
    if data is not None and data.kind not in ("load", "iadd_imm") and want is not None and want.bits != 64:
        # Without a target, Cranelift's verifier lets such a result through; its value is a
        # 64-bit address here, which a narrower result cannot hold.
        raise Unsupported(f"{ctx.inst.opcode.name}.{want} of gv{gv}: the interpreter's addresses are 64-bit (i64)")
    return global_value_expr(ctx, gv)


@impl("func_addr")
def _func_addr(ctx: OpContext):
    ext = ctx.function.func_refs.get(ctx.inst.func_ref)
    if ext is None:
        raise Unsupported(f"fn{ctx.inst.func_ref} is not declared")
    interp = ctx.interpreter
    addr = interp.function_address(ext.name.text) if interp is not None else None
    if addr is None:
        raise Unsupported(f"func_addr of unknown function {ext.name.text}")
    return hex(addr & mask(ctx.result_types[0].bits))


@impl("tls_value")
def _tls_value(ctx: OpContext):
    raise NotImplementedError("tls_value: thread-local storage")


# -- atomics ---------------------------------------------------------------------------


def _atomic_flags(flags):
    return flags or DEFAULT_FLAGS


@impl("atomic_rmw")
def _atomic_rmw(ctx: OpContext):
    t = ctx.type
    flags = _atomic_flags(ctx.inst.flags)
    n = value_bytes(t)
    op = ctx.inst.rmw_op
    if op not in RMW_OPS:
        raise NotImplementedError(f"atomic_rmw {op}")
    code = flags.trap_code or "heap_oob"
    align = n if flags.aligned else 0
    return f"_rmw(_m, {{0}}, {{1}}, {n}, {is_big(ctx, flags)}, {code!r}, {align}, {op!r})"


@impl("atomic_cas")
def _atomic_cas(ctx: OpContext):
    t = ctx.type
    flags = _atomic_flags(ctx.inst.flags)
    n = value_bytes(t)
    code = flags.trap_code or "heap_oob"
    align = n if flags.aligned else 0
    return f"_cas(_m, {{0}}, {{1}}, {{2}}, {n}, {is_big(ctx, flags)}, {code!r}, {align})"


@impl("atomic_load")
def _atomic_load(ctx: OpContext):
    flags = ctx.inst.flags
    return _load_value("{0}", ctx.result_types[0], flags, is_big(ctx, flags), _reuse(ctx), ctx.once)


@impl("atomic_store")
def _atomic_store(ctx: OpContext):
    flags = ctx.inst.flags
    return _store_value("{1}", ctx.arg_types[0], "{0}", flags, is_big(ctx, flags), _reuse(ctx), ctx.once)


@impl("fence", "nop", "sequence_point")
def _nothing(ctx: OpContext):
    # sequence_point only stops code motion across it and carries debug tags: the interpreter
    # moves no code, so it does nothing (Cranelift's own interpreter leaves it unimplemented).
    return "pass"


# -- registers and the frame -------------------------------------------------------------


@impl("get_pinned_reg")
def _get_pinned_reg(ctx: OpContext):
    return "_m.pinned"


@impl("set_pinned_reg")
def _set_pinned_reg(ctx: OpContext):
    return "_m.pinned = {0}"


@impl("get_stack_pointer")
def _get_stack_pointer(ctx: OpContext):
    return "_sp"


@impl("get_frame_pointer")
def _get_frame_pointer(ctx: OpContext):
    size = frame_layout(ctx.function).size
    return f"(_sp + {size})" if size else "_sp"


@impl("get_return_address")
def _get_return_address(ctx: OpContext):
    return hex(RETURN_ADDRESS)


@impl("debugtrap")
def _debugtrap(ctx: OpContext):
    # Cranelift's interpreter stops with a debug trap.
    return "raise _Trap('debug')"


__all__ = ["RUNTIME_MEMORY", "raw_load", "raw_store", "global_value_expr", "Trap"]
