"""Vector integer semantics: lane-wise arithmetic, logic, shifts, comparisons, saturating and
fixed-point arithmetic, pairwise ops, narrowing and widening, reductions.

Lane moves, constants and bitcasts (splat, insertlane, shuffle, vconst, bitcast, ...) live in
`lane_ops`, which shares the code generation helpers defined here.

How vector semantics are built
------------------------------
A vector value is a tuple of lane bit patterns, lane 0 first. Every lowering
works from a *lane template*: an expression over ``{0}``, ``{1}``, ... giving one
lane of the result (for the ops that also exist on scalars, the template comes
from `integer_ops.BUILDERS`, so scalar and vector semantics cannot drift apart).
`lanewise` unrolls the lane template over the lanes, ``{k}`` becoming ``{k}[i]``
for a vector operand and staying ``{k}`` for a scalar one (a shift amount), and
returns either

- the unrolled tuple expression itself, as a template the compiler inlines
  (up to `INLINE_LANES` lanes: ``iadd.i32x4`` becomes four additions in the
  generated code, no call at all), or
- a callable compiled once from the same unrolled expression and shared by
  every instruction with the same semantics (`compiled`), or, past
  `UNROLL_LANES` lanes, a ``map`` of the lane function over the lanes.

Templates that need a scratch name (``:=``) are always compiled into their own
lambda, so that they never assign a local of the generated function.

Dynamic vector types (``i32x4xN``) are tuples of ``base lanes * scale`` lanes at run
time; `runtime_type` gives that fixed type (see `runtime_scale`).

Semantic choices (Cranelift 0.120; tests/test_vector_ops.py):
- shift and rotate amounts are scalars, taken modulo the lane width;
- ``icmp`` lanes are all ones (true) or zero; ``vhigh_bits`` puts lane i's sign bit in
  bit i of the result, truncated to the result type;
- ``avg_round`` is ``(x + y + 1) >> 1`` computed without overflow, as its docs say
  (simd-avg-round.clif: 0xff avg 0xff is 0xff);
- ``sqmul_round_sat`` saturates only INT_MIN * INT_MIN; ``x86_pmulhrsw`` is the same
  rounding without saturation (INT_MIN * INT_MIN gives INT_MIN);
- ``x86_pmaddubsw`` multiplies signed bytes of ``x`` by unsigned bytes of ``y`` (its docs),
  adds adjacent products and saturates to i16;
- ``x86_blendv`` chooses each lane of ``x`` where the matching lane of ``c`` has its top
  bit set, else the lane of ``y``.
"""

from __future__ import annotations

from itertools import repeat
from typing import Callable, Sequence, Union

from ..ir.types import Type
from . import bit_ops  # noqa: F401  (its builders run lane by lane too: LANEWISE)
from .integer_ops import BUILDERS, hx, icmp_expression, lower_scalar
from .machine import dynamic_scale
from .registry import LOWERINGS, OpContext, by_shape, impl, mask

Semantics = Union[str, Callable]

INLINE_LANES = 16  # unrolled templates up to this many lanes are inlined in the generated code
INLINE_CHARS = 2500  # ... when no longer than this (iadd.i8x16 inline: ~12% faster than a call)
UNROLL_LANES = 16  # beyond this many lanes, map a lane function instead of unrolling

# -- code generation helpers (shared with lane_ops) ---------------------------------------

_COMPILED: dict[tuple[str, int], Callable] = {}
_NAMESPACE = {"__builtins__": {}}


def compiled(template: str, arity: int) -> Callable:
    """A function of `arity` arguments evaluating `template` (over {0}..), compiled once per text."""
    key = (template, arity)
    fn = _COMPILED.get(key)
    if fn is None:
        params = [f"_a{i}" for i in range(arity)]
        fn = eval(f"lambda {', '.join(params)}: {template.format(*params)}", _NAMESPACE)  # noqa: S307
        _COMPILED[key] = fn
    return fn


def finish(template: str, arity: int, lanes: int) -> Semantics:
    """Inline `template` (an unrolled vector expression) or compile it, by the module's policy."""
    if lanes <= INLINE_LANES and len(template) <= INLINE_CHARS and ":=" not in template:
        return template
    return compiled(template, arity)


def tuple_expr(parts: Sequence[str]) -> str:
    return "(" + ", ".join(parts) + ",)"


