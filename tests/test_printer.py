"""The printer: canonical CLIF text, comments back in place, and `cat` as a fixpoint.

The round trip `format(parse(format(parse(f)))) == format(parse(f))` is checked
on the project's own test data and, when it is present, on the Cranelift 0.120
run-test corpus.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from clifkit import cli
from clifkit.ir.opcodes import OPCODES
from clifkit.printer import format_function, format_test_file
from clifkit.reader import parse_file, parse_text

DATA = Path(__file__).parent / "data"
CORPUS = Path("/work/shared/cranelift-0.120-runtests")


def cat(text: str) -> str:
    return format_test_file(parse_text(text, "t.clif"))


def assert_fixpoint(text: str, path: str = "t.clif") -> str:
    once = format_test_file(parse_text(text, path))
    assert format_test_file(parse_text(once, path)) == once
    return once


def body(*lines: str, params: str = "v0: i32, v1: i64") -> str:
    sig = ", ".join(p.split(": ")[1] for p in params.split(", "))
    return f"function %t({sig}) {{\nblock0({params}):\n" + "".join(f"    {x}\n" for x in lines) + "}\n"


def printed_insts(*lines: str, params: str = "v0: i32, v1: i64") -> list[str]:
    out = cat(body(*lines, params=params)).splitlines()
    return [x.strip() for x in out[2:-1]]


def test_canonical_layout():
    source = """test interpret
target x86_64
function %f(i32, i64) -> i32 system_v {
  ss0 = explicit_slot 8
  gv0 = vmctx
block0(v0: i32, v1: i64):
  v2 = iadd.i32 v0, v0
  jump block1(v2)
block1(v3: i32):
  return v3
}
; run: %f(1, 2) == 2
"""
    assert cat(source) == """test interpret
target x86_64

function %f(i32, i64) -> i32 system_v {
    ss0 = explicit_slot 8
    gv0 = vmctx

block0(v0: i32, v1: i64):
    v2 = iadd v0, v0
    jump block1(v2)

block1(v3: i32):
    return v3
}
; run: %f(1, 2) == 2
"""


def test_type_suffix_only_when_it_cannot_be_inferred():
    text = body("v2 = iadd.i32 v0, v0", "jump block1", "", "block1:", "v3 = iadd.i32 v0, v0", "v4 = iadd.i64 v0, v0")
    lines = [x.strip() for x in cat(text).splitlines()]
    # Same block: inferred. Operand from another block: suffix kept. Suffix that differs
    # from the operand's type (ill-typed, for the verifier to report): kept, so nothing changes.
    assert "v2 = iadd v0, v0" in lines and "v3 = iadd.i32 v0, v0" in lines and "v4 = iadd.i64 v0, v0" in lines
    # Opcodes whose controlling type is never inferred keep it; monomorphic ones have none.
    assert printed_insts("v2 = load.i32 v1", "v3 = uextend.i64 v0", "v4 = iconst.i8 1", "return") == [
        "v2 = load.i32 v1", "v3 = uextend.i64 v0", "v4 = iconst.i8 1", "return",
    ]  # fmt: skip


def test_immediates_are_printed_canonically():
    assert printed_insts(
        "v2 = iconst.i8 255", "v3 = iconst.i32 0xffff_ffff", "v4 = iconst.i64 0x0012_3456", "v5 = iadd_imm v0, 0xffff_fffe",
        "v6 = iadd_imm v1, 0xffff_ffff_ffff_ffff", "v7 = icmp_imm ult v0, 10000", "v8 = f32const 0x4.0", "v9 = f64const -0x0.8p-1022",
        "v10 = f16const NaN:0x1", "v11 = f128const -0.0", "v12 = load.i32 v1+0x10000", "v13 = load.i32 v1-16", "v14 = load.i32 v1+0",
    ) == [
        "v2 = iconst.i8 -1", "v3 = iconst.i32 -1", "v4 = iconst.i64 0x0012_3456", "v5 = iadd_imm v0, -2",
        "v6 = iadd_imm v1, -1", "v7 = icmp_imm ult v0, 0x2710", "v8 = f32const 0x1.000000p2",
        "v9 = f64const -0x0.8000000000000p-1022", "v10 = f16const +NaN:0x1", "v11 = f128const -0.0",
        "v12 = load.i32 v1+0x0001_0000", "v13 = load.i32 v1-16", "v14 = load.i32 v1",
    ]  # fmt: skip


def test_constants_keep_their_form():
    lines = printed_insts(
        "v2 = vconst.i32x4 [1 -2 0x7fff_ffff 0x8000_0000]", "v3 = vconst.i8x16 0x01",
        "v4 = vconst.f32x4 [0x1.0p0 -0.0 +Inf NaN]", "v5 = shuffle v3, v3, [0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 31]",
        "v6 = shuffle v3, v3, 0x0f0e", "v7 = vconst.f16x8 0x3c00",
    )  # fmt: skip
    assert lines == [
        "v2 = vconst.i32x4 [1 -2 0x7fff_ffff 0x8000_0000]",
        "v3 = vconst.i8x16 0x00000000000000000000000000000001",
        "v4 = vconst.f32x4 [0x1.000000p0 -0.0 +Inf +NaN]",
        "v5 = shuffle v3, v3, [0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 31]",
        "v6 = shuffle v3, v3, 0x00000000000000000000000000000f0e",
        "v7 = vconst.f16x8 0x00000000000000000000000000003c00",
    ]


def test_aliases_follow_their_target():
    text = body("v2 = iadd v0, v0", "v5 -> v2", "v4 -> v0", "v6 -> v5 ; via v5", "return v6", params="v0: i32")
    assert cat(text).splitlines()[1:-1] == [
        "block0(v0: i32):",
        "    v4 -> v0",
        "    v2 = iadd v0, v0",
        "    v5 -> v2",
        "    v6 -> v5  ; via v5",
        "    return v6",
    ]


def test_comments_and_directives_back_in_place():
    source = """; about the file
