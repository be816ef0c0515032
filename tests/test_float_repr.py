"""Floats as floats (interpreter/float_repr.py): the fast path is bit-identical to the exact one."""

import pytest

from clifkit.interpreter import Interpreter, compiler, float_differential, float_repr
from clifkit.reader import parse_text


@pytest.fixture(autouse=True)
def every_function_analysed(monkeypatch):
    """These tests look at the analysis on straight-line functions too, which the compiler skips for
    a function that runs its code once per call (`compiler.COMPACT_ONCE`): analyse them all."""
    monkeypatch.setattr(compiler, "COMPACT_ONCE", False)


def run(text: str, name: str, args, fast: bool, monkeypatch):
    monkeypatch.setattr(float_repr, "ENABLED", fast)
    interp = Interpreter([d.function for d in parse_text(text).functions])
    return interp.call(name, args), interp.compile(name)


def both(text: str, name: str, args, monkeypatch):
    """The results with and without the fast path (which must agree), and the fast path's source."""
    fast, source = run(text, name, args, True, monkeypatch)
    slow, _ = run(text, name, args, False, monkeypatch)
    assert fast == slow, (fast, slow, source)
    return fast, source


def test_host_passes_the_self_test():
    assert float_repr.HOST_OK


@pytest.mark.parametrize("op", float_differential.OPS)
def test_differential_reduced_count(op):
    # The benchmark runs the full count (python -m benchmarks --differential).
    for bits in float_differential.types_of(op):
        assert float_differential.check(op, bits, 2500, seed=7) == []


LOOP = """
function %loop(i32, {t}) -> {t} {{
block0(v0: i32, v1: {t}):
    v2 = {t}const 0x0.0
    v3 = {t}const 0x1.8p-1
    v4 = iconst.i32 0
    v17 = fadd v1, v2  ; an f32 parameter's incoming values must all be floats (exact ones)
    jump block1(v4, v17, v2)

block1(v5: i32, v6: {t}, v7: {t}):
    v8 = fmul v6, v3
    v9 = fadd v7, v8
    v10 = fsub v6, v3
    v11 = fdiv v9, v10
    v12 = sqrt v11
    v13 = fadd v12, v9
    v18 = fmax v13, v12  ; a NaN operand of fmax is its result, bits and all: computed on bits
    v14 = iadd_imm v5, 1
    v15 = icmp ult v14, v0
    brif v15, block1(v14, v13, v11), block2(v18)

block2(v16: {t}):
    return v16
}}
"""


@pytest.mark.parametrize("t,x", [("f64", 0x3FF8000000000000), ("f64", 0xC02C000000000000),
                                 ("f32", 0x3FC00000), ("f32", 0xC1600000), ("f32", 0x7F7FFFFF)])
def test_loop_keeps_floats_and_agrees(t, x, monkeypatch):
    got, source = both(LOOP.format(t=t), "%loop", [40, x], monkeypatch)
    assert "v6 * v3" in source  # block parameters and constants are held as floats
    assert got[0] >= 0


NAN_CHAIN = """
function %chain({t}, {t}) -> {t} {{
block0(v0: {t}, v1: {t}):
    v2 = fsub v0, v0
    jump block1(v2)

block1(v3: {t}):
    v4 = fadd v3, v1
    return v4
}}
"""


@pytest.mark.parametrize("t,inf,one,nan", [("f64", 0x7FF0000000000000, 0x3FF0000000000000, 0x7FF8000000000000),
                                           ("f32", 0x7F800000, 0x3F800000, 0x7FC00000)])
def test_unchecked_nan_is_canonical_where_observed(t, inf, one, nan, monkeypatch):
    # inf - inf is a negative NaN on x86; it is not checked (only fast ops read it), the result is.
    got, source = both(NAN_CHAIN.format(t=t), "%chain", [inf, one], monkeypatch)
    assert got == [nan]
    assert "if v2 != v2" not in source and "if v4 != v4" in source


KEEP_BITS = """
function %keep(i32) -> {t} {{
block0(v0: i32):
    v1 = {t}const {nan}
    brif v0, block1(v1), block2

block1(v2: {t}):
    return v2

block2:
    v3 = fadd v1, v1
    jump block1(v3)
}}
"""


