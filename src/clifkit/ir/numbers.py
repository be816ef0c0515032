"""Number literals of CLIF: integers, IEEE floats and hexadecimal byte strings.

One token such as ``0xff`` means different things in different places (a u8
lane index, an i64 immediate, the bytes of a vector), so the lexer leaves
numbers as text and the parser picks one of these functions. They follow
Cranelift's rules (``ir/immediates.rs``, ``ir/constant.rs``): hexadecimal or
decimal integers with ``_`` separators; floats written exactly, as hexadecimal
significand and binary exponent (``0x1.8p3``), or as ``0.0``, ``Inf``, ``NaN``,
``NaN:0x1``, ``sNaN:0x1`` with an optional sign.

The ``format_*`` functions are the inverses, and give the canonical text the
printer writes. Every parse function raises `NumberError` whose message says
what is wrong; the parser adds what was expected and the location.
"""

from __future__ import annotations

import re

# IEEE formats by total width: (exponent bits, trailing significand bits).
FLOAT_FORMATS = {16: (5, 10), 32: (8, 23), 64: (11, 52), 128: (15, 112)}


_HEX_DIGITS = re.compile(r"[0-9A-Fa-f]+")
_DEC_DIGITS = re.compile(r"[0-9]+")
_EXPONENT = re.compile(r"[-+]?[0-9]+")


class NumberError(ValueError):
    """A malformed or out-of-range number literal."""


class HexBytes(bytes):
    """Constant bytes that were written as one hexadecimal literal (``0x0001...``) rather
    than as a list of lanes; the printer writes them back the same way."""


# More significant decimal digits than any CLIF number needs (2^128 has 39, an exact f128 a few
# thousand), and fewer than Python converts (`sys.get_int_max_str_digits`, 4300 by default).
MAX_DECIMAL_DIGITS = 4000


def decimal(digits: str) -> int:
    """The value of a string of decimal digits, refusing (NumberError) one too long to be anything
    but hostile: converting decimal text costs time quadratic in its length."""
    significant = digits.lstrip("0")
    if len(significant) > MAX_DECIMAL_DIGITS:
        raise NumberError(f"too many digits ({len(significant)}; at most {MAX_DECIMAL_DIGITS})")
    return int(significant or "0", 10)


def _magnitude(text: str) -> int:
    """An unsigned decimal or ``0x`` hexadecimal integer, ``_`` separators allowed."""
    if text.startswith("0x"):
        digits, valid = text[2:].replace("_", ""), _HEX_DIGITS
    else:
        digits, valid = text.replace("_", ""), _DEC_DIGITS
    if not digits:
        raise NumberError("no digits")
    if not valid.fullmatch(digits):
        raise NumberError("not a decimal or hexadecimal integer")
    return int(digits, 16) if valid is _HEX_DIGITS else decimal(digits)


def _split_sign(text: str) -> tuple[bool, str]:
    if text[:1] in "+-" and text:
        return text[0] == "-", text[1:]
    return False, text


def parse_uint(text: str, bits: int) -> int:
    """An unsigned integer of at most `bits` bits (no sign allowed)."""
    if text[:1] in ("+", "-"):
        raise NumberError("a sign is not allowed here")
    value = _magnitude(text)
    if value >> bits:
        raise NumberError(f"out of range (0 to {(1 << bits) - 1})")
    return value


def parse_int(text: str, bits: int) -> int:
    """A `bits`-wide integer written signed or unsigned: -2^(bits-1) .. 2^bits - 1.

    Returns the value as written (negative if written with ``-``)."""
    negative, rest = _split_sign(text)
    value = _magnitude(rest)
    if negative:
        if value > 1 << (bits - 1):
            raise NumberError(f"out of range ({-(1 << (bits - 1))} to {(1 << bits) - 1})")
        return -value
    if value >> bits:
        raise NumberError(f"out of range ({-(1 << (bits - 1))} to {(1 << bits) - 1})")
    return value


def parse_imm64(text: str) -> int:
    """A 64-bit immediate (Cranelift's Imm64), normalized to its signed value.

    Like Cranelift, accepts -2^63 .. 2^64 - 1 and keeps the 64-bit pattern, so
    ``0xffff_ffff_ffff_ffff`` is -1: an i128 operation sign-extends it."""
    value = parse_int(text, 64)
    return value - (1 << 64) if value >= 1 << 63 else value


def parse_offset32(text: str) -> int:
    """A signed 32-bit offset written with an explicit sign (``+8``, ``-0x10``)."""
    if text[:1] not in ("+", "-"):
        raise NumberError("an offset must start with '+' or '-'")
    negative, rest = _split_sign(text)
    value = -_magnitude(rest) if negative else _magnitude(rest)
    if not -(1 << 31) <= value < 1 << 31:
        raise NumberError("out of range for a 32-bit offset")
    return value