def lane_refs(kinds: str, i: int) -> list[str]:
    """Placeholders for lane i: ``{k}[i]`` for vector operands ('v'), ``{k}`` for scalars ('s')."""
    return [f"{{{k}}}[{i}]" if c == "v" else f"{{{k}}}" for k, c in enumerate(kinds)]


def _mapped(fn: Callable, kinds: str) -> Callable:
    """Apply the lane function `fn` to every lane (scalar operands repeated)."""
    params = [f"_a{k}" for k in range(len(kinds))]
    feeds = [p if c == "v" else f"_r({p})" for p, c in zip(params, kinds)]
    source = f"lambda {', '.join(params)}: _t(_m(_f, {', '.join(feeds)}))"
    return eval(source, {"__builtins__": {}, "_t": tuple, "_m": map, "_f": fn, "_r": repeat})  # noqa: S307


def lanewise(lane: Semantics, lanes: int, kinds: str) -> Semantics:
    """Vector semantics applying the one-lane `lane` (template or callable) to each of `lanes` lanes."""
    arity = len(kinds)
    if callable(lane):
        return _mapped(lane, kinds)
    if lanes > UNROLL_LANES:
        return _mapped(compiled(lane, arity), kinds)
    template = tuple_expr([lane.format(*lane_refs(kinds, i)) for i in range(lanes)])
    return finish(template, arity, lanes)


# -- types -------------------------------------------------------------------------------