@pytest.mark.parametrize("t,nan,bits", [("f64", "+sNaN:0x1", 0x7FF0000000000001), ("f32", "-sNaN:0x5", 0xFF800005),
                                        ("f32", "+NaN:0x5", 0x7FC00005)])
def test_signalling_nan_constants_keep_their_bits(t, nan, bits, monkeypatch):
    got, _ = both(KEEP_BITS.format(t=t, nan=nan), "%keep", [1], monkeypatch)
    assert got == [bits]
    got, _ = both(KEEP_BITS.format(t=t, nan=nan), "%keep", [0], monkeypatch)
    assert got == [0x7FF8000000000000 if t == "f64" else 0x7FC00000]


SIGN_OPS = """
function %signs(f32, f32) -> f32, f32, i32 {
block0(v0: f32, v1: f32):
    v2 = fmul v0, v1
    v3 = fneg v2
    v4 = fcopysign v2, v0
    v5 = bitcast.i32 v2
    v6 = fabs v3
    return v6, v4, v5
}
"""


@pytest.mark.parametrize("a,b", [(0x3F800000, 0x80000000), (0x7F800000, 0), (0x7F7FFFFF, 0x40000000)])
def test_bit_operations_on_float_values(a, b, monkeypatch):
    both(SIGN_OPS, "%signs", [a, b], monkeypatch)


def test_f32_overflow_and_subnormals_round_once(monkeypatch):
    src = """
function %m(f32, f32) -> f32 {
block0(v0: f32, v1: f32):
    v2 = fmul v0, v1
    v3 = fadd v2, v2
    return v3
}
"""
    assert both(src, "%m", [0x7F7FFFFF, 0x3F800001], monkeypatch)[0] == [0x7F800000]
    assert both(src, "%m", [0x00800000, 0x3E800001], monkeypatch)[0] == [0x00400000]


def test_a_long_chain_of_folded_float_operations_compiles(monkeypatch):
    # Each sum is used once, by the next: folded into it, but never nested past the parser's limit.
    n = 400
    body = "".join(f"    v{i + 2} = fadd v{i + 1}, v0\n" for i in range(n))
    src = f"function %chain(f64) -> f64 {{\nblock0(v0: f64):\n    v1 = fadd v0, v0\n{body}    return v{n + 1}\n}}\n"
    got, source = both(src, "%chain", [0x3FF0000000000000], monkeypatch)
    assert got == [0x4079200000000000]  # (n + 2) * 1.0 = 402.0
    assert source.count(" = ") < n // 2  # mostly folded, not a statement per instruction


@pytest.mark.parametrize("text,name,args,want", [
    (NAN_CHAIN.format(t="f64"), "%chain", [0x7FF0000000000000, 0x3FF0000000000000], [0x7FF8000000000000]),
    (NAN_CHAIN.format(t="f32"), "%chain", [0x7F800000, 0x3F800000], [0x7FC00000]),
    (KEEP_BITS.format(t="f32", nan="-sNaN:0x5"), "%keep", [1], [0xFF800005]),
    (SIGN_OPS, "%signs", [0x7F7FFFFF, 0x40000000], None),
    ("function %m(f32, f32) -> f32 {\nblock0(v0: f32, v1: f32):\n    v2 = fmul v0, v1\n    v3 = fadd v2, v2\n"
     "    return v3\n}\n", "%m", [0x7F7FFFFF, 0x3F800001], [0x7F800000]),
])
def test_code_that_runs_once_keeps_floats_as_bits_with_the_same_results(text, name, args, want, monkeypatch):
    # A function without loops or recursion runs each instruction at most once per call: the
    # compiler skips the float analysis (it costs more than it saves there) and takes the exact
    # bit-pattern path, which must give what the analysed fast path gives, bit for bit.
    analysed, _ = both(text, name, args, monkeypatch)
    monkeypatch.setattr(compiler, "COMPACT_ONCE", True)
    got, source = run(text, name, args, True, monkeypatch)
    assert "_xud(" not in source and "_xuf(" not in source and "_fr_" not in source, source
    assert got == analysed and (want is None or got == want)


def test_a_loop_keeps_floats_as_floats_where_code_runs_once(monkeypatch):
    monkeypatch.setattr(compiler, "COMPACT_ONCE", True)
    got, source = both(LOOP.format(t="f64"), "%loop", [40, 0x3FF8000000000000], monkeypatch)
    assert "v6 * v3" in source