def sign_extend(value: int, bits: int) -> int:
    """The signed value of the low `bits` bits of `value`."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def write_hex(value: int) -> str:
    """Hexadecimal in groups of four digits: ``0x0001_ffff`` (Cranelift's style)."""
    digits = f"{value:x}"
    digits = "0" * (-len(digits) % 4) + digits
    return "0x" + "_".join(digits[i : i + 4] for i in range(0, len(digits), 4))


def format_imm(value: int) -> str:
    """An integer as Cranelift shows immediates: decimal below 10000 (so negative numbers are
    always decimal), else grouped hexadecimal."""
    return str(value) if value < 10_000 else write_hex(value)


def format_offset(value: int) -> str:
    """An offset as Cranelift prints it: empty for 0, else signed (``+8``, ``-0x1_0000``)."""
    if value == 0:
        return ""
    return ("-" if value < 0 else "+") + format_imm(abs(value))


# -- floats ---------------------------------------------------------------------


def parse_float(text: str, bits: int) -> int:
    """The raw bit pattern of an IEEE float of `bits` bits written exactly."""
    w, t = FLOAT_FORMATS[bits]
    negative, body = _split_sign(text)
    sign = (1 << (w + t)) if negative else 0
    max_e = ((1 << w) - 1) << t
    quiet = 1 << (t - 1)
    if not body.startswith("0x"):
        if body == "0.0":
            return sign
        if body == "Inf":
            return sign | max_e
        if body == "NaN":
            return sign | max_e | quiet
        for prefix, low in (("NaN:0x", 0), ("sNaN:0x", 1)):
            if body.startswith(prefix):
                hex_payload = body[len(prefix) :]
                if not _HEX_DIGITS.fullmatch(hex_payload):
                    raise NumberError("bad NaN payload")
                payload = int(hex_payload, 16)
                if not low <= payload < quiet:
                    raise NumberError(f"NaN payload out of range ({low:#x} to {quiet - 1:#x})")
                return sign | max_e | (0 if low else quiet) | payload
        raise NumberError("floats are written in hexadecimal (0x1.8p3), or as 0.0, Inf, NaN")
    mantissa, p, exp_text = body[2:].partition("p")
    exponent = 0
    if p:
        if not _EXPONENT.fullmatch(exp_text):
            raise NumberError("bad exponent")
        exponent = decimal(exp_text.lstrip("+-")) * (-1 if exp_text[:1] == "-" else 1)
        if not -(1 << 15) <= exponent < 1 << 15:
            raise NumberError("bad exponent")
    whole, dot, frac = mantissa.partition(".")
    if "." in frac:
        raise NumberError("more than one radix point")
    digits = whole + frac
    if not digits:
        raise NumberError("no digits")
    if not _HEX_DIGITS.fullmatch(digits):
        raise NumberError("invalid hexadecimal digit")
    significand = int(digits, 16)
    if len(digits) > 32:
        raise NumberError("too many digits")
    if significand == 0:
        return sign
    exponent -= 4 * len(frac)
    # Normalize to t+1 significant bits.
    width = significand.bit_length()
    if width > t + 1:
        adjust = width - (t + 1)
        if significand & ((1 << adjust) - 1):
            raise NumberError(f"too many significant bits for f{bits}")
        significand >>= adjust
        exponent += adjust
    else:
        adjust = t + 1 - width
        significand <<= adjust
        exponent -= adjust
    bias = (1 << (w - 1)) - 1
    exponent += bias + t
    if exponent > (1 << w) - 2:
        raise NumberError(f"magnitude too large for f{bits}")
    if exponent > 0:
        return sign | (exponent << t) | (significand & ((1 << t) - 1))
    adjust = 1 - exponent
    if adjust > t:
        raise NumberError(f"magnitude too small for f{bits}")
    if significand & ((1 << adjust) - 1):
        raise NumberError(f"too many significant bits for a subnormal f{bits}")
    return sign | (significand >> adjust)


def is_nan(raw: int, bits: int) -> bool:
    """Is `raw` the bit pattern of a NaN (quiet or signaling) of the IEEE format of `bits` bits?"""
    w, t = FLOAT_FORMATS[bits]
    return (raw >> t) & ((1 << w) - 1) == (1 << w) - 1 and raw & ((1 << t) - 1) != 0


def format_float(raw: int, bits: int) -> str:
    """The canonical text of the IEEE float with bit pattern `raw` (Cranelift's format)."""
    w, t = FLOAT_FORMATS[bits]
    max_e = (1 << w) - 1
    t_bits = raw & ((1 << t) - 1)
    e_bits = (raw >> t) & max_e
    sign = "-" if (raw >> (w + t)) & 1 else ""
    bias = (1 << (w - 1)) - 1
    digits = (t + 3) // 4
    left = t_bits << (4 * digits - t)
    if e_bits == 0:
        if t_bits == 0:
            return f"{sign}0.0"
        return f"{sign}0x0.{left:0{digits}x}p{1 - bias}"
    if e_bits == max_e:
        sign = sign or "+"
        if t_bits == 0:
            return f"{sign}Inf"
        payload = t_bits & ((1 << (t - 1)) - 1)
        if t_bits >> (t - 1):
            return f"{sign}NaN:0x{payload:x}" if payload else f"{sign}NaN"
        return f"{sign}sNaN:0x{payload:x}"
    return f"{sign}0x1.{left:0{digits}x}p{e_bits - bias}"


# -- hexadecimal byte strings ------------------------------------------------------


def parse_hex_bytes(text: str) -> HexBytes:
    """``0x0102`` as little-endian bytes (``b"\\x02\\x01"``), at most 16 of them."""
    if not text.startswith("0x") or len(text) <= 2:
        raise NumberError("expected a hexadecimal constant such as 0x0102")
    digits = text[2:].replace("_", "")
    if not digits:
        raise NumberError("no digits")
    if len(digits) % 2:
        raise NumberError("odd number of hexadecimal digits")
    if len(digits) > 32:
        raise NumberError("more than 16 bytes")
    if not _HEX_DIGITS.fullmatch(digits):
        raise NumberError("invalid hexadecimal digit")
    return HexBytes(bytes.fromhex(digits)[::-1])


def format_hex_bytes(data: bytes) -> str:
    """Little-endian bytes as one hexadecimal number, most significant byte first."""
    return "0x" + data[::-1].hex()
