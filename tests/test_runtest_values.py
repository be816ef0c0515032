"""Run-line values: reading literals at every type, printing them, comparing results."""

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clifkit.ir.floats import format_float
from clifkit.ir.types import parse_type
from clifkit.ir.float_values import parse_float
from clifkit.ir.values import (
    ValueSyntaxError,
    check_value,
    format_value,
    format_values,
    is_truthy,
    parse_scalar,
    parse_vector_hex,
    values_equal,
)

T = parse_type


# -- integers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, ty, bits",
    [
        ("0", "i8", 0),
        ("127", "i8", 127),
        ("255", "i8", 255),
        ("-1", "i8", 0xFF),
        ("-128", "i8", 0x80),
        ("0xff", "i8", 0xFF),
        ("0xFF", "i8", 0xFF),
        ("-0x80", "i8", 0x80),
        ("+5", "i16", 5),
        ("-32768", "i16", 0x8000),
        ("0xc0fe_beef", "i32", 0xC0FEBEEF),
        ("-2147483648", "i32", 0x80000000),
        ("1_000_000", "i64", 1000000),
        ("-1", "i64", 0xFFFF_FFFF_FFFF_FFFF),
        ("0xffff_ffff_ffff_ffff", "i64", 0xFFFF_FFFF_FFFF_FFFF),
        ("-9223372036854775808", "i64", 1 << 63),
        ("0x01234567_01234567_01234567_01234567", "i128", 0x01234567_01234567_01234567_01234567),
        ("-1", "i128", (1 << 128) - 1),
        ("1512366032949150931280199141537564007", "i128", 1512366032949150931280199141537564007),
        ("true", "i8", 1),
        ("false", "i32", 0),
    ],
)
def test_int_literals(text, ty, bits):
    assert parse_scalar(text, T(ty)) == bits


@pytest.mark.parametrize(
    "text, ty, message",
    [
        ("256", "i8", "256 does not fit in i8 (from -128 to 255)"),
        ("-129", "i8", "-129 does not fit in i8 (from -128 to 255)"),
        ("0x100", "i8", "0x100 does not fit in i8 (from -128 to 255)"),
        ("65536", "i16", "65536 does not fit in i16 (from -32768 to 65535)"),
        ("0x1_0000_0000", "i32", "0x1_0000_0000 does not fit in i32 (from -2147483648 to 4294967295)"),
        (
            "18446744073709551616",
            "i64",
            "18446744073709551616 does not fit in i64 (from -0x8000000000000000 to 0xffffffffffffffff)",
        ),
        ("1.0", "i32", "expected an integer for i32, got the float 1.0"),
        ("0x1.8p3", "i64", "expected an integer for i64, got the float 0x1.8p3"),
        ("NaN", "i32", "expected an integer for i32, got the float NaN"),
        ("abc", "i32", "expected an integer for i32, got 'abc'"),
        ("0x", "i32", "'0x' has no hexadecimal digits"),
        ("0xfg", "i32", "expected an integer for i32, got '0xfg'"),
    ],
)
def test_int_errors(text, ty, message):
    with pytest.raises(ValueSyntaxError) as e:
        parse_scalar(text, T(ty))
    assert str(e.value) == message


@pytest.mark.parametrize(
    "bits, width, signed, hexed",
    [(0, 8, "0", "0x0"), (0xFF, 8, "-1", "0xff"), (0x7F, 8, "127", "0x7f"), (1 << 127, 128, str(-(1 << 127)), "0x" + "8" + "0" * 31)],
)
def test_int_format(bits, width, signed, hexed):
    ty = T(f"i{width}")
    assert format_value(bits, ty) == signed
    assert format_value(bits, ty, hex=True) == hexed


@given(st.sampled_from([8, 16, 32, 64, 128]), st.data())
@settings(max_examples=200, deadline=None)
def test_int_roundtrip(width, data):
    bits = data.draw(st.integers(0, (1 << width) - 1))
    ty = T(f"i{width}")
    assert parse_scalar(format_value(bits, ty), ty) == bits
    assert parse_scalar(format_value(bits, ty, hex=True), ty) == bits


