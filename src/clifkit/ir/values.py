"""Values on run lines: reading literals at a CLIF type, printing results, comparing them.

A run line's values are written in CLIF's immediate notation and read at the
type the called function's signature gives them:

- integers (``i8`` .. ``i128``): decimal or ``0x`` hexadecimal, ``_`` separators
  allowed, an optional sign; anything from the most negative signed value up to
  the largest unsigned value fits (``-128`` .. ``255`` for ``i8``). ``true`` and
  ``false`` read as 1 and 0;
- floats (``f16`` .. ``f128``): hexadecimal floats (``0x1.8p3``, ``-0x0.0p0``),
  ``0.0``/``-0.0``, ``Inf``, ``NaN``, ``NaN:0xPAYLOAD`` and ``sNaN:0xPAYLOAD``,
  each with an optional sign; a value must be exactly representable, nothing is
  rounded. As an extension to Cranelift, decimal floats (``1.5``, ``-2.25e3``)
  are accepted when they are exact. Plain integers are refused: ``0x3f800000``
  is a bit pattern, not a float;
- vectors: a bracketed list of lanes (``[1 2 3 4]`` or ``[1, 2, 3, 4]``), each
  lane read at the lane type, or one hexadecimal integer holding the whole
  vector, lane 0 in the least significant bits (``0x00000004000000030000000200000001``).

Values in memory follow the interpreter: a scalar is the unsigned int of its
bit pattern (an ``f32`` is its 32 bits), a vector a tuple of lane patterns,
lane 0 first. Results compare bit for bit, as Cranelift's run commands do
(`DataValue::bitwise_eq`): a NaN equals only the same NaN, ``0.0`` differs
from ``-0.0``.
"""

from __future__ import annotations

import re

from .types import Type
from .numbers import FLOAT_FORMATS, NumberError, decimal, format_float

Value = int | tuple



class ValueSyntaxError(ValueError):
    """A literal that cannot be read at the wanted type. The message is complete and user-facing."""


_INT_RE = re.compile(r"([+-]?)(0[xX][0-9a-fA-F_]*|[0-9][0-9_]*)\Z")
_HEX_FLOAT_RE = re.compile(r"0[xX]([0-9a-fA-F_]*)(?:\.([0-9a-fA-F_]*))?(?:[pP]([+-]?[0-9]+))?\Z")
_DEC_FLOAT_RE = re.compile(r"([0-9][0-9_]*)?\.([0-9_]*)(?:[eE]([+-]?[0-9]+))?\Z|([0-9][0-9_]*)[eE]([+-]?[0-9]+)\Z")

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Sequence
    from fractions import Fraction


