"""Vector integer and lane semantics (interpreter/vector_ops.py and lane_ops.py).

Most checks are small CLIF functions run through the interpreter, so they go
through the reader, the lowering and the generated code together. Lane-wise ops
are also checked against the scalar semantics of the same opcode, lane by lane,
on edge values (0, 1, INT_MAX, INT_MIN, all ones) and seeded random ones.
"""

from __future__ import annotations

import random
import struct
from functools import lru_cache

import pytest

from clifkit.interpreter import Interpreter, Unsupported
from clifkit.interpreter import vector_ops
from clifkit.interpreter.lane_ops import bitcast_template
from clifkit.interpreter.vector_ops import compiled, lanewise
from clifkit.ir.types import parse_type
from clifkit.reader import parse_text

# -- helpers ---------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def _interp(src: str) -> Interpreter:
    return Interpreter([d.function for d in parse_text(src).functions])


def call(params: str, rets: str, body: str, *args, preamble: str = ""):
    """Run ``function %t(params) -> rets`` whose entry block takes v0, v1, ... and runs `body`."""
    types = [p.strip() for p in params.split(",") if p.strip()]
    head = ", ".join(f"v{i}: {t}" for i, t in enumerate(types))
    lines = "\n".join("    " + line.strip() for line in body.strip().splitlines())
    src = f"function %t({params}) -> {rets} {{\n{preamble}\nblock0({head}):\n{lines}\n}}\n"
    out = _interp(src).call("%t", list(args))
    return out[0] if len(out) == 1 else out


def source_of(params: str, rets: str, body: str) -> str:
    types = [p.strip() for p in params.split(",") if p.strip()]
    head = ", ".join(f"v{i}: {t}" for i, t in enumerate(types))
    lines = "\n".join("    " + line.strip() for line in body.strip().splitlines())
    src = f"function %t({params}) -> {rets} {{\nblock0({head}):\n{lines}\n}}\n"
    return _interp(src).compile("%t")


def binop(op: str, ty: str, a, b, bty: str | None = None):
    return call(f"{ty}, {bty or ty}", ty, f"v2 = {op} v0, v1\nreturn v2", a, b)


def unop(op: str, ty: str, a, rty: str | None = None):
    return call(ty, rty or ty, f"v1 = {op} v0\nreturn v1", a)


def u(values, w):
    """Signed lane values as unsigned w-bit patterns."""
    return tuple(v & ((1 << w) - 1) for v in values)


def s(values, w):
    """Unsigned w-bit patterns read as signed."""
    return tuple(v - (1 << w) if v >> (w - 1) else v for v in values)


def edges(w):
    m = (1 << w) - 1
    return [0, 1, m, 1 << (w - 1), (1 << (w - 1)) - 1, 2, m - 1, (1 << (w - 1)) + 1]


def lanes_for(t, rng, n_vectors=3):
    """Vectors of type t: edge values first, then random ones."""
    w, n = t.lane_bits, t.lanes
    pool = edges(w)
    out = []
    for k in range(n_vectors):
        if k == 0:
            out.append(tuple(pool[i % len(pool)] for i in range(n)))
        elif k == 1:
            out.append(tuple(pool[(i * 3 + 1) % len(pool)] for i in range(n)))
        else:
            out.append(tuple(rng.getrandbits(w) for _ in range(n)))
    return out


VECTOR_TYPES = ["i8x16", "i16x8", "i32x4", "i64x2", "i8x8", "i16x4", "i32x2", "i8x4", "i16x2", "i8x2"]
M8, M16, M32, M64 = 0xFF, 0xFFFF, 0xFFFFFFFF, (1 << 64) - 1

# -- lane-wise ops agree with the scalar ops, lane by lane ------------------------------------

BINARY = "iadd isub imul umulhi smulhi band bor bxor band_not bor_not bxor_not smin umin smax umax".split()
UNARY = "ineg iabs bnot popcnt".split()
SHIFTS = "ishl ushr sshr rotl rotr".split()


@pytest.mark.parametrize("tyname", VECTOR_TYPES)
def test_lanewise_binary_matches_scalar(tyname):
    t = parse_type(tyname)
    lane = str(t.lane_type)
    rng = random.Random(tyname)
    xs, ys = lanes_for(t, rng), list(reversed(lanes_for(t, rng)))
    for op in BINARY:
        for x, y in zip(xs, ys):
            got = binop(op, tyname, x, y)
            want = tuple(binop(op, lane, a, b) for a, b in zip(x, y))
            assert got == want, (op, tyname, x, y)


