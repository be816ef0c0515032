"""Vector lane moves and reinterpretation: splat, insertlane, extractlane, scalar_to_vector,
shuffle, swizzle, x86_pshufb, vconst, extract_vector, and bitcast (every type, scalars too).

Code generation follows `vector_ops` (unrolled tuple expressions, inlined when short).

Lane order: lane 0 is the lowest-addressed lane in memory. A vector constant's
bytes (``vconst``, a ``constN`` pool entry) are little-endian: lane 0 is the
first bytes, each lane least significant byte first.

``bitcast`` is, as its documentation says, a store of the operand followed by a
load of the result type from the same address with the instruction's MemFlags.
Memory holds the lanes in lane order, each lane in the flags' byte order
(the target's when none is given: `memory_ops.is_big`), so:

- between types of the same lane layout (``i32x4`` / ``f32x4``, ``i64`` / ``f64``) the
  bits are unchanged, whatever the byte order;
- otherwise (``i64x2`` → ``i32x4``, ``i128`` → ``i8x16``, ``i32x2`` → ``f64``) little-endian
  splits a wide lane into narrow lanes least significant part first, big-endian most
  significant part first (``bitcast.i32x2 big`` of an i64 puts its high half in lane 0).
A scalar is a vector of one lane. (Cranelift's interpreter accepts only
little-endian bitcasts of vectors; the native backends implement both orders.)
"""

from __future__ import annotations

import struct

from ..ir.types import Type
from .machine import Unsupported
from .memory_ops import is_big
from .registry import OpContext, by_shape, constant_text, impl, mask
from .vector_ops import Semantics, finish, runtime_type, tuple_expr, vector_type

# -- building vectors --------------------------------------------------------------------


@impl("splat")
@by_shape
def lower_splat(ctx: OpContext) -> Semantics:
    t = runtime_type(ctx, ctx.result_types[0])
    return "(({0},) * %d)" % t.lanes


@impl("scalar_to_vector")
@by_shape
def lower_scalar_to_vector(ctx: OpContext) -> Semantics:
    """The scalar in lane 0, zeros elsewhere."""
    t = runtime_type(ctx, ctx.result_types[0])
    return tuple_expr(["{0}"] + ["0"] * (t.lanes - 1))


def _lane_index(ctx: OpContext, t: Type) -> int:
    index = ctx.inst.imm
    if not isinstance(index, int) or not 0 <= index < t.lanes:
        raise Unsupported(f"{ctx.inst.opcode.name}: lane {index} is out of range for {t}")
    return index


@impl("insertlane")
@by_shape
def lower_insertlane(ctx: OpContext) -> Semantics:
    t = runtime_type(ctx, ctx.arg_types[0])
    i = _lane_index(ctx, t)
    if t.lanes <= 16:  # unrolled: about twice as fast as slicing and concatenating
        return tuple_expr(["{1}" if j == i else f"{{0}}[{j}]" for j in range(t.lanes)])
    return "({0}[:%d] + ({1},) + {0}[%d:])" % (i, i + 1)


@impl("extractlane")
@by_shape
def lower_extractlane(ctx: OpContext) -> Semantics:
    t = runtime_type(ctx, ctx.arg_types[0])
    return "{0}[%d]" % _lane_index(ctx, t)


@impl("extract_vector")
@by_shape
def lower_extract_vector(ctx: OpContext) -> Semantics:
    """The index-th fixed base vector of a dynamic vector."""
    src = runtime_type(ctx, ctx.arg_types[0])
    n = ctx.result_types[0].lanes
    k = ctx.inst.imm
    if not isinstance(k, int) or (k + 1) * n > src.lanes:
        raise Unsupported(f"extract_vector: sub-vector {k} is out of range for {ctx.arg_types[0]} ({src} at run time)")
    return "{0}[%d:%d]" % (k * n, (k + 1) * n)


# Lane width in bytes -> its `struct` code (unsigned, little-endian): one unpack of all lanes.
_LANE_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}


def constant_lanes(data: bytes, t: Type) -> tuple:
    """The lanes of the little-endian constant `data` as a value of vector type `t` (zero-padded)."""
    data = bytes(data)[: t.bytes].ljust(t.bytes, b"\0")
    n = t.lane_bits // 8
    code = _LANE_CODES.get(n)
    if code is not None:
        return struct.unpack(f"<{len(data) // n}{code}", data)
    return tuple(int.from_bytes(data[i : i + n], "little") for i in range(0, t.bytes, n))


