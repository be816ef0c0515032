"""Scalar integer semantics: arithmetic, division, overflow, comparisons, selects, conversions.

Bitwise operations, shifts, rotates and bit counting live in `bit_ops`, which
this module imports so that importing either registers the whole family.

How the family is built
-----------------------
Every opcode has a *builder* (registered in `BUILDERS` with `@builder`): a
function ``(ctx, t) -> template | callable`` giving the semantics on one value
of the scalar type ``t`` (the controlling type, or a vector's lane type). The
`@impl` lowering of a scalar instruction, registered by the same `@builder`, just
calls the builder with the controlling type; the vector lowerings (`vector_ops`) reuse the builders lane by
lane through `lane_function`, which turns a template into a plain function.

Values are unsigned bit patterns. Templates are fully parenthesised, use no
names (only literals, operators and int methods), and may mention an operand
placeholder more than once (`placeholder_count` tells how often): the
compiler should substitute a placeholder by a variable name, or inline an
operand expression only where its placeholder occurs once.

Semantic choices (Cranelift 0.120; see tests/test_integer_ops.py):
- ``srem`` of INT_MIN by -1 is 0 and does not trap (instruction docs: srem traps
  only on a zero divisor; the native run-tests in div-checks.clif expect 0;
  Cranelift's own interpreter traps int_ovf there, which this does not copy).
- ``sadd_overflow_cin`` / ``ssub_overflow_bin`` report whether the exact result
  ``x + y + c`` / ``x - (y + b)`` is out of range, as the hardware carry chains do
  (Cranelift's interpreter ORs the flags of two steps, which differs only for
  x=INT_MIN, y=-1, c=1 and the like).
- 64-bit immediates at i128: sign-extended for iadd_imm, imul_imm, irsub_imm,
  sdiv_imm, srem_imm, icmp_imm and iconst; zero-extended for udiv_imm, urem_imm,
  band_imm, bor_imm, bxor_imm, as the instruction docs say and as Cranelift's
  legalizer expands them for native code (Cranelift's interpreter sign-extends
  all of them). At widths up to 64 both readings give the immediate truncated to
  the width; shift and rotate immediates are taken modulo the width.
"""

from __future__ import annotations

from collections.abc import Callable

from ..ir.types import Type
from ..ir.opcodes import Registry
from .registry import OpContext, Trap, by_shape, impl, mask

Template = str
Semantics = Template | Callable
Builder = Callable[[OpContext, Type], Semantics]

BUILDERS: Registry = Registry("@builder")
MASK64 = (1 << 64) - 1


def builder(*names: str, scalar: bool = True) -> Callable[[Builder], Builder]:
    """Register the decorated function as the one-value semantics of each named opcode, and
    (`scalar`) `lower_scalar` as the opcode's `@impl` lowering: one registration gives both."""

    def register(fn: Builder) -> Builder:
        BUILDERS.register(*names)(fn)
        if scalar:
            impl(*names)(lower_scalar)
        return fn

    return register


# -- helpers shared with bit_ops and vector_ops ---------------------------------


def hx(value: int) -> str:
    """A literal for templates."""
    return hex(value)


def wrapped(ctx: OpContext, expr: str, bits: int) -> str:
    """`expr` (parenthesised) modulo 2^bits: masked, unless the compiler's ranges proved the
    mask the identity (``ctx.no_wrap``)."""
    return expr if ctx.no_wrap else "(%s & %s)" % (expr, hx(mask(bits)))


def ctrl_of(ctx: OpContext) -> Type:
    """The controlling type; when the context lacks it, the type it is inferred from."""
    if ctx.ctrl_type is not None:
        return ctx.ctrl_type
    opcode = ctx.inst.opcode
    index = opcode.format.ctrl_operand
    if opcode.ctrl_from_operand and index is not None and index < len(ctx.arg_types):
        return ctx.arg_types[index]
    return ctx.type