# -- floats ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, width, bits",
    [
        ("0.0", 32, 0),
        ("-0.0", 32, 0x80000000),
        ("0x0.0p0", 32, 0),
        ("-0x0.0p0", 64, 1 << 63),
        ("0x1.8p3", 32, 0x41400000),
        ("0x1.8p3", 64, 0x4028000000000000),
        ("-0x1.8p0", 64, 0xBFF8000000000000),
        ("0x1.0", 32, 0x3F800000),
        ("0x1p-1", 32, 0x3F000000),
        ("0x1.p-1", 32, 0x3F000000),
        ("0x.8", 32, 0x3F000000),
        ("0x1.fffffep127", 32, 0x7F7FFFFF),
        ("0x1.fffffffffffffp1023", 64, 0x7FEFFFFFFFFFFFFF),
        ("0x1.0p-149", 32, 1),
        ("0x0.000002p-126", 32, 1),
        ("0x1.0p-1074", 64, 1),
        ("0x0.8p-126", 32, 0x00400000),
        ("Inf", 32, 0x7F800000),
        ("+Inf", 64, 0x7FF0000000000000),
        ("-Inf", 32, 0xFF800000),
        ("NaN", 32, 0x7FC00000),
        ("+NaN", 64, 0x7FF8000000000000),
        ("-NaN", 32, 0xFFC00000),
        ("+sNaN:0x1", 32, 0x7F800001),
        ("-sNaN:0x1", 64, 0xFFF0000000000001),
        ("NaN:0x1", 32, 0x7FC00001),
        ("-NaN:0x4000000000000", 64, 0xFFFC000000000000),
        ("-NaN:0x3fffff", 32, 0xFFFFFFFF),
        # f16 and f128, with the examples of Cranelift's reader tests.
        ("0x16.1", 16, 0x4D84),
        ("0x1.0p0", 16, 0x3C00),
        ("-Inf", 16, 0xFC00),
        ("+sNaN:0x1", 16, 0x7C01),
        ("0x1.0p-24", 16, 1),
        ("0x128.128", 128, 0x40072812800000000000000000000000),
        ("0x1.0p0", 128, 0x3FFF << 112),
        ("-NaN", 128, (0xFFFF << 112) | (1 << 111)),
        ("0x1.0p-16494", 128, 1),
        # Exact decimals (an extension: Cranelift reads only 0.0 in decimal).
        ("1.5", 32, 0x3FC00000),
        ("-2.25e1", 64, struct.unpack("<Q", struct.pack("<d", -22.5))[0]),
        ("1e3", 32, struct.unpack("<I", struct.pack("<f", 1000.0))[0]),
        ("0x1_0.0", 32, 0x41800000),
    ],
)
def test_float_literals(text, width, bits):
    assert parse_float(text, width) == bits
    assert parse_scalar(text, T(f"f{width}")) == bits


@pytest.mark.parametrize(
    "text, width, message",
    [
        ("1", 32, "expected a float for f32, got the integer 1 (write floats as hex floats such as 0x1.8p3, or 0.0, Inf, NaN)"),
        (
            "0x3f800000",
            32,
            "expected a float for f32, got the integer 0x3f800000 (write floats as hex floats such as 0x1.8p3, or 0.0, Inf, NaN)",
        ),
        ("0.1", 32, "0.1 is not exactly representable in f32; write it as an exact hex float"),
        ("0x1.000001p0", 32, "0x1.000001p0 is not exactly representable in f32: too many significant bits"),
        ("0x1.0p128", 32, "0x1.0p128 is too large for f32 (the largest finite f32 is below 0x1p128)"),
        ("0x1.0p16", 16, "0x1.0p16 is too large for f16 (the largest finite f16 is below 0x1p16)"),
        ("0x1.0p-150", 32, "0x1.0p-150 is too small for f32: it would round to zero"),
        ("0x1.8p-149", 32, "0x1.8p-149 is not exactly representable in f32: too many significant bits"),
        ("sNaN:0x0", 32, "a signaling NaN needs a nonzero payload, as in sNaN:0x1"),
        ("NaN:0x400000", 32, "NaN payload 0x400000 does not fit in f32 (at most 0x3fffff)"),
        ("NaN:12", 32, "a NaN payload must be hexadecimal, as in NaN:0x1, not '12'"),
        ("nan", 32, "expected a float for f32, got 'nan'"),
        ("Infinity", 64, "expected a float for f64, got 'Infinity'"),
        ("0x1.0p99999999", 64, "the exponent of 0x1.0p99999999 is out of range"),
    ],
)
def test_float_errors(text, width, message):
    with pytest.raises(ValueSyntaxError) as e:
        parse_float(text, width)
    assert str(e.value) == message