@pytest.mark.parametrize("tyname", VECTOR_TYPES)
def test_lanewise_unary_matches_scalar(tyname):
    t = parse_type(tyname)
    lane = str(t.lane_type)
    rng = random.Random(tyname + "u")
    for op in UNARY:
        for x in lanes_for(t, rng):
            assert unop(op, tyname, x) == tuple(unop(op, lane, a) for a in x), (op, tyname, x)


@pytest.mark.parametrize("tyname", ["i8x16", "i16x8", "i32x4", "i64x2", "i32x2", "i8x4"])
def test_shifts_match_scalar_and_take_the_amount_modulo_the_lane_width(tyname):
    t = parse_type(tyname)
    w, lane = t.lane_bits, str(t.lane_type)
    rng = random.Random(tyname + "s")
    amounts = [0, 1, w - 1, w, w + 1, 2 * w + 3, 200]
    for op in SHIFTS:
        for x in lanes_for(t, rng, 2):
            for amt in amounts:
                got = binop(op, tyname, x, amt, bty="i32")
                assert got == tuple(binop(op, lane, a, amt, bty="i32") for a in x), (op, x, amt)
                assert got == binop(op, tyname, x, amt % w, bty="i64")
                imm = call(tyname, tyname, f"v1 = {op}_imm v0, {amt}\nreturn v1", x)
                assert imm == got, (op, "imm", amt)


def test_shift_edges():
    x = u([-128, -1, 64, 1], 8)
    assert binop("sshr", "i8x4", x, 7, bty="i8") == u([-1, -1, 0, 0], 8)
    assert binop("ushr", "i8x4", x, 7, bty="i8") == (1, 1, 0, 0)
    assert binop("ishl", "i8x4", x, 9, bty="i8") == u([0, -2, 128, 2], 8)  # 9 % 8 == 1
    assert binop("rotl", "i8x4", x, 1, bty="i128") == (1, 255, 128, 2)
    assert binop("rotr", "i8x4", x, 1, bty="i16") == (64, 255, 32, 128)


# -- arithmetic edges -------------------------------------------------------------------------


def test_int_min_lanes():
    x = (1 << 31, 5, (1 << 32) - 5, 0)
    assert unop("ineg", "i32x4", x) == (1 << 31, (1 << 32) - 5, 5, 0)
    assert unop("iabs", "i32x4", x) == (1 << 31, 5, 5, 0)
    assert binop("imul", "i32x4", x, (2, 3, 4, 5)) == (0, 15, (1 << 32) - 20, 0)
    assert binop("smulhi", "i16x8", u([-32768] * 8, 16), u([-32768, 32767, 1, -1, 0, 2, -2, 3], 16)) == u(
        [16384, -16384, -1, 0, 0, -1, 1, -2], 16)
    assert binop("umulhi", "i64x2", (M64, 1 << 63), (M64, 2)) == (M64 - 1, 1)


def test_icmp_lanes_are_all_ones_or_zero():
    x = u([-128, 127, 0, -1, 5, 5, 1, -2] * 2, 8)
    y = u([127, -128, -1, 0, 5, 6, -1, -2] * 2, 8)
    expect = {
        "eq": [0, 0, 0, 0, 1, 0, 0, 1], "ne": [1, 1, 1, 1, 0, 1, 1, 0],
        "slt": [1, 0, 0, 1, 0, 1, 0, 0], "sle": [1, 0, 0, 1, 1, 1, 0, 1],
        "sgt": [0, 1, 1, 0, 0, 0, 1, 0], "sge": [0, 1, 1, 0, 1, 0, 1, 1],
        "ult": [0, 1, 1, 0, 0, 1, 1, 0], "ule": [0, 1, 1, 0, 1, 1, 1, 1],
        "ugt": [1, 0, 0, 1, 0, 0, 0, 0], "uge": [1, 0, 0, 1, 1, 0, 0, 1],
    }  # fmt: skip
    for cond, bits in expect.items():
        got = call("i8x16, i8x16", "i8x16", f"v2 = icmp {cond} v0, v1\nreturn v2", x, y)
        assert got == tuple(M8 if b else 0 for b in bits * 2), cond
    assert call("i64x2, i64x2", "i64x2", "v2 = icmp slt v0, v1\nreturn v2", (1 << 63, 0), (0, 1 << 63)) == (M64, 0)


