"""The pytest plugin, driven through pytest's own `pytester`: collection, names, failure text,
-k, -x, --lf, xdist's -n, and which .clif files get collected at all."""

from __future__ import annotations

import importlib.util

import pytest
from support import needs_native

pytest_plugins = ["pytester"]

ADD = """test interpret

function %add(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    v2 = iadd v0, v1
    return v2
}
; run: %add(1, 2) == 3
; run: %add(1, 2) == 4
; run: %add(-1, 1) == 0
"""

DIV = """test interpret

function %div(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    v2 = sdiv v0, v1
    return v2
}
; run: %div(7, 2) == 3
; run: %div(1, 0) == 0
; print: %div(9, 3)
"""

HEAP = """test interpret

function %load_store(i64 vmctx, i32, i64) -> i64 {
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
    heap0 = static gv1, min 0x1000, bound 0x1000, offset_guard 0, index_type i32

block0(v0: i64, v1: i32, v2: i64):
    heap_store heap0 v1, v2
    v3 = heap_load.i64 heap0 v1
    return v3
}
; heap: static, size=0x1000, ptr=vmctx+0, bound=vmctx+8
; run: %load_store(1, 2) == 2
; run: %load_store(0xff8, -5) == -5
; run: %load_store(0xffc, 1) == trap heap_oob
"""


@pytest.fixture
def clif(pytester):
    """A directory `clif/` of run tests, and a Python test beside it."""
    d = pytester.mkdir("clif")
    (d / "add.clif").write_text(ADD)
    (d / "div.clif").write_text(DIV)
    (d / "heap.clif").write_text(HEAP)
    (d / "notes.clif").write_text("test compile\n\nfunction %f() {\nblock0:\n    return\n}\n")
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    return pytester


def test_collection_names(clif):
    result = clif.runpytest("clif", "--collect-only", "-q")
    lines = [line for line in result.outlines if "::" in line]
    assert lines == [
        "clif/add.clif::%add(1, 2)@8[interpreter]",
        "clif/add.clif::%add(1, 2)@9[interpreter]",
        "clif/add.clif::%add(-1, 1)[interpreter]",
        "clif/div.clif::%div(7, 2)[interpreter]",
        "clif/div.clif::%div(1, 0)[interpreter]",
        "clif/div.clif::%div(9, 3)[interpreter]",
        "clif/heap.clif::%load_store(1, 2)[interpreter]",
        "clif/heap.clif::%load_store(0xff8, -5)[interpreter]",
        "clif/heap.clif::%load_store(0xffc, 1)[interpreter]",
    ]


def test_results_and_failure_text(clif):
    result = clif.runpytest("clif", "-rA")
    result.assert_outcomes(passed=7, failed=2)
    text = result.stdout.str()
    result.stdout.fnmatch_lines([
        "*_ add.clif:9: %add(1, 2)@9[[]interpreter] _*",
        "clif/add.clif:9: %add(1, 2): expected 4, got 3",
        "    ; run: %add(1, 2) == 4",
        "  expected: 4",
        "  actual:   3",
        "*_ div.clif:9: %div(1, 0)[[]interpreter] _*",
        "clif/div.clif:9: %div(1, 0): expected 0, got trap int_divz",
        "    ; run: %div(1, 0) == 0",
        "  expected: 0",
        "  actual:   trap int_divz (the call trapped)",
    ])
    assert "Traceback" not in text and "def runtest" not in text and "ClifRunFailed" not in text
    # A print line passes and shows its output; short summary names items as the nodeids.
    assert "clif/div.clif:10: %div(9, 3) -> 3" in text
    result.stdout.fnmatch_lines(["FAILED clif/add.clif::%add(1, 2)@9[[]interpreter]*"])


def test_k_selects_items(clif):
    result = clif.runpytest("clif", "-k", "load_store and not 0xffc")
    result.assert_outcomes(passed=2, deselected=7)
    result = clif.runpytest("clif", "-k", "interpreter and div")
    result.assert_outcomes(passed=2, failed=1, deselected=6)


def test_x_stops_at_the_first_failure(clif):
    result = clif.runpytest("clif", "-x")
    result.assert_outcomes(passed=1, failed=1)


