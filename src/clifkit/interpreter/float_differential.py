"""The differential check of the float fast path (`float_repr`) against the exact `softfloat`.

For each operation and type, a small CLIF function is compiled by the
interpreter (so the code under test is the generated code itself: the bits ->
float conversions of the parameters, the fast op, the float -> bits conversion
of the result) and run on many operand pairs; every result must equal the
generic exact function of `softfloat` (``add(F64, a, b)`` ...) bit for bit.
fcmp checks all fourteen conditions at once.

Operands mix edge values (signed zeros, subnormals, infinities, quiet and
signalling NaNs with payloads, values near overflow and near the integer
conversion limits), uniformly random bit patterns, and values near the other
operand (cancellation, rounding ties).

    python -m benchmarks --differential          # the full count: 10^6 pairs per op and type
    tests/test_float_repr.py                     # the same check at a reduced count
"""

from __future__ import annotations

import random
import struct
from typing import Callable, Iterator

from . import softfloat as sf
from .machine import UNLIMITED_FUEL, Machine

BINARY = ("fadd", "fsub", "fmul", "fdiv", "fmin", "fmax")
UNARY = ("sqrt",)
OPS = BINARY + UNARY + ("fcmp", "fpromote", "fdemote")
_REFERENCE = {"fadd": sf.add, "fsub": sf.sub, "fmul": sf.mul, "fdiv": sf.div, "fmin": sf.fmin, "fmax": sf.fmax}


def types_of(op: str) -> tuple[int, ...]:
    """The operand widths `op` is checked at."""
    return {"fpromote": (32,), "fdemote": (64,)}.get(op, (32, 64))


def _bits_of(x: float, bits: int) -> int:
    if bits == 64:
        return struct.unpack("<Q", struct.pack("<d", x))[0]
    return struct.unpack("<I", struct.pack("<f", x))[0]


def edge_values(bits: int) -> list[int]:
    fmt = sf.FORMATS[bits]
    mant = fmt.qbit - 1  # the payload bits below the quiet bit
    pos = [
        0, 1, 2, fmt.inf >> 1, (1 << fmt.mbits) - 1, 1 << fmt.mbits, (1 << fmt.mbits) + 1,  # zeros, subnormals
        fmt.inf - 1, fmt.inf - 2, fmt.inf,  # near overflow, infinity
        fmt.nan, fmt.nan | 1, fmt.nan | mant, fmt.inf | 1, fmt.inf | mant, fmt.inf | (mant >> 1),  # NaNs
    ]  # fmt: skip
    for x in (1.0, 1.5, 2.0, 3.0, 0.5, 0.1, 1.0 / 3.0, 2.0**31, 2.0**32, 2.0**63, 2.0**64, 2.0**127, 2.0**15):
        b = _bits_of(x, bits) if x < 2.0**128 or bits == 64 else fmt.inf
        pos += [b, b - 1, b + 1]  # and the neighbours: near the integer conversion limits
    if bits == 64:  # around the f32 range, for fdemote
        for x in (float.fromhex("0x1.fffffep127"), float.fromhex("0x1.fffffep127") + 2.0**103, 2.0**-126, 2.0**-149,
                  2.0**-150, 3 * 2.0**-151):
            b = _bits_of(x, 64)
            pos += [b, b - 1, b + 1]
    return sorted({p & fmt.magmask for p in pos} | {(p & fmt.magmask) | fmt.sign for p in pos})


def operands(bits: int, count: int, seed: int) -> Iterator[tuple[int, int]]:
    rng = random.Random(seed * 1000 + bits)
    edges = edge_values(bits)
    top = (1 << bits) - 1
    fmt = sf.FORMATS[bits]

    def one(other: int) -> int:
        k = rng.randrange(8)
        if k < 2:
            return rng.choice(edges)
        if k < 4:
            return rng.getrandbits(bits)
        if k < 6:  # near the other operand, either sign
            return ((other + rng.randrange(-4, 5)) & top) ^ (fmt.sign if rng.randrange(2) else 0)
        if k < 7:  # a short significand: exact results and ties
            e = rng.randrange(fmt.inf >> fmt.mbits)
            return (rng.randrange(2) << (bits - 1)) | (e << fmt.mbits) | (rng.getrandbits(4) << (fmt.mbits - 4))
        return rng.choice(edges) ^ rng.getrandbits(3)

    for _ in range(count):
        a = one(rng.getrandbits(bits))
        yield a, one(a)


def _clif(op: str, bits: int) -> str:
    t = f"f{bits}"
    if op == "fcmp":
        body = "".join(f"    v{i + 2} = fcmp {c} v0, v1\n" for i, c in enumerate(sf.FLOATCC))
        rets = ", ".join(f"v{i + 2}" for i in range(len(sf.FLOATCC)))
        return (f"function %t({t}, {t}) -> {', '.join(['i8'] * len(sf.FLOATCC))} {{\nblock0(v0: {t}, v1: {t}):\n"
                f"{body}    return {rets}\n}}\n")
    if op in BINARY:
        return f"function %t({t}, {t}) -> {t} {{\nblock0(v0: {t}, v1: {t}):\n    v2 = {op} v0, v1\n    return v2\n}}\n"
    dst = {"fpromote": "f64", "fdemote": "f32"}.get(op, t)
    return f"function %t({t}) -> {dst} {{\nblock0(v0: {t}):\n    v1 = {op}.{dst} v0\n    return v1\n}}\n"


def fast_function(op: str, bits: int) -> Callable:
    """The interpreter's compiled code for `op` at width `bits`: f(a, b) -> bits (a tuple for fcmp)."""
    from ..reader import parse_text
    from . import Interpreter

    interp = Interpreter([d.function for d in parse_text(_clif(op, bits)).functions])
    interp.compile("%t")
    fn = interp._compile(0)
    machine = Machine(interp, None, UNLIMITED_FUEL)
    if op in BINARY or op == "fcmp":
        return lambda a, b: fn(machine, 1, a, b)
    return lambda a, b: fn(machine, 1, a)


def reference(op: str, bits: int) -> Callable:
    fmt = sf.FORMATS[bits]
    if op in _REFERENCE:
        ref = _REFERENCE[op]
        return lambda a, b: ref(fmt, a, b)
    if op == "sqrt":
        return lambda a, b: sf.sqrt(fmt, a)
    if op == "fcmp":
        return lambda a, b: tuple(1 if sf.compare(fmt, c, a, b) else 0 for c in sf.FLOATCC)
    dst = sf.F64 if op == "fpromote" else sf.F32
    return lambda a, b: sf.convert(fmt, dst, a)


def check(op: str, bits: int, count: int, seed: int = 1, limit: int = 5) -> list[str]:
    """Mismatches (at most `limit`) between the fast path and the reference over `count` pairs."""
    fast, ref = fast_function(op, bits), reference(op, bits)
    bad: list[str] = []
    for a, b in operands(bits, count, seed):
        got, want = fast(a, b), ref(a, b)
        if got != want:
            bad.append(f"{op}.f{bits}({a:#x}, {b:#x}): fast path {got!r}, reference {want!r}")
            if len(bad) >= limit:
                break
    return bad
