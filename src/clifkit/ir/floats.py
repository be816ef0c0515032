"""IEEE float literals of CLIF, and the formats they are read in: floats are written exactly, as
hexadecimal significand and binary exponent (``0x1.8p3``), or as ``0.0``, ``Inf``, ``NaN``,
``NaN:0x1``, ``sNaN:0x1`` with an optional sign (Cranelift's ``ir/immediates.rs``);
`format_float` is the inverse, the canonical text the printer writes. Apart from `numbers.py`
(integers), so that files without a float constant do without it."""

from __future__ import annotations

import re

from .numbers import HEX_DIGITS, NumberError, decimal, split_sign

# IEEE formats by total width: (exponent bits, trailing significand bits).
FLOAT_FORMATS = {16: (5, 10), 32: (8, 23), 64: (11, 52), 128: (15, 112)}
_EXPONENT = re.compile(r"[-+]?[0-9]+")


def parse_float(text: str, bits: int) -> int:
    """The raw bit pattern of an IEEE float of `bits` bits written exactly."""
    w, t = FLOAT_FORMATS[bits]
    negative, body = split_sign(text)
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
                if not HEX_DIGITS.fullmatch(hex_payload):
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
    if not HEX_DIGITS.fullmatch(digits):
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