test run ; why
; loose

; introduces f
function %f() -> i8 { ; header
    ; slot
    ss0 = explicit_slot 1 ; byte
block0: ; entry
    ; make one
    v0 = iconst.i8 1 ; one
    ; returning
    return v0
    ; done
} ; end
;;  run:   %f() == 1

; grouped
; print: %f()
; introduces g
function %g() {
block0:
    return
}
"""
    assert assert_fixpoint(source) == """; about the file
test run  ; why
; loose

; introduces f
function %f() -> i8 {  ; header
    ; slot
    ss0 = explicit_slot 1  ; byte

block0:  ; entry
    ; make one
    v0 = iconst.i8 1  ; one
    ; returning
    return v0
    ; done
}
; end
; run: %f() == 1

; grouped
; print: %f()

; introduces g
function %g() {
block0:
    return
}
"""


def test_heap_era_syntax_round_trips_in_the_form_it_was_read():
    source = """function %h(i64 vmctx, i64, i32) -> i32 {
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0
    gv2 = load.i64 notrap aligned gv0+8
    heap0 = static gv1, min 0x1000, bound 0x1_0000_0000, offset_guard 0, index_type i64
    heap1 = dynamic gv1, bound gv2, offset_guard 0x8000_0000, index_type i32
    heap2 = static gv1, bound 0x10
    table0 = dynamic gv1, element_size 8, bound gv2, index_type i64

block0(v0: i64, v1: i64, v2: i32):
    v3 = heap_addr.i64 heap0, v1, 0, 4
    v4 = heap_addr.i64 heap0, v1, 8
    v5 = heap_load.i32 heap0 little v1+16
    heap_store heap1 notrap v2+4, v5
    heap_store heap2 v2, v5
    v6 = table_addr.i64 table0, v1, +8
    v7 = table_addr.i64 table0, v1, +0
    return v5
}
"""
    expected = source.replace("min 0x1000", "min 4096").replace("0x1_0000_0000", "0x0001_0000_0000").replace("0x10\n", "16\n")
    assert assert_fixpoint(source) == expected


@pytest.mark.parametrize("path", sorted(DATA.glob("*.clif")), ids=lambda p: p.name)
def test_own_data_files_are_fixpoints(path):
    once = assert_fixpoint(path.read_text(), str(path))
    again = parse_text(once, str(path))
    original = parse_file(path)
    # Nothing lost: the same functions, instructions, directives and comment texts.
    assert [d.function.name for d in again.functions] == [d.function.name for d in original.functions]
    for a, b in zip(again.functions, original.functions):
        assert [i.opcode for i in a.function.instructions()] == [i.opcode for i in b.function.instructions()]
        assert [(d.kind, d.text) for d in a.directives] == [(d.kind, d.text) for d in b.directives]
    assert sorted(_comments(once)) == sorted(_comments(path.read_text()))


def _comments(text: str) -> list[str]:
    return [line[line.index(";") :].rstrip() for line in text.splitlines() if ";" in line]


def test_own_data_covers_every_instruction_format():
    formats = set()
    for path in DATA.glob("*.clif"):
        for details in parse_file(path).functions:
            formats |= {i.opcode.format.name for i in details.function.instructions()}
    assert formats == {op.format.name for op in OPCODES.values()}


def test_format_function_alone():
    tf = parse_text(body("return v0", params="v0: i32"))
    assert format_function(tf.functions[0].function) == "function %t(i32) {\nblock0(v0: i32):\n    return v0\n}\n"


@pytest.mark.skipif(not CORPUS.is_dir(), reason="Cranelift 0.120 run-test corpus not present")
def test_corpus_round_trips():
    files = sorted(CORPUS.rglob("*.clif"))
    assert len(files) >= 353
    for path in files:
        once = format_test_file(parse_file(path))
        assert format_test_file(parse_text(once, str(path))) == once, path


def test_cat_command(tmp_path, capsys):
    good = tmp_path / "good.clif"
    good.write_text(body("v2 = iadd.i32 v0, v0", "return v2", params="v0: i32"))
    assert cli.main(["cat", str(good)]) == 0
    out, err = capsys.readouterr()
    assert (out, err) == (cat(good.read_text()), "")
    assert "    v2 = iadd v0, v0\n" in out
