"""Run-line directives: syntax, located errors, binding to signatures."""

import pytest

from clifkit.diagnostics import ClifError
from clifkit.ir.function import AbiParam, Function, Signature
from clifkit.ir.types import parse_type
from clifkit.reader.directives import (
    ListNode,
    Literal,
    OtherDirective,
    RunCommand,
    bind,
    parse_directive_line,
    read,
)
from clifkit.reader import parse_text


def fn(name, params, returns):
    return Function(name, Signature([AbiParam(parse_type(t)) for t in params], [AbiParam(parse_type(t)) for t in returns]))


def parse(line, lineno=7):
    return parse_directive_line(line, "t.clif", lineno)


def error_of(line, callee=None):
    with pytest.raises(ClifError) as e:
        cmd = parse(line)
        bind(cmd, callee)
    d = e.value.first
    return f"{d.loc.line}:{d.loc.col}: {d.message}"


# -- syntax ------------------------------------------------------------------------------


def test_run_with_comparison():
    cmd = parse("; run: %f(1, -2) == 3")
    assert isinstance(cmd, RunCommand)
    assert cmd.kind == "run" and cmd.comparison == "=="
    assert cmd.loc.line == 7 and cmd.loc.col == 3
    assert cmd.call.name == "%f" and cmd.call.col == 8 and cmd.call.text == "%f(1, -2)"
    assert [a.text for a in cmd.call.args] == ["1", "-2"]
    assert [a.col for a in cmd.call.args] == [11, 14]
    assert cmd.expected == Literal("3", 21)


def test_not_equal_vectors_and_lists():
    cmd = parse(";; run: %g([1 2 3 4], [0x1.0, -0x1.8p1]) != [[5 6], 7]")
    assert cmd.comparison == "!="
    a, b = cmd.call.args
    assert isinstance(a, ListNode) and [x.text for x in a.items] == ["1", "2", "3", "4"] and not a.commas
    assert isinstance(b, ListNode) and [x.text for x in b.items] == ["0x1.0", "-0x1.8p1"] and b.commas
    assert isinstance(cmd.expected, ListNode) and isinstance(cmd.expected.items[0], ListNode)


def test_special_float_tokens():
    cmd = parse("; run: %f(+sNaN:0x1, -NaN:0x4000000000000, +Inf, -Inf, NaN, 0x1.0p-10, 1.5e+3) == []")
    assert [a.text for a in cmd.call.args] == ["+sNaN:0x1", "-NaN:0x4000000000000", "+Inf", "-Inf", "NaN", "0x1.0p-10", "1.5e+3"]


def test_bare_forms():
    cmd = parse("; run")
    assert cmd.kind == "run" and cmd.call is None and cmd.comparison is None
    cmd = parse("; print  ")
    assert cmd.kind == "print" and cmd.call is None
    cmd = parse("; run: %f(1)")
    assert cmd.call.name == "%f" and cmd.comparison is None and cmd.expected is None
    cmd = parse("; print: %f(0x10)")
    assert cmd.kind == "print" and cmd.call.args[0].text == "0x10"


def test_trailing_comment_is_allowed():
    cmd = parse("; run: %sshr([1 -1], 1) == [0 -1] ; note the -1")
    assert [x.text for x in cmd.expected.items] == ["0", "-1"]


def test_not_directives():
    assert parse("; just a comment") is None
    assert parse("; run the thing twice") is None
    assert parse("v0 = iconst.i32 1 ; run: %f() == 1") is None
    assert parse("function %f() -> i32 {") is None
    other = parse("; heap: static, size=0x1000, ptr=vmctx+0, bound=vmctx+8")
    assert isinstance(other, OtherDirective)
    assert other.kind == "heap" and other.text == "static, size=0x1000, ptr=vmctx+0, bound=vmctx+8"
    assert other.loc.col == 9
    note = parse("; note: anything: goes [here")
    assert isinstance(note, OtherDirective) and note.kind == "note"


