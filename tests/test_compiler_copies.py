"""Speed devices of the interpreter compiler for code that runs a few times: a copy of a variable
is read from that variable (`FunctionCompiler.alias`), and `Interpreter(compact=True)` compiles
loops as short as straight-line code. Neither may change a result or a fuel count."""

import re

import pytest

from clifkit.interpreter import FuelExhausted, Interpreter
from clifkit.interpreter.trace import Tracer
from clifkit.reader import parse_text


def interp(text, **kw):
    return Interpreter([d.function for d in parse_text(text).functions], **kw)


def statements_defining(source: str, v: str) -> list[str]:
    return [line.strip() for line in source.splitlines() if re.match(rf"\s*{v} = ", line)]


def test_a_no_op_conversion_reads_its_operand():
    it = interp("""
function %f(f32) -> i32 {
block0(v0: f32):
    v1 = bitcast.i32 v0
    v2 = iadd v1, v1
    return v2
}
""")
    assert it.call("%f", [0x3F800000]) == [0x7F000000]
    assert statements_defining(it.sources[0], "v1") == []
    assert "v0 + v0" in it.sources[0]


def test_an_inlined_blocks_parameters_read_the_values_passed():
    it = interp("""
function %f(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    brif v0, block1(v1), block2(v0)
block1(v2: i32):
    v3 = iadd v2, v2
    return v3
block2(v4: i32):
    return v4
}
""")
    assert it.call("%f", [1, 5]) == [10]
    assert it.call("%f", [0, 5]) == [0]
    assert statements_defining(it.sources[0], "v2") == [] and statements_defining(it.sources[0], "v4") == []


LOOP = """
function %loop(i32) -> i32 {
block0(v0: i32):
    jump block1(v0, v0)
block1(v1: i32, v2: i32):
    v3 = ishl_imm v1, 0
    v4 = iadd_imm v1, 1
    v5 = iadd v3, v2
    v8 = iadd v5, v3
    v6 = icmp_imm ult v4, 10
    brif v6, block1(v4, v8), block2(v8)
block2(v7: i32):
    return v7
}
"""


def loop_model(x: int) -> int:
    i, acc = x, x
    while True:
        i, acc, again = i + 1, (i + acc + i) & 0xFFFFFFFF, i + 1 < 10
        if not again:
            return acc


@pytest.mark.parametrize("compact", [False, True])
def test_a_copy_of_a_loop_parameter_written_mid_loop_is_not_read_from_it(compact):
    # i + 1 is written straight into v1 (`coalesce`) before v5 and v8 read the copy v3 of the
    # old v1: v3 must not read v1 then.
    it = interp(LOOP, compact=compact)
    for x in (0, 3, 9, 20):
        assert it.call("%loop", [x]) == [loop_model(x)]


def test_a_branch_on_a_copy_of_a_comparison_keeps_the_comparison():
    # brif tests a copy of v1 (read once), but v1 itself is read again after the branch: its
    # statement must stay (the compiler branches on a comparison's condition only when the
    # comparison is read by the branch alone).
    it = interp("""
function %f(i32) -> i8 {
block0(v0: i32):
    v1 = icmp_imm eq v0, 3
    v2 = ishl_imm v1, 0
    brif v2, block1, block2
block1:
    v3 = iadd_imm v1, 4
    return v3
block2:
    return v1
}
""")
    assert it.call("%f", [3]) == [5]
    assert it.call("%f", [4]) == [0]


@pytest.mark.parametrize("fuel", [5, 40, 63, 64, 200])
def test_compact_code_gives_the_same_results_and_fuel_counts(fuel):
    outcomes = []
    for compact in (False, True):
        it = interp(LOOP, fuel=fuel, compact=compact)
        try:
            outcomes.append((it.call("%loop", [1]), it.executed))
        except FuelExhausted:
            outcomes.append("out of fuel")
    assert outcomes[0] == outcomes[1]


def test_compact_code_compiles_a_loop_short():
    text = """
function %sum(i64, i32) -> i64 {
block0(v0: i64, v1: i32):
    v2 = iconst.i64 0
    jump block1(v1, v2)
block1(v3: i32, v4: i64):
    v5 = load.i64 v0
    v6 = iadd v4, v5
    v7 = iadd_imm v3, -1
    brif v3, block1(v7, v6), block2(v6)
block2(v8: i64):
    return v8
}
"""
    # A loop's memory access takes the fast path (a page lookup in the code) unless compact.
    assert "_pg.get" in interp(text).compile("%sum")
    assert "_pg.get" not in interp(text, compact=True).compile("%sum")


