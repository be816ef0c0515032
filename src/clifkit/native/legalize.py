"""Legalization clifkit does itself before Cranelift sees the code.

- Global values become loads and adds from the vmctx parameter (Cranelift's
  old `legalizer/globalvalue.rs` rules: loads are trusted, readonly if so
  declared); ``symbol`` global values of the file's functions read the
  function table, host symbols become constants.
- ``heap_addr``, ``heap_load``, ``heap_store`` and ``table_addr`` become
  explicit bounds checks and address arithmetic with the semantics of
  `clifkit.interpreter.heap_ops`. A static heap's check is left out exactly
  where the heap-era legalizer left it out: a 32-bit index whose largest value
  cannot reach past ``bound + offset_guard - (offset + size)``; such an access
  lands in the guard region instead, and the runtime reports the fault as
  ``heap_oob``. A static access whose ``offset + size`` exceeds the bound
  always traps. The access of ``heap_load``/``heap_store`` is `byteorder.py`'s,
  so their ``big``/``little`` flags mean what they mean on a plain access.
- The implicit traps of division and float-to-int conversion become explicit
  checks before the instruction, so Cranelift's own trap never fires.
- Constants and lane shuffles the binding cannot express (vconst, f128const,
  the shuffle immediate, swizzle without SSSE3) are built from host memory or
  through a stack slot.

Every check emitted (or elided) is recorded in the function's `LoweringReport`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cranelift as cl

from ..ir.function import Inst
from ..ir.opcodes import handles
from ..environment.reservations import bounds_check_left_out
from ..ir.types import I8, I64, Type
from .basics import trusted_memflags
from .translate import HANDLERS, Check, cl_type, imm_at, signed64
from .translate import floatcc as _fcc, intcc as _cc

if TYPE_CHECKING:
    from .translate import FunctionLowering

FLOAT_LAYOUT = {16: (5, 10), 32: (8, 23), 64: (11, 52), 128: (15, 112)}  # exponent, mantissa bits


def float_bits_of_int(value: int, bits: int) -> int:
    """The bit pattern of the integer `value` as a float of `bits` bits (must be exact), or ±inf."""
    ebits, mbits = FLOAT_LAYOUT[bits]
    sign = 1 << (bits - 1) if value < 0 else 0
    a = abs(value)
    if a == 0:
        return sign
    bias = (1 << (ebits - 1)) - 1
    e = a.bit_length() - 1
    if e > bias:
        return sign | (((1 << ebits) - 1) << mbits)  # infinity
    frac = a - (1 << e)
    mant = frac << (mbits - e) if mbits >= e else frac >> (e - mbits)
    return sign | ((e + bias) << mbits) | mant


def exact_in_float(value: int, bits: int) -> bool:
    ebits, mbits = FLOAT_LAYOUT[bits]
    a = abs(value)
    if a == 0:
        return True
    a >>= (a & -a).bit_length() - 1  # strip trailing zeros
    return a.bit_length() <= mbits + 1 and abs(value).bit_length() - 1 <= (1 << (ebits - 1)) - 1


class Legalizer:
    def __init__(self, lw: "FunctionLowering"):
        self.lw = lw
        self.b = lw.b
        self.func = lw.func
        self._vmctx = None  # the vmctx parameter's value, once a global value asks for it

    def fail(self, reason: str):
        return self.lw.fail(reason)

    # -- constants -------------------------------------------------------------------------------

    def const(self, t: Type, value: int):
        """An integer constant of scalar type `t`, i128 included."""
        if t.bits <= 64:
            return self.lw.iconst(t, value)
        lo = self.lw.iconst(I64, value & ((1 << 64) - 1))
        hi = self.lw.iconst(I64, (value >> 64) & ((1 << 64) - 1))
        return self.b.ins_iconcat(lo, hi)

    def memory_constant(self, t: Type, data: bytes):
        """A value of type `t` loaded from a read-only copy of `data` in host memory."""
        data = bytes(data[: t.bytes]).ljust(t.bytes, b"\0")
        if self.lw.ctx.byteorder == "big":
            # CLIF constants are little-endian lanes; the code loads them in its own byte order
            # (s390x, run under emulation): lane by lane, each lane's bytes reversed.
            lane = max(t.lane_bits // 8, 1)
            data = b"".join(data[i : i + lane][::-1] for i in range(0, len(data), lane))
        addr = self.lw.ctx.memory.constant(data)
        return self.b.ins_load(cl_type(t), trusted_memflags(readonly=True), self.lw.pconst(addr), 0)

    def constant_bytes(self, inst: Inst) -> bytes:
        imm = inst.imm
        if isinstance(imm, (bytes, bytearray)):
            return bytes(imm)
        data = self.func.constants.get(int(imm))
        if data is None:
            raise self.fail(f"const{imm} is not declared")
        return data

    @handles("vconst")
    def op_vconst(self, inst: Inst):
        self.lw.report.workarounds.add("vconst loaded from host memory")
        return self.memory_constant(self.lw.vtype(inst.results[0]), self.constant_bytes(inst))

    @handles("f128const")
    def op_f128const(self, inst: Inst):
        self.lw.report.workarounds.add("f128const loaded from host memory")
        return self.memory_constant(self.lw.vtype(inst.results[0]), self.constant_bytes(inst))

    # -- lanes through a stack slot ---------------------------------------------------------------

    def _slot_addr(self, size: int):
        slot = self.b.create_sized_stack_slot(size, 4)
        return self.b.ins_stack_addr(cl_type(self.lw.ctx.pointer), slot, 0)

    @handles("shuffle")
    def op_shuffle(self, inst: Inst):
        self.lw.report.workarounds.add("shuffle through a stack slot")
        a, b = self.lw.val(inst.args[0]), self.lw.val(inst.args[1])
        t = self.lw.vtype(inst.results[0])
        mask = bytes(inst.mask)
        flags = cl.MemFlags.trusted()
        src = self._slot_addr(32)
        self.b.ins_store(flags, a, src, 0)
        self.b.ins_store(flags, b, src, 16)
        dst = self._slot_addr(16)
        # The widest group size the mask moves whole, aligned groups of.
        group = next((g for g in (8, 4, 2) if _moves_groups(mask, g)), 1)
        gt = Type.get("i", 8 * group)
        for k in range(0, 16, group):
            sel = mask[k]
            if sel >= 32:
                v = self.lw.iconst(gt, 0)
            else:
                v = self.b.ins_load(cl_type(gt), flags, src, sel)
            self.b.ins_store(flags, v, dst, k)
        return self.b.ins_load(cl_type(t), flags, dst, 0)

    def _byte_select(self, x, y, pshufb: bool):
        """swizzle (pshufb=False) or x86_pshufb of i8x16 values, byte by byte through memory."""
        flags = cl.MemFlags.trusted()
        ptr = cl_type(self.lw.ctx.pointer)
        src = self._slot_addr(32)
        self.b.ins_store(flags, x, src, 0)
        zero = self.lw.iconst(I64, 0)
        self.b.ins_store(flags, zero, src, 16)
        self.b.ins_store(flags, zero, src, 24)
        idx = self._slot_addr(16)
        self.b.ins_store(flags, y, idx, 0)
        dst = self._slot_addr(16)
        sixteen = self.b.ins_iconst(ptr, 16)
        for i in range(16):
            sel = self.b.ins_uload8(ptr, flags, idx, i)
            if pshufb:
                sel = self.b.ins_band_imm(sel, 0x8F)
            sel = self.b.ins_umin(sel, sixteen)
            byte = self.b.ins_load(cl.Type.I8, flags, self.b.ins_iadd(src, sel), 0)
            self.b.ins_store(flags, byte, dst, i)
        return self.b.ins_load(cl.Type.I8X16, flags, dst, 0)

    def pshufb(self, x, y):
        self.lw.report.workarounds.add("x86_pshufb through a stack slot")
        return self._byte_select(x, y, True)

    @handles("swizzle")
    def op_swizzle(self, inst: Inst):
        self.lw.report.workarounds.add("swizzle through a stack slot")
        return self._byte_select(self.lw.val(inst.args[0]), self.lw.val(inst.args[1]), False)

    @handles("x86_pshufb")
    def op_x86_pshufb(self, inst: Inst):
        return self.pshufb(self.lw.val(inst.args[0]), self.lw.val(inst.args[1]))

    # -- implicit traps -----------------------------------------------------------------------------

    def _int_min_check(self, t: Type, x, y=None) -> None:
        """Trap int_ovf when x is INT_MIN (and y, if given, is -1)."""
        is_min = self.b.ins_icmp(_cc("eq"), x, self.const(t, 1 << (t.bits - 1)))
        if y is not None:
            is_minus_one = self.b.ins_icmp_imm(_cc("eq"), y, -1)
            is_min = self.b.ins_band(is_min, is_minus_one)
        self.lw.trap_if(is_min, "int_ovf", "div_overflow", f"{t} INT_MIN / -1")

    @handles("udiv", "urem", "sdiv", "srem")
    def _div(self, inst: Inst):
        op = inst.opcode.name
        return self.checked_div(inst, op, self.lw.val(inst.args[0]), self.lw.val(inst.args[1]))

    @handles("udiv_imm", "urem_imm", "sdiv_imm", "srem_imm")
    def _div_imm(self, inst: Inst):
        return self.div_imm(inst, inst.opcode.name[:-4])

    def uadd_carry(self, a, b):
        """(a + b, carry): an ``iadd`` and an unsigned compare rather than ``uadd_overflow``, which
        Cranelift 0.120's s390x backend does not implement for every type."""
        total = self.b.ins_iadd(a, b)
        return total, self.b.ins_icmp(_cc("ult"), total, a)

    @handles("uadd_overflow_trap")
    def op_uadd_overflow_trap(self, inst: Inst):
        total, carry = self.uadd_carry(self.lw.val(inst.args[0]), self.lw.val(inst.args[1]))
        self.lw.trap_if(carry, inst.code, "uadd_overflow_trap")
        return total

    @handles("fcvt_to_uint")
    def op_fcvt_to_uint(self, inst: Inst):
        return self.checked_fcvt(inst, signed=False)

    @handles("fcvt_to_sint")
    def op_fcvt_to_sint(self, inst: Inst):
        return self.checked_fcvt(inst, signed=True)

    def checked_div(self, inst: Inst, op: str, x, y):
        t = self.lw.vtype(inst.args[0])
        self.lw.trap_unless(y, "int_divz", "div_zero", f"{op}.{t}")
        if op == "sdiv":
            self._int_min_check(t, x, y)
        return getattr(self.b, "ins_" + op)(x, y)

    def div_imm(self, inst: Inst, op: str):
        t = self.lw.vtype(inst.args[0])
        x = self.lw.val(inst.args[0])
        raw = int(inst.imm) & ((1 << 64) - 1)
        if op in ("sdiv", "srem") and raw >> 63:
            d = (raw - (1 << 64)) & ((1 << t.bits) - 1)
        else:
            d = raw & ((1 << t.bits) - 1)
        if d == 0:
            self.lw.report.checks.append(Check("div_zero", "int_divz", f"{op}_imm by 0"))
            self.b.ins_jump(self.lw.trap_block("int_divz"), [])
            dead = self.b.create_block()
            self.b.switch_to_block(dead)
            return self.const(t, 0)
        if op == "sdiv" and d == (1 << t.bits) - 1:
            self._int_min_check(t, x)
        return getattr(self.b, "ins_" + op)(x, self.const(t, d))

    def checked_fcvt(self, inst: Inst, signed: bool):
        x = self.lw.val(inst.args[0])
        ft = self.lw.vtype(inst.args[0])
        it = self.lw.vtype(inst.results[0])
        if ft.bits not in FLOAT_LAYOUT:
            raise self.fail(f"no float layout for {ft}")
        n = it.bits
        nan = self.b.ins_fcmp(_fcc("uno"), x, x)
        self.lw.trap_if(nan, "bad_toint", "fcvt_nan", f"{ft} -> {it}")
        if signed:
            below = -(1 << (n - 1)) - 1
            if exact_in_float(below, ft.bits):
                lo = self.b.ins_fcmp(_fcc("gt"), x, self.lw.float_bits(ft, float_bits_of_int(below, ft.bits)))
            else:
                lo = self.b.ins_fcmp(_fcc("ge"), x, self.lw.float_bits(ft, float_bits_of_int(-(1 << (n - 1)), ft.bits)))
            top = 1 << (n - 1)
        else:
            lo = self.b.ins_fcmp(_fcc("gt"), x, self.lw.float_bits(ft, float_bits_of_int(-1, ft.bits)))
            top = 1 << n
        hi = self.b.ins_fcmp(_fcc("lt"), x, self.lw.float_bits(ft, float_bits_of_int(top, ft.bits)))
        self.lw.trap_unless(self.b.ins_band(lo, hi), "int_ovf", "fcvt_range", f"{ft} -> {it}")
        if it.bits < 32:
            # In range now, so an i32 conversion is exact; Cranelift's x86-64 narrow conversions
            # trap on values such as -128.06 -> i8 that are in range.
            wide = self.b.ins_fcvt_to_sint(cl.Type.I32, x)
            return self.b.ins_ireduce(cl_type(it), wide)
        op = "fcvt_to_sint" if signed else "fcvt_to_uint"
        return getattr(self.b, "ins_" + op)(cl_type(it), x)

    # -- global values ---------------------------------------------------------------------------

    def global_value(self, gv: int, depth: int = 0):
        data = self.func.global_values.get(gv)
        if data is None:
            raise self.fail(f"gv{gv} is not declared")
        if depth > 64:
            raise self.fail(f"gv{gv}: global values form a cycle")
        kind = data.kind
        if kind == "vmctx":
            if self._vmctx is None:
                self._vmctx = self._vmctx_param(gv)
            return self._vmctx
        if kind == "load":
            base = self.global_value(data.base, depth + 1)
            flags = trusted_memflags(readonly=data.flags is not None and data.flags.readonly)
            return self.b.ins_load(cl_type(data.type or self.lw.ctx.pointer), flags, base, data.offset or 0)
        if kind == "iadd_imm":
            base = self.global_value(data.base, depth + 1)
            return self.b.ins_iadd_imm(base, signed64(data.offset or 0))
        if kind == "symbol":
            if data.tls:
                raise self.fail(f"gv{gv}: thread-local symbols are not supported natively")
            name = data.name.text if data.name is not None else ""
            offset = data.offset or 0
            if name in self.lw.ctx.function_slots:
                self.lw.report.callees.add(name)
                addr = self.lw.load_slot(self.lw.ctx.function_slots[name])
                return self.b.ins_iadd_imm(addr, signed64(offset)) if offset else addr
            host = self.lw.ctx.host_symbol(name)
            if host is not None:
                return self.lw.pconst(host + offset)
            raise self.fail(f"gv{gv}: symbol {name} is neither a function of this file nor a host symbol")
        raise self.fail(f"gv{gv}: global value kind {kind} is not supported natively")

    def _vmctx_param(self, gv: int):
        """The value of the function's vmctx parameter (an entry block parameter: it dominates
        every use, so a lowering looks it up once)."""
        entry = self.func.entry
        for i, param in enumerate(self.func.signature.params):
            if param.purpose == "vmctx" and entry is not None and i < len(entry.params):
                return self.lw.val(entry.params[i])
        raise self.fail(f"gv{gv} = vmctx, but the function has no vmctx parameter")

    @handles("global_value")
    def op_global_value(self, inst: Inst):
        return self.global_value(inst.global_value)

    @handles("symbol_value")
    def op_symbol_value(self, inst: Inst):
        return self.global_value(inst.global_value)

    @handles("tls_value")
    def op_tls_value(self, inst: Inst):
        raise self.fail("thread-local storage is not supported natively")

    # -- heaps and tables ----------------------------------------------------------------------

    def _index64(self, index):
        """The index zero-extended to the pointer type."""
        t = self.lw.vtype(self.lw.inst.args[0])
        v = self.lw.val(self.lw.inst.args[0]) if index is None else index
        if t.bits < self.lw.ctx.pointer.bits:
            return self.b.ins_uextend(cl_type(self.lw.ctx.pointer), v), t
        return v, t

    def heap_address(self, inst: Inst, offset: int, size: int):
        """Bounds check (or not) and the address of an access of `size` bytes at index + `offset`."""
        heap = self.func.heaps.get(inst.heap)
        if heap is None:
            raise self.fail(f"heap{inst.heap} is not declared")
        index, index_type = self._index64(None)
        ptr = cl_type(self.lw.ctx.pointer)
        end = offset + size
        name = f"heap{inst.heap}"
        if heap.style == "static":
            bound, guard = heap.bound, heap.offset_guard
            if end > bound:
                detail = f"{name}: {end:#x} > bound {bound:#x}"
                self.lw.report.checks.append(Check("heap_always_traps", "heap_oob", detail))
                self.b.ins_jump(self.lw.trap_block("heap_oob"), [])
                dead = self.b.create_block()
                self.b.switch_to_block(dead)
                return self.b.ins_iconst(ptr, 0)
            if bounds_check_left_out(index_type.bits, bound, guard, end):  # (`reserve` checks the heap allows it)
                detail = f"{name}: i32 index, bound {bound:#x} + guard {guard:#x}"
                self.lw.report.checks.append(Check("heap_elided", None, detail))
            else:
                limit = bound - end
                oob = self.b.ins_icmp_imm(_cc("ugt"), index, signed64(limit))
                self.lw.trap_if(oob, "heap_oob", "heap_bound", f"{name}: index > {limit:#x}")
        else:
            bound = self._bound(heap.bound, f"{name} bound")
            total, carry = self.uadd_carry(index, self.b.ins_iconst(ptr, signed64(end)))
            over = self.b.ins_icmp(_cc("ugt"), total, bound)
            oob = self.b.ins_bor(carry, over)
            self.lw.trap_if(oob, "heap_oob", "heap_bound", f"{name}: index + {end:#x} > bound")
        base = self.global_value(heap.base)
        addr = self.b.ins_iadd(base, index)
        if offset:
            addr = self.b.ins_iadd_imm(addr, signed64(offset))
        return addr

    def _bound(self, gv: int, what: str):
        value = self.global_value(gv)
        data = self.func.global_values.get(gv)
        t = data.type if data is not None and data.type is not None else self.lw.ctx.pointer
        if t.bits < self.lw.ctx.pointer.bits:
            value = self.b.ins_uextend(cl_type(self.lw.ctx.pointer), value)
        return value

    @handles("heap_addr")
    def op_heap_addr(self, inst: Inst):
        return self.heap_address(inst, inst.offset or 0, inst.size or 0)

    @handles("heap_load")
    def op_heap_load(self, inst: Inst):
        t = self.lw.vtype(inst.results[0])
        addr = self.heap_address(inst, inst.offset or 0, t.bytes)
        return self.lw.order.load(t, inst.flags, addr)

    @handles("heap_store")
    def op_heap_store(self, inst: Inst):
        t = self.lw.vtype(inst.args[1])
        addr = self.heap_address(inst, inst.offset or 0, t.bytes)
        self.lw.order.store(inst.flags, self.lw.val(inst.args[1]), t, addr)

    @handles("table_addr")
    def op_table_addr(self, inst: Inst):
        table = self.func.tables.get(inst.table)
        if table is None:
            raise self.fail(f"table{inst.table} is not declared")
        if table.bound is None:
            raise self.fail(f"table{inst.table} has no bound")
        index, _ = self._index64(None)
        bound = self._bound(table.bound, f"table{inst.table} bound")
        oob = self.b.ins_icmp(_cc("uge"), index, bound)
        self.lw.trap_if(oob, "table_oob", "table_bound", f"table{inst.table}")
        base = self.global_value(table.base)
        size = table.element_size
        if size == 1:
            scaled = index
        elif size and size & (size - 1) == 0:
            scaled = self.b.ins_ishl_imm(index, size.bit_length() - 1)
        else:
            scaled = self.b.ins_imul_imm(index, signed64(size))
        addr = self.b.ins_iadd(base, scaled)
        if inst.offset:
            addr = self.b.ins_iadd_imm(addr, signed64(inst.offset))
        return addr

    # -- what has no native meaning here -----------------------------------------------------

    @handles("dynamic_stack_load", "dynamic_stack_store", "dynamic_stack_addr", "extract_vector")
    def _dynamic(self, inst: Inst):
        raise self.fail("dynamic vector types are not supported natively (the binding cannot declare them)")



def _moves_groups(mask: bytes, g: int) -> bool:
    """Does the shuffle `mask` move whole, aligned groups of `g` bytes (or zero whole groups)?"""
    for k in range(0, 16, g):
        part = list(mask[k : k + g])
        if all(m >= 32 for m in part):
            continue
        first = part[0]
        if first % g or part != list(range(first, first + g)):
            return False
    return True


__all__ = ["Legalizer", "float_bits_of_int", "exact_in_float", "imm_at", "I8"]


HANDLERS.collect(Legalizer, lambda fn: lambda lw, inst: fn(lw.legal, inst))
