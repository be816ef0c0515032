"""Semantics of the floating point opcodes on vectors (f16xN, f32xN, f64xN, f128xN, dynamic too).

Every lane obeys exactly the scalar rules of `softfloat` (see its docstring
for the NaN rules): arithmetic NaN results are the positive canonical NaN of
the lane format, fneg/fabs/fcopysign only touch sign bits and keep payloads,
fmin/fmax order -0 below +0. The per-lane functions come from
`float_ops.lane_function`; this module only maps them over lanes, building
one specialised callable (or inline expression) per instruction at lowering
time, unrolled for fixed vectors and mapped for dynamic ones (whose lane
count is only known at run time: the tuple holds ``lanes * scale`` lanes).

Opcodes with a scalar form (fadd ... fcmp, the saturating and from-int
conversions) are registered with ``@impl(..., vector=True)``; the
vector-only ones (fvpromote_low, fvdemote, and x86_cvtt2dq, whose scalar
form is handled here as well) with plain ``@impl``.

Vector specifics:

- fcmp gives, per lane, all ones or zero in the same-width integer lane
  (``as_truthy``), as Cranelift 0.120's interpreter does.
- fcvt_to_{u,s}int_sat and fcvt_from_{u,s}int convert lane ``i`` to lane
  ``i``: Cranelift's type sets let the lane widths differ (i8x4 from f32x4,
  f64x2 from i32x2, ...) but require the lane counts to agree; a mismatch is
  refused. Cranelift's interpreter converts only to f32/f64 lanes; here every
  float lane format works.
- fvdemote (f64x2 -> f32x4) demotes the two lanes into lanes 0 and 1 and
  puts +0.0 in lanes 2 and 3; fvpromote_low (f32x4 -> f64x2) promotes lanes
  0 and 1 and ignores the others.
- x86_cvtt2dq follows cvttps2dq/cvttpd2dq, as the instruction's
  description says: truncate toward zero; NaN and out-of-range lanes give
  ``INT_MIN`` of the lane width. From f64x2 to i32x4 (cvttpd2dq) the two
  results go to lanes 0 and 1 and lanes 2 and 3 are zero. Scalars work the
  same way (cvttss2si/cvttsd2si).

Fast paths: fadd/fsub/fmul/fdiv on f32x4, f32x2 and f64x2 compute every lane
with one struct round trip through Python floats (exact for the same reasons
as the scalar fast paths in `softfloat`) and fall back to the per-lane
functions whenever any lane is a NaN, overflows or divides by zero.
"""

from __future__ import annotations

import struct
from typing import Callable, Optional

from . import softfloat as sf
from .float_ops import lane_function
from .registry import OpContext, Trap, by_shape, impl, mask

_ARITHMETIC = (
    "fadd", "fsub", "fmul", "fdiv", "fmin", "fmax", "sqrt", "fma",
    "ceil", "floor", "trunc", "nearest", "fmin_pseudo", "fmax_pseudo",
)  # fmt: skip
_SIGN_OPS = ("fneg", "fabs", "fcopysign")
_CONVERSIONS = ("fcvt_to_uint_sat", "fcvt_to_sint_sat", "fcvt_from_uint", "fcvt_from_sint")


# -- building lane-wise callables ------------------------------------------------


def _fixed_lanes(ctx: OpContext) -> Optional[int]:
    """The lane count of the instruction's vectors, or None when they are dynamic."""
    types = [t for t in (ctx.ctrl_type, *ctx.arg_types, *ctx.result_types) if t is not None and t.is_vector]
    if any(t.dynamic for t in types):
        return None
    return types[0].lanes


def _check_same_lanes(ctx: OpContext) -> None:
    """Lane-wise conversions need one lane count for the operand and the result."""
    src, dst = ctx.arg_types[0], ctx.result_types[0]
    if src.is_vector != dst.is_vector or src.lanes != dst.lanes or src.dynamic != dst.dynamic:
        raise NotImplementedError(f"converts {src} to {dst}: the lane counts must agree")


_MAKERS: dict[tuple[int, Optional[int], bool], Callable] = {}


def _maker(arity: int, lanes: Optional[int], truthy: bool) -> Callable:
    """A function ``make(fn, ones)`` returning the lane-wise application of `fn` to `arity`
    vectors of `lanes` lanes (None: any number). With `truthy`, a lane result of 1 becomes
    `ones` (fcmp). The source is generated once per shape and reused for every function."""
    key = (arity, lanes, truthy)
    found = _MAKERS.get(key)
    if found is not None:
        return found
    params = [f"x{k}" for k in range(arity)]
    lines = ["def make(fn, ones):", f"    def run({', '.join(params)}):"]
    if lanes is None:
        lane = "r * ones" if truthy else "r"
        lines.append(f"        return tuple([{lane} for r in map(fn, {', '.join(params)})])")
    else:
        for p in params:
            names = [f"{p}_{i}" for i in range(lanes)]
            lines.append(f"        {', '.join(names)}, = {p}")
        exprs = []
        for i in range(lanes):
            call = f"fn({', '.join(f'{p}_{i}' for p in params)})"
            exprs.append(f"{call} * ones" if truthy else call)
        lines.append(f"        return ({', '.join(exprs)},)")
    lines.append("    return run")
    env: dict = {}
    exec("\n".join(lines) + "\n", env)
    found = _MAKERS[key] = env["make"]
    return found