def _show(text: str, limit: int = 40) -> str:
    """`text` for a message: long literals are cut in the middle."""
    if len(text) <= limit:
        return text
    return text[: limit // 2] + "..." + text[-(limit // 2 - 3) :]


def is_hex_int_literal(text: str) -> bool:
    m = _INT_RE.match(text)
    return m is not None and m.group(2)[:2] in ("0x", "0X")


# -- integers ----------------------------------------------------------------


def parse_int(text: str, bits: int, type_name: str = "") -> int:
    """The bit pattern of integer literal `text` at width `bits`."""
    type_name = type_name or f"i{bits}"
    if text in ("true", "false"):
        return 1 if text == "true" else 0
    m = _INT_RE.match(text)
    if m is None:
        if _looks_like_float(text):
            raise ValueSyntaxError(f"expected an integer for {type_name}, got the float {_show(text)}")
        raise ValueSyntaxError(f"expected an integer for {type_name}, got '{_show(text)}'")
    sign, digits = m.group(1), m.group(2)
    if digits[:2] in ("0x", "0X"):
        body = digits[2:].replace("_", "")
        if not body:
            raise ValueSyntaxError(f"'{_show(text)}' has no hexadecimal digits")
        magnitude = int(body, 16)
    else:
        magnitude = _decimal(digits.replace("_", ""), text)
    value = -magnitude if sign == "-" else magnitude
    low, high = -(1 << (bits - 1)), (1 << bits) - 1
    if value < low or value > high:
        if bits <= 32:
            span = f"from {low} to {high}"
        else:
            span = f"from -0x{-low:x} to 0x{high:x}"
        raise ValueSyntaxError(f"{_show(text)} does not fit in {type_name} ({span})")
    return value & high


def format_int(bits_value: int, bits: int, hex: bool = False) -> str:
    """Signed decimal, or unsigned hexadecimal when `hex`."""
    if hex:
        return f"0x{bits_value:x}"
    if bits_value >> (bits - 1):
        return str(bits_value - (1 << bits))
    return str(bits_value)


# -- floats --------------------------------------------------------------------


def _looks_like_float(text: str) -> bool:
    t = text.lstrip("+-")
    if t.startswith(("NaN", "sNaN", "Inf")):
        return True
    if t[:2] in ("0x", "0X"):
        return "." in t or "p" in t or "P" in t
    return _DEC_FLOAT_RE.match(t) is not None


def parse_float(text: str, bits: int) -> int:
    """The bit pattern of float literal `text` in the IEEE binary format of width `bits`."""
    name = f"f{bits}"
    w, t = FLOAT_FORMATS[bits]
    sign_bit = 0
    body = text
    if body[:1] in "+-" and body:
        sign_bit = (1 << (w + t)) if body[0] == "-" else 0
        body = body[1:]
    max_e = ((1 << w) - 1) << t
    quiet = 1 << (t - 1)
    if body == "Inf":
        return sign_bit | max_e
    if body == "NaN":
        return sign_bit | max_e | quiet
    if body.startswith(("NaN:", "sNaN:")):
        signaling = body.startswith("s")
        payload_text = body.split(":", 1)[1]
        m = _INT_RE.match(payload_text)
        if m is None or m.group(1) or m.group(2)[:2] not in ("0x", "0X") or not m.group(2)[2:].replace("_", ""):
            raise ValueSyntaxError(f"a NaN payload must be hexadecimal, as in NaN:0x1, not '{_show(payload_text)}'")
        payload = int(m.group(2)[2:].replace("_", ""), 16)
        if payload >= quiet:
            raise ValueSyntaxError(f"NaN payload {_show(payload_text)} does not fit in {name} (at most 0x{quiet - 1:x})")
        if signaling:
            if payload == 0:
                raise ValueSyntaxError("a signaling NaN needs a nonzero payload, as in sNaN:0x1")
            return sign_bit | max_e | payload
        return sign_bit | max_e | quiet | payload
    m = _HEX_FLOAT_RE.match(body)
    if m is not None:
        whole, frac, exp = (m.group(1) or "").replace("_", ""), m.group(2), m.group(3)
        if frac is None and exp is None:
            raise ValueSyntaxError(
                f"expected a float for {name}, got the integer {_show(text)} "
                f"(write floats as hex floats such as 0x1.8p3, or 0.0, Inf, NaN)"
            )
        frac = (frac or "").replace("_", "")
        if not whole and not frac:
            raise ValueSyntaxError(f"'{_show(text)}' has no hexadecimal digits")
        mantissa = int(whole + frac, 16) if whole + frac else 0
        exponent = _exponent(exp, text) - 4 * len(frac)
        from fractions import Fraction  # here: most runs read no float literal

        value = Fraction(mantissa) * (Fraction(2) ** exponent)
        return sign_bit | _encode_exact(value, w, t, text, name)
    m = _DEC_FLOAT_RE.match(body)
    if m is not None:
        if m.group(4) is not None:
            whole, frac, exp = m.group(4), "", m.group(5)
        else:
            whole, frac, exp = m.group(1) or "", m.group(2), m.group(3)
        whole, frac = whole.replace("_", ""), frac.replace("_", "")
        if not whole and not frac:
            raise ValueSyntaxError(f"'{_show(text)}' has no digits")
        mantissa = _decimal(whole + frac, text)
        exponent = _exponent(exp, text) - len(frac)
        from fractions import Fraction

        value = Fraction(mantissa) * (Fraction(10) ** exponent)
        return sign_bit | _encode_exact(value, w, t, text, name, decimal=True)
    if _INT_RE.match(text):
        raise ValueSyntaxError(
            f"expected a float for {name}, got the integer {_show(text)} "
            f"(write floats as hex floats such as 0x1.8p3, or 0.0, Inf, NaN)"
        )
    raise ValueSyntaxError(f"expected a float for {name}, got '{_show(text)}'")


def _decimal(digits: str, literal: str) -> int:
    try:
        return decimal(digits)
    except NumberError as e:
        raise ValueSyntaxError(f"{_show(literal)}: {e}") from None


def _exponent(text: "str | None", literal: str) -> int:
    e = _decimal((text or "0").lstrip("+-"), literal) * (-1 if (text or "")[:1] == "-" else 1)
    if abs(e) > 20000:
        raise ValueSyntaxError(f"the exponent of {literal} is out of range")
    return e


def _encode_exact(value: Fraction, w: int, t: int, text: str, name: str, decimal: bool = False) -> int:
    """Encode a non-negative exact rational; refuse it if the format cannot hold it exactly."""
    from fractions import Fraction

    if value == 0:
        return 0
    bias = (1 << (w - 1)) - 1
    emin = 1 - bias
    emax = bias
    # Find e with 2^e <= value < 2^(e+1).
    e = value.numerator.bit_length() - value.denominator.bit_length()
    if Fraction(2) ** e > value:
        e -= 1
    elif Fraction(2) ** (e + 1) <= value:
        e += 1
    inexact = (
        f"{_show(text)} is not exactly representable in {name}; write it as an exact hex float"
        if decimal
        else f"{_show(text)} is not exactly representable in {name}: too many significant bits"
    )
    if e > emax:
        raise ValueSyntaxError(f"{_show(text)} is too large for {name} (the largest finite {name} is below 0x1p{emax + 1})")
    if e < emin:
        # Subnormal: value = m * 2^(emin - t) with m < 2^t.
        scaled = value / (Fraction(2) ** (emin - t))
        if scaled.denominator != 1:
            if scaled < 1:
                raise ValueSyntaxError(f"{_show(text)} is too small for {name}: it would round to zero")
            raise ValueSyntaxError(inexact)
        return int(scaled)
    scaled = value / (Fraction(2) ** (e - t))
    if scaled.denominator != 1:
        raise ValueSyntaxError(inexact)
    significand = int(scaled)  # in [2^t, 2^(t+1))
    return ((e + bias) << t) | (significand - (1 << t))


# -- any type --------------------------------------------------------------------


def parse_scalar(text: str, ty: Type) -> int:
    """A scalar literal (or one lane of a vector) at scalar type `ty`."""
    if ty.is_float:
        return parse_float(text, ty.lane_bits)
    return parse_int(text, ty.lane_bits, ty.name)


def parse_vector_hex(text: str, ty: Type) -> tuple:
    """A whole vector written as one hexadecimal integer, lane 0 in the low bits."""
    m = _INT_RE.match(text)
    if m is None or m.group(1) or m.group(2)[:2] not in ("0x", "0X"):
        raise ValueSyntaxError(
            f"expected {ty.name} as {ty.lanes} lanes in brackets, [a b ...], "
            f"or as one hexadecimal integer, got '{_show(text)}'"
        )
    body = m.group(2)[2:].replace("_", "")
    if not body:
        raise ValueSyntaxError(f"'{_show(text)}' has no hexadecimal digits")
    whole = int(body, 16)
    if whole >> ty.bits:
        raise ValueSyntaxError(f"{_show(text)} does not fit in {ty.name} ({ty.bits} bits)")
    lane_mask = (1 << ty.lane_bits) - 1
    return tuple((whole >> (i * ty.lane_bits)) & lane_mask for i in range(ty.lanes))


def format_value(value: Value, ty: Type, hex: bool = False) -> str:
    """A value in readable CLIF notation: ints signed decimal (hex when asked), floats as hex floats,
    vectors as ``[lane lane ...]``."""
    if ty.is_vector:
        if not isinstance(value, tuple):
            return repr(value)
        lane = ty.lane_type
        return "[" + " ".join(format_value(v, lane, hex) for v in value) + "]"
    if not isinstance(value, int) or isinstance(value, bool):
        return repr(value)
    if ty.is_float:
        return format_float(value, ty.lane_bits)
    return format_int(value, ty.lane_bits, hex)


def format_values(values: Sequence[Value], types: Sequence[Type], hex: Sequence[bool] = ()) -> str:
    """One value alone, several as ``[a, b]``, none as ``[]`` (the run-line notation for returns)."""
    hexes = list(hex) + [False] * (len(values) - len(hex))
    tys = list(types) + [None] * (len(values) - len(types))
    parts = [format_value(v, t, h) if t is not None else repr(v) for v, t, h in zip(values, tys, hexes)]
    if len(parts) == 1:
        return parts[0]
    return "[" + ", ".join(parts) + "]"


def check_value(value: object, ty: Type) -> Value:
    """`value` if it is a well-formed value of `ty` (as an engine must return it); else ValueError."""
    if ty.is_vector:
        if not isinstance(value, tuple) or len(value) != ty.lanes:
            raise ValueError(f"expected a tuple of {ty.lanes} lanes for {ty.name}, got {value!r}")
        for lane in value:
            if not isinstance(lane, int) or isinstance(lane, bool) or lane < 0 or lane >> ty.lane_bits:
                raise ValueError(f"lane {lane!r} is not a {ty.lane_bits}-bit pattern ({ty.name})")
        return value
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value >> ty.bits:
        raise ValueError(f"{value!r} is not a {ty.bits}-bit pattern ({ty.name})")
    return value


def values_equal(actual: Sequence[Value], expected: Sequence[Value]) -> bool:
    """Bitwise equality of two result lists, as Cranelift's run commands compare them."""
    return len(actual) == len(expected) and all(a == e for a, e in zip(actual, expected))


def is_truthy(value: Value) -> bool:
    """A nonzero bit pattern (any lane nonzero, for a vector)."""
    if isinstance(value, tuple):
        return any(value)
    return value != 0
