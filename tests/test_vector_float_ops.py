"""Vector float semantics (vector_float_ops): small CLIF functions run on the interpreter.

Expected values follow Cranelift 0.120's definitions and its run-test corpus
(simd-fadd-splat.clif for the canonical NaN, simd-fneg/fabs/fcopysign.clif for
payloads, simd-fmax-fmin.clif for signed zeros, simd-fcvt-*.clif, simd-fvdemote.clif,
simd-fvpromote-low.clif). Dynamic vectors and lane shapes the reader cannot
pass as arguments are checked by calling the lowerings directly.
"""

from __future__ import annotations

import random
import struct

import pytest

from clifkit.interpreter import Interpreter, Unsupported
from clifkit.interpreter import softfloat as sf
from clifkit.interpreter import vector_float_ops as vfo
from clifkit.interpreter.registry import LOWERINGS, VECTOR_LOWERINGS, OpContext
from clifkit.ir.function import Function, Inst, Signature
from clifkit.ir.opcodes import OPCODES
from clifkit.ir.types import Type
from clifkit.reader import parse_text
from clifkit.runtest.plans import Options, nondeterministic_skip, select_plans
from clifkit.verifier import verify_function

F32X4 = Type.get("f", 32, 4)
F64X2 = Type.get("f", 64, 2)
I32X4 = Type.get("i", 32, 4)
F32X4XN = Type.get("f", 32, 4, dynamic=True)
I32X4XN = Type.get("i", 32, 4, dynamic=True)

NAN32, NAN64, NAN16 = sf.F32.nan, sf.F64.nan, sf.F16.nan
INF32, INF64 = sf.F32.inf, sf.F64.inf
NEG32, NEG64 = sf.F32.sign, sf.F64.sign  # also the bits of -0.0
h = float.fromhex