def runtime_scale(ctx: OpContext, t: Type) -> int:
    """How many base vectors a value of dynamic type `t` holds at run time.

    The scale of a declared dynamic type ``dtN = i32x4*gvM`` is its global value's
    (``dyn_scale_target_const``: base vectors per 128-bit register, see
    `machine.dynamic_scale`); a dynamic type derived by an instruction (the result
    of ``snarrow`` on ``dt0``, say) that no ``dtN`` names scales the same way.
    Cranelift's own interpreter has no dynamic vectors at all.
    """
    func = ctx.function
    for dt in func.dynamic_types.values():
        base = dt.base_vector
        if (base.kind, base.lane_bits, base.lanes) == (t.kind, t.lane_bits, t.lanes):
            return dynamic_scale(func, dt.scale)
    return max(1, 16 // max(1, t.bytes))


def runtime_type(ctx: OpContext, t: Type) -> Type:
    """`t`, or for a dynamic vector type the fixed type of its values at run time."""
    if not t.dynamic:
        return t
    return Type.get(t.kind, t.lane_bits, t.lanes * runtime_scale(ctx, t))


def vector_type(ctx: OpContext) -> Type:
    """The run-time type of the instruction's first vector operand or result."""
    for t in (*ctx.arg_types, *ctx.result_types):
        if t.is_vector:
            return runtime_type(ctx, t)
    return ctx.type


def kinds_of(ctx: OpContext) -> str:
    return "".join("v" if t.is_vector else "s" for t in ctx.arg_types)


# -- lane-wise ops shared with the scalar family -------------------------------------------

# Every scalar builder whose opcode takes vectors runs lane by lane, except icmp (a true vector
# lane is all ones, not the scalar 1: lower_icmp below). Builders that are not their opcode's
# scalar lowering (select: whole values, vectors included) are not lane-wise.
LANEWISE = [op for op in BUILDERS if LOWERINGS.get(op) is lower_scalar and op.name != "icmp"
            and op.ctrl is not None and op.ctrl.lane_counts != {1}]


@impl(*LANEWISE, vector=True)
@by_shape
def lower_lanewise(ctx: OpContext) -> Semantics:
    """The scalar builder's semantics on each lane. Logic ops and bitselect work on the lane
    bit patterns, so float vectors are fine (NaN lanes pass through unchanged)."""
    t = vector_type(ctx)
    lane = BUILDERS[ctx.inst.opcode](ctx, t.lane_type)
    return lanewise(lane, t.lanes, kinds_of(ctx))


@impl("icmp", vector=True)
@by_shape
def lower_icmp(ctx: OpContext) -> Semantics:
    """Each result lane is all ones where the condition holds, zero elsewhere."""
    t = vector_type(ctx)
    w = t.lane_bits
    lane = "(%s if %s else 0)" % (hx(mask(w)), icmp_expression(ctx.inst.cond, w, "{0}", "{1}"))
    return lanewise(lane, t.lanes, "vv")


# -- saturating, rounding and fixed-point arithmetic ----------------------------------------


def _sat_template(name: str, w: int) -> str:
    m, s = mask(w), 1 << (w - 1)
    if name == "uadd_sat":
        return "(%s if {0} > %s - {1} else {0} + {1})" % (hx(m), hx(m))
    if name == "usub_sat":
        return "({0} - {1} if {0} > {1} else 0)"
    if name == "sadd_sat":
        # _u is the sum of the biased (value + 2**(w-1)) operands: the biased result is _u - s.
        return "(%s if (_u := ({0} ^ %s) + ({1} ^ %s)) < %s else (%s if _u > %s else (_u - %s) ^ %s))" % (
            hx(s), hx(s), hx(s), hx(s), hx(s - 1), hx(m + s), hx(s), hx(s))
    if name == "ssub_sat":
        # _u is the exact difference x - y; the biased result is _u + s.
        return "(%s if (_u := ({0} ^ %s) - ({1} ^ %s)) < -%s else (%s if _u > %s else (_u + %s) ^ %s))" % (
            hx(s), hx(s), hx(s), hx(s), hx(s - 1), hx(s - 1), hx(s), hx(s))
    if name == "avg_round":
        return "(({0} + {1} + 1) >> 1)"
    raise KeyError(name)


@impl("uadd_sat", "sadd_sat", "usub_sat", "ssub_sat", "avg_round")
@by_shape
def lower_saturating(ctx: OpContext) -> Semantics:
    t = vector_type(ctx)
    return lanewise(_sat_template(ctx.inst.opcode.name, t.lane_bits), t.lanes, kinds_of(ctx))


def _qmul_template(w: int, saturate: bool) -> str:
    """Q(w-1) fixed-point multiply with rounding: (x * y + 2**(w-2)) >> (w-1)."""
    m, s = mask(w), 1 << (w - 1)
    product = "((((({0} ^ %s) - %s) * (({1} ^ %s) - %s) + %s) >> %d) & %s)" % (
        hx(s), hx(s), hx(s), hx(s), hx(1 << (w - 2)), w - 1, hx(m))
    if not saturate:
        return product
    # Only INT_MIN * INT_MIN overflows; it saturates to INT_MAX.
    return "(%s if {0} == %s and {1} == %s else %s)" % (hx(s - 1), hx(s), hx(s), product)


@impl("sqmul_round_sat", "x86_pmulhrsw")
@by_shape
def lower_qmul(ctx: OpContext) -> Semantics:
    t = vector_type(ctx)
    lane = _qmul_template(t.lane_bits, ctx.inst.opcode.name == "sqmul_round_sat")
    if t.is_scalar:
        return lane
    return lanewise(lane, t.lanes, "vv")


@impl("iadd_pairwise")
@by_shape
def lower_iadd_pairwise(ctx: OpContext) -> Semantics:
    """Sums of adjacent lanes: x's pairs make the low half of the result, y's the high half."""
    t = vector_type(ctx)
    m = hx(mask(t.lane_bits))
    parts = [f"(({{{k}}}[{i}] + {{{k}}}[{i + 1}]) & {m})" for k in (0, 1) for i in range(0, t.lanes, 2)]
    return finish(tuple_expr(parts), 2, t.lanes)


def _pmaddubsw(x: tuple, y: tuple) -> tuple:
    out = []
    for i in range(0, 16, 2):
        s = ((x[i] ^ 0x80) - 0x80) * y[i] + ((x[i + 1] ^ 0x80) - 0x80) * y[i + 1]
        out.append((-0x8000 if s < -0x8000 else 0x7FFF if s > 0x7FFF else s) & 0xFFFF)
    return tuple(out)


@impl("x86_pmaddubsw")
@by_shape
def lower_pmaddubsw(ctx: OpContext) -> Semantics:
    return _pmaddubsw


# -- narrowing and widening ------------------------------------------------------------------


def _narrow_template(name: str, w: int) -> str:
    """One w-bit lane saturated into w/2 bits."""
    h = w // 2
    s, hs, hm = 1 << (w - 1), 1 << (h - 1), mask(h)
    if name == "snarrow":
        # Biased by 2**(w-1), the signed range of the narrow type is [s - hs, s + hs - 1].
        return "(%s if ({0} ^ %s) < %s else (%s if ({0} ^ %s) > %s else {0} & %s))" % (
            hx(hs), hx(s), hx(s - hs), hx(hs - 1), hx(s), hx(s + hs - 1), hx(hm))
    if name == "unarrow":  # signed input, unsigned saturation
        return "(0 if {0} >= %s else (%s if {0} > %s else {0}))" % (hx(s), hx(hm), hx(hm))
    return "(%s if {0} > %s else {0})" % (hx(hm), hx(hm))  # uunarrow: unsigned input


@impl("snarrow", "unarrow", "uunarrow")
@by_shape
def lower_narrow(ctx: OpContext) -> Semantics:
    """x's lanes narrowed, then y's: twice the lanes at half the width."""
    t = runtime_type(ctx, ctx.arg_types[0])
    lane = _narrow_template(ctx.inst.opcode.name, t.lane_bits)
    parts = [lane.format(f"{{{k}}}[{i}]") for k in (0, 1) for i in range(t.lanes)]
    return finish(tuple_expr(parts), 2, 2 * t.lanes)


@impl("swiden_low", "swiden_high", "uwiden_low", "uwiden_high")
@by_shape
def lower_widen(ctx: OpContext) -> Semantics:
    """The low or high half of the lanes, sign- or zero-extended to twice the width."""
    t = runtime_type(ctx, ctx.arg_types[0])
    name = ctx.inst.opcode.name
    half = t.lanes // 2
    first = half if name.endswith("_high") else 0
    w = t.lane_bits
    if name[0] == "s":
        s = hx(1 << (w - 1))
        lane = "((({0} ^ %s) - %s) & %s)" % (s, s, hx(mask(2 * w)))
    else:
        lane = "{0}"
    parts = [lane.format(f"{{0}}[{i}]") for i in range(first, first + half)]
    return finish(tuple_expr(parts), 1, half)


# -- reductions ------------------------------------------------------------------------------


@impl("vany_true")
@by_shape
def lower_vany_true(ctx: OpContext) -> Semantics:
    t = vector_type(ctx)
    return "(0 if {0} == %s else 1)" % tuple_expr(["0"] * t.lanes)


@impl("vall_true")
@by_shape
def lower_vall_true(ctx: OpContext) -> Semantics:
    return "(0 if 0 in {0} else 1)"


@impl("vhigh_bits")
@by_shape
def lower_vhigh_bits(ctx: OpContext) -> Semantics:
    """Bit i of the result is the top bit of lane i (bits past the result's width are lost)."""
    t = vector_type(ctx)
    top = t.lane_bits - 1
    out_bits = ctx.result_types[0].bits
    parts = []
    for i in range(min(t.lanes, out_bits)):
        bit = f"({{0}}[{i}] >> {top})"
        parts.append(bit if i == 0 else f"({bit} << {i})")
    template = "(" + " | ".join(parts) + ")"
    return finish(template, 1, t.lanes)


# -- selection ---------------------------------------------------------------------------


@impl("vselect")
@by_shape
def lower_vselect(ctx: OpContext) -> Semantics:
    """Heap era: lane i of x where lane i of c is non-zero (true), else of y."""
    t = vector_type(ctx)
    return lanewise("({1} if {0} else {2})", t.lanes, "vvv")


@impl("widening_pairwise_dot_product_s")
@by_shape
def lower_widening_dot(ctx: OpContext) -> Semantics:
    """Heap era (Wasm i32x4.dot_i16x8_s): sums of sign-extended products of adjacent i16 lanes."""

    def dot(x: tuple, y: tuple) -> tuple:
        s = [((a ^ 0x8000) - 0x8000) * ((b ^ 0x8000) - 0x8000) for a, b in zip(x, y)]
        return tuple((s[i] + s[i + 1]) & 0xFFFFFFFF for i in range(0, 8, 2))

    return dot


@impl("x86_blendv", "blendv")  # blendv: the later name (Cranelift 0.121 on)
@by_shape
def lower_blendv(ctx: OpContext) -> Semantics:
    t = runtime_type(ctx, ctx.result_types[0])
    top = hx(1 << (t.lane_bits - 1))
    lane = "({1} if {0} & %s else {2})" % top
    if t.is_scalar:
        return lane
    return lanewise(lane, t.lanes, "vvv")
