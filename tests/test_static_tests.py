"""`test verifier` and `test cat` in `clifkit test`, and the filecheck matcher behind `test cat`."""

from __future__ import annotations

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


def test_verifier_expectations_on_their_lines(clifkit_test):
    status, _, runs = clifkit_test(name="v.clif", text=VERIFIER)
    got = [(r["line"], r["status"], r["function"]) for r in runs]
    # %ok verifies; %bad's expectation matches; its bitcast error is nowhere expected; the own-line
    # comment of %lanes belongs to the extractlane line above it.
    assert (3, "passed", "%ok") in got
    assert (11, "passed", "%bad") in got
    assert (17, "passed", "%lanes") in got
    unexpected = [r for r in runs if r["status"] == "failed"]
    assert [r["line"] for r in unexpected] == [10] and "bitcast" in unexpected[0]["message"]
    assert status == 1


def test_verifier_reports_a_missing_error(clifkit_test):
    text = VERIFIER.replace("    v1 = bitcast.i64 v0\n", "").replace("function signature of", "the moon of")
    status, _, runs = clifkit_test(name="v.clif", text=text)
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


def test_cat_matches_the_printed_function(clifkit_test):
    status, _, runs = clifkit_test(name="c.clif", text=CAT)
    assert status == 0 and [(r["engine"], r["status"]) for r in runs] == [("cat", "passed")]


@pytest.mark.parametrize("change, to, why", [
    ("; check: return $s", "; not: return\n; check: }", "not: return: matched 'return'"),
    ("; nextln: $(s=$V) = iadd v0, $c", "; nextln: $(s=$V) = iadd v0, v0", "nextln: $(s=$V) = iadd v0, v0: no match"),
    ("; sameln: function %f(i32) -> i32 fast {", "; sameln: function %f(i32) -> i32 {", "sameln: function"),
])  # fmt: skip
def test_cat_failures_say_which_directive(change, to, why, clifkit_test):
    status, _, runs = clifkit_test(name="c.clif", text=CAT.replace(change, to))
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


def test_cat_checks_cranelifts_printing(clifkit_test):
    status, _, runs = clifkit_test(CAT_AS_CRANELIFT, name="c.clif")
    assert status == 0 and [r["status"] for r in runs] == ["passed"], runs


def test_cat_directives_never_match_their_own_comment(clifkit_test):
    text = CAT_AS_CRANELIFT.replace("    ; check: v3 = iadd v1, v1", "    ; check: v3 = isub v1, v1")
    status, _, runs = clifkit_test(text, name="c.clif")
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


BLANK_LINES = """test verifier

function %after_blank(i32, f32) -> i32 {
block0(v0: i32, v1: f32):
    v2 = iadd v0, v1

    ; error: arg 1 (v1) has type f32, expected i32
    return v2
}
"""


def test_an_own_line_error_skips_blank_lines_so_cat_keeps_its_meaning(clifkit_test, tmp_path, capsys):
    status, _, runs = clifkit_test(BLANK_LINES, name="b.clif")
    assert status == 0 and [(r["line"], r["status"]) for r in runs] == [(7, "passed")]
    clifkit_main(["cat", str(tmp_path / "b.clif")])
    printed = capsys.readouterr().out
    assert "\n\n    ; error" not in printed  # cat moved the comment next to its line
    status, _, runs = clifkit_test(printed, name="c.clif")
    assert status == 0 and [r["status"] for r in runs] == ["passed"]


def test_filecheck_failures_show_the_line_and_the_directive():
    text = "one two\nthree\nfour five\n"
    with pytest.raises(FileCheckError, match=r"line 2: check: six: no match after printed line 2: 'three'"):
        check(text, _d(("check", "three"), ("check", "six")))
    with pytest.raises(FileCheckError, match=r"line 2: nextln: five: no match on printed line 2: 'three'"):
        check(text, _d(("check", "one"), ("nextln", "five")))
    with pytest.raises(FileCheckError, match=r"line 1: check: undefined variable \$nope"):
        check(text, _d(("check", "$nope")))


PREAMBLE_DIRECTIVES = """test cat
; check: block0:

function %a() {
block0:
    return
}

function %b() {
block0:
    return
}
; check: return

function %c() {
block1:
    return
}
"""


def test_cat_preamble_directives_apply_to_every_function_and_none_passes(clifkit_test, tmp_path, capsys):
    status, _, runs = clifkit_test(PREAMBLE_DIRECTIVES, name="p.clif")
    assert [(r["function"], r["status"]) for r in runs] == [("%a", "passed"), ("%b", "passed"), ("%c", "failed")]
    status, _, runs = clifkit_test("test cat\n\nfunction %n() {\nblock0:\n    return\n}\n", name="n.clif")
    assert status == 0 and [(r["function"], r["status"]) for r in runs] == [("%n", "passed")]


def test_verifier_problems_above_the_first_function_fail_the_file(clifkit_test, tmp_path, capsys):
    text = "test verifier\ntarget x86-64\n; error: misplaced\n\nfunction %f() {\nblock0:\n    return\n}\n"
    status, _, runs = clifkit_test(text, name="v.clif")
    got = [(r["line"], r["status"], r["message"]) for r in runs]
    assert status == 1 and got[0][:2] == (2, "failed") and "unknown target architecture 'x86'" in got[0][2]
    assert got[1][:2] == (3, "failed") and "belongs to no function" in got[1][2]
    assert got[2][:2] == (5, "passed")


def test_k_chooses_verifier_results_by_function_and_v_shows_passes(tmp_path, capsys):
    path = tmp_path / "v.clif"
    path.write_text(VERIFIER)
    assert clifkit_main(["test", "-j1", "-v", "-k", "lanes or ok", str(path)]) == 0
    out = capsys.readouterr().out
    assert "%lanes: " in out and "%ok: no error, as expected [verifier]" in out and "%bad" not in out
    assert "2 run lines deselected by -k" in out and "2 passed" in out


def test_cat_prints_heap_era_heaps_and_tables_in_cranelifts_order(clifkit_test):
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
    status, _, runs = clifkit_test(text, name="h.clif")
    assert status == 0 and [r["status"] for r in runs] == ["passed"], runs
