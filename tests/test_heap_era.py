"""Heap-era (2021-2022) instructions beyond heaps: read, print, verify, interpret, run natively.

The run lines below restate what Cranelift's run tests of December 2022 check
(their values, not their text); each engine and backend the machine can run
must pass them: the interpreter, x86_64 natively, aarch64 and s390x under QEMU
when `clifkit emulation setup` has prepared them.
"""

from __future__ import annotations

import json

import pytest

from clifkit.api import parse, to_text, verify
from clifkit.cli import main as clifkit_main
from clifkit.diagnostics import ClifError
from clifkit.interpreter import softfloat as sf
from support import native_targets

HEADER = "test interpret\ntest run\ntarget x86_64\ntarget aarch64\ntarget s390x\n\n"

BRANCHES = """
function %brz(i32) -> i32 {
block0(v0: i32):
    brz v0, block1
    jump block4

block4:
    v1 = iconst.i32 7
    brnz v0, block2(v1)
    jump block1

block1:
    v2 = iconst.i32 1
    return v2

block2(v3: i32):
    return v3
}
; run: %brz(0) == 1
; run: %brz(5) == 7

function %br_table(i32) -> i32 {
    jt0 = jump_table [block1, block2, block2]

block0(v0: i32):
    br_table v0, block3, jt0

block1:
    v1 = iconst.i32 10
    return v1

block2:
    v2 = iconst.i32 20
    return v2

block3:
    v3 = iconst.i32 30
    return v3
}
; run: %br_table(0) == 10
; run: %br_table(2) == 20
; run: %br_table(3) == 30
; run: %br_table(-1) == 30
"""

# The carries are signed overflow and the borrows a signed x < y (+ b_in), as the 2022 interpreter
# computed them: 100 + -20 has an unsigned carry but no signed overflow.
CARRIES = """
function %iadd_cout(i8, i8) -> i8, i8 {
block0(v0: i8, v1: i8):
    v2, v3 = iadd_cout v0, v1
    return v2, v3
}
; run: %iadd_cout(100, -20) == [80, 0]
; run: %iadd_cout(100, 28) == [-128, 1]
; run: %iadd_cout(-128, -128) == [0, 1]

function %iadd_carry(i16, i16, i8) -> i16, i8 {
block0(v0: i16, v1: i16, v2: i8):
    v3, v4 = iadd_carry v0, v1, v2
    return v3, v4
}
; run: %iadd_carry(32767, 0, 1) == [-32768, 1]
; run: %iadd_carry(-32768, -1, 1) == [-32768, 1]
; run: %iadd_carry(100, -20, 2) == [81, 0]

function %iadd_cin(i32, i32, i8) -> i32 {
block0(v0: i32, v1: i32, v2: i8):
    v3 = iadd_cin v0, v1, v2
    return v3
}
; run: %iadd_cin(-1, 0, 1) == 0
; run: %iadd_cin(5, 6, 0) == 11

function %isub_bout(i64, i64) -> i64, i8 {
block0(v0: i64, v1: i64):
    v2, v3 = isub_bout v0, v1
    return v2, v3
}
; run: %isub_bout(100, -20) == [120, 0]
; run: %isub_bout(-5, 3) == [-8, 1]

function %isub_borrow(i8, i8, i8) -> i8, i8 {
block0(v0: i8, v1: i8, v2: i8):
    v3, v4 = isub_borrow v0, v1, v2
    return v3, v4
}
; run: %isub_borrow(0, 127, 1) == [-128, 0]
; run: %isub_borrow(3, 3, 1) == [-1, 1]

function %isub_bin(i16, i16, i8) -> i16 {
block0(v0: i16, v1: i16, v2: i8):
    v3 = isub_bin v0, v1, v2
    return v3
}
; run: %isub_bin(0, 1, 1) == -2
"""