def test_min_max_signed_and_unsigned():
    x, y = u([-1, 3, -128, 0], 8), u([1, -3, 127, 0], 8)
    assert binop("smin", "i8x4", x, y) == u([-1, -3, -128, 0], 8)
    assert binop("smax", "i8x4", x, y) == u([1, 3, 127, 0], 8)
    assert binop("umin", "i8x4", x, y) == u([1, 3, 127, 0], 8)
    assert binop("umax", "i8x4", x, y) == u([-1, -3, -128, 0], 8)


def test_popcnt():
    assert unop("popcnt", "i8x16", tuple(range(16))) == tuple(bin(i).count("1") for i in range(16))
    assert unop("popcnt", "i64x2", (M64, 1 << 63)) == (64, 1)


# -- bitwise ops on float vectors, select, bitselect -------------------------------------------

NAN32 = 0x7FC00001  # a quiet NaN with payload
SNAN32 = 0xFF800001  # a negative signalling NaN


def test_bitwise_ops_on_float_lanes_keep_nan_bits():
    x = (NAN32, SNAN32, 0x3F800000, 0x80000000)
    ones = (M32,) * 4
    assert binop("band", "f32x4", x, ones) == x
    assert binop("bor", "f32x4", x, (0,) * 4) == x
    assert binop("bxor", "f32x4", x, (0,) * 4) == x
    assert unop("bnot", "f32x4", unop("bnot", "f32x4", x)) == x
    assert unop("bnot", "f32x4", x) == tuple(v ^ M32 for v in x)
    assert binop("band_not", "f32x4", x, (0x80000000,) * 4) == tuple(v & 0x7FFFFFFF for v in x)
    assert binop("bor_not", "f64x2", (0, 1), (M64, M64 - 1)) == (0, 1)
    assert binop("bxor_not", "f64x2", (0x7FF8000000000001, 0), (M64, M64)) == (0x7FF8000000000001, 0)


def test_select_and_bitselect():
    body = "v3 = select v0, v1, v2\nreturn v3"
    a, b = (NAN32, 1, 2, 3), (4, 5, 6, SNAN32)
    assert call("i8, f32x4, f32x4", "f32x4", body, 1, a, b) == a
    assert call("i8, f32x4, f32x4", "f32x4", body, 0, a, b) == b
    c = (M32, 0, 0xFFFF0000, 0x0000FFFF)
    x, y = (0x11111111,) * 4, (0x22222222,) * 4
    want = (0x11111111, 0x22222222, 0x11112222, 0x22221111)
    assert call("i32x4, i32x4, i32x4", "i32x4", "v3 = bitselect v0, v1, v2\nreturn v3", c, x, y) == want
    got = call("f32x4, f32x4, f32x4", "f32x4", "v3 = bitselect v0, v1, v2\nreturn v3", c, (NAN32,) * 4, (SNAN32,) * 4)
    assert got == (NAN32, SNAN32, (NAN32 & 0xFFFF0000) | (SNAN32 & 0xFFFF), (SNAN32 & 0xFFFF0000) | (NAN32 & 0xFFFF))
    # x86_blendv looks only at the top bit of each lane of c.
    c = (0x80, 0x7F, 0xFF, 0x00) * 4
    got = call("i8x16, i8x16, i8x16", "i8x16", "v3 = x86_blendv v0, v1, v2\nreturn v3", c, (1,) * 16, (2,) * 16)
    assert got == (1, 2, 1, 2) * 4
    got = call("i32x4, i32x4, i32x4", "i32x4", "v3 = x86_blendv v0, v1, v2\nreturn v3", (1 << 31, M32 >> 1, M32, 0),
               (7,) * 4, (9,) * 4)
    assert got == (7, 9, 7, 9)
    assert call("i64, i64, i64", "i64", "v3 = x86_blendv v0, v1, v2\nreturn v3", 1 << 63, 1, 2) == 1


# -- saturating, rounding, fixed point ---------------------------------------------------------


def _sat_reference(op, a, b, w):
    lo, hi = (-(1 << (w - 1)), (1 << (w - 1)) - 1) if op[0] == "s" else (0, (1 << w) - 1)
    if op[0] == "s":
        a, b = s([a], w)[0], s([b], w)[0]
    r = a + b if "add" in op else a - b
    return max(lo, min(hi, r)) & ((1 << w) - 1)


@pytest.mark.parametrize("op", ["uadd_sat", "sadd_sat", "usub_sat", "ssub_sat"])
def test_saturating_i8_exhaustive(op):
    ys = tuple(range(256))
    for base in range(0, 256, 16):
        for a in range(256):
            x = (a,) * 16
            y = ys[base : base + 16]
            got = binop(op, "i8x16", x, y)
            assert got == tuple(_sat_reference(op, a, b, 8) for b in y), (op, a, base)


