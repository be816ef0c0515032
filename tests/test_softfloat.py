"""Unit tests of clifkit.interpreter.softfloat against independent references.

The reference here shares nothing with the implementation: a float's value is
a Fraction, an exact result is computed with Fractions, and it is rounded by a
binary search over the (monotonic) positive bit patterns with an explicit
ties-to-even rule.  f32/f64 results are also cross-checked against Python's
own binary64 arithmetic where that is exact.
"""

from __future__ import annotations

import math
import random
import struct
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clifkit.interpreter import softfloat as sf
from clifkit.interpreter.registry import Trap
from clifkit.interpreter.softfloat import F16, F32, F64, F128, FORMATS

FMTS = [F16, F32, F64, F128]
FMT_IDS = [f.name for f in FMTS]


# ---------------------------------------------------------------------------
# The independent reference
# ---------------------------------------------------------------------------


def value(fmt, x):
    """Fraction value of a finite float, or "nan" / "inf" / "-inf"."""
    mag = x & fmt.magmask
    negative = bool(x & fmt.sign)
    if mag > fmt.inf:
        return "nan"
    if mag == fmt.inf:
        return "-inf" if negative else "inf"
    e, f = mag >> fmt.mbits, mag & fmt.fracmask
    if e == 0:
        v = Fraction(f, 1 << fmt.mbits) * Fraction(2) ** (1 - fmt.bias)
    else:
        v = Fraction((1 << fmt.mbits) + f, 1 << fmt.mbits) * Fraction(2) ** (e - fmt.bias)
    return -v if negative else v


def _pos_value(fmt, pattern):
    if pattern == fmt.inf:  # stands in for the next power of two, for the overflow midpoint
        return Fraction(2) ** (fmt.bias + 1)
    return value(fmt, pattern)


def nearest_ref(fmt, v, negative_zero=False):
    """Bits of the float nearest to Fraction v, ties to even, overflow to Inf."""
    if v == 0:
        return fmt.sign if negative_zero else 0
    negative = v < 0
    a = -v if negative else v
    lo, hi = 0, fmt.inf
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _pos_value(fmt, mid) <= a:
            lo = mid
        else:
            hi = mid - 1
    r = lo
    if r < fmt.inf and _pos_value(fmt, r) != a:
        halfway = (_pos_value(fmt, r) + _pos_value(fmt, r + 1)) / 2
        if a > halfway or (a == halfway and r & 1):
            r += 1
    return (fmt.sign | r) if negative else r


def inf_bits(fmt, negative=False):
    return (fmt.sign | fmt.inf) if negative else fmt.inf


def ref_add(fmt, a, b):
    va, vb = value(fmt, a), value(fmt, b)
    if "nan" in (va, vb):
        return fmt.nan
    if isinstance(va, str) or isinstance(vb, str):
        if isinstance(va, str) and isinstance(vb, str):
            return a if va == vb else fmt.nan
        return a if isinstance(va, str) else b
    s = va + vb
    if s == 0:
        both_neg = bool(a & b & fmt.sign) and va == 0 and vb == 0
        return fmt.sign if both_neg else 0
    return nearest_ref(fmt, s)


def ref_mul(fmt, a, b):
    va, vb = value(fmt, a), value(fmt, b)
    neg = bool((a ^ b) & fmt.sign)
    if "nan" in (va, vb):
        return fmt.nan
    if isinstance(va, str) or isinstance(vb, str):
        if va == 0 or vb == 0:
            return fmt.nan
        return inf_bits(fmt, neg)
    return nearest_ref(fmt, va * vb, neg)


def ref_div(fmt, a, b):
    va, vb = value(fmt, a), value(fmt, b)
    neg = bool((a ^ b) & fmt.sign)
    if "nan" in (va, vb):
        return fmt.nan
    if isinstance(va, str):
        return fmt.nan if isinstance(vb, str) else inf_bits(fmt, neg)
    if isinstance(vb, str):
        return fmt.sign if neg else 0
    if vb == 0:
        return fmt.nan if va == 0 else inf_bits(fmt, neg)
    return nearest_ref(fmt, va / vb, neg)


def ref_sqrt(fmt, a):
    va = value(fmt, a)
    if va == "nan" or va == "-inf":
        return fmt.nan
    if va == "inf" or va == 0:
        return a
    if va < 0:
        return fmt.nan
    # largest pattern r with value(r)**2 <= va, then decide against the midpoint squared
    lo, hi = 0, fmt.inf - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if value(fmt, mid) ** 2 <= va:
            lo = mid
        else:
            hi = mid - 1
    r = lo
    if value(fmt, r) ** 2 != va:
        halfway = (value(fmt, r) + _pos_value(fmt, r + 1)) / 2
        if va > halfway**2 or (va == halfway**2 and r & 1):
            r += 1
    return r


