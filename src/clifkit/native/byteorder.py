"""Memory accesses and bitcasts whose flags name the non-native byte order.

Cranelift 0.120's x86-64 and aarch64 backends ignore the ``big`` flag of loads, stores,
atomics and bitcasts (they emit the little-endian access: probed, see
docs/native.md), so an access in the foreign byte order is lowered here to a
native access plus ``bswap``, with clifkit's interpreter semantics
(`interpreter/memory_ops.py`, docs/heaps.md "Byte order"): a scalar is stored
in the named byte order; a vector's lane i is at byte offset i × lane size,
each lane in the named byte order (Cranelift's s390x lowering). A ``bitcast``
between lane counts with the foreign order reverses the order of the narrower
lanes within each wider lane. Accesses in the native order (or with no order)
go to Cranelift as they are. ``heap_load``/``heap_store`` use `load`/`store`
here once their address is checked.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Optional

import cranelift as cl

from ..ir.function import Inst
from ..ir.memflags import MemFlags
from ..ir.opcodes import OPCODES, Opcode, handles
from ..ir.types import Type
from .translate import _CL_TYPES, HANDLERS, _shaped_of, cl_memflags, cl_type

if TYPE_CHECKING:
    from .translate import FunctionLowering

_BITWISE_RMW = ("and", "or", "xor", "nand", "xchg")


def _accesses(flag: str, vector: bool) -> list[Opcode]:
    """The table's loads (or stores) through an address that only load (or store), with several
    lanes in memory (`vector`: the extending vector loads) or one."""
    return [op for op in OPCODES.values() if op.addr is not None and op.flags & {"load", "store"} == {flag}
            and (op.access.lanes > 1) == vector]


_NATIVE_ORDER: dict = {}  # flags -> the same flags without a byte order (`_without_order`)


def _without_order(flags: MemFlags) -> MemFlags:
    """`flags` without their byte order, made once per flags (`dataclasses.replace` of the frozen
    dataclass costs several times the lookup)."""
    found = _NATIVE_ORDER.get(flags)
    if found is None:
        found = _NATIVE_ORDER[flags] = replace(flags, endianness=None)
    return found


class ByteOrder:
    def __init__(self, lw: "FunctionLowering", native: Optional[str] = None):
        self.lw = lw
        self.b = lw.b
        self.native = native or lw.ctx.byteorder

    def foreign(self, flags: Optional[MemFlags]) -> bool:
        return flags is not None and flags.endianness is not None and flags.endianness != self.native

    def native_flags(self, flags: MemFlags):
        return cl_memflags(_without_order(flags))

    # -- swapping values -----------------------------------------------------------------------

    def swap(self, value, t: Type):
        """`value` of type `t` with the bytes of each lane (of a scalar: of the value) reversed."""
        if t.lane_bits == 8:
            return value
        if t.is_int and t.is_scalar:
            return self.b.ins_bswap(value)
        if t.bits not in (16, 32, 64, 128):
            raise self.lw.fail(f"cannot reverse the bytes of {t}")
        it = Type.get("i", t.bits)
        flags = cl.MemFlags()
        if t.is_vector:
            flags.set_by_name(self.native)
        as_int = self.b.ins_bitcast(cl_type(it), flags, value)
        swapped = self.b.ins_bswap(as_int) if t.is_scalar else self._swap_lanes(as_int, it, t.lane_bits)
        return self.b.ins_bitcast(cl_type(t), flags, swapped)

    def _swap_lanes(self, x, it: Type, w: int):
        """The integer `x` of type `it` with the bytes of each aligned `w`-bit group reversed.
        The groups are the lanes in either lane order, so this needs no lane numbering."""
        lane, wide = cl_type(Type.get("i", w)), cl_type(it)
        out = None
        for shift in range(0, it.bits, w):
            part = self.b.ins_ushr_imm(x, shift) if shift else x
            part = self.b.ins_uextend(wide, self.b.ins_bswap(self.b.ins_ireduce(lane, part)))
            part = self.b.ins_ishl_imm(part, shift) if shift else part
            out = part if out is None else self.b.ins_bor(out, part)
        return out

    # -- loads and stores --------------------------------------------------------------------------

    def load(self, mt: Type, flags: Optional[MemFlags], p, offset: int = 0):
        """A load of `mt` at `p + offset` in the byte order `flags` name (the native one if none)."""
        if not self.foreign(flags):
            return self.b.ins_load(cl_type(mt), cl_memflags(flags), p, offset)
        self.lw.report.workarounds.add("foreign byte order: native access + bswap")
        return self.swap(self.b.ins_load(cl_type(mt), self.native_flags(flags), p, offset), mt)

    def store(self, flags: Optional[MemFlags], x, t: Type, p, offset: int = 0) -> None:
        """A store of `x` (of type `t`) at `p + offset` in the byte order `flags` name."""
        if self.foreign(flags):
            self.lw.report.workarounds.add("foreign byte order: bswap + native access")
            x, flags = self.swap(x, t), _without_order(flags)
        self.b.ins_store(cl_memflags(flags), x, p, offset)

    @handles(*_accesses("load", vector=False))
    def _load(self, inst: Inst):
        flags = inst.flags
        if flags is None or flags.endianness is None or flags.endianness == self.native:  # (`foreign`, inline)
            shaped = _shaped_of(inst.opcode)  # (`_generic`, inline: a load is a twentieth of a program)
            return shaped(self.lw, inst) if shaped is not None else self.lw._generic(inst)
        name, access = inst.opcode.name, inst.opcode.access
        rt = self.lw.vtype(inst.results[0])
        bits = access.bits
        mt = Type.get("i", bits) if bits else rt
        p = self.lw.val(inst.args[inst.opcode.addr])
        if name == "atomic_load":
            self.lw.report.workarounds.add("foreign byte order: native access + bswap")
            value = self.swap(self.b.ins_atomic_load(cl_type(mt), self.native_flags(inst.flags), p), mt)
        else:
            value = self.load(mt, inst.flags, p, inst.offset or 0)
        if bits is None:
            return value
        return (self.b.ins_sextend if access.signed else self.b.ins_uextend)(cl_type(rt), value)

    @handles(*_accesses("store", vector=False))
    def _store(self, inst: Inst):
        flags = inst.flags
        if flags is None or flags.endianness is None or flags.endianness == self.native:  # (as `_load`)
            shaped = _shaped_of(inst.opcode)
            return shaped(self.lw, inst) if shaped is not None else self.lw._generic(inst)
        name, op = inst.opcode.name, inst.opcode
        x, p = self.lw.val(inst.args[0]), self.lw.val(inst.args[op.addr])
        t = self.lw.vtype(inst.args[0])
        bits = op.access.bits
        if bits is not None:
            t = Type.get("i", bits)
            x = self.b.ins_ireduce(cl_type(t), x)
        if name == "atomic_store":
            self.lw.report.workarounds.add("foreign byte order: bswap + native access")
            self.b.ins_atomic_store(self.native_flags(inst.flags), self.swap(x, t), p)
        else:
            self.store(inst.flags, x, t, p, inst.offset or 0)

    @handles(*_accesses("load", vector=True))
    def _vector_extending(self, inst: Inst):
        if self.foreign(inst.flags):
            raise self.lw.fail("extending vector loads in the foreign byte order are not supported natively")
        return self.lw._generic(inst)

    # -- atomics ---------------------------------------------------------------------------------

    @handles("atomic_cas")
    def op_atomic_cas(self, inst: Inst):
        if not self.foreign(inst.flags):
            return self.lw._generic(inst)
        t = self.lw.vtype(inst.results[0])
        p, e, x = (self.lw.val(a) for a in inst.args)
        self.lw.report.workarounds.add("foreign byte order: native access + bswap")
        got = self.b.ins_atomic_cas(self.native_flags(inst.flags), p, self.swap(e, t), self.swap(x, t))
        return self.swap(got, t)

    @handles("atomic_rmw")
    def op_atomic_rmw(self, inst: Inst):
        if not self.foreign(inst.flags):
            return self.lw._generic(inst)
        from .compat import atomic_rmw_op, intcc

        t = self.lw.vtype(inst.results[0])
        p, x = self.lw.val(inst.args[0]), self.lw.val(inst.args[1])
        flags = self.native_flags(inst.flags)
        ct = cl_type(t)
        self.lw.report.workarounds.add("foreign byte order: native access + bswap")
        if inst.rmw_op in _BITWISE_RMW or t.bits == 8:
            # Byte swapping commutes with bitwise operations (and is nothing for bytes).
            old = self.b.ins_atomic_rmw(ct, flags, atomic_rmw_op(inst.rmw_op), p, self.swap(x, t))
            return self.swap(old, t)
        # Arithmetic on the swapped value: a compare-and-swap loop.
        loop, done = self.b.create_block(), self.b.create_block()
        first = self.b.ins_atomic_load(ct, flags, p)
        self.b.ins_jump(loop, [first])
        self.b.switch_to_block(loop)
        old = self.b.append_block_param(loop, ct)
        value = self.swap(old, t)
        new = getattr(self.b, "ins_" + _ARITH[inst.rmw_op])(value, x)
        seen = self.b.ins_atomic_cas(flags, p, old, self.swap(new, t))
        same = self.b.ins_icmp(intcc("eq"), seen, old)
        self.b.ins_brif(same, done, [], loop, [seen])
        self.b.switch_to_block(done)
        return value

    # -- bitcast -----------------------------------------------------------------------------------

    @handles("bitcast")
    def op_bitcast(self, inst: Inst):
        lw = self.lw
        arg, result = inst.args[0], inst.results[0]
        if lw.aliased:
            src, dst, x = lw.vtype(arg), lw.vtype(result), lw.val(arg)
        else:  # (`vtype` and `val`, inline: a tenth of a fuzzed program's instructions are bitcasts)
            types = lw.types
            src, dst, x = types[arg], types[result], lw.values.get(arg) or lw.val(arg)
        if src.is_ref or dst.is_ref:
            return [x]  # (a heap-era reference is its pointer's bits)
        flags = inst.flags
        if flags is None or flags.endianness is None or flags.endianness == self.native:  # (`foreign`, inline)
            return self.b.ins_bitcast(_CL_TYPES.get(dst) or cl_type(dst), cl_memflags(flags), x)
        if src.lanes == dst.lanes:
            return self.b.ins_bitcast(cl_type(dst), self.native_flags(inst.flags), x)
        # Through a stack slot: store natively, reverse the narrower lanes within each wider lane.
        self.lw.report.workarounds.add("foreign-order bitcast through a stack slot")
        size = src.bytes
        narrow, wide = min(src.lane_bits, dst.lane_bits) // 8, max(src.lane_bits, dst.lane_bits) // 8
        flags = cl.MemFlags.trusted()
        ptr = cl_type(self.lw.ctx.pointer)
        a = self.b.ins_stack_addr(ptr, self.b.create_sized_stack_slot(size, 4), 0)
        out = self.b.ins_stack_addr(ptr, self.b.create_sized_stack_slot(size, 4), 0)
        self.b.ins_store(flags, x, a, 0)
        chunk = cl_type(Type.get("i", 8 * narrow))
        k = wide // narrow
        for group in range(0, size, wide):
            for j in range(k):
                piece = self.b.ins_load(chunk, flags, a, group + j * narrow)
                self.b.ins_store(flags, piece, out, group + (k - 1 - j) * narrow)
        return self.b.ins_load(cl_type(dst), flags, out, 0)


_ARITH = {"add": "iadd", "sub": "isub", "umin": "umin", "umax": "umax", "smin": "smin", "smax": "smax"}


HANDLERS.collect(ByteOrder, lambda fn: lambda lw, inst: fn(lw.order, inst))