@pytest.mark.parametrize("tyname", ["i16x8", "i32x4", "i64x2", "i8x8", "i16x4"])
@pytest.mark.parametrize("op", ["uadd_sat", "sadd_sat", "usub_sat", "ssub_sat", "avg_round"])
def test_saturating_wider(op, tyname):
    t = parse_type(tyname)
    w = t.lane_bits
    rng = random.Random(op + tyname)
    for x in lanes_for(t, rng, 3):
        for y in lanes_for(t, rng, 3):
            got = binop(op, tyname, x, y)
            if op == "avg_round":
                want = tuple((a + b + 1) >> 1 for a, b in zip(x, y))
            else:
                want = tuple(_sat_reference(op, a, b, w) for a, b in zip(x, y))
            assert got == want


def test_saturation_boundaries():
    assert binop("sadd_sat", "i16x8", u([32767, -32768, 32766, -32767, 1, -1, 0, 100], 16),
                 u([1, -1, 1, -1, -1, 1, 0, 32767], 16)) == u([32767, -32768, 32767, -32768, 0, 0, 0, 32767], 16)
    assert binop("ssub_sat", "i16x8", u([-32768, 32767, 0, 0, -1, 5, -32767, 1], 16),
                 u([1, -1, -32768, 32767, 32767, 5, 1, -32767], 16)) == u(
        [-32768, 32767, 32767, -32767, -32768, 0, -32768, 32767], 16)
    assert binop("uadd_sat", "i32x4", (M32, M32 - 1, 0, 5), (1, 1, M32, 6)) == (M32, M32, M32, 11)
    assert binop("usub_sat", "i64x2", (0, 5), (1, 3)) == (0, 2)
    assert binop("avg_round", "i8x16", (M8,) * 16, (M8,) * 16) == (M8,) * 16  # no overflow
    assert binop("avg_round", "i8x16", (0, 1) * 8, (1, 2) * 8) == (1, 2) * 8


def _qmul(a, b, w, saturate):
    r = (a * b + (1 << (w - 2))) >> (w - 1)
    if saturate:
        r = max(-(1 << (w - 1)), min((1 << (w - 1)) - 1, r))
    return r & ((1 << w) - 1)


@pytest.mark.parametrize("tyname", ["i16x8", "i32x4", "i16x4"])
@pytest.mark.parametrize("op", ["sqmul_round_sat", "x86_pmulhrsw"])
def test_fixed_point_multiply(op, tyname):
    t = parse_type(tyname)
    w = t.lane_bits
    rng = random.Random(op + tyname)
    for x in lanes_for(t, rng, 3):
        for y in lanes_for(t, rng, 3):
            want = tuple(_qmul(a, b, w, op == "sqmul_round_sat") for a, b in zip(s(x, w), s(y, w)))
            assert binop(op, tyname, x, y) == want
    int_min = (1 << (w - 1),) * t.lanes
    # INT_MIN * INT_MIN: saturates to INT_MAX, or (pmulhrsw) wraps to INT_MIN.
    assert binop("sqmul_round_sat", tyname, int_min, int_min) == ((1 << (w - 1)) - 1,) * t.lanes
    assert binop("x86_pmulhrsw", tyname, int_min, int_min) == int_min


def test_sqmul_round_sat_examples():
    # From the instruction's Q15 definition: 0.5 * 0.5 = 0.25, -1 * 0.5 = -0.5, rounding half up.
    got = binop("sqmul_round_sat", "i16x8", u([16384, -32768, 1, -1, 32767, 3, 0, -32768], 16),
                u([16384, 16384, 16384, 16384, 32767, 16384, 5, -32767], 16))
    assert got == u([8192, -16384, 1, 0, 32766, 2, 0, 32767], 16)


def test_iadd_pairwise():
    x, y = tuple(range(8)), tuple(range(100, 108))
    assert binop("iadd_pairwise", "i16x8", x, y) == (1, 5, 9, 13, 201, 205, 209, 213)
    assert binop("iadd_pairwise", "i8x16", (M8,) * 16, (1,) * 16) == (M8 - 1,) * 8 + (2,) * 8
    assert binop("iadd_pairwise", "i32x4", (M32, 2, 3, 4), (5, 6, 7, 8)) == (1, 7, 11, 15)
    assert binop("iadd_pairwise", "i16x4", (1, 2, 3, 4), (5, 6, 7, 8)) == (3, 7, 11, 15)