@pytest.mark.parametrize(
    "line, message",
    [
        ("; run:", "7:7: expected a function call such as %f(1, 2) after 'run:'"),
        ("; print:", "7:9: expected a function call such as %f(1, 2) after 'print:'"),
        ("; run: f(1) == 2", "7:8: expected a function name such as %f, got 'f'"),
        ("; run: %f 1) == 2", "7:11: expected '(' after %f, got '1'"),
        ("; run: %f(1 2) == 3", "7:13: expected ',' or ')' after argument 1 of %f, got '2'"),
        ("; run: %f(1,) == 3", "7:13: expected a value, got ')'"),
        ("; run: %f(1", "7:12: expected ',' or ')' after argument 1 of %f, got the end of the line"),
        ("; run: %f(1) = 3", "7:14: expected '==' or '!=', got '='"),
        ("; run: %f(1) == ", "7:17: expected the expected value after '=='"),
        ("; run: %f(1) == 3 4", "7:19: unexpected '4' after the expected value"),
        ("; run: %f(1) 3", "7:14: expected '==', '!=' or the end of the line after %f(1), got '3'"),
        ("; run: %f([1 2) == 3", "7:15: expected a value or ']', got ')'"),
        ("; run: %f([1 2", "7:15: expected ']' to close the '[' at column 11"),
        ("; run: %f([1,,2]) == 3", "7:14: expected a value or ']', got ','"),
        ("; run: %f([1,]) == 3", "7:14: expected a value after ','"),
        ("; run: %f(1) == 2 $", "7:19: unexpected character '$'"),
        ("; run: %(1) == 2", "7:8: expected a function name after '%'"),
        ("; print: %f(1) == 2", "7:16: unexpected '==' after %f(1)"),
        ("; run: %f(- 1) == 2", "7:11: expected a number after '-'"),
    ],
)
def test_syntax_errors(line, message):
    with pytest.raises(ClifError) as e:
        parse(line)
    d = e.value.first
    assert f"{d.loc.line}:{d.loc.col}: {d.message}" == message
    assert d.source_line == line
    loc, text = message.split(": ", 1)
    assert e.value.format().startswith(f"t.clif:{loc}: error: {text}\n{line}\n")


def test_the_reader_reads_each_directive_once_keeping_errors_per_line():
    text = "function %f() -> i32 {\nblock0:\n    v0 = iconst.i32 1\n    return v0\n}\n" \
           "; run: %f() == 1\n; run: %f(\n; other comment\n; run\n"
    tf = parse_text(text, "t.clif")
    runs = tf.functions[0].directives
    assert [d.line for d in runs if d.error is None] == [6, 9]
    assert [d.line for d in runs if d.error is not None] == [7]
    assert all(a is b for a, b in zip(tf.directives, runs)) and len(tf.directives) == 3
    cmd = runs[0].parsed
    assert isinstance(cmd, RunCommand) and cmd.call.name == "%f" and read(runs[0]) is cmd  # read once
    with pytest.raises(ClifError) as e:
        read(runs[1])
    assert e.value.first.loc.line == 7 and e.value is runs[1].error


# -- binding -------------------------------------------------------------------------------


def test_bind_scalars():
    b = bind(parse("; run: %f(-1, 0xff, 0x1.8p1, -0.0) == 5"), fn("%f", ["i8", "i32", "f64", "f32"], ["i64"]))
    assert b.args == [0xFF, 0xFF, 0x4008000000000000, 0x80000000]
    assert b.expected == [5] and b.expected_hex == [False]
    assert b.call_text == "%f(-1, 0xff, 0x1.8p1, -0.0)"


def test_bind_vectors_and_multiple_returns():
    f = fn("%v", ["i32x4", "f32x2", "i8x16"], ["i32x4", "i64"])
    b = bind(parse("; run: %v([1 2 3 -1], [0x1.0, -Inf], 0x0f0e0d0c0b0a09080706050403020100) == [[4, 3, 2, 1], 0xff]"), f)
    assert b.args[0] == (1, 2, 3, 0xFFFFFFFF)
    assert b.args[1] == (0x3F800000, 0xFF800000)
    assert b.args[2] == tuple(range(16))
    assert b.expected == [(4, 3, 2, 1), 0xFF]
    assert b.expected_hex == [False, True]


def test_bind_no_returns_and_print():
    b = bind(parse("; run: %f(1) == []"), fn("%f", ["i32"], []))
    assert b.expected == []
    p = bind(parse("; print: %f(2)"), fn("%f", ["i32"], ["f32", "i8"]))
    assert p.expected is None and p.args == [2]
    bare = bind(parse("; run"), fn("%g", [], ["i8"]))
    assert bare.args == [] and bare.expected is None and bare.call_text == "%g()"


