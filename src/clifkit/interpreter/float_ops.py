"""Semantics of the scalar floating point opcodes (f16, f32, f64, f128).

Each lowering returns either an expression template (for the bitwise ops and
constants, where the result is a plain integer expression of the operands) or
a lane function from `softfloat` that takes and returns bit patterns.  The
exact IEEE-754 arithmetic and every NaN rule live in `softfloat` (see its
module docstring); this module only picks the right function for the types of
an instruction and bakes in the immediates.

Vectors are lowered in `vector_float_ops`: a lowering here whose controlling
type is a vector raises NotImplementedError.  `lane_function(ctx)` gives the per-lane
function for any of these opcodes from the lane types alone, so a vector
lowering can map it over lanes.  For fcmp the lane function returns 1 or 0;
a vector fcmp must turn 1 into an all-ones lane.

Integer operands and results are unsigned bit patterns of their width.

Conversions to i128 follow Cranelift 0.120's interpreter (step.rs), whose
result the run-test corpus expects (i128-conversion.clif): the float is
truncated and *saturated to the signed i128 range* before the range check of
the destination type, as Rust's ``f64 as i128`` does.  So fcvt_to_sint.i128
and fcvt_to_uint.i128 of a value >= 2**127 (including +Inf) give 2**127 - 1
instead of trapping (and fcvt_to_uint of such a value no longer gives its
exact value), and fcvt_to_sint.i128 of a value <= -2**127 gives -2**127.  No
other width is affected.  Set `REFERENCE_I128_SATURATION = False` (before
the first lowering: lowerings are remembered per instruction shape,
`registry.BY_SHAPE`) for the exact rule of the instruction documentation.
"""

from __future__ import annotations

from typing import Callable

from . import softfloat as sf
from .registry import OpContext, by_shape, constant_text, impl, scalar_constant_type

# See the module docstring: follow Cranelift's interpreter for fcvt_to_* into i128.
REFERENCE_I128_SATURATION = True

_BINARY = {"fadd": "add", "fsub": "sub", "fmul": "mul", "fdiv": "div", "fmin": "fmin", "fmax": "fmax"}
_UNARY = {"sqrt": "sqrt", "ceil": "ceil", "floor": "floor", "trunc": "trunc", "nearest": "nearest"}
_TO_INT = {
    "fcvt_to_uint": (False, False),
    "fcvt_to_sint": (True, False),
    "fcvt_to_uint_sat": (False, True),
    "fcvt_to_sint_sat": (True, True),
}


def _scalar(ctx: OpContext):
    ty = ctx.type
    if ty.is_vector or any(t.is_vector for t in (*ctx.arg_types, *ctx.result_types)):
        raise NotImplementedError(f"{ctx.inst.opcode.name}.{ty}: this opcode has no vector form in the interpreter")
    return ty


def _arg_lane_bits(ctx: OpContext) -> int:
    return ctx.arg_types[0].lane_bits


def _reference_i128(exact: Callable[[int], int], float_bits: int, signed: bool) -> Callable[[int], int]:
    """Wrap an exact float->i128 lane function with the reference interpreter's saturation."""
    fmt = sf.FORMATS[float_bits]
    magmask, inf, sign = fmt.magmask, fmt.inf, fmt.sign
    two127 = sf.from_int(fmt, 1 << 127, 128, False)  # 2**127 in this format (Inf for f16)
    i128_max = (1 << 127) - 1
    i128_min = 1 << 127  # -2**127 as an unsigned bit pattern

    def fn(x: int) -> int:
        mag = x & magmask
        if two127 <= mag <= inf:
            if not x & sign:
                return i128_max
            if signed:
                return i128_min
        return exact(x)

    fn.__name__ = getattr(exact, "__name__", "fcvt") + "_ref"
    return fn


def _const_value(ctx: OpContext) -> int:
    """The bit pattern of an f*const: raw bits, or for f128const a constant-pool entry or bytes."""
    inst = ctx.inst
    bits = ctx.type.lane_bits
    imm = inst.imm
    if inst.opcode.name == "f128const":
        if isinstance(imm, (bytes, bytearray, memoryview)):
            data = bytes(imm)
        else:
            data = ctx.function.constants[imm]
        if len(data) != 16:
            raise ValueError(f"f128const needs 16 bytes of data, got {len(data)}")
        return int.from_bytes(data, "little")
    return int(imm) & ((1 << bits) - 1)


