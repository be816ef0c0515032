"""`test verifier` and `test cat` in `clifkit test`, and the filecheck matcher behind `test cat`."""

from __future__ import annotations


import pytest

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
