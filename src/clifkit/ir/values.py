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
  is a bit pattern, not a float (`float_values.py` reads them);
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

from .. import lazy
from .types import Type
from .numbers import NumberError, decimal

Value = int | tuple



class ValueSyntaxError(ValueError):
    """A literal that cannot be read at the wanted type. The message is complete and user-facing."""


_INT_RE = re.compile(r"([+-]?)(0[xX][0-9a-fA-F_]*|[0-9][0-9_]*)\Z")

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Sequence


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
        from .float_values import looks_like_float  # (only to word the error)

        if looks_like_float(text):
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


def _decimal(digits: str, literal: str) -> int:
    try:
        return decimal(digits)
    except NumberError as e:
        raise ValueSyntaxError(f"{_show(literal)}: {e}") from None


def format_int(bits_value: int, bits: int, hex: bool = False) -> str:
    """Signed decimal, or unsigned hexadecimal when `hex`."""
    if hex:
        return f"0x{bits_value:x}"
    if bits_value >> (bits - 1):
        return str(bits_value - (1 << bits))
    return str(bits_value)


# -- any type --------------------------------------------------------------------


def parse_scalar(text: str, ty: Type) -> int:
    """A scalar literal (or one lane of a vector) at scalar type `ty`."""
    if ty.is_float:
        # (float_values on first need: most run lines hold no float)
        return lazy.module("clifkit.ir.float_values").parse_float(text, ty.lane_bits)
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
        # (ir.floats on first need: most values are integers; `lazy`, as a fuzz campaign formats thousands)
        return lazy.module("clifkit.ir.floats").format_float(value, ty.lane_bits)
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
