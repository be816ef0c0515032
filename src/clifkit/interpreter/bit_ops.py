"""Scalar bitwise semantics: logic ops, shifts, rotates, bit counting, byte and bit reversal.

The second half of the integer family (see `integer_ops` for how builders,
templates and lowerings fit together). The logic ops (band, bor, bxor, bnot and
the *_not forms) work on bit patterns, so they serve floats of the same width.

Shift and rotate amounts: any integer type, taken modulo the shifted value's
width. Widths are powers of two no wider than 128 and every amount type is at
least 8 bits wide, so masking the amount's bit pattern with ``width - 1`` is
exactly that modulo, whatever the amount's own type (i128 included). The *_imm
forms take the immediate modulo the width the same way.
"""

from __future__ import annotations

from ..ir.types import Type
from .integer_ops import Semantics, builder, hx, imm_at, wrapped
from .registry import OpContext, impl, mask

# -- logic ----------------------------------------------------------------------


@builder("band")
def _band(ctx: OpContext, t: Type) -> Semantics:
    return "({0} & {1})"


@builder("bor")
def _bor(ctx: OpContext, t: Type) -> Semantics:
    return "({0} | {1})"


@builder("bxor")
def _bxor(ctx: OpContext, t: Type) -> Semantics:
    return "({0} ^ {1})"


@builder("bnot")
def _bnot(ctx: OpContext, t: Type) -> Semantics:
    return "({0} ^ %s)" % hx(mask(t.bits))


@builder("band_not")
def _band_not(ctx: OpContext, t: Type) -> Semantics:
    return "({0} & ({1} ^ %s))" % hx(mask(t.bits))


@builder("bor_not")
def _bor_not(ctx: OpContext, t: Type) -> Semantics:
    return "({0} | ({1} ^ %s))" % hx(mask(t.bits))


@builder("bxor_not")
def _bxor_not(ctx: OpContext, t: Type) -> Semantics:
    return "({0} ^ {1} ^ %s)" % hx(mask(t.bits))


def logic_imm(imm: int, bits: int) -> int:
    """The immediate of ``band_imm``/``bor_imm``/``bxor_imm`` at `bits`: zero-extended (matters
    only at i128). Also `ranges`' reading of it."""
    return imm_at(imm, bits, signed=False)


@builder("band_imm", "bor_imm", "bxor_imm")
def _logic_imm(ctx: OpContext, t: Type) -> Semantics:
    c = logic_imm(ctx.inst.imm, t.bits)
    op = {"band_imm": "&", "bor_imm": "|", "bxor_imm": "^"}[ctx.inst.opcode.name]
    return "({0} %s %s)" % (op, hx(c))


# -- shifts and rotates ---------------------------------------------------------


@builder("ishl")
def _ishl(ctx: OpContext, t: Type) -> Semantics:
    return "(({0} << ({1} & %d)) & %s)" % (t.bits - 1, hx(mask(t.bits)))


@builder("ushr")
def _ushr(ctx: OpContext, t: Type) -> Semantics:
    return "({0} >> ({1} & %d))" % (t.bits - 1)


@builder("sshr")
def _sshr(ctx: OpContext, t: Type) -> Semantics:
    s = hx(1 << (t.bits - 1))
    return "(((({0} ^ %s) - %s) >> ({1} & %d)) & %s)" % (s, s, t.bits - 1, hx(mask(t.bits)))


@builder("rotl")
def _rotl(ctx: OpContext, t: Type) -> Semantics:
    w = t.bits
    return "((({0} << ({1} & %d)) | ({0} >> (%d - ({1} & %d)))) & %s)" % (w - 1, w, w - 1, hx(mask(w)))


@builder("rotr")
def _rotr(ctx: OpContext, t: Type) -> Semantics:
    w = t.bits
    return "((({0} >> ({1} & %d)) | ({0} << (%d - ({1} & %d)))) & %s)" % (w - 1, w, w - 1, hx(mask(w)))


def shift_amount(imm: int, bits: int) -> int:
    """A shift or rotate immediate's amount at `bits` (also `ranges`' reading of it)."""
    return imm & (bits - 1)


def _imm_amount(ctx: OpContext, t: Type) -> int:
    return shift_amount(ctx.inst.imm, t.bits)


@builder("ishl_imm")
def _ishl_imm(ctx: OpContext, t: Type) -> Semantics:
    s = _imm_amount(ctx, t)
    return "({0})" if s == 0 else wrapped(ctx, "({0} << %d)" % s, t.bits)


@builder("ushr_imm")
def _ushr_imm(ctx: OpContext, t: Type) -> Semantics:
    s = _imm_amount(ctx, t)
    return "({0})" if s == 0 else "({0} >> %d)" % s


@builder("sshr_imm")
def _sshr_imm(ctx: OpContext, t: Type) -> Semantics:
    s = _imm_amount(ctx, t)
    if s == 0:
        return "({0})"
    sign = hx(1 << (t.bits - 1))
    return "(((({0} ^ %s) - %s) >> %d) & %s)" % (sign, sign, s, hx(mask(t.bits)))


@builder("rotl_imm", "rotr_imm")
def _rot_imm(ctx: OpContext, t: Type) -> Semantics:
    s = _imm_amount(ctx, t)
    if ctx.inst.opcode.name == "rotr_imm":
        s = (t.bits - s) & (t.bits - 1)
    if s == 0:
        return "({0})"
    return "((({0} << %d) | ({0} >> %d)) & %s)" % (s, t.bits - s, hx(mask(t.bits)))


# -- counting and reversal ----------------------------------------------------------


@builder("clz")
def _clz(ctx: OpContext, t: Type) -> Semantics:
    return "(%d - ({0}).bit_length())" % t.bits


@builder("cls")
def _cls(ctx: OpContext, t: Type) -> Semantics:
    # Flip a negative value so that its leading sign bits become leading zeros;
    # the sign bit itself is not counted.
    w1 = t.bits - 1
    return "(%d - ({0} ^ ((-({0} >> %d)) & %s)).bit_length())" % (w1, w1, hx(mask(t.bits)))


@builder("ctz")
def _ctz(ctx: OpContext, t: Type) -> Semantics:
    # ~x & (x - 1) has ones exactly below the lowest set bit (all bits when x is 0).
    return "(((~{0}) & ({0} - 1) & %s).bit_length())" % hx(mask(t.bits))


@builder("popcnt")
def _popcnt(ctx: OpContext, t: Type) -> Semantics:
    return "(({0}).bit_count())"


# Byte -> the byte with its bits in reverse order.
_REVERSED_BYTES = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


@builder("bswap")
def _bswap(ctx: OpContext, t: Type) -> Semantics:
    n, from_bytes = t.bytes, int.from_bytes

    def bswap(x: int) -> int:
        return from_bytes(x.to_bytes(n, "little"), "big")

    return bswap


@builder("bitrev")
def _bitrev(ctx: OpContext, t: Type) -> Semantics:
    # Reversing the byte order and the bits of every byte reverses all the bits.
    n, from_bytes, table = t.bytes, int.from_bytes, _REVERSED_BYTES

    def bitrev(x: int) -> int:
        return from_bytes(x.to_bytes(n, "little").translate(table), "big")

    return bitrev