def imm_at(imm: int, bits: int, signed: bool = True) -> int:
    """A 64-bit immediate (as written: signed, or an unsigned pattern) applied at `bits`.

    The immediate is first read as a 64-bit pattern; widening to 128 bits sign- or
    zero-extends it; narrowing truncates.
    """
    value = imm & MASK64
    if signed and value >> 63:
        value -= 1 << 64
    return value & mask(bits)


def signed_of(bits: int) -> Callable[[int], int]:
    """The two's-complement reading of a `bits`-wide pattern, as a fast function."""
    sign = 1 << (bits - 1)

    def signed(x: int) -> int:
        return (x ^ sign) - sign

    return signed


_TEMPLATES: dict[tuple[str, int], Callable] = {}
TEMPLATES_KEPT = 4096  # compiled templates remembered (a fuzz campaign makes new ones forever)


def compile_template(template: Template, arity: int) -> Callable:
    """Turn an expression template over {0}..{arity-1} into a function of as many arguments
    (compiled once per text: the function is pure, so every instruction may share it)."""
    key = (template, arity)
    fn = _TEMPLATES.get(key)
    if fn is None:
        params = [f"_a{i}" for i in range(arity)]
        source = f"lambda {', '.join(params)}: {template.format(*params)}"
        fn = eval(source, {"__builtins__": {}})  # noqa: S307 - our own templates only
        if len(_TEMPLATES) >= TEMPLATES_KEPT:
            del _TEMPLATES[next(iter(_TEMPLATES))]
        _TEMPLATES[key] = fn
    return fn


def lane_function(ctx: OpContext, lane_type: Type | None = None) -> Callable:
    """The semantics of ``ctx.inst`` on one value (one lane) of `lane_type`, as a function.

    `lane_type` defaults to the controlling type's lane type. Templates are compiled;
    callables are returned as they are. The result takes as many arguments as the
    opcode has value operands and returns one value, or a tuple for several results.
    """
    t = lane_type if lane_type is not None else ctrl_of(ctx).lane_type
    out = BUILDERS[ctx.inst.opcode](ctx, t)
    if isinstance(out, str):
        return compile_template(out, len(ctx.inst.opcode.value_ins))
    return out


def placeholder_count(template: Template, index: int) -> int:
    """How many times operand `index` occurs in `template` (inline operands only if 1)."""
    return template.count("{%d}" % index)


def raising(code: str, detail: str = "") -> Callable:
    """A callable that always traps with `code` (for constant divisors of zero)."""

    def trap(*_args):
        raise Trap(code, detail)

    return trap


@by_shape
def lower_scalar(ctx: OpContext) -> Semantics:
    """The `@impl` lowering shared by the family: scalar types (vector forms are in `vector_ops`)."""
    t = ctrl_of(ctx)
    if t.is_vector:
        raise NotImplementedError(f"{ctx.inst.opcode.name}.{t}: this opcode has no vector form in the interpreter")
    return BUILDERS[ctx.inst.opcode](ctx, t)


# -- constants and arithmetic --------------------------------------------------


@builder("iconst")
def _iconst(ctx: OpContext, t: Type) -> Semantics:
    return hx(imm_at(ctx.inst.imm, t.bits))


@builder("iadd")
def _iadd(ctx: OpContext, t: Type) -> Semantics:
    return wrapped(ctx, "({0} + {1})", t.bits)


@builder("isub")
def _isub(ctx: OpContext, t: Type) -> Semantics:
    return wrapped(ctx, "({0} - {1})", t.bits)


@builder("ineg")
def _ineg(ctx: OpContext, t: Type) -> Semantics:
    return "((-{0}) & %s)" % hx(mask(t.bits))


@builder("iabs")
def _iabs(ctx: OpContext, t: Type) -> Semantics:
    # INT_MIN stays INT_MIN, as in Cranelift.
    return "({0} if {0} < %s else ((-{0}) & %s))" % (hx(1 << (t.bits - 1)), hx(mask(t.bits)))


