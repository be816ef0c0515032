"""Scalar integer semantics: arithmetic, comparisons, selects, conversions.

The rest of the integer family registers from modules of its own, which the
registry imports on the first instruction that needs one (`registry.load_families`):
bitwise operations, shifts, rotates and bit counting in `bit_ops`, division and
remainder in `division_ops`, arithmetic with overflow flags and carry chains in
`overflow_ops`.

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

Semantic choices (Cranelift 0.120; see tests/test_integer_ops.py, and those of
`division_ops` and `overflow_ops` there):
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
from .registry import OpContext, Trap, by_shape, constant_text, impl, mask, remember, scalar_constant_type

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
        remember(_TEMPLATES, key, fn, TEMPLATES_KEPT)
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


@constant_text("iconst")
def _iconst_text(interp, inst, func, result_types: list[Type], once: bool) -> str | None:
    """`_iconst`'s text, where `lower_scalar` would give it: a scalar controlling type, no vector."""
    t = scalar_constant_type(inst, result_types)
    return None if t is None else hx(imm_at(inst.imm, t.bits))


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
@by_shape
def lower_select(ctx: OpContext) -> Semantics:
    """Selects whole values, so it works for any type, vectors included."""
    return _select(ctx, ctrl_of(ctx))