def f32(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def f64(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def f16(x: float) -> int:
    return struct.unpack("<H", struct.pack("<e", x))[0]


def s32(x: int) -> int:
    return x & 0xFFFFFFFF


def run_clif(body: str, *args):
    """Parse one function (checked by the verifier), run it on `args`, return its single result."""
    tf = parse_text(body, "t.clif")
    func = tf.functions[0].function
    assert verify_function(func) == [], body
    return Interpreter([func]).call(func.name, list(args))[0]


def unary_fn(op: str, src: str, dst: str | None = None, ctrl: str = "") -> str:
    return f"""
function %f({src}) -> {dst or src} {{
block0(v0: {src}):
    v1 = {op}{ctrl} v0
    return v1
}}
"""


def binary_fn(op: str, ty: str, dst: str | None = None, extra: str = "") -> str:
    return f"""
function %f({ty}, {ty}) -> {dst or ty} {{
block0(v0: {ty}, v1: {ty}):
    v2 = {op} {extra}v0, v1
    return v2
}}
"""


def lower(name, ctrl, arg_types, result_types, **fields):
    """Call the lowering the compiler would pick; return a callable of the operand values."""
    n = len(arg_types)
    inst = Inst(OPCODES[name], ctrl, args=list(range(n)), results=list(range(n, n + len(result_types))), **fields)
    ctx = OpContext(inst, Function("%t", Signature()), ctrl, list(arg_types), list(result_types))
    table = VECTOR_LOWERINGS if name in VECTOR_LOWERINGS else LOWERINGS
    lowered = table[name](ctx)
    if isinstance(lowered, str):
        names = [f"v{i}" for i in range(n)]
        code = compile(lowered.format(*names), "<template>", "eval")
        return lambda *values: eval(code, {}, dict(zip(names, values)))
    return lowered


# -- registration ----------------------------------------------------------------------


def test_registration():
    for name in ("fadd", "fsub", "fmul", "fdiv", "sqrt", "fma", "fneg", "fabs", "fcopysign", "fmin", "fmax",
                 "ceil", "floor", "trunc", "nearest", "fcmp", "fcvt_to_uint_sat", "fcvt_to_sint_sat",
                 "fcvt_from_uint", "fcvt_from_sint"):  # fmt: skip
        assert VECTOR_LOWERINGS[name].__module__ == vfo.__name__, name
    for name in ("fvpromote_low", "fvdemote", "x86_cvtt2dq"):
        assert LOWERINGS[name].__module__ == vfo.__name__, name


# -- arithmetic: exact lanes, canonical NaN out ----------------------------------------------


def test_fadd_lanes_and_canonical_nan():
    fn = binary_fn("fadd", "f32x4")
    got = run_clif(fn, (f32(0.5), INF32, 0x7F800001, NEG32 | 0x7FC12345), (f32(1.0), NEG32 | INF32, f32(1.0), 0))
    assert got == (f32(1.5), NAN32, NAN32, NAN32)  # Inf - Inf, sNaN and -NaN:payload in: +NaN out
    # simd-fadd-splat.clif: NaN + 0x1.5 is the positive canonical NaN, bit for bit
    assert run_clif(binary_fn("fadd", "f64x2"), (NAN64 | NEG64, f64(-0.0)), (f64(1.3125), f64(-0.0))) == (NAN64, NEG64)
    # rounding, overflow, subnormals per lane
    got = run_clif(binary_fn("fadd", "f32x4"), (0x7F7FFFFF, 0x00400000, f32(1.0), f32(-0.0)),
                   (0x7F7FFFFF, 0x80400001, f32(2.0**-24), f32(0.0)))  # fmt: skip
    assert got == (INF32, 0x80000001, f32(1.0), 0)


def test_other_arithmetic():
    assert run_clif(binary_fn("fsub", "f64x2"), (f64(0.5), INF64), (f64(1.0), INF64)) == (f64(-0.5), NAN64)
    assert run_clif(binary_fn("fmul", "f32x4"), (f32(3.0), 0, f32(-2.0), INF32), (f32(0.5), INF32, f32(4.0), f32(-1.0))) == (
        f32(1.5), NAN32, f32(-8.0), NEG32 | INF32)  # fmt: skip
    assert run_clif(binary_fn("fdiv", "f32x4"), (f32(1.0), f32(-1.0), 0, f32(1.0)), (f32(3.0), 0, 0, NEG32 | INF32)) == (
        f32(1.0 / 3.0), NEG32 | INF32, NAN32, NEG32)  # fmt: skip
    assert run_clif(unary_fn("sqrt", "f64x2"), (f64(2.0), f64(-1.0))) == (f64(2.0**0.5), NAN64)
    assert run_clif(unary_fn("sqrt", "f32x4"), (NEG32, f32(4.0), INF32, 0x7F800001)) == (NEG32, f32(2.0), INF32, NAN32)


def test_fma_lanes():
    fma = """
function %f(f32x4, f32x4, f32x4) -> f32x4 {
block0(v0: f32x4, v1: f32x4, v2: f32x4):
    v3 = fma v0, v1, v2
    return v3
}
"""
    got = run_clif(fma, (0x3F8007E0, INF32, f32(2.0), f32(131.0)), (0x337FF041, 0, f32(3.0), f32(h("0x2.68091p6"))),
                   (f32(1.0), f32(1.0), f32(-6.0), f32(h("0x9.88721p1"))))  # fmt: skip
    # single rounding (binary64 then f32 would give 1.0), Inf * 0, exact zero, simd-fma.clif
    assert got == (0x3F800001, NAN32, 0, f32(h("0x1.3b88e6p14")))
    fma64 = fma.replace("f32x4", "f64x2")
    one_ulp = f64(1.0 + 2.0**-52)
    assert run_clif(fma64, (one_ulp, NAN64 | 5), (one_ulp, f64(1.0)), (f64(-1.0), f64(1.0))) == (f64(2.0**-51 + 2.0**-104), NAN64)


def test_rounding_lanes():
    x = (f32(-0.5), f32(1.5), f32(2.5), 0x7F800001)
    assert run_clif(unary_fn("ceil", "f32x4"), x) == (NEG32, f32(2.0), f32(3.0), NAN32)
    assert run_clif(unary_fn("floor", "f32x4"), x) == (f32(-1.0), f32(1.0), f32(2.0), NAN32)
    assert run_clif(unary_fn("trunc", "f32x4"), x) == (NEG32, f32(1.0), f32(2.0), NAN32)
    assert run_clif(unary_fn("nearest", "f32x4"), x) == (NEG32, f32(2.0), f32(2.0), NAN32)
    assert run_clif(unary_fn("nearest", "f64x2"), (f64(-2.5), f64(h("0x1.fffffffffffffp51")))) == (f64(-2.0), f64(2.0**52))


# -- sign-bit operations keep payloads ----------------------------------------------------------


def test_sign_ops_keep_nan_payloads():
    x = (0x7F800001, NEG32 | 0x7FC00001, NEG32 | INF32, 0)
    assert run_clif(unary_fn("fneg", "f32x4"), x) == (NEG32 | 0x7F800001, 0x7FC00001, INF32, NEG32)
    assert run_clif(unary_fn("fabs", "f32x4"), x) == (0x7F800001, 0x7FC00001, INF32, 0)
    # simd-fcopysign.clif: the sign of a NaN second operand is taken as it is
    got = run_clif(binary_fn("fcopysign", "f32x4"), (0, f32(3.0), NEG32 | 0x7FA00001, 0x7FC00001),
                   (NEG32 | NAN32, 0x7F800001, NAN32, NEG32 | NAN32))  # fmt: skip
    assert got == (NEG32, f32(3.0), 0x7FA00001, NEG32 | 0x7FC00001)
    assert run_clif(unary_fn("fneg", "f64x2"), (NAN64 | 0x42, f64(1.0))) == (NEG64 | NAN64 | 0x42, f64(-1.0))
    assert run_clif(binary_fn("fcopysign", "f32x2"), (0x7F800001, 0), (NEG32, NEG32)) == (NEG32 | 0x7F800001, NEG32)


def test_sign_ops_are_inline_expressions_for_fixed_vectors():
    inst = Inst(OPCODES["fneg"], F32X4, args=[0], results=[1])
    text = VECTOR_LOWERINGS["fneg"](OpContext(inst, Function("%t", Signature()), F32X4, [F32X4], [F32X4]))
    assert isinstance(text, str) and "0x80000000" in text


# -- fmin/fmax: signed zeros, NaN lanes -----------------------------------------------------------


def test_fmin_fmax_signed_zeros_and_nans():
    zeros_a = (0, NEG32, NEG32, 0)
    zeros_b = (NEG32, 0, NEG32, 0)
    assert run_clif(binary_fn("fmin", "f32x4"), zeros_a, zeros_b) == (NEG32, NEG32, NEG32, 0)
    assert run_clif(binary_fn("fmax", "f32x4"), zeros_a, zeros_b) == (0, 0, NEG32, 0)
    a = (NEG32 | NAN32, f32(1.0), 0x7F800001, NEG32 | INF32)
    b = (f32(1.0), NAN32 | 0x42, f32(1.0), f32(-1.0))
    # The NaN operand, quieted, sign and payload kept (softfloat rule 1b).
    nans = (NEG32 | NAN32, NAN32 | 0x42, 0x7FC00001)
    assert run_clif(binary_fn("fmin", "f32x4"), a, b) == (*nans, NEG32 | INF32)
    assert run_clif(binary_fn("fmax", "f32x4"), a, b) == (*nans, f32(-1.0))
    # simd-fmax-fmin.clif
    assert run_clif(binary_fn("fmax", "f64x2"), (NEG64, f64(-1.0)), (0, f64(1.0))) == (0, f64(1.0))
    assert run_clif(binary_fn("fmin", "f64x2"), (NEG64, f64(-1.0)), (0, f64(1.0))) == (NEG64, f64(-1.0))


# -- fcmp: all-ones lanes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cond,want",
    [("eq", (1, 0, 0, 0)), ("ne", (0, 1, 1, 1)), ("lt", (0, 1, 0, 0)), ("uno", (0, 0, 1, 1)),
     ("ord", (1, 1, 0, 0)), ("ult", (0, 1, 1, 1)), ("uge", (1, 0, 1, 1)), ("one", (0, 1, 0, 0))],
)  # fmt: skip
def test_fcmp_f32x4(cond, want):
    a = (NEG32, f32(1.0), NAN32, f32(1.0))  # -0 == +0; a NaN in either operand: unordered
    b = (0, f32(2.0), NAN32, 0x7F800001)
    got = run_clif(binary_fn("fcmp", "f32x4", dst="i32x4", extra=f"{cond} "), a, b)
    assert got == tuple(0xFFFFFFFF * w for w in want)


def test_fcmp_lane_widths():
    assert run_clif(binary_fn("fcmp", "f64x2", dst="i64x2", extra="gt "), (f64(2.0), INF64), (f64(1.0), INF64)) == (
        2**64 - 1, 0)  # fmt: skip
    f16x8 = tuple(f16(x) for x in (1.0, 2.0, -0.0, 0.5, 1.0, 3.0, 0.0, -1.0))
    g16x8 = tuple(f16(x) for x in (1.0, 1.0, 0.0, 0.25, 2.0, 3.0, 1.0, -2.0))
    got = run_clif(binary_fn("fcmp", "f16x8", dst="i16x8", extra="le "), f16x8, g16x8)
    assert got == (0xFFFF, 0, 0xFFFF, 0, 0xFFFF, 0xFFFF, 0xFFFF, 0)


# -- conversions: saturation boundaries ------------------------------------------------------------


def test_fcvt_to_sint_sat_boundaries():
    fn = unary_fn("fcvt_to_sint_sat", "f32x4", "i32x4", ".i32x4")
    assert run_clif(fn, (f32(2.0**31), f32(h("0x1.fffffep30")), f32(-(2.0**31)), NEG32 | INF32)) == (
        0x7FFFFFFF, 0x7FFFFF80, 0x80000000, 0x80000000)  # fmt: skip
    assert run_clif(fn, (NAN32, NEG32 | 0x7F800001, f32(-1.9), f32(1.9))) == (0, 0, s32(-1), 1)
    wide = unary_fn("fcvt_to_sint_sat", "f64x2", "i64x2", ".i64x2")
    assert run_clif(wide, (f64(2.0**63), f64(-(2.0**63)))) == (2**63 - 1, 2**63)
    assert run_clif(wide, (f64(h("0x1.fffffffffffffp62")), NAN64)) == (0x7FFFFFFFFFFFFC00, 0)


def test_fcvt_to_uint_sat_boundaries():
    fn = unary_fn("fcvt_to_uint_sat", "f32x4", "i32x4", ".i32x4")
    assert run_clif(fn, (f32(-1.0), f32(-0.9), f32(2.0**32), f32(h("0x1.fffffep31")))) == (0, 0, 0xFFFFFFFF, 0xFFFFFF00)
    assert run_clif(fn, (NAN32, INF32, NEG32 | INF32, f32(1.5))) == (0, 0xFFFFFFFF, 0, 1)
    wide = unary_fn("fcvt_to_uint_sat", "f64x2", "i64x2", ".i64x2")
    assert run_clif(wide, (f64(2.0**64), f64(h("0x1.fffffffffffffp63")))) == (2**64 - 1, 0xFFFFFFFFFFFFF800)


def test_fcvt_sat_to_narrower_lanes():
    # The type sets allow other lane widths as long as the lane counts agree.
    fn = unary_fn("fcvt_to_sint_sat", "f32x4", "i16x4", ".i16x4")
    assert run_clif(fn, (f32(40000.0), f32(-40000.0), f32(-32768.0), f32(12.7))) == (0x7FFF, 0x8000, 0x8000, 12)
    fn = unary_fn("fcvt_to_uint_sat", "f32x4", "i8x4", ".i8x4")
    assert run_clif(fn, (f32(255.5), f32(256.0), f32(-3.0), NAN32)) == (255, 255, 0, 0)


def test_fcvt_from_int():
    fn = unary_fn("fcvt_from_sint", "i32x4", "f32x4", ".f32x4")
    assert run_clif(fn, (123456789, s32(-1), 0x80000000, 0)) == (f32(123456792.0), f32(-1.0), f32(-(2.0**31)), 0)
    fn = unary_fn("fcvt_from_uint", "i32x4", "f32x4", ".f32x4")
    assert run_clif(fn, (0xFFFFFFFF, 0x80000000, 0x01000001, 0x01000003)) == (
        f32(2.0**32), f32(2.0**31), f32(2.0**24), f32(2.0**24 + 4))  # ties to even  # fmt: skip
    fn = unary_fn("fcvt_from_uint", "i64x2", "f64x2", ".f64x2")
    assert run_clif(fn, (2**64 - 1, 2**53 + 1)) == (f64(2.0**64), f64(2.0**53))
    fn = unary_fn("fcvt_from_sint", "i64x2", "f64x2", ".f64x2")
    assert run_clif(fn, (2**63, 2**64 - 3)) == (f64(-(2.0**63)), f64(-3.0))
    fn = unary_fn("fcvt_from_uint", "i16x8", "f16x8", ".f16x8")  # 65535 rounds past the largest f16
    assert run_clif(fn, (65535, 65504, 2049, 1, 0, 2, 3, 4)) == (
        sf.F16.inf, f16(65504.0), f16(2048.0), f16(1.0), 0, f16(2.0), f16(3.0), f16(4.0))  # fmt: skip


def test_lane_count_mismatch_is_refused():
    with pytest.raises(Unsupported):
        run_clif(unary_fn("fcvt_to_sint_sat", "f32x4", "i64x2", ".i64x2"), (0, 0, 0, 0))


# -- fvdemote / fvpromote_low lane placement -------------------------------------------------------


def test_fvdemote_places_low_lanes_and_zeroes_the_rest():
    fn = unary_fn("fvdemote", "f64x2", "f32x4")
    assert run_clif(fn, (f64(h("0x2.1p0")), f64(h("0x1.2p0")))) == (f32(h("0x2.1p0")), f32(h("0x1.2p0")), 0, 0)
    assert run_clif(fn, (f64(1e300), f64(1.0 + 2.0**-24))) == (INF32, f32(1.0), 0, 0)  # overflow; a tie to even
    assert run_clif(fn, (NEG64 | NAN64 | 7, f64(-(2.0**-149)))) == (NAN32, NEG32 | 1, 0, 0)


def test_fvpromote_low_reads_the_low_lanes():
    fn = unary_fn("fvpromote_low", "f32x4", "f64x2")
    assert run_clif(fn, (f32(h("0x2.1p0")), f32(-1.5), f32(7.0), f32(9.0))) == (f64(h("0x2.1p0")), f64(-1.5))
    assert run_clif(fn, (0, 0, f32(2.0), f32(3.0))) == (0, 0)
    assert run_clif(fn, (0x7F800001, NEG32 | 1, 0, 0)) == (NAN64, f64(-(2.0**-149)))


# -- x86_cvtt2dq: INT_MIN for NaN and out of range -------------------------------------------------


def test_x86_cvtt2dq():
    fn = unary_fn("x86_cvtt2dq", "f32x4", "i32x4", ".i32x4")
    assert run_clif(fn, (f32(1.9), f32(-1.9), NAN32, f32(2.0**31))) == (1, s32(-1), 0x80000000, 0x80000000)
    assert run_clif(fn, (f32(-(2.0**31)), NEG32 | INF32, INF32, f32(h("0x1.fffffep30")))) == (
        0x80000000, 0x80000000, 0x80000000, 0x7FFFFF80)  # fmt: skip
    fn = unary_fn("x86_cvtt2dq", "f64x2", "i32x4", ".i32x4")  # cvttpd2dq: two results, then zeros
    assert run_clif(fn, (f64(2147483647.9), f64(-2147483648.9))) == (0x7FFFFFFF, 0x80000000, 0, 0)
    assert run_clif(fn, (f64(2147483648.0), f64(-3.5))) == (0x80000000, s32(-3), 0, 0)
    fn = unary_fn("x86_cvtt2dq", "f32", "i32", ".i32")  # the scalar form: cvttss2si
    assert run_clif(fn, NAN32) == 0x80000000 and run_clif(fn, f32(-7.5)) == s32(-7)


# -- dynamic vectors and other lane formats (lowerings called directly) -------------------------------


def test_dynamic_vectors_map_over_every_lane():
    add = lower("fadd", F32X4XN, [F32X4XN, F32X4XN], [F32X4XN])
    a = tuple(f32(float(i)) for i in range(8))  # scale 2: eight lanes at run time
    assert add(a, a) == tuple(f32(2.0 * i) for i in range(8))
    assert add((INF32,) * 4, (NEG32 | INF32,) * 4) == (NAN32,) * 4
    neg = lower("fneg", F32X4XN, [F32X4XN], [F32X4XN])
    assert neg((0x7F800001, 0, 1, 2)) == (NEG32 | 0x7F800001, NEG32, NEG32 | 1, NEG32 | 2)
    cmp = lower("fcmp", F32X4XN, [F32X4XN, F32X4XN], [I32X4XN], cond="lt")
    assert cmp((0, f32(1.0), NAN32, 0), (f32(1.0), 0, 0, 0)) == (0xFFFFFFFF, 0, 0, 0)
    cvt = lower("fcvt_to_sint_sat", I32X4XN, [F32X4XN], [I32X4XN])
    assert cvt((f32(2.0**40), NAN32, f32(-3.5), 0)) == (0x7FFFFFFF, 0, s32(-3), 0)
    fma = lower("fma", F32X4XN, [F32X4XN] * 3, [F32X4XN])
    assert fma((f32(2.0),) * 4, (f32(3.0),) * 4, (f32(1.0),) * 4) == (f32(7.0),) * 4


def test_f16_and_f128_lanes():
    f16x8 = Type.get("f", 16, 8)
    mul = lower("fmul", f16x8, [f16x8, f16x8], [f16x8])
    x = tuple(f16(v) for v in (1.5, 2.0, 300.0, -0.5, 0.0, 65504.0, 1.0, 3.0))
    # 300 * 300 and 65504 * 65504 overflow to +Inf
    assert mul(x, x) == (f16(2.25), f16(4.0), sf.F16.inf, f16(0.25), 0, sf.F16.inf, f16(1.0), f16(9.0))
    f128x2 = Type.get("f", 128, 2)
    add = lower("fadd", f128x2, [f128x2, f128x2], [f128x2])
    one, two = sf.F128.one, sf.from_int(sf.F128, 2, 8, False)
    assert add((one, sf.F128.inf | 1), (one, one)) == (two, sf.F128.nan)


# -- the whole-vector fast paths agree with the exact lane functions -----------------------------------


def _random_lanes(rng: random.Random, fmt: sf.FloatFormat, n: int) -> tuple:
    specials = [0, fmt.sign, fmt.inf, fmt.sign | fmt.inf, fmt.nan, fmt.inf | 1, 1, fmt.max_finite, fmt.one,
                fmt.hidden, fmt.hidden - 1]  # fmt: skip
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.15:
            out.append(rng.choice(specials) | (fmt.sign if rng.random() < 0.5 else 0))
        elif r < 0.4:  # near one: many cancellations and ties
            out.append(fmt.one + rng.randrange(-(1 << 8), 1 << 8) | (fmt.sign if rng.random() < 0.5 else 0))
        else:
            out.append(rng.getrandbits(fmt.bits))
    return tuple(out)


@pytest.mark.parametrize("bits,lanes", [(32, 4), (32, 2), (64, 2)])
@pytest.mark.parametrize("op", ["fadd", "fsub", "fmul", "fdiv"])
def test_fast_paths_match_exact_arithmetic(op, bits, lanes):
    ty = Type.get("f", bits, lanes)
    fn = lower(op, ty, [ty, ty], [ty])
    assert fn.__name__ == f"{op}_f{bits}x{lanes}"  # the fast path was chosen
    fmt = sf.FORMATS[bits]
    exact = {"fadd": sf.add, "fsub": sf.sub, "fmul": sf.mul, "fdiv": sf.div}[op]
    rng = random.Random(f"{op}{bits}x{lanes}")
    for _ in range(600):
        a, b = _random_lanes(rng, fmt, lanes), _random_lanes(rng, fmt, lanes)
        assert fn(a, b) == tuple(exact(fmt, x, y) for x, y in zip(a, b)), (a, b)



def test_fast_paths_are_made_once_per_shape_and_keep_their_lanes():
    # The fast path is made once per opcode, lane width and lane count, and shared: each shape
    # gets its own, whichever shape was lowered first.
    f32x4, f32x2, f64x2 = Type.get("f", 32, 4), Type.get("f", 32, 2), Type.get("f", 64, 2)
    x2 = lower("fmul", f32x2, [f32x2, f32x2], [f32x2])
    x4 = lower("fmul", f32x4, [f32x4, f32x4], [f32x4])
    assert lower("fmul", f32x2, [f32x2, f32x2], [f32x2]) is x2 and x4 is not x2
    assert lower("fmul", f64x2, [f64x2, f64x2], [f64x2]) is not x2
    one, two = sf.F32.one, 0x40000000
    assert x2((one, two), (two, two)) == (two, 0x40800000)
    assert x4((one, two, one, two), (two, two, one, one)) == (two, 0x40800000, one, two)
    assert sf.compare_fn("lt", 32) is sf.compare_fn("lt", 32) is not sf.compare_fn("lt", 64)
    assert sf.compare_fn("lt", 32)(one, two) == 1 and sf.compare_fn("gt", 32)(one, two) == 0

# -- nondeterministic-<arch> files -----------------------------------------------------------------


def test_nondeterministic_files_are_skipped_unless_the_rule_is_the_interpreters():
    assert nondeterministic_skip("t/simd-fmax-fmin.clif") is None
    assert nondeterministic_skip("t/simd-fmax-fmin-nondeterministic-aarch64.clif") is None
    for arch in ("x86_64", "riscv64"):
        reason = nondeterministic_skip(f"t/simd-fmax-fmin-nondeterministic-{arch}.clif")
        assert reason is not None and arch in reason
    text = "test run\ntarget x86_64\n" + binary_fn("fmin", "f64x2")
    tf = parse_text(text, "/x/simd-fmax-fmin-nondeterministic-x86_64.clif")
    plans, _ = select_plans(tf, Options(interpret_all=True))
    interp = [p for p in plans if p.engine == "interpreter"]
    assert interp and all(p.skip_reason and "x86_64" in p.skip_reason for p in interp)
    tf = parse_text(text, "/x/simd-fmax-fmin-nondeterministic-aarch64.clif")
    plans, _ = select_plans(tf, Options(interpret_all=True))
    assert [p.skip_reason for p in plans if p.engine == "interpreter"] == [None]