def ref_fma(fmt, a, b, c):
    va, vb, vc = value(fmt, a), value(fmt, b), value(fmt, c)
    if "nan" in (va, vb, vc):
        return fmt.nan
    prod_neg = bool((a ^ b) & fmt.sign)
    if isinstance(va, str) or isinstance(vb, str):
        if va == 0 or vb == 0:
            return fmt.nan
        if isinstance(vc, str) and (vc == "-inf") != prod_neg:
            return fmt.nan
        return inf_bits(fmt, prod_neg)
    if isinstance(vc, str):
        return c
    s = va * vb + vc
    if s == 0:
        both_neg = va * vb == 0 and vc == 0 and prod_neg and bool(c & fmt.sign)
        return fmt.sign if both_neg else 0
    return nearest_ref(fmt, s)


def ref_compare(fmt, cond, a, b):
    va, vb = value(fmt, a), value(fmt, b)
    if "nan" in (va, vb):
        return cond in ("uno", "ne", "ueq", "ult", "ule", "ugt", "uge")

    def num(v):
        return {"inf": Fraction(10) ** 6000, "-inf": -(Fraction(10) ** 6000)}.get(v, v) if isinstance(v, str) else v

    x, y = num(va), num(vb)
    return {
        "ord": True, "uno": False, "eq": x == y, "ne": x != y, "one": x != y, "ueq": x == y,
        "lt": x < y, "le": x <= y, "gt": x > y, "ge": x >= y,
        "ult": x < y, "ule": x <= y, "ugt": x > y, "uge": x >= y,
    }[cond]  # fmt: skip


# ---------------------------------------------------------------------------
# Strategies: raw patterns, with edge values and near-cancellation mixed in
# ---------------------------------------------------------------------------


def edge_values(fmt):
    s = fmt.sign
    vals = [
        0, 1, 2, 3, fmt.hidden - 1, fmt.hidden, fmt.hidden + 1,  # zero, subnormals, min normal
        fmt.one, fmt.one + 1, fmt.one - 1, fmt.half, fmt.half + 1,  # 1, 1+ulp, 1-ulp/2, 0.5
        fmt.max_finite, fmt.max_finite - 1, fmt.inf,  # max finite, Inf
        fmt.nan, fmt.nan | 1, fmt.inf | 1, fmt.inf | (fmt.qbit >> 1),  # quiet NaNs and sNaNs
        (fmt.bias + fmt.mbits) << fmt.mbits, ((fmt.bias + fmt.mbits) << fmt.mbits) - 1,  # 2**mbits
    ]
    return sorted(set(vals + [v | s for v in vals]))


def floats(fmt):
    raw = st.integers(0, (1 << fmt.bits) - 1)
    return st.one_of(raw, raw, st.sampled_from(edge_values(fmt)))


def finite(fmt):
    return st.integers(0, fmt.max_finite).flatmap(lambda m: st.sampled_from([m, m | fmt.sign]))


def pairs(fmt):
    """Pairs biased toward equal and adjacent exponents (cancellation, ties)."""
    near = st.tuples(floats(fmt), st.integers(-3, 3), st.booleans()).map(
        lambda t: (t[0], ((t[0] + t[1]) & ((1 << fmt.bits) - 1)) ^ (fmt.sign if t[2] else 0))
    )
    return st.one_of(st.tuples(floats(fmt), floats(fmt)), near)