@builder("imul")
def _imul(ctx: OpContext, t: Type) -> Semantics:
    return wrapped(ctx, "({0} * {1})", t.bits)


@builder("umulhi")
def _umulhi(ctx: OpContext, t: Type) -> Semantics:
    return "(({0} * {1}) >> %d)" % t.bits


@builder("smulhi")
def _smulhi(ctx: OpContext, t: Type) -> Semantics:
    s = hx(1 << (t.bits - 1))
    return "((((({0} ^ %s) - %s) * (({1} ^ %s) - %s)) >> %d) & %s)" % (s, s, s, s, t.bits, hx(mask(t.bits)))


@builder("iadd_imm")
def _iadd_imm(ctx: OpContext, t: Type) -> Semantics:
    c = imm_at(ctx.inst.imm, t.bits)
    if c == 0:
        return "({0})"
    if c >> (t.bits - 1):  # a negative immediate: subtract it, which keeps the intermediate small
        return wrapped(ctx, "({0} - %s)" % hx((1 << t.bits) - c), t.bits)
    return wrapped(ctx, "({0} + %s)" % hx(c), t.bits)


@builder("imul_imm")
def _imul_imm(ctx: OpContext, t: Type) -> Semantics:
    c = imm_at(ctx.inst.imm, t.bits)
    return wrapped(ctx, "({0} * %s)" % hx(c), t.bits)


@builder("irsub_imm")
def _irsub_imm(ctx: OpContext, t: Type) -> Semantics:
    c = imm_at(ctx.inst.imm, t.bits)
    return "((%s - {0}) & %s)" % (hx(c), hx(mask(t.bits)))


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


# -- arithmetic with overflow flags ---------------------------------------------


@builder("uadd_overflow")
def _uadd_overflow(ctx: OpContext, t: Type) -> Semantics:
    return "((({0} + {1}) & %s), (({0} + {1}) >> %d))" % (hx(mask(t.bits)), t.bits)


@builder("usub_overflow")
def _usub_overflow(ctx: OpContext, t: Type) -> Semantics:
    return "((({0} - {1}) & %s), (1 if {0} < {1} else 0))" % hx(mask(t.bits))


@builder("sadd_overflow")
def _sadd_overflow(ctx: OpContext, t: Type) -> Semantics:
    m, top = mask(t.bits), t.bits - 1

    def sadd_overflow(x: int, y: int) -> tuple[int, int]:
        r = (x + y) & m
        return r, ((r ^ x) & (r ^ y)) >> top

    return sadd_overflow


@builder("ssub_overflow")
def _ssub_overflow(ctx: OpContext, t: Type) -> Semantics:
    m, top = mask(t.bits), t.bits - 1

    def ssub_overflow(x: int, y: int) -> tuple[int, int]:
        r = (x - y) & m
        return r, ((x ^ y) & (x ^ r)) >> top

    return ssub_overflow


@builder("umul_overflow")
def _umul_overflow(ctx: OpContext, t: Type) -> Semantics:
    m, bits = mask(t.bits), t.bits

    def umul_overflow(x: int, y: int) -> tuple[int, int]:
        p = x * y
        return p & m, 1 if p >> bits else 0

    return umul_overflow


@builder("smul_overflow")
def _smul_overflow(ctx: OpContext, t: Type) -> Semantics:
    m, sign = mask(t.bits), 1 << (t.bits - 1)

    def smul_overflow(x: int, y: int) -> tuple[int, int]:
        p = ((x ^ sign) - sign) * ((y ^ sign) - sign)
        return p & m, 0 if -sign <= p < sign else 1

    return smul_overflow


@builder("uadd_overflow_cin")
def _uadd_overflow_cin(ctx: OpContext, t: Type) -> Semantics:
    m, bits = mask(t.bits), t.bits

    def uadd_overflow_cin(x: int, y: int, c: int) -> tuple[int, int]:
        s = x + y + (1 if c else 0)
        return s & m, s >> bits

    return uadd_overflow_cin


