"""`test verifier` and `test cat` in `clifkit test`, and the filecheck matcher behind `test cat`."""

from __future__ import annotations

import json

import pytest

from clifkit.cli import main as clifkit_main
from clifkit.runtest.filecheck import Directive, FileCheckError, check

VERIFIER = """test verifier

function %ok(i32) -> i32 {
block0(v0: i32):
    return v0
}

function %bad(i32) -> i64 {
block0(v0: i32):
    v1 = bitcast.i64 v0
    return v0 ; error: result 0 has type i32, must match function signature of i64
}

function %lanes(i32x4) -> i32 {
block0(v0: i32x4):
    v1 = extractlane v0, 4
    ; error: The lane 4 does not index into the type i32x4
    return v1
}
"""


def _run(tmp_path, capsys, name: str, text: str) -> tuple[int, list[dict]]:
    path = tmp_path / name
    path.write_text(text)
    report = tmp_path / "r.json"
    status = clifkit_main(["test", "-j1", "--json", str(report), str(path)])
    capsys.readouterr()
    return status, [r for f in json.loads(report.read_text())["files"] for r in f["runs"]]


def test_verifier_expectations_on_their_lines(tmp_path, capsys):
    status, runs = _run(tmp_path, capsys, "v.clif", VERIFIER)
    got = [(r["line"], r["status"], r["function"]) for r in runs]
    # %ok verifies; %bad's expectation matches; its bitcast error is nowhere expected; the own-line
    # comment of %lanes belongs to the extractlane line above it.
    assert (3, "passed", "%ok") in got
    assert (11, "passed", "%bad") in got
    assert (17, "passed", "%lanes") in got
    unexpected = [r for r in runs if r["status"] == "failed"]
    assert [r["line"] for r in unexpected] == [10] and "bitcast" in unexpected[0]["message"]
    assert status == 1


def test_verifier_reports_a_missing_error(tmp_path, capsys):
    text = VERIFIER.replace("    v1 = bitcast.i64 v0\n", "").replace("function signature of", "the moon of")
    status, runs = _run(tmp_path, capsys, "v.clif", text)
    bad = [r for r in runs if r["function"] == "%bad"]
    assert [r["status"] for r in bad] == ["failed"]
    assert "expected an error containing 'result 0 has type i32, must match the moon of i64'" in bad[0]["message"]
    assert "clifkit reports: result 0 has type i32, must match function signature of i64" in bad[0]["message"]


CAT = """test cat

function %f(i32) -> i32 {
block0(v0: i32):
    v1 = iconst.i32 5
    v2 = iadd v0, v1
    return v2
}
; sameln: function %f(i32) -> i32 fast {
; nextln: block0(v0: i32):
; regex: V=v\\d+
; check: $(c=$V) = iconst.i32 5
; nextln: $(s=$V) = iadd v0, $c
; not: isub
; check: return $s
"""


def test_cat_matches_the_printed_function(tmp_path, capsys):
    status, runs = _run(tmp_path, capsys, "c.clif", CAT)
    assert status == 0 and [(r["engine"], r["status"]) for r in runs] == [("cat", "passed")]


@pytest.mark.parametrize("change, to, why", [
    ("; check: return $s", "; not: return\n; check: }", "not: return: matched 'return'"),
    ("; nextln: $(s=$V) = iadd v0, $c", "; nextln: $(s=$V) = iadd v0, v0", "nextln: $(s=$V) = iadd v0, v0: no match"),
    ("; sameln: function %f(i32) -> i32 fast {", "; sameln: function %f(i32) -> i32 {", "sameln: function"),
])  # fmt: skip
def test_cat_failures_say_which_directive(tmp_path, capsys, change, to, why):
    status, runs = _run(tmp_path, capsys, "c.clif", CAT.replace(change, to))
    assert status == 1 and runs[0]["status"] == "failed"
    assert why in runs[0]["message"]


