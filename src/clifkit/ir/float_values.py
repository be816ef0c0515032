"""Run-line values at a float type (``f16`` .. ``f128``): reading a literal exactly, as
`values` describes (hexadecimal and decimal floats, ``Inf``, ``NaN``, ``NaN:0xPAYLOAD``,
``sNaN:0xPAYLOAD``; nothing is rounded). Apart from `values`, which imports it at a run line's
first float, so that integer run lines do without it (and without `fractions`)."""

from __future__ import annotations

import re
from fractions import Fraction  # (with this module: only a run line's float loads either)

from .floats import FLOAT_FORMATS
from .values import _INT_RE, ValueSyntaxError, _decimal, _show

_HEX_FLOAT_RE = re.compile(r"0[xX]([0-9a-fA-F_]*)(?:\.([0-9a-fA-F_]*))?(?:[pP]([+-]?[0-9]+))?\Z")
_DEC_FLOAT_RE = re.compile(r"([0-9][0-9_]*)?\.([0-9_]*)(?:[eE]([+-]?[0-9]+))?\Z|([0-9][0-9_]*)[eE]([+-]?[0-9]+)\Z")


def looks_like_float(text: str) -> bool:
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
        value = Fraction(mantissa) * (Fraction(10) ** exponent)
        return sign_bit | _encode_exact(value, w, t, text, name, decimal=True)
    if _INT_RE.match(text):
        raise ValueSyntaxError(
            f"expected a float for {name}, got the integer {_show(text)} "
            f"(write floats as hex floats such as 0x1.8p3, or 0.0, Inf, NaN)"
        )
    raise ValueSyntaxError(f"expected a float for {name}, got '{_show(text)}'")


def _exponent(text: "str | None", literal: str) -> int:
    e = _decimal((text or "0").lstrip("+-"), literal) * (-1 if (text or "")[:1] == "-" else 1)
    if abs(e) > 20000:
        raise ValueSyntaxError(f"the exponent of {literal} is out of range")
    return e


def _encode_exact(value: Fraction, w: int, t: int, text: str, name: str, decimal: bool = False) -> int:
    """Encode a non-negative exact rational; refuse it if the format cannot hold it exactly."""
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