def test_markers_name_the_engine(clif):
    result = clif.runpytest("clif", "-m", "interpreter", "--strict-markers", "-q")
    result.assert_outcomes(passed=7, failed=2)


def test_last_failed_reruns_only_failures(clif):
    clif.runpytest("clif").assert_outcomes(passed=7, failed=2)
    result = clif.runpytest("clif", "--lf", "-v")
    assert result.parseoutcomes().get("passed", 0) == 0 and result.parseoutcomes()["failed"] == 2
    result.stdout.fnmatch_lines(["*%add(1, 2)@9[[]interpreter] FAILED*", "*%div(1, 0)[[]interpreter] FAILED*"])


def test_vector_arguments_in_names_work_with_lf_and_node_ids(pytester):
    pytester.makefile(".clif", v='''test interpret

function %v(i32x4) -> i32x4 {
block0(v0: i32x4):
    return v0
}
; run: %v([1 2 3 4]) == [1 2 3 5]
; run: %v([1 2 3 4]) == [1 2 3 4]
''')
    pytester.runpytest("v.clif").assert_outcomes(passed=1, failed=1)
    result = pytester.runpytest("v.clif", "--lf")
    result.assert_outcomes(failed=1)
    result = pytester.runpytest("v.clif::%v([1 2 3 4])@8[interpreter]")
    result.assert_outcomes(passed=1)


def test_a_single_item_by_node_id(clif):
    result = clif.runpytest("clif/heap.clif::%load_store(0xffc, 1)[interpreter]", "-v")
    result.assert_outcomes(passed=1)


@pytest.mark.skipif(importlib.util.find_spec("xdist") is None, reason="pytest-xdist is not installed")
def test_xdist_runs_items_on_workers(clif):
    result = clif.runpytest_subprocess("clif", "-n", "2", "-p", "xdist")
    result.assert_outcomes(passed=7, failed=2)
    result.stdout.fnmatch_lines(["*2 workers*", "*clif/add.clif:9: %add(1, 2): expected 4, got 3*"])


def test_plain_pytest_does_not_collect_clif_files(clif):
    # No paths on the command line: pytest's own search (or testpaths) never picks up .clif files.
    result = clif.runpytest()
    result.assert_outcomes(passed=1)
    clif.makeini("[pytest]\ntestpaths = clif\n")
    result = clif.runpytest()
    result.assert_outcomes()
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_ini_option_always_collects(clif):
    clif.makeini("[pytest]\nclif_collect = always\n")
    result = clif.runpytest()
    result.assert_outcomes(passed=8, failed=2)


def test_ini_option_never_collects(clif):
    clif.makeini("[pytest]\nclif_collect = never\n")
    result = clif.runpytest("clif")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_bad_ini_value_is_a_usage_error(clif):
    clif.makeini("[pytest]\nclif_collect = sometimes\n")
    result = clif.runpytest("clif")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*clif_collect = 'sometimes': expected one of args, always, never*"])


def test_a_file_given_directly_is_collected(clif):
    result = clif.runpytest("clif/div.clif")
    result.assert_outcomes(passed=2, failed=1)


def test_unreadable_file_fails_each_run_line_with_the_located_error(pytester):
    pytester.makefile(
        ".clif",
        broken="test interpret\n\nfunction %f() -> i32 {\nblock0:\n    v0 = iconst.i32\n    return v0\n}\n"
        "; run: %f() == 1\n; run: %f() == 2\n",
    )
    result = pytester.runpytest("broken.clif")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "broken.clif:6:5: error: expected an integer immediate*",
        "    return v0",
        "    ^",
    ])
    result.stdout.fnmatch_lines(["*not run: the file does not parse*"])


def test_malformed_run_line_is_an_item_that_fails(pytester):
    pytester.makefile(".clif", t=ADD + "; run: %add(1) == 1\n")
    result = pytester.runpytest("t.clif")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines([
        "t.clif:11:8: error: %add takes 2 arguments (i32, i32), but 1 are given",
        "; run: %add(1) == 1",
        "       ^",
    ])


def test_skips_carry_the_reason(pytester):
    pytester.makefile(".clif", **{"fmin-nondeterministic-x86_64": ADD})
    result = pytester.runpytest("fmin-nondeterministic-x86_64.clif", "-rs")
    result.assert_outcomes(skipped=3)
    result.stdout.fnmatch_lines(["*tests x86_64's own NaN results*"])