@impl("vconst")
def lower_vconst(ctx: OpContext) -> Semantics:
    t = ctx.result_types[0]
    imm = ctx.inst.imm
    if isinstance(imm, int):
        if imm not in ctx.function.constants:
            raise Unsupported(f"vconst: const{imm} is not declared")
        imm = ctx.function.constants[imm]
    lanes = constant_lanes(imm, t)
    if ctx.once and ctx.interpreter is not None:
        # A global: a name compiles in a sixth of the time of a tuple of 16 numbers.
        return ctx.interpreter.bind(lanes, "c")
    return repr(lanes)


@constant_text("vconst")
def _vconst_text(interp, inst, func, result_types, once: bool) -> str | None:
    """`lower_vconst`'s text in code that runs once (a bound name), for a declared constant."""
    imm = inst.imm
    if not once or not result_types or (isinstance(imm, int) and imm not in func.constants):
        return None
    return interp.bind(constant_lanes(func.constants[imm] if isinstance(imm, int) else imm, result_types[0]), "c")


# -- permutations ------------------------------------------------------------------------


@impl("shuffle")
def lower_shuffle(ctx: OpContext) -> Semantics:
    """Lane i is lane mask[i] of the concatenation a|b; indices past 31 give 0 (as in Cranelift's
    interpreter; the verifier rejects them)."""
    t = vector_type(ctx)
    n = t.lanes
    mask = bytes(ctx.inst.mask)[:n].ljust(n, b"\0")
    if ctx.once:
        # One closure: the unrolled template, a mask of its own, would be compiled apart
        # (`compiler.shared`) for the one function using it, at some 150 µs.
        return _shuffled(tuple(min(k, 2 * n) for k in mask))
    parts = []
    for k in mask:
        parts.append(f"{{0}}[{k}]" if k < n else f"{{1}}[{k - n}]" if k < 2 * n else "0")
    return tuple_expr(parts)


def _shuffled(picks: tuple):
    """Lanes of a|b|(0,) by index: `lower_shuffle` of compact code."""

    def shuffle(a: tuple, b: tuple) -> tuple:
        return tuple(map((a + b + (0,)).__getitem__, picks))

    return shuffle


_PAD240 = (0,) * 240
_PAD128 = (0,) * 128


def _swizzle(x: tuple, s: tuple) -> tuple:
    # Indices 16..255 read the zero padding.
    return tuple(map((x + _PAD240).__getitem__, s))


def _pshufb(x: tuple, s: tuple) -> tuple:
    # Indices below 128 select x[i % 16]; 128..255 read the zero padding.
    return tuple(map((x * 8 + _PAD128).__getitem__, s))


@impl("swizzle")
@by_shape
def lower_swizzle(ctx: OpContext) -> Semantics:
    """Lane i is x[s[i]], or 0 when s[i] is 16 or more."""
    return _swizzle


@impl("x86_pshufb")
@by_shape
def lower_pshufb(ctx: OpContext) -> Semantics:
    """Lane i is x[s[i] % 16], or 0 when the top bit of s[i] is set."""
    return _pshufb


# -- bitcast -----------------------------------------------------------------------------


def _same_layout(a: Type, b: Type) -> bool:
    return a.lane_bits == b.lane_bits and a.lanes == b.lanes


def bitcast_template(src: Type, dst: Type, big: bool) -> str:
    """An expression over {0} (a scalar int or a tuple of lanes) giving the bitcast to `dst`."""
    if _same_layout(src, dst):
        return "({0})"
    wi, wo = src.lane_bits, dst.lane_bits

    def lane(i: int) -> str:
        return f"{{0}}[{i}]" if src.is_vector else "{0}"

    parts = []
    if wi > wo:  # each source lane makes k result lanes
        k = wi // wo
        for j in range(dst.lanes):
            p = j % k
            shift = (k - 1 - p if big else p) * wo
            term = lane(j // k) if shift == 0 else f"({lane(j // k)} >> {shift})"
            if shift + wo < wi:
                term = f"({term} & {hex(mask(wo))})"
            parts.append(term)
    else:  # each result lane gathers k source lanes
        k = wo // wi
        for j in range(dst.lanes):
            terms = []
            for p in range(k):
                shift = (k - 1 - p if big else p) * wi
                terms.append(lane(j * k + p) if shift == 0 else f"({lane(j * k + p)} << {shift})")
            parts.append("(" + " | ".join(terms) + ")")
    return tuple_expr(parts) if dst.is_vector else parts[0]


@impl("bitcast")
@by_shape
def lower_bitcast(ctx: OpContext) -> Semantics:
    src = runtime_type(ctx, ctx.arg_types[0])
    dst = runtime_type(ctx, ctx.result_types[0])
    if src.bits != dst.bits:
        raise Unsupported(f"bitcast from {src} to {dst}: the widths differ")
    template = bitcast_template(src, dst, is_big(ctx, ctx.inst.flags))
    if template == "({0})":
        return template
    return finish(template, 1, max(src.lanes, dst.lanes))