def test_x86_pmaddubsw():
    # x signed bytes, y unsigned bytes; adjacent products added with i16 saturation.
    x = u([127, 127, -128, -128, 1, -1, 2, 3] + [0] * 8, 8)
    y = (255, 255, 255, 255, 200, 200, 7, 11) + (9,) * 8
    got = call("i8x16, i8x16", "i16x8", "v2 = x86_pmaddubsw v0, v1\nreturn v2", x, y)
    assert got == u([32767, -32768, 0, 14 + 33, 0, 0, 0, 0], 16)


# -- reductions -------------------------------------------------------------------------------


def test_any_all_true():
    for ty, n in (("i8x16", 16), ("i32x4", 4), ("i64x2", 2), ("i16x4", 4), ("f32x4", 4), ("f64x2", 2)):
        zero = (0,) * n
        one_lane = (0,) * (n - 1) + (1,)
        full = (1,) * n
        assert unop("vany_true", ty, zero, "i8") == 0
        assert unop("vany_true", ty, one_lane, "i8") == 1
        assert unop("vall_true", ty, one_lane, "i8") == 0
        assert unop("vall_true", ty, full, "i8") == 1
    # -0.0 lanes are non-zero bit patterns.
    assert unop("vall_true", "f32x4", (0x80000000,) * 4, "i8") == 1


def test_vhigh_bits():
    x = u([-1, 1, -128, 127] * 4, 8)
    assert unop("vhigh_bits.i16", "i8x16", x, "i16") == 0b0101010101010101
    assert unop("vhigh_bits.i8", "i8x16", x, "i8") == 0b01010101  # truncated to the result type
    assert unop("vhigh_bits.i64", "i8x16", x, "i64") == 0b0101010101010101
    assert unop("vhigh_bits.i8", "i64x2", (1 << 63, 5), "i8") == 1
    assert unop("vhigh_bits.i32", "f32x4", (0x80000000, 0x3F800000, SNAN32, NAN32), "i32") == 0b0101
    assert unop("vhigh_bits.i8", "i16x8", (0x8000,) * 8, "i8") == 0xFF


# -- narrowing and widening -------------------------------------------------------------------


def test_narrowing_saturates():
    x = u([32767, -32768, 128, -129, 127, -128, 255, 256], 16)
    y = u([0, 1, -1, 2, 3, 4, 5, 6], 16)
    body = "v2 = {} v0, v1\nreturn v2"
    assert call("i16x8, i16x8", "i8x16", body.format("snarrow"), x, y) == u(
        [127, -128, 127, -128, 127, -128, 127, 127, 0, 1, -1, 2, 3, 4, 5, 6], 8)
    assert call("i16x8, i16x8", "i8x16", body.format("unarrow"), x, y) == (
        255, 0, 128, 0, 127, 0, 255, 255, 0, 1, 0, 2, 3, 4, 5, 6)
    assert call("i16x8, i16x8", "i8x16", body.format("uunarrow"), x, y) == (
        255, 255, 128, 255, 127, 255, 255, 255, 0, 1, 255, 2, 3, 4, 5, 6)
    x64 = u([1 << 40, -(1 << 40)], 64)
    want = u([0x7FFFFFFF, -(1 << 31), 5, -1], 32)
    assert call("i64x2, i64x2", "i32x4", body.format("snarrow"), x64, (5, M64)) == want
    assert call("i64x2, i64x2", "i32x4", body.format("uunarrow"), x64, (5, M64)) == (M32, M32, 5, M32)
    assert call("i32x4, i32x4", "i16x8", body.format("unarrow"), u([70000, -5, 65535, 3], 32), (0,) * 4) == (
        M16, 0, M16, 3, 0, 0, 0, 0)


def test_widening():
    x = u([-1, 2, -128, 127, 5, -6, 7, -8], 8) + (0,) * 8
    assert unop("swiden_low", "i8x16", x, "i16x8") == u([-1, 2, -128, 127, 5, -6, 7, -8], 16)
    assert unop("uwiden_low", "i8x16", x, "i16x8") == (255, 2, 128, 127, 5, 250, 7, 248)
    assert unop("swiden_high", "i8x16", tuple(reversed(x)), "i16x8") == u([-8, 7, -6, 5, 127, -128, 2, -1], 16)
    assert unop("uwiden_high", "i32x4", (1, 2, M32, 1 << 31), "i64x2") == (M32, 1 << 31)
    assert unop("swiden_high", "i32x4", (1, 2, M32, 1 << 31), "i64x2") == (M64, (1 << 64) - (1 << 31))
    assert unop("swiden_low", "i16x4", u([-2, 3, 4, 5], 16), "i32x2") == (M32 - 1, 3)