def test_interpret_all_and_fuel_options(pytester):
    pytester.makefile(
        ".clif",
        spin="test run\n\nfunction %spin() -> i32 {\nblock0:\n    jump block1\nblock1:\n    jump block1\n}\n; run: %spin() == 0\n",
    )
    result = pytester.runpytest("spin.clif", "--clif-interpret-all", "--clif-fuel", "500", "-k", "interpreter")
    result.assert_outcomes(failed=1, deselected=result.parseoutcomes().get("deselected", 0))
    result.stdout.fnmatch_lines(["spin.clif:9: %spin(): ran out of fuel after 500 instructions in %spin*"])


def test_bad_fuel_is_a_usage_error(clif):
    result = clif.runpytest("clif", "--clif-fuel", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--clif-fuel must be positive, not 0*"])


def test_engine_option_chooses_engines(pytester):
    pytester.makefile(".clif", both=ADD.replace("test interpret", "test interpret\ntest run"))
    result = pytester.runpytest("both.clif", "--clif-engine", "interpreter", "--collect-only", "-q")
    assert [line for line in result.outlines if "::" in line] == [
        "both.clif::%add(1, 2)@9[interpreter]",
        "both.clif::%add(1, 2)@10[interpreter]",
        "both.clif::%add(-1, 1)[interpreter]",
    ]
    result = pytester.runpytest("both.clif", "--clif-engine", "native", "--collect-only", "-q")
    assert all("[native" in line for line in result.outlines if "::" in line)


def test_an_engine_left_out_skips_a_line_its_binding_refuses_as_clifkit_test_does(pytester):
    # `%nowhere` names no function: an error of the native engine's `test run` plan, which
    # --clif-engine interpreter leaves out: skipped with that reason, not a failure.
    pytester.makefile(".clif", t="test run\n\nfunction %f(i32) -> i32 {\nblock0(v0: i32):\n    return v0\n}\n"
                                 "; run: %f(1) == 1\n; run: %nowhere(1) == 1\n")
    result = pytester.runpytest("t.clif", "--clif-engine", "interpreter", "-rs")
    assert result.parseoutcomes() == {"skipped": 2}
    result.stdout.fnmatch_lines(["*--engine interpreter leaves out*"])
    from clifkit.cli import main

    assert main(["test", "--engine", "interpreter", str(pytester.path / "t.clif")]) == 0


RECURSE = """test run

function %depth(i32) -> i32 {
    fn0 = %depth(i32) -> i32
block0(v0: i32):
    brif v0, block1, block2
block1:
    v1 = iadd_imm v0, -1
    v2 = call fn0(v1)
    v3 = iadd_imm v2, 1
    return v3
block2:
    return v0
}
; run: %depth(20) == 20
"""


def test_compare_option_checks_native_against_the_interpreter(pytester):
    from clifkit.commands import native_unavailable

    if native_unavailable() is not None:
        pytest.skip(native_unavailable())
    pytester.makefile(".clif", deep=RECURSE)
    # The interpreter is held to 5 nested calls, so it disagrees with the native result; only
    # --clif-compare notices.
    result = pytester.runpytest("deep.clif", "--clif-engine", "native", "--clif-max-call-depth", "5")
    assert result.parseoutcomes().get("failed", 0) == 0 and result.parseoutcomes()["passed"] >= 1
    result = pytester.runpytest("deep.clif", "--clif-engine", "native", "--clif-max-call-depth", "5",
                                "--clif-compare")
    assert result.parseoutcomes()["failed"] >= 1
    result.stdout.fnmatch_lines(["*interpreter*"])


def test_a_disagreement_names_the_engines_not_an_expectation_the_run_line_does_not_have():
    # `; run: %g(16) == 0` passes natively and traps on the interpreter: "expected: trap heap_oob"
    # under that line would contradict it.
    from clifkit.pytest_plugin import failure_text
    from clifkit.runtest.results import FAILED, RunResult

    r = RunResult(9, "%g", "native", "x86_64", FAILED, kind="compare", call="%g(16)",
                  expected="trap heap_oob", actual="0", report="t.clif:9: %g(16): the engines disagree: ...")
    assert failure_text(r, "; run: %g(16) == 0").splitlines()[1:] == [
        "    ; run: %g(16) == 0", "  interpreter: trap heap_oob", "  native:      0"]
    r.kind, r.expected, r.actual = "run", "0", "trap heap_oob"
    assert failure_text(r, "; run: %g(16) == 0").splitlines()[2:] == [
        "  expected: 0", "  actual:   trap heap_oob (the call trapped)"]
    # A crash gives no result: its reason stands where the result would.
    r.actual, r.message = None, "crashed with SIGSEGV at 0x10"
    assert failure_text(r, "; run: %g(16) == 0").splitlines()[2:] == [
        "  expected: 0", "  actual:   no result: crashed with SIGSEGV at 0x10"]


def test_timeout_option_stops_a_run_line(pytester):
    pytester.makefile(".clif", spin="test interpret\n\nfunction %spin() -> i32 {\nblock0:\n    jump block1\nblock1:\n    jump block1\n}\n"
                      "; run: %spin() == 0\n")
    result = pytester.runpytest("spin.clif", "--clif-timeout", "0.3")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*timed out*"])
    result = pytester.runpytest("spin.clif", "--clif-timeout", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--clif-timeout must be positive, not 0*"])


def test_verifier_and_cat_items_pass_under_strict_markers(pytester):
    pytester.makefile(".clif", v="test verifier\n\nfunction %f(i32) -> i64 {\nblock0(v0: i32):\n"
                                 "    return v0 ; error: has type i32\n}\n",
                      c="test cat\n\nfunction %g() {\nblock0:\n    return\n}\n; check: block0:\n")
    result = pytester.runpytest("v.clif", "c.clif", "--strict-markers", "-m", "verifier or cat", "-q", "-p", "no:randomly")
    result.assert_outcomes(passed=2)


# A `test run` line naming another function than the one it follows, and a shuffle lane past 31:
# refused today, passing by the 2022 rules (`--clif-cranelift 2022`).
ERA_2022 = """test run
target x86_64

function %one(i8x16, i8x16) -> i8x16 {
block0(v0: i8x16, v1: i8x16):
    v2 = shuffle v0, v1, [16 40 0 0 0 0 0 0 0 0 0 0 0 0 0 0]
    return v2
}
; run: %other([1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16], [17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32]) == [17 0 1 1 1 1 1 1 1 1 1 1 1 1 1 1]

function %other(i8x16, i8x16) -> i8x16 {
block0(v0: i8x16, v1: i8x16):
    return v1
}
"""


def test_cranelift_option_chooses_the_era(pytester):
    (pytester.mkdir("era") / "era.clif").write_text(ERA_2022)
    pytester.runpytest("era", "--clif-interpret-all", "--clif-engine", "interpreter").assert_outcomes(failed=1)
    result = pytester.runpytest("era", "--clif-interpret-all", "--clif-engine", "interpreter", "--clif-cranelift", "2022")
    result.assert_outcomes(passed=1)
    result = pytester.runpytest("era", "--clif-interpret-all", "--clif-engine", "interpreter", "--clif-cranelift", "2022",
                                "--clif-run-calls", "named")
    result.assert_outcomes(failed=1)
    result = pytester.runpytest("era", "--clif-cranelift", "1999")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*--clif-cranelift: invalid choice: '1999'*"])


@needs_native
def test_lf_reruns_the_lines_of_a_file_that_did_not_verify_once_it_does(pytester):
    # Before the fix the items of a file that does not verify were `[native]`, not `[native x86_64]`
    # as once it verifies, so `--lf` found none of them.
    body = ('test run\ntarget x86_64\n\nfunction %f(i32) -> i32 {\nblock0(v0: i32):\n'
            '    v1 = iadd_imm.i64 v0, 1\n    return v1\n}\n; run: %f(1) == 2\n')
    pytester.makefile(".clif", t=body)
    pytester.runpytest("t.clif").assert_outcomes(failed=1)
    pytester.makefile(".clif", t=body.replace("iadd_imm.i64", "iadd_imm"))
    result = pytester.runpytest("t.clif", "--lf", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["run-last-failure: rerun previous 1 failure*", "*%f(1)[[]native x86_64] PASSED*"])