@builder("sadd_overflow_cin")
def _sadd_overflow_cin(ctx: OpContext, t: Type) -> Semantics:
    m, sign = mask(t.bits), 1 << (t.bits - 1)

    def sadd_overflow_cin(x: int, y: int, c: int) -> tuple[int, int]:
        s = ((x ^ sign) - sign) + ((y ^ sign) - sign) + (1 if c else 0)
        return s & m, 0 if -sign <= s < sign else 1

    return sadd_overflow_cin


@builder("usub_overflow_bin")
def _usub_overflow_bin(ctx: OpContext, t: Type) -> Semantics:
    m = mask(t.bits)

    def usub_overflow_bin(x: int, y: int, b: int) -> tuple[int, int]:
        d = x - y - (1 if b else 0)
        return d & m, 1 if d < 0 else 0

    return usub_overflow_bin


@builder("ssub_overflow_bin")
def _ssub_overflow_bin(ctx: OpContext, t: Type) -> Semantics:
    m, sign = mask(t.bits), 1 << (t.bits - 1)

    def ssub_overflow_bin(x: int, y: int, b: int) -> tuple[int, int]:
        d = ((x ^ sign) - sign) - ((y ^ sign) - sign) - (1 if b else 0)
        return d & m, 0 if -sign <= d < sign else 1

    return ssub_overflow_bin


@builder("uadd_overflow_trap")
def _uadd_overflow_trap(ctx: OpContext, t: Type) -> Semantics:
    m, bits, code = mask(t.bits), t.bits, ctx.inst.code

    def uadd_overflow_trap(x: int, y: int) -> int:
        s = x + y
        if s >> bits:
            raise Trap(code, "unsigned addition overflowed")
        return s & m

    return uadd_overflow_trap


# -- heap-era carry chains (2022) ---------------------------------------------
# Cranelift documented unsigned carries and borrows, but its interpreter of the
# time (step.rs, which the run tests were written against) computed the carry as
# *signed* overflow (checked_add on signed lanes) and the borrow as a *signed*
# comparison x < y (+ b_in, wrapped); iadd_carry ORs the overflow of its two
# additions. The run lines prove it (iaddcout-i8.clif: 100 + -20 gives carry 0,
# 100 + 28 gives 1), so these follow the interpreter; see docs/heap-era.md.


@builder("iadd_cin")
def _iadd_cin(ctx: OpContext, t: Type) -> Semantics:
    return "(({0} + {1} + (1 if {2} else 0)) & %s)" % hx(mask(t.bits))


@builder("isub_bin")
def _isub_bin(ctx: OpContext, t: Type) -> Semantics:
    return "(({0} - {1} - (1 if {2} else 0)) & %s)" % hx(mask(t.bits))


@builder("iadd_cout", "iadd_carry")
def _iadd_carry(ctx: OpContext, t: Type) -> Semantics:
    m, s = mask(t.bits), signed_of(t.bits)
    lo, hi = -(1 << (t.bits - 1)), (1 << (t.bits - 1)) - 1

    def iadd_carry(x: int, y: int, c: int = 0) -> tuple[int, int]:
        first = (x + y) & m
        carry = not lo <= s(x) + s(y) <= hi
        if c:
            carry = carry or s(first) == hi  # first + 1 overflows
            first = (first + 1) & m
        return first, 1 if carry else 0

    return iadd_carry


@builder("isub_bout", "isub_borrow")
def _isub_borrow(ctx: OpContext, t: Type) -> Semantics:
    m, s = mask(t.bits), signed_of(t.bits)

    def isub_borrow(x: int, y: int, b: int = 0) -> tuple[int, int]:
        rhs = (y + (1 if b else 0)) & m
        return (x - rhs) & m, 1 if s(x) < s(rhs) else 0

    return isub_borrow


# -- comparisons, selection, min/max --------------------------------------------

