"""`clifkit test` end to end: the real reader and interpreter on small CLIF files."""

import json

import pytest

from clifkit import cli


def run(capsys, *argv):
    status = cli.main(["test", *map(str, argv)])
    return status, capsys.readouterr().out.splitlines()


PROGRAM = """test interpret
test run
target x86_64

function %add(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    v2 = iadd v0, v1
    return v2
}
; run: %add(1, 2) == 3
; run: %add(-1, 1) == 0
; run: %add(0xffff_ffff, 2) == 1
; run: %add(1, 2) != 4
; run: %add(1, 2) == 4

function %div(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    v2 = sdiv v0, v1
    return v2
}
; run: %div(7, 2) == 3
; run: %div(1, 0) == 0

function %neg(f32) -> f32 {
block0(v0: f32):
    v1 = fneg v0
    return v1
}
; run: %neg(0x1.8p1) == -0x1.8p1
; run: %neg(-0.0) == 0.0
; run: %neg(+NaN) == -NaN
; run: %neg(0.0) == 0.0

function %wide(i64) -> i64, i64 {
block0(v0: i64):
    v1 = iadd_imm v0, 1
    return v0, v1
}
; run: %wide(-1) == [-1, 0]
; print: %wide(41)

function %vid(i32x4) -> i32x4 {
block0(v0: i32x4):
    return v0
}
; run: %vid([1 2 3 -1]) == [1, 2, 3, 0xffffffff]

function %is_one() -> i8 {
block0:
    v0 = iconst.i8 1
    return v0
}
; run

function %spin() -> i32 {
block0:
    jump block1
block1:
    jump block1
}
; run: %spin() == 0
; run: %nosuch() == 0
"""


def test_end_to_end(tmp_path, capsys):
    p = tmp_path / "prog.clif"
    p.write_text(PROGRAM)
    report = tmp_path / "r.json"
    status, out = run(capsys, "--engine", "interpreter", "--fuel", "10000", "--json", report, p)
    assert status == 1
    assert out == [
        f"{p}:14: %add(1, 2): expected 4, got 3 [interpreter]",
        f"{p}:22: %div(1, 0): expected 0, got trap int_divz [interpreter]",
        f"{p}:32: %neg(0.0): expected 0.0, got -0.0 [interpreter]",
        f"{p}:40: %wide(41) -> [41, 42] [interpreter]",
        f"{p}:61: %spin(): ran out of fuel after 10000 instructions in %spin: an endless loop? (--fuel raises the limit) [interpreter]",
        f"{p}:62:8: error: unknown function %nosuch (this file defines %add, %div, %neg, %wide, %vid, %is_one, ...) [interpreter]",
        "; run: %nosuch() == 0",
        "       ^",
        "12 passed, 5 failed, 0 skipped",
    ]
    data = json.loads(report.read_text())
    assert data["summary"] == {**data["summary"], "passed": 12, "failed": 5, "skipped": 0}
    (entry,) = data["files"]
    assert entry["status"] == "failed"
    assert {r["engine"] for r in entry["runs"]} == {"interpreter"}
    assert len(entry["runs"]) == 17


def test_parse_error_file(tmp_path, capsys):
    p = tmp_path / "bad.clif"
    p.write_text("test interpret\n\nfunction %f() -> i32 {\nblock0:\n    v0 = iconst.i32\n}\n; run: %f() == 1\n")
    status, out = run(capsys, p)
    assert status == 1
    assert out[0].startswith(f"{p}:") and ": error: " in out[0]
    assert out[-1] == "0 passed, 1 failed, 0 skipped"


def test_examples_directory_passes(capsys):
    import os

    examples = os.path.join(os.path.dirname(__file__), "..", "examples")
    if not os.path.isdir(examples):
        pytest.skip("no examples directory")
    status, out = run(capsys, examples)
    assert out[-1].endswith(" 0 failed, 0 skipped"), out
    assert status == 0


def test_heap_directives_are_skipped_until_supported(tmp_path, capsys):
    p = tmp_path / "heap.clif"
    p.write_text(
        """test interpret

function %h(i64 vmctx, i32) -> i32 {
block0(v0: i64, v1: i32):
    return v1
}
; heap: static, size=0x1000, ptr=vmctx+0, bound=vmctx+8
; run: %h(5) == 5
"""
    )
    status, out = run(capsys, "-v", p)
    assert out[-1] in ("0 passed, 0 failed, 1 skipped", "1 passed, 0 failed, 0 skipped")
    assert status == 0