def lanewise(fn: Callable, arity: int, lanes: Optional[int], ones: Optional[int] = None) -> Callable:
    """`fn` (bit patterns in, bit pattern out) applied lane by lane to `arity` vectors.

    `lanes` is the fixed lane count (None for dynamic vectors). With `ones`, `fn` returns 1
    or 0 and the lane becomes `ones` or 0."""
    run = _maker(arity, lanes, ones is not None)(fn, ones)
    run.__name__ = f"lanewise_{getattr(fn, '__name__', 'fn')}"
    return run


# -- fast paths: one struct round trip for a whole vector -----------------------------

_PY_OPS = {"fadd": "+", "fsub": "-", "fmul": "*", "fdiv": "/"}


def _fast_binary(name: str, lane_bits: int, lanes: int, per_lane: Callable) -> Optional[Callable]:
    """fadd/fsub/fmul/fdiv on f32 or f64 lanes through Python floats, or None (no fast path);
    made once per opcode and vector shape (`per_lane`, the exact lane function, is the opcode's
    at that width: `float_ops.lane_function`)."""
    key = (name, lane_bits, lanes)
    run = _FAST_BINARY.get(key, _FAST_BINARY)
    if run is _FAST_BINARY:
        run = _FAST_BINARY[key] = _make_fast_binary(name, lane_bits, lanes, per_lane)
    return run


_FAST_BINARY: dict[tuple[str, int, int], Optional[Callable]] = {}  # (at most 4 opcodes x 2 widths x 7 lane counts)


def _make_fast_binary(name: str, lane_bits: int, lanes: int, per_lane: Callable) -> Optional[Callable]:
    """(`_fast_binary`, made.)

    f64: Python float arithmetic is binary64 with nearest-even rounding. f32: the operation in
    binary64 followed by one rounding to f32 is correctly rounded (53 >= 2*24 + 2); the f32
    pack raises OverflowError on overflow. NaN results, overflows and zero divisors take the
    exact per-lane path instead, so every special case keeps the scalar rules."""
    if name not in _PY_OPS or lane_bits not in (32, 64) or not 2 <= lanes <= 8:
        return None
    code = "Q" if lane_bits == 64 else "I"
    flt = "d" if lane_bits == 64 else "f"
    pack_in = struct.Struct(f"<{2 * lanes}{code}").pack
    unpack_in = struct.Struct(f"<{2 * lanes}{flt}").unpack
    pack_out = struct.Struct(f"<{lanes}{flt}").pack
    unpack_out = struct.Struct(f"<{lanes}{code}").unpack
    op = _PY_OPS[name]
    xs = [f"x{i}" for i in range(lanes)]
    ys = [f"y{i}" for i in range(lanes)]
    rs = [f"r{i}" for i in range(lanes)]
    src = [
        "def run(a, b):",
        f"    {', '.join(xs + ys)} = unpack_in(pack_in(*a, *b))",
        "    try:",
        *(f"        {r} = {x} {op} {y}" for r, x, y in zip(rs, xs, ys)),
        f"        if {' or '.join(f'{r} != {r}' for r in rs)}:",
        "            return slow(a, b)",
        f"        return unpack_out(pack_out({', '.join(rs)}))",
        "    except (OverflowError, ZeroDivisionError):",
        "        return slow(a, b)",
    ]
    env = {"pack_in": pack_in, "unpack_in": unpack_in, "pack_out": pack_out, "unpack_out": unpack_out,
           "slow": lanewise(per_lane, 2, lanes)}  # fmt: skip
    exec("\n".join(src) + "\n", env)
    run = env["run"]
    run.__name__ = f"{name}_f{lane_bits}x{lanes}"
    return run


# -- arithmetic, rounding, fma -------------------------------------------------------


@impl(*_ARITHMETIC, vector=True)
@by_shape
def _lower_arithmetic(ctx: OpContext):
    ty = ctx.type
    if not ty.is_float:
        raise NotImplementedError(f"{ctx.inst.opcode.name} needs float lanes, not {ty}")
    lanes = _fixed_lanes(ctx)
    per_lane = lane_function(ctx)
    name = ctx.inst.opcode.name
    if lanes is not None:
        fast = _fast_binary(name, ty.lane_bits, lanes, per_lane)
        if fast is not None:
            return fast
    return lanewise(per_lane, len(ctx.inst.opcode.value_ins), lanes)


# -- sign-bit operations: integer expressions, payloads kept ------------------------


