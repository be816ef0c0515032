"""The reader's located errors: each malformed input gives exactly one precise message.

Every case is (source, "line:col: error: message") for the first diagnostic.
`B` wraps a body in a function with one i32 parameter `v0`, so most cases are
one line of CLIF on line 3.
"""

from __future__ import annotations

import pytest

from clifkit import cli
from clifkit.diagnostics import ClifError
from clifkit.reader import parse_file, parse_text


def B(*lines: str) -> str:
    return "function %f(i32) -> i32 {\nblock0(v0: i32):\n" + "".join(f"    {x}\n" for x in lines) + "}\n"


def P(*lines: str) -> str:
    """A function whose preamble is `lines` (on lines 2...)."""
    return "function %f() {\n" + "".join(f"    {x}\n" for x in lines) + "block0:\n    return\n}\n"


CASES = [
    # opcodes, operands, results
    (B("v1 = foo v0"), "3:10: error: unknown opcode 'foo'"),
    (B("v1 = iadd v0", "return v1"), "4:5: error: expected ',' between operands, found 'return'"),
    (B("v1 = iadd v0, v0, v0"), "3:21: error: unexpected ',' after the instruction"),
    (B("v1 = iadd v0 v0"), "3:18: error: expected ',' between operands, found 'v0'"),
    (B("v1 = iconst.i32 1 2"), "3:23: error: unexpected '2' after the instruction"),
    (B("v1, v2 = iadd v0, v0"), "3:14: error: iadd produces 1 result, 2 given"),
    (B("v1 = return v0"), "3:10: error: return produces 0 results, 1 given"),
    (B("v1 v2"), "3:8: error: expected '=' or '->' after the result values, found 'v2'"),
    (B("v1 = 42"), "3:10: error: expected an opcode, found '42'"),
    # undefined things
    (B("v1 = iadd v0, v9", "return v1"), "3:19: error: undefined value v9"),
    (B("v1 = stack_load.i32 ss0"), "3:25: error: undefined stack slot ss0"),
    (B("v1 = global_value.i64 gv2"), "3:27: error: undefined global value gv2"),
    (B("v1 = call fn0(v0)"), "3:15: error: undefined function reference fn0"),
    (B("v1 = call_indirect sig3, v0(v0)"), "3:24: error: undefined signature sig3"),
    (B("v1 = vconst.i32x4 const0"), "3:23: error: undefined constant const0"),
    (B("v1 = heap_addr.i64 heap0, v0, 0, 4"), "3:24: error: undefined heap heap0"),
    (B("v1 = table_addr.i64 table2, v0, +0"), "3:25: error: undefined table table2"),
    (B("v1 = splat.dt0 v0"), "3:16: error: undefined dynamic type dt0"),
    (P("fn0 = %g sig0"), "2:14: error: undefined signature sig0"),
    (P("stack_limit = gv0"), "2:19: error: undefined global value gv0"),
    (B("v1 -> v9"), "3:11: error: cannot alias v1 to v9, which is not defined yet"),
    # duplicates
    (B("v1 = iadd.i32 v0, v0", "v1 = iadd v0, v0"), "4:5: error: v1 is already defined on line 3"),
    (P("ss0 = explicit_slot 4", "ss0 = explicit_slot 8"), "3:5: error: ss0 is already defined on line 2"),
    (B("return v0", "", "block0:"), "5:5: error: block0 is already defined on line 2"),
    ("function %f() {\nblock0(v0: i32, v0: i32):\n    return\n}\n", "2:17: error: v0 is already defined on line 2"),
    (B("v1 -> v0", "v2 -> v1", "v1 -> v2"), "5:5: error: v1 is already defined on line 3"),
    # types
    (B("v1 = iconst 1"), "3:10: error: iconst needs a type suffix, e.g. iconst.i32"),
    (B("v1 = iconst.i128 1"), "3:17: error: iconst does not accept type i128"),
    (B("v1 = iadd.f32 v0, v0"), "3:15: error: iadd does not accept type f32"),
    (B("jump.i32 block0(v0)"), "3:10: error: jump takes no type suffix"),
    (B("v1 = iadd v5, v0", "v5 = iconst.i32 1"),
     "3:10: error: cannot infer the type of iadd from v5, which is not defined yet; write it as a suffix, e.g. iadd.i32"),
    (B("v1 = iadd.i33 v0, v0"), "3:15: error: expected a type after '.', found 'i33'"),
    ("function %f(i33) {\n}\n", "1:13: error: expected a parameter type, found 'i33'"),
    (P("dt0 = i32*gv0"), "2:11: error: the base of a dynamic type must be a fixed vector type, not i32"),
    # immediates
    (B("v1 = iconst.i8 256"), "3:20: error: invalid i8 immediate '256': out of range (-128 to 255)"),
    (B("v1 = iconst.i8 -129"), "3:20: error: invalid i8 immediate '-129': out of range (-128 to 255)"),
    (B("v1 = iconst.i32 0x1_0000_0000"),
     "3:21: error: invalid i32 immediate '0x1_0000_0000': out of range (-2147483648 to 4294967295)"),
    (B("v1 = iconst.i32 12ab"), "3:21: error: invalid i32 immediate '12ab': not a decimal or hexadecimal integer"),
    (B("v1 = iadd_imm v0, 0x1_0000_0000_0000_0000"),
     "3:23: error: invalid 64-bit immediate '0x1_0000_0000_0000_0000': out of range "
     "(-9223372036854775808 to 18446744073709551615)"),
    (B("v1 = f32const 1.5"),
     "3:19: error: invalid f32 immediate '1.5': floats are written in hexadecimal (0x1.8p3), or as 0.0, Inf, NaN"),
    (B("v1 = f32const 0x1.000001p0"), "3:19: error: invalid f32 immediate '0x1.000001p0': too many significant bits for f32"),
    (B("v1 = f32const 0x1.0p200"), "3:19: error: invalid f32 immediate '0x1.0p200': magnitude too large for f32"),
    (B("v1 = f64const 0x1.0p-1080"), "3:19: error: invalid f64 immediate '0x1.0p-1080': magnitude too small for f64"),
    (B("v1 = f64const NaN:0x8000000000000"),
     "3:19: error: invalid f64 immediate 'NaN:0x8000000000000': NaN payload out of range (0x0 to 0x7ffffffffffff)"),
    (B("v1 = f32const sNaN:0x0"), "3:19: error: invalid f32 immediate 'sNaN:0x0': NaN payload out of range (0x1 to 0x3fffff)"),
    (B("v1 = f16const 0x1.8p3p4"), "3:19: error: invalid f16 immediate '0x1.8p3p4': bad exponent"),
    (B("v1 = extractlane v0, 256"), "3:26: error: invalid lane index '256': out of range (0 to 255)"),
    (B("v1 = load.i32 v0+0x8000_0000"), "3:21: error: invalid offset '+0x8000_0000': out of range for a 32-bit offset"),
    (B("v1 = vconst.i32x4 [1 2 3]"), "3:29: error: expected 4 lanes for i32x4, found 3"),
    (B("v1 = vconst.i32x4 [1 2 3 4 5]"), "3:32: error: expected ']' after the 4 lanes of i32x4, found '5'"),
    (B("v1 = vconst.i16x8 [1 2 3 4 5 6 7 65536]"), "3:38: error: invalid i16 lane '65536': out of range (-32768 to 65535)"),
    (B("v1 = vconst.i32x2 0x0102030405060708090a"),
     "3:23: error: constant 0x0102030405060708090a has 10 bytes, more than the 8 of i32x2"),
    (B("v1 = vconst.i32x4 0x123"), "3:23: error: invalid i32x4 constant '0x123': odd number of hexadecimal digits"),
    (B("v1 = shuffle v0, v0, [0 1 2]"), "3:32: error: expected 16 lanes for i8x16, found 3"),
    (B("@1_0000 return v0"), "3:7: error: unknown opcode '_0000'"),
    (B("@100000000 return v0"), "3:5: error: source location @100000000 does not fit in 32 bits"),
    # enumerated immediates and flags
    (B("v1 = icmp foo v0, v0"), "3:15: error: unknown integer condition code 'foo'"),
    (B("v1 = fcmp slt v0, v0"), "3:15: error: unknown float condition code 'slt'"),
    (B("trap bogus"), "3:10: error: unknown trap code 'bogus'"),
    (B("trap user256"), "3:10: error: unknown trap code 'user256'"),
    (B("v1 = atomic_rmw.i32 mul v0, v0"), "3:25: error: unknown atomic operation 'mul'"),
    (B("v1 = load.i32 big little v0"), "3:23: error: cannot set both big and little endian bits"),
    (B("v1 = load.i32 heap vmctx v0"), "3:24: error: cannot set more than one alias region"),
    # branches
    (B("br_table v0, block0, [block0 block0]"), "3:34: error: expected ',' or ']' in the jump table, found 'block0'"),
    (B("jump block0(v0, 5)"), "3:21: error: expected a block argument (a value, retN or exnN), found '5'"),
    (B("brif v0, block0(v0)"), "4:1: error: expected ',' between operands, found '}'"),
    ("function %f() {\n    sig0 = ()\n    fn0 = %g sig0\nblock0:\n    try_call fn0(), sig0, block0, [ tag0: block0, x: block0 ]\n}\n",
     "5:51: error: expected an exception tag (tagN), 'default' or 'context', found 'x'"),
    # signatures and function headers
    ("function %f(i32 {\n}\n", "1:17: error: expected ',' or ')' in the parameter list, found '{'"),
    ("function %f() -> {\n}\n", "1:18: error: expected a return type, found '{'"),
    ("function %f() sysv {\n}\n", "1:15: error: unknown calling convention 'sysv'"),
    ("function f() {\n}\n", "1:10: error: expected a function name (%name or uN:M), found 'f'"),
    ("function u0:x() {\n}\n", "1:13: error: expected the index of a user name (uN:M), found 'x'"),
    ("function %f() {\nblock0:\n    return\n", "4:1: error: expected '}' to close function %f"),
    # (the end of the file is where it is, even after a comment: it once took the comment's place)
    ("function %f() {\nblock0:\n    return\n; the end\n", "5:1: error: expected '}' to close function %f"),
    ("function %f() {\nblock0:\n    return ; the end", "3:21: error: expected '}' to close function %f"),
    # (and in a file whose only comment is far from its end: a truncated file, cut inside an instruction)
    ("; a file cut short\nfunction %f(i32) -> i32 {\nblock0(v0: i32):\n    v1 = iadd v0, ",
     "4:19: error: expected a value operand, found end of file"),
    ("function %f() { 5\n}\n", "1:17: error: unexpected '5' after the function header"),
    # preamble
    (P("ss0 = explicit_slot -4"), "2:25: error: invalid stack slot size '-4': a sign is not allowed here"),
    (P("ss0 = explicit_slot 4, align = 3"), "2:36: error: stack slot alignment 3 is not a power of two"),
    (P("ss0 = spill_slot 4"), "2:11: error: unknown stack slot kind 'spill_slot'"),
    (P("ss0 = explicit_slot 4 5"), "2:27: error: unexpected '5' after the declaration of ss0"),
    (P("gv0 = vmctx", "gv1 = load.i64 gv0"), "3:11: error: a global value load must be notrap and aligned"),
    (P("gv0 = bogus"), "2:11: error: unknown global value kind 'bogus'"),
    (P("fn0 = %g"), "3:1: error: expected a signature: sigN or (params) -> returns, found 'block0'"),
    (P("const0 = 0x123"), "2:14: error: invalid constant '0x123': odd number of hexadecimal digits"),
    (P("mt0 = struct 8"), "3:1: error: expected '{' before the struct fields, found 'block0'"),
    (P("gv0 ! range(64, 0, 1) = gv"), "2:29: error: unknown global value kind 'gv'"),
    (P("ss0 explicit_slot 4"), "2:9: error: expected '=' after ss0, found 'explicit_slot'"),
    # heap era
    (P("gv0 = vmctx", "heap0 = static gv0, min 0x1000, bogus 4"), "3:37: error: unknown heap attribute 'bogus'"),
    (P("gv0 = vmctx", "heap0 = weird gv0"), "3:13: error: unknown heap style 'weird'"),
    (P("gv0 = vmctx", "heap0 = dynamic gv0, bound 0x1000"), "3:32: error: expected a global value (gvN), found '0x1000'"),
    (P("gv0 = vmctx", "table0 = dynamic gv0, element_size -1"), "3:40: error: invalid table element size '-1': a sign is not allowed here"),
    (P("heap0 = static gv3"), "2:20: error: undefined global value gv3"),
    ("function %f(i64) {\n    gv0 = vmctx\n    heap0 = static gv0\nblock0(v0: i64):\n    v1 = heap_addr.i64 heap0, v0, 0, 256\n}\n",
     "5:38: error: invalid heap access size '256': out of range (0 to 255)"),
    # blocks
    ("function %f() {\nblock0(v0 i32):\n    return\n}\n", "2:11: error: expected ':' after the block parameter, found 'i32'"),
    ("function %f() {\nblock0 return\n}\n", "2:8: error: expected ':' after the block header, found 'return'"),
    ("function %f() {\nblock0: 7\n}\n", "2:9: error: unexpected '7' after the block header"),
    # lexical and file level
    (B("v1 = iadd v0, v0 $"), "3:22: error: invalid character '$'"),
    ('feature "x\n', "1:9: error: unterminated string"),
    ("test run\nset opt_level=speed\ntest interpret\n", "3:1: error: 'test' lines must come before 'set' and 'target' lines"),
    ("test\n", "1:1: error: expected a test name after 'test'"),
    ("junk\n", "1:1: error: expected 'function', found 'junk'"),
    ("function %f() {\nblock0:\n    return\n}\ntarget x86_64\n", "5:1: error: 'target' lines must come before the first function"),
    # settings and target flags: the names Cranelift has known since 2021 (clifkit.ir.settings)
    ("test run\nset opt_levl=speed\n", "2:5: error: unknown setting 'opt_levl' (did you mean 'opt_level'?)"),
    ("set enable_simd\nset opt_level=speed  enable_nosuch=1\n", "2:22: error: unknown setting 'enable_nosuch'"),
    ("set has_avx\n", "1:5: error: unknown setting 'has_avx' (a flag of x86_64: write it after the target's name on "
                      "its 'target' line)"),
    ("target x86_64 haswell has_avx3\n", "1:23: error: unknown x86_64 flag 'has_avx3' (did you mean 'has_avx'?)"),
    ("target x86_64-unknown-linux-gnu  opt_level=speed\n",
     "1:34: error: unknown x86_64 flag 'opt_level' (a setting: write it on a 'set' line before the target)"),
    ("set opt_level = speed\n", "1:15: error: expected a setting (NAME or NAME=VALUE), found '=' (write NAME=VALUE "
                                "without spaces)"),
    ("target aarch64 ,has_lse\n", "1:16: error: expected a flag of aarch64 (NAME or NAME=VALUE), found ',has_lse' "
                                  "(did you mean 'has_lse'?)"),
    ("target x86_64 sse4.2\n", "1:15: error: expected a flag of x86_64 (NAME or NAME=VALUE), found 'sse4.2' (did you "
                               "mean 'sse42'?)"),
    ("target s390x has_mie2 has_lse\n", "1:23: error: unknown s390x flag 'has_lse'"),
    ("target aarch64_be has_lse has_avx\n", "1:27: error: unknown aarch64 flag 'has_avx'"),
    ("target riscv64gc has_zvl128b has_q\n", "1:30: error: unknown riscv64 flag 'has_q' (did you mean 'has_v'?)"),
    ("target x86_64\nset opt_level=speed\n",
     "2:1: error: a 'set' line after the last 'target' line has no effect: set lines apply to the targets after them"),
    ("target x86_64 skylake-avx51\n", "1:15: error: unknown x86_64 flag 'skylake-avx51' (did you mean 'skylake-avx512'?)"),
    ("target x86_64 haswell legacy\n", "1:23: error: unknown x86_64 flag 'legacy' (a backend of 2021: write it right "
                                       "after the target's name)"),
]