def d2b(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def b2d(b: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", b))[0]


def f2b(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


# ---------------------------------------------------------------------------
# Known values
# ---------------------------------------------------------------------------


def test_format_constants():
    assert (F32.nan, F64.nan, F16.nan) == (0x7FC00000, 0x7FF8000000000000, 0x7E00)
    assert F128.nan == 0x7FFF8 << 108
    assert F32.one == f2b(1.0) and F64.max_finite == d2b(1.7976931348623157e308)
    assert F16.max_finite == 0x7BFF and F128.bits == 128 and F128.prec == 113


def test_classify():
    assert sf.classify(F32, 0x80000000) == "zero"
    assert sf.classify(F32, 1) == "subnormal"
    assert sf.classify(F32, f2b(-2.5)) == "normal"
    assert sf.classify(F32, 0xFF800000) == "infinite"
    assert sf.classify(F32, 0x7FC00001) == "qnan"
    assert sf.classify(F32, 0xFF800001) == "snan"
    assert sf.is_snan(F64, 0x7FF0000000000001) and not sf.is_snan(F64, F64.nan)
    assert sf.is_nan(F128, F128.inf | 1) and not sf.is_nan(F128, F128.inf)


@pytest.mark.parametrize("fmt", FMTS, ids=FMT_IDS)
def test_sign_bit_ops_keep_payloads(fmt):
    snan = fmt.inf | 1
    assert sf.unary_fn("neg", fmt.bits)(snan) == fmt.sign | snan
    assert sf.unary_fn("abs", fmt.bits)(fmt.sign | snan) == snan
    assert sf.binary_fn("copysign", fmt.bits)(snan, fmt.sign) == fmt.sign | snan
    assert sf.copysign(fmt, fmt.one, fmt.sign | fmt.nan) == fmt.sign | fmt.one  # sign of a NaN is used
    assert sf.neg(fmt, 0) == fmt.sign and sf.abs_(fmt, fmt.sign) == 0


def test_known_f32_values():
    add = sf.binary_fn("add", 32)
    assert add(f2b(3.4028234663852886e38), f2b(3.4028234663852886e38)) == 0x7F800000  # overflow
    assert add(0x00400000, 0x80400001) == 0x80000001  # subnormal difference is exact
    assert add(0, 0x80000000) == 0 and add(0x80000000, 0x80000000) == 0x80000000
    assert add(f2b(1.0), f2b(-1.0)) == 0  # exact cancellation gives +0
    assert sf.binary_fn("mul", 32)(0x00800000, f2b(0.5)) == 0x00400000  # into subnormals
    assert sf.binary_fn("mul", 32)(1, f2b(0.5)) == 0  # ties to even: 2**-150 -> 0
    assert sf.binary_fn("mul", 32)(3, f2b(0.5)) == 2  # 1.5 ulp -> 2 (even)
    assert sf.binary_fn("div", 32)(f2b(1.0), 0x80000000) == 0xFF800000
    assert sf.binary_fn("div", 32)(0, 0) == F32.nan
    assert sf.unary_fn("sqrt", 32)(0x80000000) == 0x80000000
    assert sf.unary_fn("sqrt", 32)(f2b(-1.0)) == F32.nan
    assert sf.binary_fn("sub", 32)(0x7F800000, 0x7F800000) == F32.nan  # canonical, positive


def test_known_f16_values():
    assert sf.fma_fn(16)(0x4700, 0x4800, 0x4880) == 0x5410  # 7*8+9 = 65 (f16-fma.clif)
    assert sf.fma_fn(16)(0x4700, 0x4800, 0xC880) == 0x51E0  # 7*8-9 = 47 = 0x1.780p5
    assert sf.binary_fn("add", 16)(0x3D00, 0x4120) == 0x43A0  # 0x1.4 + 0x2.9 = 0x3.d
    assert sf.unary_fn("sqrt", 16)(0x4880) == 0x4200  # sqrt(9) = 3
    assert sf.binary_fn("add", 16)(0x7BFF, 0x5000) == 0x7C00  # 65504 + 32 -> Inf (tie to even)
    assert sf.binary_fn("add", 16)(0x7BFF, 0x4B00) == 0x7BFF  # 65504 + 14 -> 65504


def test_f32_fma_double_rounding_cases():
    # x*y = 2**-24 + t*2**-71 with 0 < t < 2**18: 1 + x*y lies just above the midpoint between
    # 1 and 1+2**-23, but rounds to exactly that midpoint in binary64, so naive
    # float(x*y + z) gives 1.0; the correct result is 1 + 2**-23.
    for mx, my in [(8390624, 16773185), (8390625, 16773183), (8390626, 16773181)]:
        a, b, c = f2b(math.ldexp(mx, -23)), f2b(math.ldexp(my, -48)), f2b(1.0)
        assert f2b(b2d(d2b(math.ldexp(mx, -23) * math.ldexp(my, -48) + 1.0))) == 0x3F800000
        assert sf.fma_fn(32)(a, b, c) == 0x3F800001
        assert sf.fma(F32, a, b, c) == 0x3F800001
        assert sf.fma_fn(32)(a ^ F32.sign, b, c ^ F32.sign) == 0xBF800001


def test_f64_fma_single_rounding():
    one_ulp = d2b(1.0 + 2.0**-52)
    # (1+2**-52)**2 - 1 = 2**-51 + 2**-104 exactly; fmul then fsub would lose 2**-104.
    assert sf.fma_fn(64)(one_ulp, one_ulp, d2b(-1.0)) == d2b(2.0**-51 + 2.0**-104)
    assert sf.fma_fn(64)(d2b(3.0), d2b(3.0), d2b(16.0)) == d2b(25.0)
    assert sf.fma_fn(64)(d2b(1e308), d2b(10.0), d2b(-1e308)) == F64.inf  # 9e308 overflows
    assert sf.fma_fn(64)(d2b(1.5e308), d2b(2.0), d2b(-1.5e308)) == d2b(1.5e308)  # no intermediate overflow
    assert sf.fma_fn(64)(d2b(1e308), d2b(10.0), d2b(-math.inf)) == d2b(-math.inf)
    assert sf.fma_fn(64)(d2b(math.inf), 0, d2b(1.0)) == F64.nan
    assert sf.fma_fn(64)(d2b(math.inf), d2b(1.0), d2b(-math.inf)) == F64.nan
    assert sf.fma_fn(64)(0x8000000000000000, d2b(1.0), 0x8000000000000000) == 0x8000000000000000
    assert sf.fma_fn(64)(0x8000000000000000, d2b(1.0), 0) == 0
    # Far-apart terms: a tiny product next to an exact addend leaves the addend.
    assert sf.fma_fn(64)(1, 1, d2b(1.0)) == d2b(1.0)
    assert sf.fma_fn(64)(1, 1, d2b(-1.0)) == d2b(-1.0)


def test_f64_fma_sticky_breaks_tie():
    # x*y = 1 + 2**-53 (a binary64 midpoint) exactly; a tiny z decides the direction.
    x = d2b(1.0 + 2.0**-52)
    y = d2b(1.0 - 2.0**-53)  # (1+2**-52)(1-2**-53) = 1 + 2**-53 - 2**-105
    below = sf.fma_fn(64)(x, y, 0)
    assert below == d2b(1.0)
    assert sf.fma_fn(64)(x, y, 1) == d2b(1.0)  # + 2**-1074 still below the midpoint
    assert sf.fma_fn(64)(x, y, d2b(2.0**-104)) == d2b(1.0 + 2.0**-52)  # above it
    assert sf.fma_fn(64)(x, y, d2b(2.0**-105)) == d2b(1.0)  # exactly the midpoint: even


def test_f128_known_values():
    one = F128.one
    three = sf.from_int(F128, 3, 32, False)
    third = sf.div(F128, one, three)
    assert third == 0x3FFD5555555555555555555555555555
    assert sf.sqrt(F128, sf.from_int(F128, 9, 32, False)) == three
    assert sf.sqrt(F128, sf.from_int(F128, 2, 32, False)) == 0x3FFF6A09E667F3BCC908B2FB1366EA95
    assert sf.mul(F128, F128.max_finite, sf.from_int(F128, 2, 8, False)) == F128.inf
    assert sf.mul(F128, 1, F128.half) == 0  # smallest subnormal / 2 -> 0 (tie to even)
    assert sf.add(F128, 1, 1) == 2
    assert sf.fma(F128, third, three, F128.sign | one) == F128.sign | 0x3F8D0000000000000000000000000000  # -2**-114


@pytest.mark.parametrize("fmt", FMTS, ids=FMT_IDS)
def test_fmin_fmax_rules(fmt):
    s = fmt.sign
    for fn in (sf.fmin, sf.fmax, sf.binary_fn("fmin", fmt.bits), sf.binary_fn("fmax", fmt.bits)):
        wrap = (lambda f: (lambda a, b: f(fmt, a, b))) if fn in (sf.fmin, sf.fmax) else (lambda f: f)
        f = wrap(fn)
        for nan in (fmt.nan, fmt.nan | s, fmt.inf | 1, fmt.inf | 1 | s):
            quiet = nan | fmt.qbit
            assert f(nan, fmt.one) == quiet and f(0, nan) == quiet and f(nan, nan) == quiet
        # Two NaNs: a signalling one first, else the first (aarch64 and s390x hardware).
        assert f(fmt.nan | 5, s | fmt.inf | 2) == s | fmt.nan | 2
        assert f(s | fmt.nan | 5, fmt.nan | 2) == s | fmt.nan | 5
    assert sf.fmin(fmt, 0, s) == s and sf.fmin(fmt, s, 0) == s
    assert sf.fmax(fmt, 0, s) == 0 and sf.fmax(fmt, s, 0) == 0
    assert sf.fmin(fmt, fmt.one, s | fmt.inf) == s | fmt.inf
    assert sf.fmax(fmt, s | fmt.one, 1) == 1


@pytest.mark.parametrize("fmt", FMTS, ids=FMT_IDS)
def test_rounding_known(fmt):
    def num(x):
        return sf.from_int(fmt, x & ((1 << 32) - 1), 32, True)

    half = fmt.half
    one_half = sf.add(fmt, fmt.one, half)  # 1.5
    two_half = sf.add(fmt, num(2), half)  # 2.5
    for mode, cases in {
        "nearest": [(half, 0), (half | fmt.sign, fmt.sign), (one_half, num(2)), (two_half, num(2)),
                    (two_half | fmt.sign, num(-2)), (half + 1, fmt.one)],
        "floor": [(half, 0), (half | fmt.sign, num(-1)), (one_half | fmt.sign, num(-2)), (1, 0)],
        "ceil": [(half, fmt.one), (half | fmt.sign, fmt.sign), (one_half, num(2)), (1 | fmt.sign, fmt.sign)],
        "trunc": [(two_half, num(2)), (two_half | fmt.sign, num(-2)), (half | fmt.sign, fmt.sign)],
    }.items():  # fmt: skip
        fast = sf.unary_fn(mode, fmt.bits)
        generic = getattr(sf, mode)
        for x, want in cases:
            assert fast(x) == want, (mode, hex(x))
            assert generic(fmt, x) == want, (mode, hex(x))
        for x in (0, fmt.sign, fmt.inf, fmt.inf | fmt.sign, fmt.max_finite):
            assert fast(x) == x and generic(fmt, x) == x
        assert fast(fmt.inf | 1) == fmt.nan and fast(fmt.nan | fmt.sign) == fmt.nan


def test_to_int_known():
    t = sf.to_int
    assert t(F32, f2b(-0.9), 32, False) == 0  # truncates to 0 first: in range
    assert t(F64, d2b(-1.5), 32, True) == 0xFFFFFFFF
    assert t(F32, f2b(-2147483648.0), 32, True) == 0x80000000
    with pytest.raises(Trap) as e:
        t(F32, f2b(2147483648.0), 32, True)
    assert e.value.code == "int_ovf"
    with pytest.raises(Trap) as e:
        t(F64, F64.nan | F64.sign, 8, False)
    assert e.value.code == "bad_toint"
    with pytest.raises(Trap):
        t(F32, f2b(-1.0), 64, False)
    assert t(F32, F32.nan, 16, True, saturate=True) == 0
    assert t(F32, F32.inf, 8, True, saturate=True) == 0x7F
    assert t(F32, F32.inf | F32.sign, 8, True, saturate=True) == 0x80
    assert t(F32, F32.inf | F32.sign, 8, False, saturate=True) == 0
    assert t(F32, f2b(3.4028234663852886e38), 128, False) == 0xFFFFFF00000000000000000000000000
    assert t(F128, F128.max_finite, 128, True, saturate=True) == (1 << 127) - 1


def test_from_int_known():
    assert sf.from_int_fn(32, 32, False)(0xFFFFFFFF) == f2b(4294967296.0)
    assert sf.from_int_fn(8, 32, False)(0xFF) == f2b(255.0)
    assert sf.from_int_fn(8, 32, True)(0xFF) == f2b(-1.0)
    assert sf.from_int_fn(64, 32, False)((1 << 64) - 1) == f2b(2.0**64)
    assert sf.from_int_fn(128, 16, False)((1 << 128) - 1) == F16.inf
    assert sf.from_int_fn(32, 16, True)(65520) == F16.inf  # tie between 65504 and 2**16 -> Inf
    assert sf.from_int_fn(32, 16, True)(65519) == F16.max_finite
    assert sf.from_int_fn(128, 128, True)(1 << 127) == F128.sign | (0x407E << 112)
    assert sf.from_int_fn(64, 64, True)((1 << 64) - 1) == d2b(-1.0)
    # 2**53 + 1 -> ties to even; 2**64 - 1 -> 2**64
    assert sf.from_int_fn(64, 64, False)((1 << 53) + 1) == d2b(2.0**53)
    assert sf.from_int_fn(64, 64, False)((1 << 64) - 1) == d2b(2.0**64)


def test_convert_known():
    assert sf.convert_fn(32, 64)(F32.inf | 1) == F64.nan
    assert sf.convert_fn(64, 32)(F64.nan | F64.sign | 5) == F32.nan
    assert sf.convert_fn(64, 32)(d2b(1e300)) == F32.inf
    assert sf.convert_fn(64, 32)(d2b(-1e-300)) == F32.sign  # underflow keeps the sign
    assert sf.convert_fn(64, 16)(d2b(65520.0)) == F16.inf
    assert sf.convert_fn(16, 128)(1) == sf.convert(F64, F128, d2b(2.0**-24))
    assert sf.convert_fn(128, 64)(F128.one + 1) == d2b(1.0)
    assert sf.convert_fn(128, 64)(F128.max_finite) == F64.inf
    assert sf.convert_fn(32, 16)(0x80000000) == 0x8000


# ---------------------------------------------------------------------------
# Property tests against the reference
# ---------------------------------------------------------------------------

OPS = {"add": ref_add, "sub": lambda f, a, b: ref_add(f, a, b ^ f.sign), "mul": ref_mul, "div": ref_div}


@pytest.mark.parametrize("op", sorted(OPS))
@pytest.mark.parametrize("fmt", FMTS, ids=FMT_IDS)
def test_binary_ops_match_reference(fmt, op):
    fast, generic, ref = sf.binary_fn(op, fmt.bits), getattr(sf, op), OPS[op]

    @settings(max_examples=120, deadline=None)
    @given(pairs(fmt))
    def check(ab):
        a, b = ab
        want = ref(fmt, a, b)
        assert fast(a, b) == want, (hex(a), hex(b))
        assert generic(fmt, a, b) == want, (hex(a), hex(b))

    check()


@pytest.mark.parametrize("fmt", FMTS, ids=FMT_IDS)
def test_sqrt_matches_reference(fmt):
    fast = sf.unary_fn("sqrt", fmt.bits)

    @settings(max_examples=100 if fmt is F128 else 200, deadline=None)
    @given(floats(fmt))
    def check(a):
        want = ref_sqrt(fmt, a)
        assert fast(a) == want, hex(a)
        assert sf.sqrt(fmt, a) == want, hex(a)

    check()


def fma_triples(fmt):
    """Triples where the product and the addend often overlap or nearly cancel."""
    raw = st.tuples(floats(fmt), floats(fmt), floats(fmt))

    def cancel(t):
        a, b, c = t
        p = sf.mul(fmt, a, b)
        return a, b, sf.neg(fmt, p) ^ (c & 3)  # -round(a*b), nudged in the last bits

    return st.one_of(raw, st.tuples(finite(fmt), finite(fmt), st.integers(0, 3)).map(cancel))


@pytest.mark.parametrize("fmt", FMTS, ids=FMT_IDS)
def test_fma_matches_reference(fmt):
    fast = sf.fma_fn(fmt.bits)

    @settings(max_examples=100 if fmt is F128 else 250, deadline=None)
    @given(fma_triples(fmt))
    def check(abc):
        want = ref_fma(fmt, *abc)
        assert fast(*abc) == want, [hex(v) for v in abc]
        assert sf.fma(fmt, *abc) == want, [hex(v) for v in abc]

    check()


@pytest.mark.parametrize("fmt", [F16, F32], ids=["f16", "f32"])
def test_narrow_fma_random_sweep(fmt):
    # Many cheap random cases with the product within the addend's rounding range.
    rng = random.Random(fmt.bits)
    fast = sf.fma_fn(fmt.bits)
    for _ in range(1500):
        a, b = rng.getrandbits(fmt.bits), rng.getrandbits(fmt.bits)
        p = sf.mul(fmt, a, b)
        if (p & fmt.magmask) >= fmt.inf or p & fmt.magmask == 0:
            continue
        shift = rng.randint(fmt.prec - 2, fmt.prec + 3) << fmt.mbits
        c = (p & fmt.magmask) + shift if rng.random() < 0.5 else (p & fmt.magmask) - min(shift, p & fmt.magmask)
        c = (c & fmt.magmask if c < fmt.inf else fmt.max_finite) | (fmt.sign if rng.random() < 0.5 else 0)
        assert fast(a, b, c) == ref_fma(fmt, a, b, c), (hex(a), hex(b), hex(c))


@pytest.mark.parametrize("fmt", FMTS, ids=FMT_IDS)
def test_compare_matches_reference(fmt):
    fns = {cond: sf.compare_fn(cond, fmt.bits) for cond in sf.FLOATCC}

    @settings(max_examples=150, deadline=None)
    @given(pairs(fmt))
    def check(ab):
        a, b = ab
        for cond, fn in fns.items():
            want = ref_compare(fmt, cond, a, b)
            assert fn(a, b) == int(want), (cond, hex(a), hex(b))
            assert sf.compare(fmt, cond, a, b) == want

    check()
    assert fns["eq"](0, fmt.sign) == 1 and fns["one"](0, fmt.sign) == 0
    assert fns["ne"](fmt.nan, fmt.nan) == 1 and fns["eq"](fmt.nan, fmt.nan) == 0
    assert fns["uno"](fmt.one, fmt.inf | 1) == 1 and fns["ord"](fmt.one, fmt.inf) == 1


def ref_round_integral(fmt, x, mode):
    v = value(fmt, x)
    if v == "nan":
        return fmt.nan
    if isinstance(v, str):
        return x
    if mode == "floor":
        n = math.floor(v)
    elif mode == "ceil":
        n = math.ceil(v)
    elif mode == "trunc":
        n = math.trunc(v)
    else:
        n = round(v)  # Fraction rounding is ties-to-even
    return nearest_ref(fmt, Fraction(n), negative_zero=bool(x & fmt.sign))


@pytest.mark.parametrize("mode", ["ceil", "floor", "trunc", "nearest"])
@pytest.mark.parametrize("fmt", [F32, F64, F128], ids=["f32", "f64", "f128"])
def test_round_integral_matches_reference(fmt, mode):
    fast = sf.unary_fn(mode, fmt.bits)
    # Values near the integer grid: exponents 0 .. mbits.
    near_int = st.tuples(st.integers(fmt.bias - 2, fmt.bias + fmt.mbits + 1), st.integers(0, fmt.fracmask), st.booleans())
    xs = st.one_of(floats(fmt), near_int.map(lambda t: (t[0] << fmt.mbits) | t[1] | (fmt.sign if t[2] else 0)))

    @settings(max_examples=150, deadline=None)
    @given(xs)
    def check(x):
        want = ref_round_integral(fmt, x, mode)
        assert fast(x) == want, hex(x)
        assert getattr(sf, mode)(fmt, x) == want, hex(x)

    check()


def test_f16_unary_exhaustive():
    fns = {m: sf.unary_fn(m, 16) for m in ("ceil", "floor", "trunc", "nearest")}
    sqrt16 = sf.unary_fn("sqrt", 16)
    to32, to64 = sf.convert_fn(16, 32), sf.convert_fn(16, 64)
    for x in range(1 << 16):
        v = struct.unpack("<e", struct.pack("<H", x))[0]
        if v != v:
            assert sqrt16(x) == F16.nan and to32(x) == F32.nan and to64(x) == F64.nan
            continue
        for mode, fn in fns.items():
            if math.isinf(v):
                assert fn(x) == x
                continue
            n = {"ceil": math.ceil, "floor": math.floor, "trunc": math.trunc, "nearest": round}[mode](v)
            want = struct.unpack("<H", struct.pack("<e", math.copysign(float(n), v)))[0]
            assert fn(x) == want, (mode, hex(x))
        assert to64(x) == d2b(v) and to32(x) == f2b(v)
        if v > 0 and not math.isinf(v) and x % 61 == 0:
            assert sqrt16(x) == ref_sqrt(F16, x), hex(x)


@pytest.mark.parametrize("src,dst", [(a, b) for a in FMTS for b in FMTS if a is not b], ids=lambda f: f.name)
def test_convert_matches_reference(src, dst):
    fn = sf.convert_fn(src.bits, dst.bits)

    @settings(max_examples=80, deadline=None)
    @given(floats(src))
    def check(x):
        v = value(src, x)
        if v == "nan":
            want = dst.nan
        elif isinstance(v, str):
            want = inf_bits(dst, v == "-inf")
        else:
            want = nearest_ref(dst, v, negative_zero=bool(x & src.sign))
        assert fn(x) == want, hex(x)
        assert sf.convert(src, dst, x) == want, hex(x)

    check()


def test_python_float_narrowing_matches_reference():
    # struct's f32 and f16 packers are the rounding step of the fast paths: check them on
    # binary64 values near midpoints, subnormal boundaries and the overflow threshold.
    rng = random.Random(5)
    for fmt in (F16, F32):
        samples = []
        for _ in range(600):
            x = rng.getrandbits(fmt.bits - 1)
            if x >= fmt.inf:
                continue
            v = value(fmt, x)
            step = value(fmt, x + 1) - v if x + 1 < fmt.inf else v / (1 << fmt.prec)
            for k in (Fraction(1, 2), Fraction(1, 2) + Fraction(1, 1 << 40), Fraction(1, 2) - Fraction(1, 1 << 40)):
                samples.append(float(v + k * step))
        samples += [65519.99, 65520.0, 3.4028235677973366e38, 3.4028235677973362e38, 2.0**-25, 2.0**-150, 1.5 * 2.0**-150]
        for r in samples:
            for s in (r, -r):
                want = nearest_ref(fmt, Fraction(s), negative_zero=s < 0)
                assert sf.from_python_float(fmt, s) == want, (fmt, s)


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("saturate", [False, True])
@pytest.mark.parametrize("fmt", FMTS, ids=FMT_IDS)
def test_to_int_matches_reference(fmt, signed, saturate):
    widths = (8, 16, 32, 64, 128)
    fns = {w: sf.to_int_fn(fmt.bits, w, signed, saturate) for w in widths}
    near = st.tuples(st.integers(fmt.bias - 1, min(fmt.bias + 130, fmt.expfield)), st.integers(0, fmt.fracmask), st.booleans())
    xs = st.one_of(floats(fmt), near.map(lambda t: (t[0] << fmt.mbits) | t[1] | (fmt.sign if t[2] else 0)))

    @settings(max_examples=80, deadline=None)
    @given(xs)
    def check(x):
        v = value(fmt, x)
        for w in widths:
            lo, hi = (-(1 << (w - 1)), (1 << (w - 1)) - 1) if signed else (0, (1 << w) - 1)
            if v == "nan":
                want = 0 if saturate else "bad_toint"
            else:
                n = {"inf": hi + 1, "-inf": lo - 1}[v] if isinstance(v, str) else math.trunc(v)
                if lo <= n <= hi:
                    want = n & ((1 << w) - 1)
                elif saturate:
                    want = (lo if n < lo else hi) & ((1 << w) - 1)
                else:
                    want = "int_ovf"
            for fn in (fns[w], lambda y: sf.to_int(fmt, y, w, signed, saturate)):
                if isinstance(want, str):
                    with pytest.raises(Trap) as exc:
                        fn(x)
                    assert exc.value.code == want
                else:
                    assert fn(x) == want, (w, hex(x))

    check()


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("fmt", FMTS, ids=FMT_IDS)
def test_from_int_matches_reference(fmt, signed):
    widths = (8, 16, 32, 64, 128)
    fns = {w: sf.from_int_fn(w, fmt.bits, signed) for w in widths}

    @settings(max_examples=80, deadline=None)
    @given(st.integers(0, (1 << 128) - 1), st.integers(0, 127))
    def check(raw, keep):
        raw &= (1 << (keep + 1)) - 1 if keep < 127 else raw  # many magnitudes, not only huge ones
        for w in widths:
            bits = raw & ((1 << w) - 1)
            n = bits - (1 << w) if signed and bits >> (w - 1) else bits
            want = nearest_ref(fmt, Fraction(n))
            assert fns[w](bits) == want, (w, hex(bits))
            assert sf.from_int(fmt, bits, w, signed) == want

    check()


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False), st.floats(allow_nan=False))
def test_f64_generic_matches_python(x, y):
    a, b = d2b(x), d2b(y)
    assert sf.add(F64, a, b) == (d2b(x + y) if not math.isnan(x + y) else F64.nan)
    assert sf.mul(F64, a, b) == (d2b(x * y) if not math.isnan(x * y) else F64.nan)
    if y != 0:
        assert sf.div(F64, a, b) == (d2b(x / y) if not math.isnan(x / y) else F64.nan)
    if x > 0:
        assert sf.sqrt(F64, a) == d2b(math.sqrt(x))


@settings(max_examples=300, deadline=None)
@given(st.floats(width=32, allow_nan=False), st.floats(width=32, allow_nan=False))
def test_f32_fast_matches_generic(x, y):
    a, b = f2b(x), f2b(y)
    for op in ("add", "sub", "mul", "div"):
        assert sf.binary_fn(op, 32)(a, b) == getattr(sf, op)(F32, a, b), (op, x, y)
    assert sf.unary_fn("sqrt", 32)(a) == sf.sqrt(F32, a)
    assert sf.fma_fn(32)(a, b, a) == sf.fma(F32, a, b, a)


def test_nan_results_are_canonical():
    for fmt in FMTS:
        snan = fmt.inf | 1 | fmt.sign
        for op in ("add", "sub", "mul", "div"):
            assert sf.binary_fn(op, fmt.bits)(snan, fmt.one) == fmt.nan
            assert sf.binary_fn(op, fmt.bits)(fmt.one, fmt.nan | 7) == fmt.nan
        for op in ("sqrt", "ceil", "floor", "trunc", "nearest"):
            assert sf.unary_fn(op, fmt.bits)(snan) == fmt.nan
        assert sf.fma_fn(fmt.bits)(fmt.one, fmt.one, snan) == fmt.nan
        assert sf.binary_fn("sub", fmt.bits)(fmt.inf, fmt.inf) == fmt.nan
        assert sf.binary_fn("mul", fmt.bits)(fmt.inf | fmt.sign, 0) == fmt.nan
        assert sf.unary_fn("sqrt", fmt.bits)(fmt.sign | fmt.one) == fmt.nan


def test_formats_table():
    assert FORMATS[16] is F16 and FORMATS[128] is F128
    with pytest.raises(ValueError):
        sf.compare_fn("bogus", 32)