# Condition code -> (operator, signed?)
_INTCC = {
    "eq": ("==", False),
    "ne": ("!=", False),
    "ult": ("<", False),
    "ule": ("<=", False),
    "ugt": (">", False),
    "uge": (">=", False),
    "slt": ("<", True),
    "sle": ("<=", True),
    "sgt": (">", True),
    "sge": (">=", True),
}


def icmp_expression(cond: str, bits: int, left: str, right: str) -> str:
    """A boolean expression comparing two `bits`-wide patterns (operand texts) by IntCC `cond`.

    Signed orders compare the patterns with the sign bit flipped, which maps
    two's-complement order onto unsigned order.
    """
    if cond not in _INTCC:
        raise ValueError(f"unknown integer condition code {cond!r}")
    op, signed = _INTCC[cond]
    if signed:
        s = hx(1 << (bits - 1))
        left, right = f"({left} ^ {s})", f"({right} ^ {s})"
    return f"{left} {op} {right}"


@builder("icmp")
def _icmp(ctx: OpContext, t: Type) -> Semantics:
    return "(1 if %s else 0)" % icmp_expression(ctx.inst.cond, t.bits, "{0}", "{1}")


@builder("icmp_imm")
def _icmp_imm(ctx: OpContext, t: Type) -> Semantics:
    c = imm_at(ctx.inst.imm, t.bits)
    op, signed = _INTCC[ctx.inst.cond]
    if signed:
        s = 1 << (t.bits - 1)
        return "(1 if ({0} ^ %s) %s %s else 0)" % (hx(s), op, hx(c ^ s))
    return "(1 if {0} %s %s else 0)" % (op, hx(c))


@builder("select", "select_spectre_guard", scalar=False)  # lower_select: whole values, any type
def _select(ctx: OpContext, t: Type) -> Semantics:
    return "({1} if {0} else {2})"


@builder("bitselect")
def _bitselect(ctx: OpContext, t: Type) -> Semantics:
    # Bits of x where c is set, bits of y elsewhere.
    return "({2} ^ (({1} ^ {2}) & {0}))"


@builder("smin", "smax", "umin", "umax")
def _minmax(ctx: OpContext, t: Type) -> Semantics:
    name = ctx.inst.opcode.name
    op = "<=" if name.endswith("min") else ">="
    if name[0] == "s":
        s = hx(1 << (t.bits - 1))
        return "({0} if ({0} ^ %s) %s ({1} ^ %s) else {1})" % (s, op, s)
    return "({0} if {0} %s {1} else {1})" % op


# -- conversions -------------------------------------------------------------------


@builder("bmask")
def _bmask(ctx: OpContext, t: Type) -> Semantics:
    return "(%s if {0} else 0)" % hx(mask(t.bits))


@builder("uextend")
def _uextend(ctx: OpContext, t: Type) -> Semantics:
    return "({0})"


@builder("sextend")
def _sextend(ctx: OpContext, t: Type) -> Semantics:
    s = hx(1 << (ctx.arg_types[0].lane_bits - 1))
    return "((({0} ^ %s) - %s) & %s)" % (s, s, hx(mask(t.bits)))


@builder("ireduce")
def _ireduce(ctx: OpContext, t: Type) -> Semantics:
    return "({0} & %s)" % hx(mask(t.bits))


@builder("iconcat")
def _iconcat(ctx: OpContext, t: Type) -> Semantics:
    # The controlling type is the halves' type; the result is twice as wide.
    return "({0} | ({1} << %d))" % t.bits


@builder("isplit")
def _isplit(ctx: OpContext, t: Type) -> Semantics:
    half = t.bits // 2
    return "(({0} & %s), ({0} >> %d))" % (hx(mask(half)), half)


@impl("select", "select_spectre_guard")
def lower_select(ctx: OpContext) -> Semantics:
    """Selects whole values, so it works for any type, vectors included."""
    return _select(ctx, ctrl_of(ctx))


from . import bit_ops  # noqa: E402,F401  (registers the bitwise half of the family)