def first_error(source: str) -> str:
    with pytest.raises(ClifError) as info:
        parse_text(source, "t.clif")
    d = info.value.first
    assert d.loc.path == "t.clif"
    return f"{d.loc.line}:{d.loc.col}: {d.severity}: {d.message}"


@pytest.mark.parametrize("source, expected", CASES, ids=[c[1].split(": ", 2)[2][:60] for c in CASES])
def test_located_message(source, expected):
    assert first_error(source) == expected


def test_there_are_many_cases():
    assert len(CASES) >= 45


def test_caret_display():
    with pytest.raises(ClifError) as info:
        parse_text(B("v1 = iadd v0, v9"), "t.clif")
    assert str(info.value) == "t.clif:3:19: error: undefined value v9\n    v1 = iadd v0, v9\n                  ^"


def test_caret_under_a_word_after_tabs():
    # A terminal widens a tab: the caret line keeps the tabs before the column, so it lines up.
    with pytest.raises(ClifError) as info:
        parse_text("test run\ntarget\tx86_64\thas_sse41\thas_avx3 ; c\n", "t.clif")
    head, line, caret = str(info.value).split("\n")
    assert head == "t.clif:2:25: error: unknown x86_64 flag 'has_avx3' (did you mean 'has_avx'?)"
    assert caret == "      \t      \t         \t^"
    assert line.expandtabs().index("has_avx3") == caret.expandtabs().index("^")