# -- lane access -------------------------------------------------------------------------------


def test_splat_insert_extract():
    assert unop("splat.i8x16", "i8", 0x85, "i8x16") == (0x85,) * 16
    assert unop("splat.f64x2", "f64", 0x7FF8000000000001, "f64x2") == (0x7FF8000000000001,) * 2
    assert unop("scalar_to_vector.f32x4", "f32", NAN32, "f32x4") == (NAN32, 0, 0, 0)
    assert unop("scalar_to_vector.i64x2", "i64", 7, "i64x2") == (7, 0)
    for n, ty, lane in ((16, "i8x16", "i8"), (4, "f32x4", "f32"), (8, "i16x8", "i16"), (2, "i32x2", "i32")):
        vec = tuple(range(10, 10 + n))
        for i in range(n):
            assert call(ty, lane, f"v1 = extractlane v0, {i}\nreturn v1", vec) == 10 + i
            got = call(f"{ty}, {lane}", ty, f"v2 = insertlane v0, v1, {i}\nreturn v2", vec, 99)
            assert got == vec[:i] + (99,) + vec[i + 1 :]


def test_bad_lane_index_is_unsupported():
    with pytest.raises(Unsupported):
        call("i32x4", "i32", "v1 = extractlane v0, 4\nreturn v1", (1, 2, 3, 4))


def test_shuffle_selects_from_both_operands():
    a, b = tuple(range(16)), tuple(range(100, 116))
    body = "v2 = shuffle v0, v1, [0 16 1 17 15 31 30 14 8 8 24 24 3 19 2 18]\nreturn v2"
    assert call("i8x16, i8x16", "i8x16", body, a, b) == (
        0, 100, 1, 101, 15, 115, 114, 14, 8, 8, 108, 108, 3, 103, 2, 102)
    rev = "v2 = shuffle v0, v1, 0x000102030405060708090a0b0c0d0e0f\nreturn v2"  # lane 0 is the low byte
    assert call("i8x16, i8x16", "i8x16", rev, a, b) == tuple(reversed(a))


def test_swizzle_and_pshufb():
    x = tuple(range(100, 116))
    idx = (0, 15, 16, 255, 128, 143, 17, 31, 1, 2, 3, 4, 5, 6, 7, 8)
    assert binop("swizzle", "i8x16", x, idx) == (100, 115, 0, 0, 0, 0, 0, 0, 101, 102, 103, 104, 105, 106, 107, 108)
    # pshufb: indices below 128 are taken modulo 16, with the top bit set the lane is 0.
    assert binop("x86_pshufb", "i8x16", x, idx) == (100, 115, 100, 0, 0, 0, 101, 115, 101, 102, 103, 104, 105, 106,
                                                      107, 108)


def test_vconst_forms():
    assert call("", "i32x4", "v0 = vconst.i32x4 [1 -1 0x7fffffff 4]\nreturn v0") == (1, M32, 0x7FFFFFFF, 4)
    assert call("", "i8x16", "v0 = vconst.i8x16 0x0f0e0d0c0b0a09080706050403020100\nreturn v0") == tuple(range(16))
    assert call("", "i16x4", "v0 = vconst.i16x4 0x0004000300020001\nreturn v0") == (1, 2, 3, 4)
    assert call("", "f32x4", "v0 = vconst.f32x4 [0x1.0 -0x0.0 0x0.0 0x1.0p1]\nreturn v0") == (
        0x3F800000, 0x80000000, 0, 0x40000000)
    got = call("", "i64x2", "v0 = vconst.i64x2 const0\nreturn v0",
               preamble="    const0 = 0x00000000000000020000000000000001")
    assert got == (1, 2)


# -- bitcast -----------------------------------------------------------------------------------


def test_scalar_bitcasts_keep_the_bits():
    assert unop("bitcast.f32", "i32", 0x7FC00001, "f32") == 0x7FC00001
    assert unop("bitcast.i32", "f32", SNAN32, "i32") == SNAN32
    assert unop("bitcast.i64", "f64", 0xFFF8000000000001, "i64") == 0xFFF8000000000001
    assert unop("bitcast.f16", "i16", 0x7E01, "f16") == 0x7E01
    assert unop("bitcast.i128", "f128", (1 << 128) - 1, "i128") == (1 << 128) - 1
    assert unop("bitcast.i64 big", "f64", 0x0102030405060708, "i64") == 0x0102030405060708