@pytest.mark.parametrize(
    "line, params, returns, message",
    [
        ("; run: %f(1) == 2", ["i32", "i32"], ["i32"], "7:8: %f takes 2 arguments (i32, i32), but 1 are given"),
        ("; run: %f(1, 2) == 2", [], ["i32"], "7:8: %f takes 0 arguments, but 2 are given"),
        ("; run: %f(256) == 2", ["i8"], ["i32"], "7:11: argument 1 of %f: 256 does not fit in i8 (from -128 to 255)"),
        ("; run: %f(1, 1) == 2", ["i8", "f32"], ["i32"], "7:14: argument 2 of %f: expected a float for f32, got the integer 1 (write floats as hex floats such as 0x1.8p3, or 0.0, Inf, NaN)"),
        ("; run: %f(1) == 0x1.0", ["i8"], ["i32"], "7:17: the result of %f: expected an integer for i32, got the float 0x1.0"),
        ("; run: %f([1 2 3]) == 1", ["i32x4"], ["i8"], "7:11: argument 1 of %f is i32x4, which has 4 lanes, but 3 are given"),
        ("; run: %f([1 2 3 300]) == 1", ["i8x4"], ["i8"], "7:18: lane 3 of argument 1 of %f: 300 does not fit in i8 (from -128 to 255)"),
        ("; run: %f([1 [2] 3 4]) == 1", ["i8x4"], ["i8"], "7:14: lane 1 of argument 1 of %f (i8x4) must be a single i8, not a list"),
        ("; run: %f([1]) == 1", ["i8"], ["i8"], "7:11: argument 1 of %f is a single i8, not a list"),
        ("; run: %f(1) == 1", ["i8"], ["i8", "i8"], "7:17: %f returns 2 values (i8, i8); write them in brackets: [..., ...]"),
        ("; run: %f(1) == [1]", ["i8"], ["i8", "i8"], "7:17: %f returns 2 values (i8, i8), but 1 are given"),
        ("; run: %f(1) == 1", ["i8"], [], "7:17: %f returns nothing; write []"),
        ("; run: %f(1) == [1, 7]", ["i8"], ["i8", "f64"], "7:21: result 2 of %f: expected a float for f64, got the integer 7 (write floats as hex floats such as 0x1.8p3, or 0.0, Inf, NaN)"),
        ("; run: %f(1)", ["i8"], ["f32"], "7:8: a run line without '==' or '!=' expects %f to return one integer (passing when nonzero), but %f returns f32"),
        ("; run", ["i32"], ["i8"], "7:3: a bare 'run' calls %f with no arguments, but %f takes 1 argument (i32); write 'run: %f(...) == ...'"),
        ("; print", ["i32"], ["i8"], "7:3: a bare 'print' calls %f with no arguments, but %f takes 1 argument (i32); write 'print: %f(...)'"),
        ("; run", [], [], "7:3: a run line without '==' or '!=' expects %f to return one integer (passing when nonzero), but %f returns nothing"),
        ("; run: %f(5) == 0", ["i32x4"], ["i8"], "7:11: argument 1 of %f: expected i32x4 as 4 lanes in brackets, [a b ...], or as one hexadecimal integer, got '5'"),
    ],
)
def test_bind_errors(line, params, returns, message):
    assert error_of(line, fn("%f", params, returns)) == message


def test_bind_with_implicit_vmctx():
    f = Function("%h", Signature([AbiParam(parse_type("i64"), purpose="vmctx"), AbiParam(parse_type("i32"))], [AbiParam(parse_type("i32"))]))
    b = bind(parse("; run: %h(5) == 5"), f, implicit_vmctx=True)
    assert b.implicit_vmctx and b.args == [5] and b.arg_types == [parse_type("i32")]
    # Without an environment, the vmctx is an ordinary argument (Cranelift 0.120).
    b = bind(parse("; run: %h(0, 5) == 5"), f)
    assert not b.implicit_vmctx and b.args == [0, 5]
    with pytest.raises(ClifError) as e:
        bind(parse("; run: %h(0, 5) == 5"), f, implicit_vmctx=True)
    assert e.value.first.message == (
        "the test environment (heap directives) supplies %h's vmctx argument: leave it out and pass only (i32)"
    )
    # A callee without a vmctx parameter takes all its arguments.
    g = fn("%g", ["i32"], ["i32"])
    assert bind(parse("; run: %g(1) == 1"), g, implicit_vmctx=True).args == [1]


def test_run_lines_are_split_by_the_clif_lexer_with_the_value_extensions_kept():
    cmd = parse("; run: %f(.5, -.5, 1.5e+3, 0x1p+3, v1, NaN:0x1) == [1 2] ; a comment")
    assert [a.text for a in cmd.call.args] == [".5", "-.5", "1.5e+3", "0x1p+3", "v1", "NaN:0x1"]
    assert cmd.source_line[cmd.call.col - 1 : cmd.end_col - 1].strip() == \
        "%f(.5, -.5, 1.5e+3, 0x1p+3, v1, NaN:0x1) == [1 2]"  # the comment is not part of it
    assert error_of("; run: %f(@1) == 2") == "7:11: unexpected character '@'"