def lane_function(ctx: OpContext) -> Callable:
    """The per-lane function of a float opcode (bit patterns in, bit pattern out)."""
    name = ctx.inst.opcode.name
    lane_bits = ctx.type.lane_bits
    if name in _BINARY:
        return sf.binary_fn(_BINARY[name], lane_bits)
    if name in _UNARY:
        return sf.unary_fn(_UNARY[name], lane_bits)
    if name == "fma":
        return sf.fma_fn(lane_bits)
    if name in ("fmin_pseudo", "fmax_pseudo"):
        return _pseudo_min_max(name == "fmin_pseudo", lane_bits)
    if name == "fneg":
        return sf.unary_fn("neg", lane_bits)
    if name == "fabs":
        return sf.unary_fn("abs", lane_bits)
    if name == "fcopysign":
        return sf.binary_fn("copysign", lane_bits)
    if name == "fcmp":
        return sf.compare_fn(ctx.inst.cond, _arg_lane_bits(ctx))
    if name in ("fpromote", "fdemote"):
        return sf.convert_fn(_arg_lane_bits(ctx), lane_bits)
    if name in _TO_INT:
        signed, saturate = _TO_INT[name]
        float_bits = _arg_lane_bits(ctx)
        fn = sf.to_int_fn(float_bits, lane_bits, signed, saturate)
        if lane_bits == 128 and REFERENCE_I128_SATURATION:
            fn = _reference_i128(fn, float_bits, signed)
        return fn
    if name in ("fcvt_from_uint", "fcvt_from_sint"):
        return sf.from_int_fn(_arg_lane_bits(ctx), lane_bits, name == "fcvt_from_sint")
    raise KeyError(f"{name} is not a float opcode of this module")


def _pseudo_min_max(is_min: bool, bits: int) -> Callable[[int, int], int]:
    """Heap era (Wasm pmin/pmax): ``b < a ? b : a`` and ``a < b ? b : a``. A NaN operand or two
    zeros make the comparison false, so x comes back unchanged (Cranelift's 2022 interpreter)."""
    lt = sf.compare_fn("lt", bits)
    if is_min:
        return lambda a, b: b if lt(b, a) else a
    return lambda a, b: b if lt(a, b) else a


# -- constants -----------------------------------------------------------------


@impl("f16const", "f32const", "f64const")
@by_shape  # (the bits are the immediate; a few values recur: NaN, 0, 1, ...)
def _lower_const(ctx: OpContext):
    _scalar(ctx)
    return hex(_const_value(ctx))


@constant_text("f16const", "f32const", "f64const")
def _const_text(interp, inst, func, result_types, once: bool) -> str | None:
    """`_lower_const`'s text, where it would give one: a scalar type, the bits as the immediate."""
    t = scalar_constant_type(inst, result_types)
    return None if t is None else hex(inst.imm & ((1 << t.lane_bits) - 1))


@impl("f128const")
def _lower_f128const(ctx: OpContext):  # (not by shape: its immediate may name a constant-pool entry)
    return _lower_const(ctx)


# -- sign-bit operations: inline integer expressions ---------------------------


@impl("fneg")
@by_shape
def _lower_fneg(ctx: OpContext):
    fmt = sf.FORMATS[_scalar(ctx).bits]
    return f"({{0}} ^ {hex(fmt.sign)})"


@impl("fabs")
@by_shape
def _lower_fabs(ctx: OpContext):
    fmt = sf.FORMATS[_scalar(ctx).bits]
    return f"({{0}} & {hex(fmt.magmask)})"


@impl("fcopysign")
@by_shape
def _lower_fcopysign(ctx: OpContext):
    fmt = sf.FORMATS[_scalar(ctx).bits]
    return f"(({{0}} & {hex(fmt.magmask)}) | ({{1}} & {hex(fmt.sign)}))"


# -- arithmetic, rounding, comparison, conversions: lane functions -------------


@impl(
    "fadd", "fsub", "fmul", "fdiv", "fmin", "fmax", "sqrt", "fma",
    "ceil", "floor", "trunc", "nearest", "fcmp", "fpromote", "fdemote",
    "fcvt_to_uint", "fcvt_to_sint", "fcvt_to_uint_sat", "fcvt_to_sint_sat",
    "fcvt_from_uint", "fcvt_from_sint", "fmin_pseudo", "fmax_pseudo",
)  # fmt: skip
@by_shape
def _lower_float(ctx: OpContext):
    _scalar(ctx)
    return lane_function(ctx)