def test_same_layout_vector_bitcasts_keep_the_lanes():
    x = (NAN32, SNAN32, 1, 0x80000000)
    assert unop("bitcast.f32x4", "i32x4", x, "f32x4") == x
    assert unop("bitcast.i32x4 big", "f32x4", x, "i32x4") == x


def test_bitcasts_between_lane_layouts_follow_the_byte_order():
    v = (0x0000000100000002, 0x0000000300000004)
    assert unop("bitcast.i32x4 little", "i64x2", v, "i32x4") == (2, 1, 4, 3)
    assert unop("bitcast.i32x4 big", "i64x2", v, "i32x4") == (1, 2, 3, 4)
    assert unop("bitcast.i64x2 little", "i32x4", (2, 1, 4, 3), "i64x2") == v
    assert unop("bitcast.i64x2 big", "i32x4", (1, 2, 3, 4), "i64x2") == v
    assert unop("bitcast.i8x2 little", "i16", 0xC0FE, "i8x2") == (0xFE, 0xC0)
    assert unop("bitcast.i8x2 big", "i16", 0xC0FE, "i8x2") == (0xC0, 0xFE)
    assert unop("bitcast.i32x2 little", "f64", 0x00C0FFEE0000BEEF, "i32x2") == (0xBEEF, 0xC0FFEE)
    big = 0x000102030405060708090A0B0C0D0E0F
    assert unop("bitcast.i8x16 little", "i128", big, "i8x16") == tuple(range(15, -1, -1))
    assert unop("bitcast.i8x16 big", "i128", big, "i8x16") == tuple(range(16))
    assert unop("bitcast.i64x2 big", "i128", big, "i64x2") == (0x0001020304050607, 0x08090A0B0C0D0E0F)
    assert unop("bitcast.i128 little", "i64x2", (1, 2), "i128") == (2 << 64) | 1


@pytest.mark.parametrize("order", ["little", "big"])
def test_bitcasts_match_a_store_and_a_load(order):
    """Every pair of 128-bit types, against struct's layout of lanes in memory."""
    e = "<" if order == "little" else ">"
    codes = {8: "B", 16: "H", 32: "I", 64: "Q"}
    names = ["i8x16", "i16x8", "i32x4", "i64x2", "f32x4", "f64x2", "i128"]
    rng = random.Random(order)
    for src in names:
        for dst in names:
            ts, td = parse_type(src), parse_type(dst)
            x = tuple(rng.getrandbits(ts.lane_bits) for _ in range(ts.lanes))
            if ts.is_vector:
                raw = struct.pack(f"{e}{ts.lanes}{codes[ts.lane_bits]}", *x)
            else:
                raw = x[0].to_bytes(16, "little" if order == "little" else "big")
            if td.is_vector:
                want = struct.unpack(f"{e}{td.lanes}{codes[td.lane_bits]}", raw)
            else:
                want = int.from_bytes(raw, "little" if order == "little" else "big")
            arg = x if ts.is_vector else x[0]
            assert unop(f"bitcast.{dst} {order}", src, arg, dst) == want, (src, dst, order)


def test_bitcast_round_trip_through_bytes():
    x = (0x1234, 0xFFFF, 0x8000, 1, 2, 3, 4, 5)
    body = "v1 = bitcast.i8x16 little v0\nv2 = bitcast.i16x8 little v1\nreturn v1, v2"
    as_bytes, back = call("i16x8", "i8x16, i16x8", body, x)
    assert as_bytes[:4] == (0x34, 0x12, 0xFF, 0xFF)
    assert back == x


# -- dynamic vectors ---------------------------------------------------------------------------

DYN = """
function %dyn(i16, i16) -> i32x4, i8x16, i16x8 {
  gv0 = dyn_scale_target_const.i16x8
  dt0 = i16x8*gv0

block0(v0: i16, v1: i16):
  v2 = splat.dt0 v0
  v3 = splat.dt0 v1
  v4 = iadd v2, v3
  v5 = swiden_low v4
  v6 = extract_vector v5, 0
  v7 = snarrow v2, v3
  v8 = extract_vector v7, 0
  v9 = extract_vector v4, 0
  return v6, v8, v9
}
"""


def test_dynamic_vectors():
    interp = Interpreter([d.function for d in parse_text(DYN).functions])
    wide, narrow, summed = interp.call("%dyn", [300, 0xFFFF])
    assert wide == (299,) * 4
    assert narrow == (127,) * 8 + (M8,) * 8
    assert summed == (299,) * 8


# -- code generation --------------------------------------------------------------------------