def test_caret_of_a_location_without_a_column_stays_at_the_line_start():
    # A column of 0 (no column known) puts the caret at the first column, as before tabs were
    # kept: not under the line's last character (a slice to -1).
    from clifkit.diagnostics import Diagnostic, Location

    text = Diagnostic(Location("t.clif", 1, 0), "m", source_line="\tabc").format()
    assert text.split("\n")[2] == "^"


def test_every_broken_function_is_reported():
    source = B("v1 = foo v0") + "\nfunction %ok() {\nblock0:\n    return\n}\n\n" + B("v1 = bar v0")
    with pytest.raises(ClifError) as info:
        parse_text(source, "t.clif")
    assert [(d.loc.line, d.message) for d in info.value.diagnostics] == [
        (3, "unknown opcode 'foo'"),
        (13, "unknown opcode 'bar'"),
    ]
    assert all(d.source_line is not None for d in info.value.diagnostics)


def test_missing_brace_does_not_swallow_the_next_function():
    source = "function %a() {\nblock0:\n    return\n\nfunction %b() {\nblock0:\n    v0 = bad\n}\n"
    with pytest.raises(ClifError) as info:
        parse_text(source, "t.clif")
    assert [str(d.loc) + " " + d.message for d in info.value.diagnostics] == [
        "t.clif:5:1 expected '}' to close function %a",
        "t.clif:7:10 unknown opcode 'bad'",
    ]


