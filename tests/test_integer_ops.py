"""Scalar integer semantics (interpreter/integer_ops.py and bit_ops.py), lowering by lowering.

Each check builds an `OpContext` by hand, asks the registered lowering for its
semantics (an expression template or a callable), turns that into a function
and compares it with hand-picked expectations (many from Cranelift 0.120's
run-tests and instruction docs) and with straightforward reference formulas.
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache
from math import trunc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clifkit.interpreter import bit_ops, division_ops, integer_ops, overflow_ops  # noqa: F401  (the whole integer family registers)
from clifkit.interpreter.registry import LOWERINGS, OpContext, Trap
from clifkit.ir.function import Function, Inst, Signature
from clifkit.ir.opcodes import OPCODES
from clifkit.ir.types import F32, F64, F128, I8, I16, I32, I64, I128, Type, parse_type

INTS = (I8, I16, I32, I64, I128)
WIDTHS = (8, 16, 32, 64, 128)
T = {t.bits: t for t in INTS}
CONDS = ("eq", "ne", "slt", "sge", "sgt", "sle", "ult", "uge", "ugt", "ule")
FAST = settings(max_examples=120, deadline=None)

# -- building and running lowerings -------------------------------------------------


def make_ctx(name, ctrl, arg_types=None, result_types=None, **fields) -> OpContext:
    op = OPCODES[name]
    if arg_types is None:
        arg_types = [o.resolve(ctrl) or ctrl for o in op.value_ins]
    if result_types is None:
        result_types = [o.resolve(ctrl) or ctrl for o in op.outs]
    inst = Inst(op, ctrl, args=list(range(len(arg_types))), results=[], **fields)
    return OpContext(inst, Function("%t", Signature()), ctrl, list(arg_types), list(result_types))


def parenthesised(template: str) -> bool:
    """A template is a literal, or one parenthesised group spanning the whole text."""
    if re.fullmatch(r"0x[0-9a-f]+|\d+", template):
        return True
    if not template.startswith("("):
        return False
    depth = 0
    for i, ch in enumerate(template):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0:
            return i == len(template) - 1
    return False


def as_function(semantics, arity: int):
    """A lowering's result as a function: templates are evaluated as a lambda (with no builtins)."""
    if callable(semantics):
        return semantics
    assert isinstance(semantics, str)
    assert parenthesised(semantics), semantics
    names = [f"a{i}" for i in range(arity)]
    return eval(f"lambda {', '.join(names)}: {semantics.format(*names)}", {"__builtins__": {}})


def _key(fields):
    return tuple(sorted(fields.items()))


@lru_cache(maxsize=None)
def _lowered(name, ctrl, arg_types, result_types, fields):
    ctx = make_ctx(name, ctrl, list(arg_types) if arg_types else None,
                   list(result_types) if result_types else None, **dict(fields))
    return as_function(LOWERINGS[name](ctx), len(OPCODES[name].value_ins))


def op(name, ctrl, arg_types=None, result_types=None, **fields):
    """The semantics of `name` at `ctrl` as a function (cached)."""
    return _lowered(name, ctrl, tuple(arg_types or ()), tuple(result_types or ()), _key(fields))


def run(name, ctrl, *args, arg_types=None, result_types=None, **fields):
    """Run once; a trap becomes ("trap", code)."""
    try:
        return op(name, ctrl, arg_types, result_types, **fields)(*args)
    except Trap as e:
        return ("trap", e.code)


# -- reference formulas ---------------------------------------------------------------


def m(w):
    return (1 << w) - 1


def s(x, w):
    return x - (1 << w) if x >> (w - 1) else x


def u(x, w):
    return x % (1 << w)


def bits_of(x, w):
    return format(x, f"0{w}b")


def ref_sdiv(x, y, w):
    if y == 0:
        return ("trap", "int_divz")
    q = trunc(Fraction(s(x, w), s(y, w)))
    if q == 1 << (w - 1):
        return ("trap", "int_ovf")
    return u(q, w)


def ref_srem(x, y, w):
    if y == 0:
        return ("trap", "int_divz")
    a, b = s(x, w), s(y, w)
    return u(a - b * trunc(Fraction(a, b)), w)


