"""Scalar integer division and remainder: udiv, sdiv, urem, srem and their _imm forms.

Part of the integer family (see `integer_ops` for how builders, templates and
lowerings fit together), imported by the registry on the first instruction that
needs it. A zero divisor traps ``int_divz``; ``sdiv`` of INT_MIN by -1 traps
``int_ovf``. ``srem`` of INT_MIN by -1 is 0 and does not trap (instruction docs:
srem traps only on a zero divisor; the native run-tests in div-checks.clif expect
0; Cranelift's own interpreter traps int_ovf there, which this does not copy).
"""

from __future__ import annotations

from collections.abc import Callable

from ..ir.types import Type
from .integer_ops import Semantics, builder, hx, imm_at, raising
from .registry import OpContext, Trap, mask

# -- division and remainder ----------------------------------------------------

_DIVZ = "int_divz"
_OVF = "int_ovf"


def _udiv(x: int, y: int) -> int:
    if not y:
        raise Trap(_DIVZ, "integer division by zero")
    return x // y


def _urem(x: int, y: int) -> int:
    if not y:
        raise Trap(_DIVZ, "integer division by zero")
    return x % y


def sdiv_function(bits: int) -> Callable[[int, int], int]:
    m, sign = mask(bits), 1 << (bits - 1)

    def sdiv(x: int, y: int) -> int:
        if not y:
            raise Trap(_DIVZ, "integer division by zero")
        sx, sy = (x ^ sign) - sign, (y ^ sign) - sign
        if sy == -1:
            if x == sign:
                raise Trap(_OVF, "integer overflow in signed division")
            return (-sx) & m
        q = (sx if sx >= 0 else -sx) // (sy if sy >= 0 else -sy)
        return (q if (sx < 0) == (sy < 0) else -q) & m

    return sdiv


def srem_function(bits: int) -> Callable[[int, int], int]:
    m, sign = mask(bits), 1 << (bits - 1)

    def srem(x: int, y: int) -> int:
        if not y:
            raise Trap(_DIVZ, "integer division by zero")
        sx, sy = (x ^ sign) - sign, (y ^ sign) - sign
        r = (sx if sx >= 0 else -sx) % (sy if sy >= 0 else -sy)
        return (r if sx >= 0 else -r) & m  # the sign of the dividend; INT_MIN % -1 == 0

    return srem


@builder("udiv")
def _udiv_b(ctx: OpContext, t: Type) -> Semantics:
    return _udiv


@builder("urem")
def _urem_b(ctx: OpContext, t: Type) -> Semantics:
    return _urem


@builder("sdiv")
def _sdiv_b(ctx: OpContext, t: Type) -> Semantics:
    return sdiv_function(t.bits)


@builder("srem")
def _srem_b(ctx: OpContext, t: Type) -> Semantics:
    return srem_function(t.bits)


@builder("udiv_imm", "urem_imm")
def _udiv_imm(ctx: OpContext, t: Type) -> Semantics:
    d = imm_at(ctx.inst.imm, t.bits, signed=False)
    if d == 0:
        return raising(_DIVZ, "integer division by zero")
    op = "//" if ctx.inst.opcode.name == "udiv_imm" else "%"
    return "({0} %s %s)" % (op, hx(d))


@builder("sdiv_imm", "srem_imm")
def _sdiv_imm(ctx: OpContext, t: Type) -> Semantics:
    d = imm_at(ctx.inst.imm, t.bits)
    if d == 0:
        return raising(_DIVZ, "integer division by zero")
    fn = sdiv_function(t.bits) if ctx.inst.opcode.name == "sdiv_imm" else srem_function(t.bits)
    return lambda x: fn(x, d)