@pytest.mark.parametrize(
    "bits, width, text",
    [
        (0, 32, "0.0"),
        (0x80000000, 32, "-0.0"),
        (0x41400000, 32, "0x1.800000p3"),
        (0x4028000000000000, 64, "0x1.8000000000000p3"),
        (0x4D84, 16, "0x1.610p4"),
        (0x4248C800, 32, "0x1.919000p5"),
        (0x4059190000000000, 64, "0x1.9190000000000p6"),
        (0x40072812800000000000000000000000, 128, "0x1.2812800000000000000000000000p8"),
        (1, 32, "0x0.000002p-126"),
        (1, 64, "0x0.0000000000001p-1022"),
        (0x7F800000, 32, "+Inf"),
        (0xFFF0000000000000, 64, "-Inf"),
        (0x7FC00000, 32, "+NaN"),
        (0xFFC00000, 32, "-NaN"),
        (0x7FC00001, 32, "+NaN:0x1"),
        (0x7F800001, 32, "+sNaN:0x1"),
        (0xFFFC000000000000, 64, "-NaN:0x4000000000000"),
    ],
)
def test_float_format(bits, width, text):
    assert format_float(bits, width) == text


@given(st.sampled_from([16, 32, 64, 128]), st.data())
@settings(max_examples=400, deadline=None)
def test_float_roundtrip(width, data):
    bits = data.draw(st.integers(0, (1 << width) - 1))
    assert parse_float(format_float(bits, width), width) == bits


@given(st.floats(allow_nan=False, allow_infinity=False))
@settings(max_examples=300, deadline=None)
def test_f64_agrees_with_python(x):
    bits = struct.unpack("<Q", struct.pack("<d", x))[0]
    assert parse_float(x.hex(), 64) == bits
    if x != 0:
        assert float.fromhex(format_float(bits, 64)) == x
    else:
        assert format_float(bits, 64) == ("-0.0" if math.copysign(1, x) < 0 else "0.0")


@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
@settings(max_examples=300, deadline=None)
def test_f32_agrees_with_python(x):
    bits = struct.unpack("<I", struct.pack("<f", x))[0]
    assert parse_float(x.hex(), 32) == bits


# -- vectors ---------------------------------------------------------------------------


def test_vector_hex_is_little_endian_by_lane():
    assert parse_vector_hex("0x00000003000000020000000100000000", T("i32x4")) == (0, 1, 2, 3)
    assert parse_vector_hex("0x0000000200000001", T("i32x2")) == (1, 2)
    assert parse_vector_hex("0x04030201", T("i8x4")) == (1, 2, 3, 4)
    assert parse_vector_hex("0x1", T("i16x8")) == (1, 0, 0, 0, 0, 0, 0, 0)
    assert parse_vector_hex("0x3f800000_00000000", T("f32x2")) == (0, 0x3F800000)


def test_vector_hex_errors():
    with pytest.raises(ValueSyntaxError, match=r"^0x10000 does not fit in i8x2 \(16 bits\)$"):
        parse_vector_hex("0x10000", T("i8x2"))
    with pytest.raises(ValueSyntaxError) as e:
        parse_vector_hex("5", T("i32x4"))
    assert str(e.value) == "expected i32x4 as 4 lanes in brackets, [a b ...], or as one hexadecimal integer, got '5'"


def test_format_vectors_and_lists():
    assert format_value((1, 0xFFFFFFFF, 3, 4), T("i32x4")) == "[1 -1 3 4]"
    assert format_value((1, 0xFF), T("i8x2"), hex=True) == "[0x1 0xff]"
    assert format_value((0x3F800000, 0x7FC00000), T("f32x2")) == "[0x1.000000p0 +NaN]"
    assert format_values([5], [T("i32")]) == "5"
    assert format_values([], []) == "[]"
    assert format_values([0xFE, 1], [T("i8"), T("i64")]) == "[-2, 1]"
    assert format_values([(1, 2), 3], [T("i64x2"), T("i32")], [True, False]) == "[[0x1 0x2], 3]"


# -- comparison --------------------------------------------------------------------------


def test_comparison_is_bitwise():
    nan, other_nan = parse_float("NaN", 32), parse_float("NaN:0x1", 32)
    assert values_equal([nan], [nan])
    assert not values_equal([nan], [other_nan])
    assert not values_equal([parse_float("-NaN", 32)], [nan])
    assert not values_equal([parse_float("0.0", 64)], [parse_float("-0.0", 64)])
    assert values_equal([(1, 2)], [(1, 2)])
    assert not values_equal([(1, 2)], [(2, 1)])
    assert not values_equal([1], [1, 2])
    assert values_equal([], [])


def test_truthiness_and_checks():
    assert is_truthy(1) and is_truthy(0x80) and not is_truthy(0)
    assert is_truthy((0, 1)) and not is_truthy((0, 0))
    assert check_value(5, T("i8")) == 5
    with pytest.raises(ValueError):
        check_value(256, T("i8"))
    with pytest.raises(ValueError):
        check_value(-1, T("i32"))
    with pytest.raises(ValueError):
        check_value((1, 2, 3), T("i32x4"))
    with pytest.raises(ValueError):
        check_value(5, T("i32x4"))