@impl(*_SIGN_OPS, vector=True)
@by_shape
def _lower_sign_op(ctx: OpContext):
    ty = ctx.type
    if not ty.is_float:
        raise NotImplementedError(f"{ctx.inst.opcode.name} needs float lanes, not {ty}")
    fmt = sf.FORMATS[ty.lane_bits]
    name = ctx.inst.opcode.name
    sign, magmask = hex(fmt.sign), hex(fmt.magmask)
    lanes = _fixed_lanes(ctx)
    if lanes is None:
        return lanewise(lane_function(ctx), 2 if name == "fcopysign" else 1, None)
    if name == "fneg":
        lane = "{0}[%d] ^ " + sign
    elif name == "fabs":
        lane = "{0}[%d] & " + magmask
    else:
        lane = "({0}[%d] & " + magmask + ") | ({1}[%d] & " + sign + ")"
    return "(" + ", ".join(lane.replace("%d", str(i)) for i in range(lanes)) + ",)"


# -- comparison: all-ones or zero lanes ----------------------------------------------


@impl("fcmp", vector=True)
@by_shape
def _lower_fcmp(ctx: OpContext):
    if not ctx.arg_types[0].is_float:
        raise NotImplementedError(f"fcmp needs float lanes, not {ctx.arg_types[0]}")
    ones = mask(ctx.result_types[0].lane_bits)
    return lanewise(lane_function(ctx), 2, _fixed_lanes(ctx), ones=ones)


# -- conversions -------------------------------------------------------------------


@impl(*_CONVERSIONS, vector=True)
@by_shape
def _lower_conversion(ctx: OpContext):
    _check_same_lanes(ctx)
    return lanewise(lane_function(ctx), 1, _fixed_lanes(ctx))


@impl("fvdemote")
@by_shape
def _lower_fvdemote(ctx: OpContext):
    src, dst = ctx.arg_types[0], ctx.result_types[0]
    if src.dynamic or dst.dynamic or dst.lanes < src.lanes:
        raise NotImplementedError(f"fvdemote from {src} to {dst}")
    demote = sf.convert_fn(src.lane_bits, dst.lane_bits)
    zeros = (0,) * (dst.lanes - src.lanes)
    convert = lanewise(demote, 1, src.lanes)

    def fvdemote(x):
        return convert(x) + zeros

    return fvdemote


@impl("fvpromote_low")
@by_shape
def _lower_fvpromote_low(ctx: OpContext):
    src, dst = ctx.arg_types[0], ctx.result_types[0]
    if src.dynamic or dst.dynamic or dst.lanes > src.lanes:
        raise NotImplementedError(f"fvpromote_low from {src} to {dst}")
    promote = sf.convert_fn(src.lane_bits, dst.lane_bits)
    n = dst.lanes
    convert = lanewise(promote, 1, n)

    def fvpromote_low(x):
        return convert(x[:n])

    return fvpromote_low


def _cvtt_lane(float_bits: int, int_bits: int) -> Callable[[int], int]:
    """cvtt*2dq on one lane: truncate toward zero; NaN or out of range gives INT_MIN."""
    exact = sf.to_int_fn(float_bits, int_bits, True, False)
    int_min = 1 << (int_bits - 1)

    def fn(x: int) -> int:
        try:
            return exact(x)
        except Trap:
            return int_min

    fn.__name__ = f"cvtt_f{float_bits}_to_i{int_bits}"
    return fn


@impl("fcvt_low_from_sint")
@by_shape
def _lower_fcvt_low_from_sint(ctx: OpContext):
    """Heap era: the low two i32 lanes, signed, to f64 (exact)."""
    convert = lanewise(sf.from_int_fn(32, 64, True), 1, 2)

    def fcvt_low_from_sint(x):
        return convert(x[:2])

    return fcvt_low_from_sint


@impl("x86_cvtt2dq")
@by_shape
def _lower_x86_cvtt2dq(ctx: OpContext):
    src, dst = ctx.arg_types[0], ctx.result_types[0]
    if not src.is_float or not dst.is_int:
        raise NotImplementedError(f"x86_cvtt2dq from {src} to {dst}")
    fn = _cvtt_lane(src.lane_bits, dst.lane_bits)
    if src.is_scalar and dst.is_scalar:
        return fn
    if src.is_vector and dst.is_vector and src.dynamic == dst.dynamic and src.lanes == dst.lanes:
        return lanewise(fn, 1, _fixed_lanes(ctx))
    if src.is_vector and dst.is_vector and not src.dynamic and not dst.dynamic and dst.lanes > src.lanes:
        # cvttpd2dq: f64x2 -> i32x4, the results in the low lanes, zeros above.
        convert = lanewise(fn, 1, src.lanes)
        zeros = (0,) * (dst.lanes - src.lanes)

        def cvttpd2dq(x):
            return convert(x) + zeros

        return cvttpd2dq
    raise NotImplementedError(f"x86_cvtt2dq from {src} to {dst}")