OTHERS = """
function %refs(i64) -> i8, i8, i8, i64 {
block0(v0: i64):
    v1 = bitcast.r64 v0
    v2 = is_null v1
    v3 = is_invalid v1
    v4 = null.r64
    v5 = is_null v4
    v6 = bitcast.i64 v1
    return v2, v3, v5, v6
}
; run: %refs(0) == [1, 0, 1, 0]
; run: %refs(-1) == [0, 1, 1, -1]
; run: %refs(256347) == [0, 0, 1, 256347]

function %pminmax(f32x4, f32x4) -> f32x4, f32x4 {
block0(v0: f32x4, v1: f32x4):
    v2 = fmin_pseudo v0, v1
    v3 = fmax_pseudo v0, v1
    return v2, v3
}
; run: %pminmax([0x1.0 NaN -0.0 0x2.0], [-0x1.0 0x3.0 0.0 NaN]) == [[-0x1.0 NaN -0.0 0x2.0], [0x1.0 NaN -0.0 0x2.0]]

function %vselect(i16x8, i16x8, i16x8) -> i16x8 {
block0(v0: i16x8, v1: i16x8, v2: i16x8):
    v3 = vselect v0, v1, v2
    return v3
}
; run: %vselect([-1 0 -1 0 0 0 -1 -1], [1 2 3 4 5 6 7 8], [9 10 11 12 13 14 15 16]) == [1 10 3 12 13 14 7 8]

function %bmask(i32x4) -> i32x4 {
block0(v0: i32x4):
    v1 = bmask.i32x4 v0
    return v1
}
; run: %bmask([7 0 -1 0x80000000]) == [-1 0 -1 -1]

function %dot(i16x8, i16x8) -> i32x4 {
block0(v0: i16x8, v1: i16x8):
    v2 = widening_pairwise_dot_product_s v0, v1
    return v2
}
; run: %dot([1 2 3 4 -5 6 -32768 -32768], [7 8 9 10 11 -12 -32768 -32768]) == [23 67 -127 -2147483648]

function %low(i32x4) -> f64x2 {
block0(v0: i32x4):
    v1 = fcvt_low_from_sint.f64x2 v0
    return v1
}
; run: %low([-1 123456789 0 1]) == [-0x1.0 0x1.d6f3454p26]

function %swizzle(i8x16, i8x16) -> i8x16 {
block0(v0: i8x16, v1: i8x16):
    v2 = swizzle.i8x16 v0, v1
    return v2
}
; run: %swizzle([0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15], [15 14 13 12 11 10 9 8 7 6 5 4 3 2 1 42]) == [15 14 13 12 11 10 9 8 7 6 5 4 3 2 1 0]

function %trap_user0(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    v2 = uadd_overflow_trap v0, v1, user0
    return v2
}
; run: %trap_user0(1, 2) == 3
; run: %trap_user0(-1, 2) == trap user0

function %callee(i64) -> i64 wasmtime_system_v {
block0(v0: i64):
    v1 = iadd_imm v0, 10
    return v1
}

function %caller(i64) -> i64 {
    fn0 = %callee(i64) -> i64 wasmtime_system_v

block0(v0: i64):
    v1 = call fn0(v0)
    return v1
}
; run: %caller(10) == 20
"""

# fmin/fmax of NaN operands: the interpreter's rule is the aarch64 and s390x hardware's.
NANS = """test interpret
test run
target aarch64
target s390x

function %fmin(f64, f64) -> f64 {
block0(v0: f64, v1: f64):
    v2 = fmin v0, v1
    return v2
}
; run: %fmin(0x1.0, -NaN:0x42) == -NaN:0x42
; run: %fmin(+sNaN:0x1, 0x1.0) == +NaN:0x1
; run: %fmin(NaN:0x5, -sNaN:0x2) == -NaN:0x2
; run: %fmin(-NaN:0x5, NaN:0x2) == -NaN:0x5

function %fmax(f32x4, f32x4) -> f32x4 {
block0(v0: f32x4, v1: f32x4):
    v2 = fmax v0, v1
    return v2
}
; run: %fmax([-NaN 0x1.0 NaN:0x3 0.0], [0x1.0 -sNaN:0x7 -NaN:0x9 NaN]) == [-NaN -NaN:0x7 NaN:0x3 NaN]
"""


_targets = native_targets


def _run_file(tmp_path, capsys, name: str, text: str) -> list[dict]:
    path = tmp_path / name
    path.write_text(text)
    report = tmp_path / "report.json"
    status = clifkit_main(["test", "-j1", "--interpret-all", "--json", str(report), str(path)])
    out = capsys.readouterr().out
    runs = [r for f in json.loads(report.read_text())["files"] for r in f["runs"]]
    failed = [r for r in runs if r["status"] not in ("passed", "skipped")]
    assert status == 0 and not failed, out
    return runs


@pytest.mark.parametrize("name, body", [("branches", BRANCHES), ("carries", CARRIES), ("others", OTHERS)])
def test_heap_era_runs_on_every_engine(tmp_path, capsys, name, body):
    runs = _run_file(tmp_path, capsys, name + ".clif", HEADER + body)
    passed = {(r["engine"], r["target"]) for r in runs if r["status"] == "passed"}
    assert ("interpreter", None) in passed
    assert {t for e, t in passed if e == "native"} == _targets()
    lines = {r["line"] for r in runs}
    assert all(("interpreter", None) == (r["engine"], r["target"]) or r["status"] == "passed"
               for r in runs if r["target"] in _targets()), lines


