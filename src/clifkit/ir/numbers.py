"""Number literals of CLIF: integers and hexadecimal byte strings (IEEE floats: `floats.py`).

One token such as ``0xff`` means different things in different places (a u8
lane index, an i64 immediate, the bytes of a vector), so the lexer leaves
numbers as text and the parser picks one of these functions. They follow
Cranelift's rules (``ir/immediates.rs``, ``ir/constant.rs``): hexadecimal or
decimal integers with ``_`` separators.

The ``format_*`` functions are the inverses, and give the canonical text the
printer writes. Every parse function raises `NumberError` whose message says
what is wrong; the parser adds what was expected and the location.
"""

from __future__ import annotations

import re

HEX_DIGITS = re.compile(r"[0-9A-Fa-f]+")
_DEC_DIGITS = re.compile(r"[0-9]+")


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
        digits, valid = text[2:].replace("_", ""), HEX_DIGITS
    else:
        digits, valid = text.replace("_", ""), _DEC_DIGITS
    if not digits:
        raise NumberError("no digits")
    if not valid.fullmatch(digits):
        raise NumberError("not a decimal or hexadecimal integer")
    return int(digits, 16) if valid is HEX_DIGITS else decimal(digits)


def split_sign(text: str) -> tuple[bool, str]:
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
    negative, rest = split_sign(text)
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
    negative, rest = split_sign(text)
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
    if not HEX_DIGITS.fullmatch(digits):
        raise NumberError("invalid hexadecimal digit")
    return HexBytes(bytes.fromhex(digits)[::-1])


def format_hex_bytes(data: bytes) -> str:
    """Little-endian bytes as one hexadecimal number, most significant byte first."""
    return "0x" + data[::-1].hex()