CAT_AS_CRANELIFT = """test cat

function %g() -> i32 {
    gv0 = symbol u8:9
    ; check: gv0 = symbol userextname0
    sig3 = (i32)
    fn1 = %bar(i32) -> i8
    ; check: sig4 = (i32) -> i8 fast
    ; check: fn1 = %bar sig4
    fn2 = u8:9 sig3
    ; check: fn2 = u8:9 sig3
block0:
    v1 = iconst.i32 5
    v2 = f32const 0x1.0p1
    v3 = iadd v1, v1
    ; check: v3 = iadd v1, v1  ; v1 = 5, v1 = 5
    v4 = bitcast.i32 v2
    ; check: v4 = bitcast.i32 v2  ; v2 = 0x1.000000p1
    return v3
}
"""


def test_cat_checks_cranelifts_printing(tmp_path, capsys):
    status, runs = _run(tmp_path, capsys, "c.clif", CAT_AS_CRANELIFT)
    assert status == 0 and [r["status"] for r in runs] == ["passed"], runs


def test_cat_directives_never_match_their_own_comment(tmp_path, capsys):
    text = CAT_AS_CRANELIFT.replace("    ; check: v3 = iadd v1, v1", "    ; check: v3 = isub v1, v1")
    status, runs = _run(tmp_path, capsys, "c.clif", text)
    assert status == 1 and "check: v3 = isub v1, v1  ; v1 = 5, v1 = 5: no match" in runs[0]["message"]


def test_printing_as_cranelift_leaves_the_function_and_its_text_alone():
    from clifkit.printer import format_function, format_function_as_cranelift
    from clifkit.reader import parse_text

    func = parse_text(CAT_AS_CRANELIFT).functions[0].function
    before = format_function(func)
    cranelift = format_function_as_cranelift(func)
    assert "fn1 = %bar(i32) -> i8" in before and "; check:" in before and "gv0 = symbol u8:9" in before
    assert "; check:" not in cranelift and "function %g() -> i32 fast {" in cranelift
    assert format_function(func) == before


def _d(*pairs) -> list[Directive]:
    return [Directive(k, t, n) for n, (k, t) in enumerate(pairs, 1)]


def test_filecheck_rules():
    text = "one two\nthree\nfour five\n"
    check(text, _d(("check", "one"), ("sameln", "two"), ("nextln", "three")))
    check(text, _d(("unordered", "three"), ("unordered", "one"), ("check", "five")))
    check(text, _d(("check", "on$()")))  # $() ends the word-boundary rule
    with pytest.raises(FileCheckError, match="no match"):
        check(text, _d(("check", "on")))  # a plain word matches whole words only
    with pytest.raises(FileCheckError, match="not: three"):
        check(text, _d(("check", "two"), ("not", "three"), ("check", "five")))
    with pytest.raises(FileCheckError, match="nextln: four"):
        check(text, _d(("check", "one"), ("nextln", "four")))
    with pytest.raises(FileCheckError, match="undefined variable"):
        check(text, _d(("check", "$nope")))
    check("cost $5", _d(("check", "cost $$5")))


def test_cat_prints_heap_era_heaps_and_tables_in_cranelifts_order(tmp_path, capsys):
    text = """test cat
function %h(i32, i64 vmctx) {
    gv0 = vmctx
    gv1 = iadd_imm.i64 gv0, 64
    heap0 = static gv1, offset_guard 0x1000, bound 0x1_0000
    table0 = dynamic gv1, bound gv0, element_size 8
block0(v0: i32, v1: i64):
    return
}
; check: heap0 = static gv1, min 0, bound 0x0001_0000, offset_guard 4096, index_type i32
; check: table0 = dynamic gv1, min 0, bound gv0, element_size 8, index_type i32
"""
    status, runs = _run(tmp_path, capsys, "h.clif", text)
    assert status == 0 and [r["status"] for r in runs] == ["passed"], runs
