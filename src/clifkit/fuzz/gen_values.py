"""Random values for generated programs: integer and float bit patterns biased to edge cases
(zeros, extremes, NaNs, infinities, subnormals, conversion limits), used both for constants
inside programs and for the run lines' arguments.
"""

from __future__ import annotations

import random
from math import log as _log

from ..ir.floats import FLOAT_FORMATS
from ..ir.function import AbiParam
from ..ir.types import Type

CANON_NAN = {32: 0x7FC0_0000, 64: 0x7FF8_0000_0000_0000}  # the NaN `canon` substitutes


class GenRandom(random.Random):
    """`random.Random`, drawing exactly the same stream from the same seed (the programs of a seed
    must not change), with the draws the generator makes most written out in one frame each:
    the library's `choice` calls `_randbelow`, `randint` calls `randrange`, which calls
    `_randbelow`, and a program makes several hundred such draws. Each consumes the same
    `getrandbits` calls as the library's (`_randbelow_with_getrandbits`, which `random.Random`
    uses; tests/test_fuzz_gen_random.py compares the streams); anything else is the library's."""

    def choice(self, seq):
        n = len(seq)
        if not n:
            raise IndexError("Cannot choose from an empty sequence")
        k = n.bit_length()
        # (called as a method each time: binding `self.getrandbits` to a name made a bound
        # method object for every draw, and most draws take one call)
        r = self.getrandbits(k)
        while r >= n:
            r = self.getrandbits(k)
        return seq[r]

    def randrange(self, start, stop=None, step=1):
        if stop is None:
            lo, n = 0, start
        elif start.__class__ is int and stop.__class__ is int:
            lo, n = start, stop - start
        else:
            return super().randrange(start, stop, step)
        if n.__class__ is int and n > 0 and step == 1:
            k = n.bit_length()
            r = self.getrandbits(k)
            while r >= n:
                r = self.getrandbits(k)
            return lo + r
        return super().randrange(start, stop, step)

    def randint(self, a, b):
        return self.randrange(a, b + 1)

    def expovariate(self, lambd):
        return -_log(1.0 - self.random()) / lambd


_PARAMS: dict[Type, AbiParam] = {}  # type -> its plain AbiParam (plain_param)


def plain_param(ty: Type) -> AbiParam:
    """`AbiParam(ty)`, one per type: it is frozen, so signatures may share it (a frozen dataclass
    is slow to make, and a program's signatures have some ten)."""
    found = _PARAMS.get(ty)
    if found is None:
        found = _PARAMS[ty] = AbiParam(ty)
    return found


_SMALL = (0, 1, 2, 3, 7, 8, 16, 31, 32, 63, 64, 100, 255, 256)
_EDGES: dict[int, tuple] = {}  # width -> its extremes and their neighbours (interesting_int)


def interesting_int(rng: random.Random, bits: int) -> int:
    """A bit pattern of width `bits`, biased to edge cases."""
    mask = (1 << bits) - 1
    r = rng.random()
    if r < 0.25:
        return rng.choice(_SMALL) & mask
    if r < 0.45:
        edges = _EDGES.get(bits)
        if edges is None:
            edges = _EDGES[bits] = (mask, mask - 1, 1 << (bits - 1), (1 << (bits - 1)) - 1, (1 << (bits - 1)) + 1)
        return rng.choice(edges)
    if r < 0.55:
        return (1 << rng.randrange(bits)) & mask
    if r < 0.7:
        return (-rng.randrange(1, 100)) & mask
    if r < 0.8:
        return rng.randrange(0, 1000) & mask
    return rng.getrandbits(bits)




def float_bits(rng: random.Random, bits: int) -> int:
    """A float bit pattern of width `bits`, biased to edge cases (NaNs, infinities, zeros, subnormals)."""
    w, t = FLOAT_FORMATS[bits]
    sign = (1 << (bits - 1)) if rng.random() < 0.3 else 0
    exp_all = ((1 << w) - 1) << t
    bias = (1 << (w - 1)) - 1
    r = rng.random()
    if r < 0.08:
        return sign  # +-0
    if r < 0.14:
        return sign | exp_all  # +-Inf
    if r < 0.20:
        return sign | exp_all | (1 << (t - 1))  # quiet NaN
    if r < 0.24:
        return sign | exp_all | (1 << (t - 1)) | rng.getrandbits(t - 1)  # NaN with payload
    if r < 0.27:
        return sign | exp_all | rng.randrange(1, 1 << (t - 1))  # signaling NaN
    if r < 0.31:
        return sign | rng.randrange(1, 1 << t)  # subnormal
    if r < 0.60:
        # A small integer value, exact: good for conversions and rounding.
        n = rng.randrange(0, 300)
        if n == 0:
            return sign
        e = n.bit_length() - 1
        frac = (n - (1 << e)) << (t - e) if e <= t else 0
        return sign | ((e + bias) << t) | frac
    if r < 0.75:
        # +-2^k and neighbours around the integer conversion limits.
        k = rng.choice((7, 8, 15, 16, 31, 32, 63, 64))
        value = sign | ((k + bias) << t)
        return value + rng.choice((-1, 0, 0, 1))
    if r < 0.85:
        # Something with a fraction: n + m/8.
        e = rng.randrange(-3, 10)
        return sign | ((e + bias) << t) | (rng.getrandbits(3) << (t - 3))
    return rng.getrandbits(bits)


def random_value(rng: random.Random, ty: Type):
    """A run-line argument of type `ty` (interpreter representation)."""
    if ty.is_vector:
        draw, bits = float_bits if ty.lane_type.is_float else interesting_int, ty.lane_bits
        return tuple([draw(rng, bits) for _ in range(ty.lanes)])
    if ty.is_float:
        return float_bits(rng, ty.bits)
    return interesting_int(rng, ty.bits)