def test_fmin_fmax_nan_rule_is_aarch64_and_s390x(tmp_path, capsys):
    runs = _run_file(tmp_path, capsys, "nans.clif", NANS)
    assert all(r["status"] == "passed" for r in runs if r["engine"] == "interpreter")
    assert {r["target"] for r in runs if r["status"] == "passed" and r["engine"] == "native"} == _targets() - {"x86_64"}


def test_min_max_nan_quiets_and_prefers_signalling():
    f64 = sf.FORMATS[64]
    snan = f64.inf | 2
    assert sf.min_max_nan(f64, f64.nan | 5, snan | f64.sign) == f64.sign | f64.nan | 2
    assert sf.min_max_nan(f64, f64.sign | f64.nan, f64.nan | 7) == f64.sign | f64.nan


def test_heap_era_syntax_prints_as_read_and_verifies():
    text = HEADER + BRANCHES + OTHERS
    tf = parse(text, "t.clif")
    printed = to_text(tf)
    for piece in ("brz v0, block1", "brnz.i32 v0, block2(v1)", "jt0 = jump_table [block1, block2, block2]",
                  "br_table v0, block3, jt0", "null.r64", "bitcast.r64 v0", "user0", "wasmtime_system_v"):
        assert piece in printed, piece
    assert to_text(parse(printed, "t.clif")) == printed
    assert verify(tf, text) == []


@pytest.mark.parametrize("text, message", [
    ("function %f(i32) {\nblock0(v0: i32):\n    br_table v0, block0, jt3\n}", "undefined jump table jt3"),
    ("function %f() -> i8 {\nblock0:\n    v0 = null.i64\n    return v0\n}", "null does not accept type i64"),
    ("function %f(i64) -> i64 {\nblock0(v0: i64):\n    v1 = iadd_cout.r64 v0, v0\n    return v1\n}",
     "iadd_cout does not accept type r64"),
    ("function %f(i8x16) -> i8x16 {\nblock0(v0: i8x16):\n    v1 = swizzle.i16x8 v0, v0\n    return v1\n}",
     "swizzle takes no type suffix"),
])  # fmt: skip
def test_heap_era_errors_are_located(text, message):
    with pytest.raises(ClifError) as info:
        parse(text, "bad.clif")
    assert message in str(info.value)


def test_branch_inside_a_block_is_not_a_terminator():
    tf = parse(BRANCHES, "t.clif")
    insts = next(iter(tf.functions[0].function.blocks.values())).insts
    assert [i.opcode.name for i in insts] == ["brz", "jump"]
    assert [i.opcode.is_terminator for i in insts] == [False, True]
    assert insts[0].opcode.is_branch


@pytest.mark.parametrize("text, message", [
    # what follows a brz would not dominate its target (a value defined there is undefined on the branch)
    ("function %f(i32) -> i32 {\nblock0(v0: i32):\n    brz v0, block1\n    v2 = iconst.i32 7\n    jump block1\n"
     "block1:\n    return v2\n}", "4:10: post-branch instruction not jump: iconst follows brz"),
    ("function %f(i32) {\nblock0(v0: i32):\n    brnz v0, block1\n    brz v0, block1\n    jump block1\n"
     "block1:\n    return\n}", "4:5: post-branch instruction not jump: brz follows brnz"),
    # bmask keeps the lane count (the type variables leave it free; Cranelift's definition says so)
    ("function %f(i32x4) -> i8x16 {\nblock0(v0: i32x4):\n    v1 = bmask.i8x16 v0\n    return v1\n}",
     "bmask keeps the number of lanes: i32x4 has 4 lanes, i8x16 has 16"),
    ("function %f(i32) -> i32x4 {\nblock0(v0: i32):\n    v1 = bmask.i32x4 v0\n    return v1\n}",
     "bmask keeps the number of lanes: i32 has 1 lane, i32x4 has 4"),
])  # fmt: skip
def test_heap_era_verifier_rules(text, message):
    tf = parse(text, "bad.clif")
    found = [f"{d.loc.line}:{d.loc.col}: {d.message}" for d in verify(tf, text)]
    assert any(message in f for f in found), found


def test_a_terminator_before_the_end_is_reported_once():
    text = ("function %f(i32) -> i32 {\nblock0(v0: i32):\n    brif v0, block1, block1\n    v1 = iadd v0, v0\n"
            "    return v1\nblock1:\n    return v0\n}")
    found = [f"{d.loc.line}: {d.message}" for d in verify(parse(text, "t.clif"), text)]
    assert len(found) == 1 and found[0].startswith("3: a terminator instruction was encountered"), found