def test_template_expressions_repeat_no_parentheses():
    # Parentheses cost the parser most of what compiling the code costs (`compiler.enclosed`):
    # a folded operand is not parenthesised again, a statement's right-hand side loses its outer pair.
    it = interp("""
function %f(i32, i64) -> i32 {
block0(v0: i32, v1: i64):
    v2 = ireduce.i32 v1
    v3 = bxor v0, v2
    v4 = bxor v3, v3
    v5 = iadd v4, v3
    return v5
}
""")
    source = it.compile("%f")
    assert "v3 = v0 ^ (v1 & 0xffffffff)" in source
    assert "return (((v3 ^ v3) + v3) & 0xffffffff)" in source  # not ((((v3 ^ v3)) + v3) ...)
    assert it.call("%f", [5, 0x1_0000_0003]) == [6]


@pytest.mark.parametrize("text, how", [
    ("v5", 1), ("0x1f", 1), ("5", 0), ("1.5", 0), ("{0}", 1), ("{0}[3]", 1), ("{1}[0][2]", 1), ("{0}[i]", 0), ("(a + b)", 2), ("((a) + (b))", 2), ("(a) + (b)", 0),
    ("()", 0), ("(a,)", 2), ("((_t := v1)[0] | 1)", 0), ("(x for x in y)", 0), ("(f(')'))", 0),
    ("(1 if {0} else 0)", 2),
])
def test_enclosed_templates(text, how):
    from clifkit.interpreter.compiler import enclosed

    assert enclosed(text) == how


def test_a_branch_on_a_comparison_still_tests_its_condition():
    from clifkit.interpreter.compiler import predicate

    assert predicate("1 if v1 < v2 else 0") == predicate("(1 if v1 < v2 else 0)") == "(v1 < v2)"
    it = interp("""
function %f(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    v2 = icmp ult v0, v1
    brif v2, block1, block2
block1:
    return v0
block2:
    return v1
}
""")
    assert "if (v0 < v1):" in it.compile("%f")
    assert it.call("%f", [1, 2]) == [1] and it.call("%f", [3, 2]) == [2]


def test_a_constant_is_read_as_its_literal_wherever_it_is_used():
    # A constant read several times, in several blocks, and passed to an inlined block's parameter
    # costs no statement (`FunctionCompiler.constant`); one passed to a loop header's parameter is
    # assigned to it, and every constant of a traced function has its statement.
    text = """
function %f(i32) -> i32 {
block0(v0: i32):
    v1 = iconst.i32 1234
    v2 = iconst.i32 0
    v3 = iadd v0, v1
    brif v0, block1(v1), block2(v2, v3)
block1(v4: i32):
    v5 = imul v4, v1
    return v5
block2(v6: i32, v7: i32):
    v8 = iconst.i32 5
    v9 = iadd v6, v8
    v10 = iadd v9, v8
    v11 = icmp ult v10, v7
    brif v11, block2(v10, v7), block3(v6)
block3(v12: i32):
    return v12
}
"""
    it = interp(text)
    source = it.compile("%f")
    for v in ("v1", "v4", "v8"):
        assert not statements_defining(source, v), source
    assert "0x4d2 * 0x4d2" in source  # v5: the literal, for v4 and for v1
    assert "v6 = 0x0" in statements_defining(source, "v6")  # (a loop header's parameter: a variable)
    assert it.call("%f", [3]) == [1234 * 1234]
    assert it.call("%f", [0]) == [1230]  # v6 counts 0, 10, ... while v6 + 10 is below 1234
    traced = interp(text, tracer=Tracer(lambda line: None))
    assert statements_defining(traced.compile("%f"), "v1") == ["v1 = 0x4d2"]
    assert traced.call("%f", [0]) == [1230]


@pytest.mark.parametrize("compact", [False, True])
@pytest.mark.parametrize("definition", ["v5 = bitcast.i32 v0", "v5 = iconst.i32 7"])
def test_a_value_read_by_name_is_so_in_blocks_laid_out_before_its_own(definition, compact):
    # block2 defines v5 (a copy, read from v0, or a constant, read as its literal: no statement)
    # and dominates block1, laid out before it, which reads v5: the arms are compiled dominators
    # first, so block1's reads v5 as block2's definition made it.
    it = interp(f"""
function %f(i32) -> i32 {{
block0(v0: i32):
    brif v0, block2, block4
block1:
    v6 = iadd.i32 v5, v5
    return v6
block4:
    jump block2
block2:
    {definition}
    brif v0, block3, block1
block3:
    jump block1
}}
""", compact=compact)
    want = (lambda x: 2 * x) if "bitcast" in definition else (lambda x: 14)
    for x in (0, 2):
        assert it.call("%f", [x]) == [want(x)]