def ref_rotl(x, y, w):
    b, k = bits_of(x, w), y % w
    return int(b[k:] + b[:k], 2)


BINARY = {
    "iadd": lambda x, y, w: u(x + y, w),
    "isub": lambda x, y, w: u(x - y, w),
    "imul": lambda x, y, w: u(x * y, w),
    "umulhi": lambda x, y, w: (x * y) >> w,
    "smulhi": lambda x, y, w: u((s(x, w) * s(y, w)) >> w, w),
    "udiv": lambda x, y, w: x // y if y else ("trap", "int_divz"),
    "urem": lambda x, y, w: x % y if y else ("trap", "int_divz"),
    "sdiv": ref_sdiv,
    "srem": ref_srem,
    "band": lambda x, y, w: x & y,
    "bor": lambda x, y, w: x | y,
    "bxor": lambda x, y, w: x ^ y,
    "band_not": lambda x, y, w: u(x & ~y, w),
    "bor_not": lambda x, y, w: u(x | ~y, w),
    "bxor_not": lambda x, y, w: u(~(x ^ y), w),
    "smin": lambda x, y, w: min(x, y, key=lambda v: s(v, w)),
    "smax": lambda x, y, w: max(x, y, key=lambda v: s(v, w)),
    "umin": lambda x, y, w: min(x, y),
    "umax": lambda x, y, w: max(x, y),
    "uadd_overflow": lambda x, y, w: (u(x + y, w), int(x + y >= 1 << w)),
    "sadd_overflow": lambda x, y, w: (u(x + y, w), int(s(x, w) + s(y, w) != s(u(x + y, w), w))),
    "usub_overflow": lambda x, y, w: (u(x - y, w), int(x < y)),
    "ssub_overflow": lambda x, y, w: (u(x - y, w), int(s(x, w) - s(y, w) != s(u(x - y, w), w))),
    "umul_overflow": lambda x, y, w: (u(x * y, w), int(x * y >= 1 << w)),
    "smul_overflow": lambda x, y, w: (u(x * y, w), int(s(x, w) * s(y, w) != s(u(x * y, w), w))),
}
SHIFTS = {
    "ishl": lambda x, y, w: u(x * 2 ** (y % w), w),
    "ushr": lambda x, y, w: x // 2 ** (y % w),
    "sshr": lambda x, y, w: u(s(x, w) // 2 ** (y % w), w),
    "rotl": ref_rotl,
    "rotr": lambda x, y, w: ref_rotl(x, w - y % w, w),
}


def ref_cls(x, w):
    b = bits_of(x, w)
    return len(b) - len(b.lstrip(b[0])) - 1


UNARY = {
    "ineg": lambda x, w: u(-x, w),
    "iabs": lambda x, w: u(abs(s(x, w)), w),
    "bnot": lambda x, w: u(~x, w),
    "clz": lambda x, w: len(bits_of(x, w)) - len(bits_of(x, w).lstrip("0")),
    "ctz": lambda x, w: len(bits_of(x, w)) - len(bits_of(x, w).rstrip("0")),
    "cls": ref_cls,
    "popcnt": lambda x, w: bits_of(x, w).count("1"),
    "bitrev": lambda x, w: int(bits_of(x, w)[::-1], 2),
    "bswap": lambda x, w: int.from_bytes(x.to_bytes(w // 8, "big"), "little"),
}
ICMP = {
    "eq": lambda a, b, w: a == b,
    "ne": lambda a, b, w: a != b,
    "ult": lambda a, b, w: a < b,
    "ule": lambda a, b, w: a <= b,
    "ugt": lambda a, b, w: a > b,
    "uge": lambda a, b, w: a >= b,
    "slt": lambda a, b, w: s(a, w) < s(b, w),
    "sle": lambda a, b, w: s(a, w) <= s(b, w),
    "sgt": lambda a, b, w: s(a, w) > s(b, w),
    "sge": lambda a, b, w: s(a, w) >= s(b, w),
}


def edges(w):
    """0, 1, 2, -1, -2, INT_MIN, INT_MIN + 1, INT_MAX, and a mixed pattern."""
    return sorted({0, 1, 2, m(w), m(w) - 1, 1 << (w - 1), (1 << (w - 1)) + 1, m(w) >> 1, 0x5A5A_C3C3_0F0F_9669_1234_5678_9ABC_DEF0 & m(w)})


def valid_for(name, w):
    if name in ("umul_overflow", "smul_overflow"):
        return w <= 64
    if name == "bswap":
        return w >= 16
    return True


def pattern(w):
    return st.integers(0, m(w))


width_and_pair = st.sampled_from(WIDTHS).flatmap(lambda w: st.tuples(st.just(w), pattern(w), pattern(w)))
width_and_value = st.sampled_from(WIDTHS).flatmap(lambda w: st.tuples(st.just(w), pattern(w)))
imm64 = st.integers(-(1 << 63), (1 << 64) - 1)  # written signed, or as an unsigned 64-bit pattern

# -- registration and template shape ---------------------------------------------------------

COVERED = sorted(
    (
        "iconst iadd isub ineg iabs imul umulhi smulhi udiv sdiv urem srem iadd_imm imul_imm udiv_imm "
        "sdiv_imm urem_imm srem_imm irsub_imm uadd_overflow sadd_overflow usub_overflow ssub_overflow "
        "umul_overflow smul_overflow uadd_overflow_cin sadd_overflow_cin usub_overflow_bin "
        "ssub_overflow_bin uadd_overflow_trap band bor bxor bnot band_not bor_not bxor_not band_imm "
        "bor_imm bxor_imm rotl rotr rotl_imm rotr_imm ishl ushr sshr ishl_imm ushr_imm sshr_imm bitrev "
        "clz cls ctz popcnt bswap icmp icmp_imm select select_spectre_guard bitselect bmask uextend "
        "sextend ireduce iconcat isplit smin umin smax umax"
    ).split()
)


def test_every_scalar_integer_opcode_is_registered():
    missing = [name for name in COVERED if name not in LOWERINGS]
    assert not missing


@pytest.mark.parametrize("name", COVERED)
def test_templates_are_parenthesised_and_need_no_names(name):
    fields = {"imm": 3, "cond": "slt", "code": "user1"}
    ctrl = I16 if name in ("iconcat", "uextend", "sextend", "ireduce", "bmask") else I32
    if name == "uadd_overflow_trap":
        ctrl = I64
    args = [I8] if name in ("uextend", "sextend") else ([I64] if name == "ireduce" else None)
    ctx = make_ctx(name, ctrl, args, **{k: v for k, v in fields.items() if k in OPCODES[name].format.immediates})
    out = LOWERINGS[name](ctx)
    if isinstance(out, str):
        assert parenthesised(out), out
        # placeholders are the only braces; no free names apart from int methods
        body = out
        for i in range(len(OPCODES[name].value_ins)):
            body = body.replace("{%d}" % i, "a")
        assert "{" not in body and "}" not in body
        assert set(re.findall(r"[A-Za-z_]\w*", re.sub(r"0x[0-9a-f]+", "", body))) <= {
            "a", "if", "else", "bit_length", "bit_count"}
    else:
        assert callable(out)


@pytest.mark.parametrize("name,ctrl", [("iadd", parse_type("i32x4")), ("icmp", parse_type("i8x16")),
                                       ("band", parse_type("f32x4")), ("ishl_imm", parse_type("i64x2")),
                                       ("popcnt", parse_type("i8x16")), ("bitselect", parse_type("i16x8"))])
def test_vector_types_are_left_to_vector_ops(name, ctrl):
    """The scalar lowerings refuse vector types: those opcodes' vector forms are in vector_ops."""
    ctx = make_ctx(name, ctrl, imm=1, cond="eq")
    with pytest.raises(NotImplementedError):
        LOWERINGS[name](ctx)


def test_lane_function_gives_plain_functions():
    f = integer_ops.lane_function(make_ctx("iadd", parse_type("i8x16")), I8)
    assert f(0xFF, 2) == 1
    g = integer_ops.lane_function(make_ctx("sdiv", I32))
    assert g(0xFFFFFFF9, 2) == 0xFFFFFFFD
    assert integer_ops.placeholder_count("({0} if {0} else {1})", 0) == 2


# -- constants ---------------------------------------------------------------------------


@pytest.mark.parametrize("ctrl,imm,expected", [
    (I8, -1, 0xFF), (I8, 0xFF, 0xFF), (I8, 0x1FF, 0xFF), (I16, -32768, 0x8000), (I32, 0xFFFFFFFF, 0xFFFFFFFF),
    (I64, -1, m(64)), (I64, 0xFFFF_FFFF_FFFF_FFFF, m(64)), (I64, 0x8000_0000_0000_0000, 1 << 63), (I32, 0, 0),
    (I128, -1, m(128)), (I128, 0xFFFF_FFFF_FFFF_FFFF, m(128)), (I128, 5, 5),
])
def test_iconst_wraps_to_the_type(ctrl, imm, expected):
    assert run("iconst", ctrl, imm=imm) == expected


# -- binary ops: edge pairs and properties ----------------------------------------------------


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_edges(name):
    for w in WIDTHS:
        if not valid_for(name, w):
            continue
        for x in edges(w):
            for y in edges(w):
                assert run(name, T[w], x, y) == BINARY[name](x, y, w), (name, w, hex(x), hex(y))


@pytest.mark.parametrize("name", sorted(BINARY))
@FAST
@given(data=width_and_pair)
def test_binary_matches_reference(name, data):
    w, x, y = data
    if valid_for(name, w):
        assert run(name, T[w], x, y) == BINARY[name](x, y, w)


@pytest.mark.parametrize("ctrl,x,y,expected", [
    (I8, 0x80, 0xFF, ("trap", "int_ovf")), (I32, 1 << 31, m(32), ("trap", "int_ovf")),
    (I128, 1 << 127, m(128), ("trap", "int_ovf")), (I64, 5, 0, ("trap", "int_divz")),
    (I8, 0x80, 0, ("trap", "int_divz")), (I32, u(-7, 32), 2, u(-3, 32)), (I32, 7, u(-2, 32), u(-3, 32)),
    (I16, u(-7, 16), u(-2, 16), 3), (I64, 1 << 63, 2, u(-(1 << 62), 64)),
])
def test_sdiv_truncates_and_traps(ctrl, x, y, expected):
    assert run("sdiv", ctrl, x, y) == expected


@pytest.mark.parametrize("ctrl", INTS)
def test_srem_int_min_by_minus_one_is_zero(ctrl):
    w = ctrl.bits
    assert run("srem", ctrl, 1 << (w - 1), m(w)) == 0
    assert run("srem", ctrl, 1 << (w - 1), m(w) - 1) == 0  # INT_MIN % -2
    assert run("srem", ctrl, u(-19, w), 7) == u(-5, w)
    assert run("srem", ctrl, 3, u(-2, w)) == 1
    assert run("srem", ctrl, 1, 0) == ("trap", "int_divz")


def test_division_corpus_values():
    c0ffee = 0xC0FFEEEE_DECAFFFF_C0FFEEEE_DECAFFFF
    assert run("urem", I128, c0ffee, u(-8, 128)) == c0ffee
    assert run("srem", I128, c0ffee, 8) == m(128)
    assert run("urem", I128, 1 << 127, u(-2, 128)) == 1 << 127
    assert run("urem", I8, 0x80, 0xFF) == 0x80
    assert run("udiv", I32, 0, 0) == ("trap", "int_divz")
    assert run("urem", I16, 0, 0) == ("trap", "int_divz")


def test_mulhi_values():
    assert run("umulhi", I8, 0xFF, 0xFF) == 0xFE
    assert run("smulhi", I8, 0xFF, 0xFF) == 0
    assert run("smulhi", I8, 0x80, 0x80) == 0x40
    assert run("smulhi", I64, 1 << 63, 1) == m(64)
    assert run("umulhi", I128, m(128), m(128)) == m(128) - 1
    assert run("smulhi", I128, 1 << 127, 1 << 127) == 1 << 126


# -- shifts and rotates: amount of any integer type ------------------------------------------


@pytest.mark.parametrize("name", sorted(SHIFTS))
def test_shift_edges_with_every_amount_type(name):
    amounts = (0, 1, 7, 8, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255)
    for w in WIDTHS:
        for at in INTS:
            for y in amounts:
                y &= m(at.bits)
                for x in edges(w):
                    got = run(name, T[w], x, y, arg_types=[T[w], at])
                    assert got == SHIFTS[name](x, y, w), (name, w, at, hex(x), y)


@pytest.mark.parametrize("name", sorted(SHIFTS))
@FAST
@given(w=st.sampled_from(WIDTHS), at=st.sampled_from(INTS), data=st.data())
def test_shift_matches_reference(name, w, at, data):
    x, y = data.draw(pattern(w)), data.draw(pattern(at.bits))
    assert run(name, T[w], x, y, arg_types=[T[w], at]) == SHIFTS[name](x, y, w)


@pytest.mark.parametrize("name", sorted(SHIFTS))
@FAST
@given(data=width_and_value, imm=imm64)
def test_shift_imm_is_the_amount_modulo_width(name, data, imm):
    w, x = data
    assert run(name + "_imm", T[w], x, imm=imm) == SHIFTS[name](x, imm % (1 << 64), w)


def test_shift_corpus_values():
    assert run("ishl", I8, 1, 9, arg_types=[I8, I8]) == 2
    assert run("sshr", I8, 0x80, 1, arg_types=[I8, I128]) == 0xC0
    assert run("ushr", I128, 1 << 127, 127, arg_types=[I128, I8]) == 1
    assert run("ishl", I128, 1, 0x1_0000_0000_0000_0040, arg_types=[I128, I128]) == 1 << 64
    assert run("rotl", I32, 0xE0000000, 0x20, arg_types=[I32, I64]) == 0xE0000000
    assert run("rotr", I8, 0x01, 1, arg_types=[I8, I16]) == 0x80
    assert run("rotl_imm", I16, 0x8001, imm=-1) == 0xC000  # -1 mod 16 = 15: rotl by 15 == rotr by 1
    assert run("rotr_imm", I64, 1, imm=64) == 1


# -- unary bit ops ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_edges(name):
    for w in WIDTHS:
        if valid_for(name, w):
            for x in edges(w):
                assert run(name, T[w], x) == UNARY[name](x, w), (name, w, hex(x))


@pytest.mark.parametrize("name", sorted(UNARY))
@FAST
@given(data=width_and_value)
def test_unary_matches_reference(name, data):
    w, x = data
    if valid_for(name, w):
        assert run(name, T[w], x) == UNARY[name](x, w)


@pytest.mark.parametrize("w", WIDTHS)
def test_counting_docs(w):
    t = T[w]
    assert run("clz", t, 0) == w and run("ctz", t, 0) == w
    assert run("cls", t, 0) == w - 1 and run("cls", t, m(w)) == w - 1  # 0 and -1
    assert run("cls", t, 1 << (w - 1)) == 0 and run("cls", t, m(w) >> 1) == 0
    assert run("cls", t, 1) == w - 2
    assert run("iabs", t, 1 << (w - 1)) == 1 << (w - 1)  # INT_MIN stays
    assert run("ineg", t, 1 << (w - 1)) == 1 << (w - 1)
    assert run("popcnt", t, m(w)) == w


def test_byte_and_bit_reversal_values():
    assert run("bswap", I16, 0x0102) == 0x0201
    assert run("bswap", I32, 0x01020304) == 0x04030201
    assert run("bswap", I128, 0x0102030405060708090A0B0C0D0E0F10) == 0x100F0E0D0C0B0A090807060504030201
    assert run("bitrev", I8, 0x01) == 0x80
    assert run("bitrev", I16, 0x0002) == 0x4000
    assert run("bitrev", I64, 0xF0) == 0x0F00_0000_0000_0000
    assert run("bitrev", I128, 1) == 1 << 127


# -- bitwise ops on floats' bit patterns ---------------------------------------------------------


@pytest.mark.parametrize("ctrl", [F32, F64, F128])
def test_logic_ops_work_on_float_bits(ctrl):
    w, neg_zero = ctrl.bits, 1 << (ctrl.bits - 1)
    one = {32: 0x3F800000, 64: 0x3FF0000000000000, 128: 0x3FFF << 112}[w]
    assert run("bor", ctrl, one, neg_zero) == one | neg_zero
    assert run("band_not", ctrl, one | neg_zero, neg_zero) == one  # fabs
    assert run("bxor", ctrl, one, neg_zero) == one | neg_zero  # fneg
    assert run("bnot", ctrl, 0) == m(w)
    assert run("bor_not", ctrl, 0, m(w)) == 0
    assert run("bxor_not", ctrl, one, one) == m(w)
    assert run("band", ctrl, one, m(w)) == one
    assert run("bitselect", ctrl, neg_zero, neg_zero, one) == one | neg_zero


# -- immediates ----------------------------------------------------------------------------------


def ext64(imm, w, signed):
    v = imm % (1 << 64)
    if signed and v >= 1 << 63:
        v -= 1 << 64
    return u(v, w)


IMM_FORMS = {  # name: (binary op, sign-extended at i128?, immediate on the left?)
    "iadd_imm": ("iadd", True, False),
    "imul_imm": ("imul", True, False),
    "irsub_imm": ("isub", True, True),
    "sdiv_imm": ("sdiv", True, False),
    "srem_imm": ("srem", True, False),
    "udiv_imm": ("udiv", False, False),
    "urem_imm": ("urem", False, False),
    "band_imm": ("band", False, False),
    "bor_imm": ("bor", False, False),
    "bxor_imm": ("bxor", False, False),
}


@pytest.mark.parametrize("name", sorted(IMM_FORMS))
@FAST
@given(data=width_and_value, imm=st.one_of(imm64, st.sampled_from([0, 1, -1, 2, -2, 1 << 63, (1 << 63) - 1])))
def test_imm_forms_match_their_binary_op(name, data, imm):
    w, x = data
    base, signed, reverse = IMM_FORMS[name]
    c = ext64(imm, w, signed)
    expected = BINARY[base](c, x, w) if reverse else BINARY[base](x, c, w)
    assert run(name, T[w], x, imm=imm) == expected


def test_i128_immediates_extension():
    assert run("iadd_imm", I128, 1, imm=-1) == 0
    assert run("iadd_imm", I128, 0, imm=0xFFFF_FFFF_FFFF_FFFF) == m(128)  # same bits as -1
    assert run("irsub_imm", I128, 1, imm=-1) == m(128) - 1
    assert run("imul_imm", I128, 3, imm=-1) == u(-3, 128)
    assert run("sdiv_imm", I128, 6, imm=-2) == u(-3, 128)
    assert run("udiv_imm", I128, m(128), imm=-1) == m(128) // m(64)  # zero-extended divisor
    assert run("urem_imm", I128, 1 << 64, imm=-1) == 1
    assert run("band_imm", I128, m(128), imm=-1) == m(64)
    assert run("bor_imm", I128, 0, imm=-16) == m(64) - 15
    assert run("bxor_imm", I128, m(128), imm=-1) == m(128) ^ m(64)
    assert run("icmp_imm", I128, m(128), cond="eq", imm=-1) == 1
    assert run("icmp_imm", I128, m(128), cond="eq", imm=0xFFFF_FFFF_FFFF_FFFF) == 1
    assert run("urem_imm", I128, 0x80000000_00000000_00000000_00000000, imm=3) == 2
    assert run("srem_imm", I128, 0x80000000_00000000_00000000_00000000, imm=3) == m(128) - 1


@pytest.mark.parametrize("w", WIDTHS)
def test_imm_division_traps(w):
    t, int_min = T[w], 1 << (w - 1)
    for name in ("udiv_imm", "sdiv_imm", "urem_imm", "srem_imm"):
        assert run(name, t, 5, imm=0) == ("trap", "int_divz")
    assert run("sdiv_imm", t, int_min, imm=-1) == ("trap", "int_ovf")
    assert run("sdiv_imm", t, 7, imm=-1) == u(-7, w)
    assert run("srem_imm", t, int_min, imm=-1) == 0
    if w < 64:  # the immediate is truncated to the width
        assert run("udiv_imm", t, 5, imm=1 << w) == ("trap", "int_divz")
        assert run("sdiv_imm", t, int_min, imm=m(w)) == ("trap", "int_ovf")


# -- overflow flags with carry/borrow in; trapping add ----------------------------------------


def ref_cin(name, x, y, c, w):
    c = 1 if c else 0
    if name == "uadd_overflow_cin":
        r = x + y + c
        return u(r, w), int(r >= 1 << w)
    if name == "usub_overflow_bin":
        r = x - y - c
        return u(r, w), int(r < 0)
    r = s(x, w) + s(y, w) + c if name == "sadd_overflow_cin" else s(x, w) - s(y, w) - c
    return u(r, w), int(not -(1 << (w - 1)) <= r < 1 << (w - 1))


CARRY_OPS = ("uadd_overflow_cin", "sadd_overflow_cin", "usub_overflow_bin", "ssub_overflow_bin")


@pytest.mark.parametrize("name", CARRY_OPS)
def test_carry_edges(name):
    for w in WIDTHS:
        for x in edges(w):
            for y in edges(w):
                for c in (0, 1, 10, 0xFF):
                    assert run(name, T[w], x, y, c) == ref_cin(name, x, y, c, w), (name, w, x, y, c)


@pytest.mark.parametrize("name", CARRY_OPS)
@FAST
@given(data=width_and_pair, c=st.integers(0, 255))
def test_carry_matches_reference(name, data, c):
    w, x, y = data
    assert run(name, T[w], x, y, c) == ref_cin(name, x, y, c, w)


def test_carry_corpus_values():
    assert run("sadd_overflow_cin", I8, 100, 27, 1) == (0x80, 1)
    assert run("sadd_overflow_cin", I8, 127, 127, 0) == (0xFE, 1)
    assert run("uadd_overflow_cin", I8, 0xFF, 0xFF, 1) == (0xFF, 1)
    assert run("ssub_overflow_bin", I8, u(-120, 8), 8, 1) == (127, 1)
    assert run("usub_overflow_bin", I8, 0, 1, 10) == (0xFE, 1)
    # exact-result flags: INT_MIN + -1 + 1 == INT_MIN and 0 - INT_MIN - 1 == INT_MAX are in range
    assert run("sadd_overflow_cin", I32, 1 << 31, m(32), 1) == (1 << 31, 0)
    assert run("ssub_overflow_bin", I32, 0, 1 << 31, 1) == ((1 << 31) - 1, 0)


@pytest.mark.parametrize("ctrl", [I32, I64])
@pytest.mark.parametrize("code", ["user7", "int_ovf", "heap_oob"])
def test_uadd_overflow_trap(ctrl, code):
    w = ctrl.bits
    assert run("uadd_overflow_trap", ctrl, m(w) - 1, 1, code=code) == m(w)
    assert run("uadd_overflow_trap", ctrl, m(w), 1, code=code) == ("trap", code)
    assert run("uadd_overflow_trap", ctrl, 1 << (w - 1), 1 << (w - 1), code=code) == ("trap", code)
    assert run("uadd_overflow_trap", ctrl, 0, 0, code=code) == 0


# -- comparisons -----------------------------------------------------------------------------------


@pytest.mark.parametrize("cond", CONDS)
def test_icmp_edges(cond):
    for w in WIDTHS:
        f = op("icmp", T[w], result_types=[I8], cond=cond)
        for x in edges(w):
            for y in edges(w):
                got = f(x, y)
                assert type(got) is int and got == int(ICMP[cond](x, y, w)), (cond, w, x, y)


@pytest.mark.parametrize("cond", CONDS)
@FAST
@given(data=width_and_pair)
def test_icmp_matches_reference(cond, data):
    w, x, y = data
    assert run("icmp", T[w], x, y, result_types=[I8], cond=cond) == int(ICMP[cond](x, y, w))


@pytest.mark.parametrize("cond", CONDS)
@FAST
@given(data=width_and_value, imm=imm64)
def test_icmp_imm_sign_extends(cond, data, imm):
    w, x = data
    c = ext64(imm, w, True)
    assert run("icmp_imm", T[w], x, cond=cond, imm=imm) == int(ICMP[cond](x, c, w))


# -- selection -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["select", "select_spectre_guard"])
def test_select_any_condition_and_value_type(name):
    for ct in INTS:
        for vt in (I8, I64, I128, F32, F64):
            f = op(name, vt, arg_types=[ct, vt, vt])
            assert f(0, 1, 2) == 2
            assert f(1, 1, 2) == 1
            assert f(1 << (ct.bits - 1), 1, 2) == 1
            assert f(m(ct.bits), 1, 2) == 1
    vec = parse_type("i32x4")
    assert run(name, vec, 0, (1, 2, 3, 4), (5, 6, 7, 8), arg_types=[I8, vec, vec]) == (5, 6, 7, 8)


@FAST
@given(data=st.sampled_from(WIDTHS).flatmap(lambda w: st.tuples(st.just(w), pattern(w), pattern(w), pattern(w))))
def test_bitselect_matches_reference(data):
    w, c, x, y = data
    assert run("bitselect", T[w], c, x, y) == (c & x) | (~c & y & m(w))


# -- conversions -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("src", INTS)
@pytest.mark.parametrize("dst", INTS)
def test_extend_reduce_bmask(src, dst):
    for x in edges(src.bits):
        if dst.bits > src.bits:
            assert run("uextend", dst, x, arg_types=[src]) == x
            assert run("sextend", dst, x, arg_types=[src]) == u(s(x, src.bits), dst.bits)
        if dst.bits < src.bits:
            assert run("ireduce", dst, x, arg_types=[src]) == x & m(dst.bits)
        assert run("bmask", dst, x, arg_types=[src]) == (m(dst.bits) if x else 0)


def test_extend_corpus_values():
    assert run("sextend", I64, 0x80, arg_types=[I8]) == 0xFFFF_FFFF_FFFF_FF80
    assert run("sextend", I128, 0x7F, arg_types=[I8]) == 0x7F
    assert run("uextend", I128, m(64), arg_types=[I64]) == m(64)
    assert run("ireduce", I8, 0x1_0000_0000_0000_0001, arg_types=[I128]) == 1


@pytest.mark.parametrize("half", [I8, I16, I32, I64])
def test_iconcat_isplit_roundtrip(half):
    h = half.bits
    wide = T[2 * h]
    for lo in edges(h):
        for hi in edges(h)[::3]:
            v = run("iconcat", half, lo, hi, result_types=[wide])
            assert v == lo | (hi << h)
            assert run("isplit", wide, v, result_types=[half, half]) == (lo, hi)


def test_concat_split_corpus_values():
    assert run("iconcat", I64, 0xDECAFFFF, 0xC0FFEEEE, result_types=[I128]) == 0xC0FFEEEE_00000000_DECAFFFF
    assert run("isplit", I128, 0x1_0000_0000_0000_0002, result_types=[I64, I64]) == (2, 1)


@given(data=st.sampled_from(WIDTHS).flatmap(lambda w: st.tuples(st.just(w), pattern(w))))
@FAST
def test_minmax_select_the_same_operand(data):
    w, x = data
    for name in ("smin", "smax", "umin", "umax"):
        assert run(name, T[w], x, x) == x


def test_missing_ctrl_type_is_inferred_from_the_typevar_operand():
    def lowered(name, args, results, **fields):
        ctx = make_ctx(name, None, args, results, **fields)
        return as_function(LOWERINGS[name](ctx), len(args))

    assert lowered("icmp", [I64, I64], [I8], cond="slt")(m(64), 0) == 1
    assert lowered("isplit", [I128], [I64, I64])(1 << 64 | 7) == (7, 1)
    assert lowered("iconcat", [I32, I32], [I64])(1, 2) == 1 | 2 << 32
    assert lowered("bmask", [I8], [I32])(2) == m(32)
    assert lowered("sextend", [I16], [I64])(0x8000) == u(-0x8000, 64)