def test_unreadable_file(tmp_path):
    with pytest.raises(ClifError) as info:
        parse_file(tmp_path / "missing.clif")
    assert info.value.first.message.startswith("cannot read file")


def test_cat_reports_located_error_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.clif"
    bad.write_text("test run\n\nfunction %f() -> i32 {\nblock0:\n    v0 = iconst.i32 0x1_0000_0000\n    return v0\n}\n")
    assert cli.main(["cat", str(bad)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"{bad}:5:21: error: invalid i32 immediate '0x1_0000_0000': out of range (-2147483648 to 4294967295)",
        "    v0 = iconst.i32 0x1_0000_0000",
        "                    ^",
    ]
    assert "Traceback" not in err


def test_a_file_that_is_not_utf8_is_located_at_its_first_bad_byte(tmp_path, capsys):
    path = tmp_path / "b.clif"
    path.write_bytes(b"test interpret\n\nfunction %f() {\nblock0:\n    return \xff\n}\n")
    with pytest.raises(ClifError) as info:
        parse_file(path)
    d = info.value.first
    assert (d.loc.line, d.loc.col, d.message) == (5, 12, "the file is not UTF-8: byte 0xff cannot be decoded")


def test_every_era_s_settings_and_flags_are_read():
    """Names of the heap era (2021-2022) that today's Cranelift no longer has, and today's, read
    without a diagnostic; so does a target this project has no flag list for."""
    text = ("test run\nset enable_simd\nset avoid_div_traps=true\nset opt_level=speed_and_size\n"
            "set regalloc_algorithm=single_pass\ntarget x86_64 skylake has_avx512vbmi\n"
            "target aarch64-apple-darwin has_lse sign_return_address\ntarget s390x arch13\n"
            "target riscv64gc has_zvl128b zvl256b\ntarget pulley64\ntarget arm whatever\n"
            "function %f() {\nblock0:\n    return\n}\n")
    tf = parse_text(text, "t.clif")
    assert [s.words for s in tf.isa_specs][-1] == ["arm", "whatever"]


def test_x86_presets_spelt_as_llvm_does_are_read():
    # Cranelift names these presets after LLVM's CPUs, hyphens and all (since 2023).
    text = "target x86_64 skylake-avx512 icelake-client\ntarget x86_64-unknown-linux-gnu x86-64-v3 goldmont-plus\n"
    assert [s.words[1:] for s in parse_text(text, "t.clif").isa_specs] == [
        ["skylake-avx512", "icelake-client"], ["x86-64-v3", "goldmont-plus"]]


def test_the_backend_words_of_2021_are_read():
    # From March to June 2021 Cranelift's reader took `machinst` or `legacy` right after the
    # target's name, choosing the new or the old x86 backend, for any target.
    text = ("target x86_64 machinst has_popcnt has_sse42\ntarget x86_64 legacy skylake\n"
            "target aarch64 machinst\n")
    assert [s.words for s in parse_text(text, "t.clif").isa_specs][0] == ["x86_64", "machinst", "has_popcnt",
                                                                         "has_sse42"]