LOOPED = """
function %t(i32x4, i32x4, i32) -> i32x4 {
block0(v0: i32x4, v1: i32x4, v3: i32):
    jump block1(v0, v3)
block1(v4: i32x4, v5: i32):
    v2 = OP v4, v1
    v6 = iadd_imm v5, -1
    brif v6, block1(v2, v6), block2
block2:
    return v2
}
"""


def test_small_lanewise_ops_are_inlined_in_loops():
    interp = _interp(LOOPED.replace("OP", "iadd"))
    assert "v2 = ((v4[0] + v1[0]) & 0xffffffff)" in interp.compile("%t")
    assert interp.call("%t", [(1, 2, 3, 0xFFFFFFFF), (1, 1, 1, 1), 3]) == [(4, 5, 6, 2)]
    src = _interp(LOOPED.replace("OP", "sadd_sat").replace("i32x4", "i8x16")).compile("%t")
    assert "v2 = _saddsat" in src  # needs a scratch name: a compiled, shared callable


def test_straight_line_lanewise_ops_call_one_shared_function():
    # Code that runs once per call is compiled short: a long template becomes a call of a
    # function compiled once from it and shared by every function using the same template.
    body = "v2 = iadd v0, v1\nreturn v2"
    src = source_of("i32x4, i32x4", "i32x4", body)
    assert "v0[0]" not in src and "return _iadd" in src  # (v2, read once, is folded into the return)
    assert call("i32x4, i32x4", "i32x4", body, (1, 2, 3, 0xFFFFFFFF), (1, 1, 1, 1)) == (2, 3, 4, 0)
    fns = []
    for _ in range(2):
        interp = _interp("function %t(i32x4, i32x4) -> i32x4 {\nblock0(v0: i32x4, v1: i32x4):\n"
                         "    v2 = iadd v0, v1\n    return v2\n}\n")
        name = interp.compile("%t").split("return ")[1].split("(")[0]
        fns.append(interp.ns[name])
    assert fns[0] is fns[1]


def test_code_generation_paths_agree():
    # Inline template, compiled unrolled callable, and mapped lane function give the same lanes.
    lane = "(({0} + {1}) & 0xff)"
    x, y = tuple(range(250, 256)) + (0, 1), (7,) * 8
    want = tuple((a + b) & 0xFF for a, b in zip(x, y))
    inline = lanewise(lane, 8, "vv")  # (8 lanes: within INLINE_LANES)
    assert isinstance(inline, str) and compiled(inline, 2)(x, y) == want
    assert lanewise(lane, 8, "vs")  # the scalar operand is not indexed
    assert compiled(lanewise(lane, 8, "vs"), 2)(x, 7) == want
    mapped = lanewise(lane, vector_ops.UNROLL_LANES + 16, "vs")
    assert callable(mapped) and mapped(x, 7) == want
    assert lanewise(lambda a, b: (a + b) & 0xFF, 8, "vv")(x, y) == want
    sat = lanewise(vector_ops._sat_template("sadd_sat", 8), 2, "vv")
    assert callable(sat)  # needs a scratch name: never inlined
    assert sat((0x7F, 0x80), (1, 0xFF)) == (0x7F, 0x80)


def test_bitcast_template_shapes():
    i64x2, i32x4, i128 = parse_type("i64x2"), parse_type("i32x4"), parse_type("i128")
    assert bitcast_template(i32x4, parse_type("f32x4"), True) == "({0})"
    assert compiled(bitcast_template(i64x2, i32x4, False), 1)(((2 << 32) | 1, 3)) == (1, 2, 3, 0)
    assert compiled(bitcast_template(i64x2, i128, True), 1)((1, 2)) == (1 << 64) | 2


def test_wide_vectors_use_the_mapped_paths():
    # 32 lanes: past UNROLL_LANES, so lane functions are mapped and insertlane slices.
    x = tuple(range(224, 256))
    body = """
    v2 = iadd v0, v0
    v3 = insertlane v2, v1, 30
    v4 = ishl_imm v3, 1
    return v4
    """
    got = call("i8x32, i8", "i8x32", body, x, 0x81)
    want = [(2 * a) & 0xFF for a in x]
    want[30] = 0x81
    assert got == tuple((a << 1) & 0xFF for a in want)


def test_extractlane_folds_into_its_one_use():
    body = "v1 = extractlane v0, 1\nv2 = iadd_imm v1, 1\nreturn v2"
    src = source_of("i32x4", "i32", body)
    assert "v0[1]" in src and "v1 =" not in src
    assert call("i32x4", "i32", body, (1, 0xFFFFFFFF, 3, 4)) == 0
