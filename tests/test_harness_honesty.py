"""`clifkit test` never runs what the verifier refuses, calls the function a run line names, and
says honestly what ran where: the engine and target of every line, the engine's notes, the
interpreter's limits, skips, and "no tests ran"."""

from __future__ import annotations

import json

import pytest

import clifkit
from clifkit import cli
from clifkit.runtest.engines import ENGINES

pytest_plugins = ["pytester"]

native = pytest.mark.skipif("native" not in ENGINES or __import__("clifkit.commands").commands.native_unavailable() is not None,
                            reason="no native engine here")

# Three functions that the interpreter would run (two of them "passing") but Cranelift refuses.
INVALID = """test interpret
test run
target x86_64

function %narrow() -> i64 {
block0:
    v0 = iconst.i32 1
    return v0
}
; run: %narrow() == 1

function %mixed(i32, i64) -> i64 {
block0(v0: i32, v1: i64):
    v2 = iadd v0, v1
    return v2
}
; run: %mixed(1, 2) == 3

function %entry(i32) -> i32 {
block0(v0: i32):
    brif v0, block0, block1
block1:
    return v0
}
; run: %entry(0) == 0
"""

TWO = """test interpret
test run
target x86_64

function %one() -> i32 {
block0:
    v0 = iconst.i32 1
    return v0
}

function %two() -> i32 {
block0:
    v0 = iconst.i32 2
    return v0
}
; run: %typo() == 2
; run: %one() == 1
"""

ONE = """test interpret

function %f() -> i32 {
block0:
    v0 = iconst.i32 1
    return v0
}
; run: %f() == 1
"""


# -- finding 5: every file is verified before any engine runs it ---------------------------------


@pytest.mark.parametrize("command", [["test"], ["interpret"], ["test", "--engine", "interpreter"]])
def test_a_file_the_verifier_refuses_is_an_error_not_a_pass(tmp_path, command, cli_run, write_clif):
    p = write_clif(INVALID)
    status, out, _ = cli_run(*command, "--json", tmp_path / "r.json", p)
    assert status == 1
    assert (f"{p}:8:5: error: result 0 has type i32, must match function signature of i64: return value 0 (v0) "
            "has type i32, but the function signature returns i64") in out
    assert f"{p}:14:10: error: arg 1 (v1) has type i64, expected i32: iadd operand 1 (v1) has type i64, expected i32" in out
    assert f"{p}:21:5: error: invalid reference to entry block block0: brif to the entry block block0" in out
    # Each run line is an error on every engine (and target) that would have run it: `test` runs
    # the file on the interpreter and natively, `interpret` and `--engine interpreter` on one.
    plans = 2 if command == ["test"] else 1
    assert out.splitlines()[-1] == f"0 passed, {3 * plans} failed, 0 skipped"
    runs = json.loads((tmp_path / "r.json").read_text())["files"][0]["runs"]
    assert sorted(r["line"] for r in runs) == sorted([10, 17, 25] * plans)
    assert {r["status"] for r in runs} == {"error"}
    assert all(r["message"].startswith("not run: the file does not verify: ") for r in runs)


@native
def test_clifkit_run_refuses_an_unverified_file_too(cli_run, write_clif):
    p = write_clif(INVALID)
    status, out, _ = cli_run("run", p)
    assert status == 1 and out.splitlines()[-1] == "0 passed, 3 failed, 0 skipped"


def test_the_api_refuses_to_load_an_unverified_file(write_clif):
    with pytest.raises(clifkit.ClifError, match="brif to the entry block"):
        clifkit.load(INVALID)
    with pytest.raises(clifkit.ClifError, match=r"t\.clif:8:5: error: result 0 has type i32, must match function signature of i64: return value 0"):
        clifkit.load(write_clif(INVALID))


def test_the_pytest_plugin_reports_verifier_errors(pytester):
    pytester.makefile(".clif", bad=INVALID)
    result = pytester.runpytest("bad.clif", "--clif-engine", "interpreter")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(["*bad.clif:8:5: error: result 0 has type i32, must match function signature of i64*"])


# -- finding 6: a run line calls the function it names ------------------------------------------


@pytest.mark.parametrize("engine", ["interpreter", pytest.param("native", marks=native)])
def test_an_unknown_name_is_an_error_on_every_engine(engine, cli_run, write_clif):
    p = write_clif(TWO)
    status, out, _ = cli_run("test", "--engine", engine, p)
    tag = "interpreter" if engine == "interpreter" else "native x86_64"
    assert status == 1
    # Under `test run` (native), the message says what --run-calls followed would call instead.
    other = ("; with --run-calls followed this line calls %two, the function it follows, as Cranelift's "
             "`test run` does") if engine == "native" else ""
    assert f"{p}:16:8: error: unknown function %typo (this file defines %one, %two){other} [{tag}]" in out.splitlines()
    # The line after %two naming %one calls %one, on every engine (Cranelift's `test run` would call %two).
    assert out.splitlines()[-1] == "1 passed, 1 failed, 0 skipped"


@native
def test_a_failing_misnamed_line_under_test_run_says_which_function_cranelift_would_call(cli_run, write_clif):
    p = write_clif(TWO.replace("; run: %typo() == 2\n; run: %one() == 1\n", "; run: %one() == 2\n"))
    status, out, _ = cli_run("test", p)
    assert status == 1
    assert (f"{p}:16: %one(): expected 2, got 1 (this line follows %two, which Cranelift's `test run` would call "
            "whatever the line names, as --run-calls followed does; clifkit calls %one) [native x86_64]") in out.splitlines()
    # `test interpret` calls what a line names, as clifkit does: nothing to add there.
    assert f"{p}:16: %one(): expected 2, got 1 [interpreter]" in out.splitlines()


# -- finding 10: `clifkit verify` checks the run-test directives ---------------------------------

HEAP_FN = """test interpret

function %f(i64 vmctx, i64) -> i64 {
    gv0 = vmctx
block0(v0: i64, v1: i64):
    return v1
}
"""


@pytest.mark.parametrize(
    "directive, message",
    [
        ("; heap: static, size=0x100, ptr=vmctx+0, bound=vmctx+8, colour=red",
         "8:57: error: unknown heap attribute 'colour'"),
        ("; heap: dynamic, size=0x100, ptr=vmctx+0, bound=vmctx+8, max=0x10",
         "8:62: error: heap max=0x10 is smaller than its size=0x100"),
        ("; heap: static, size=0x100, ptr=vmctx+0, bound=vmctx+0", "8:9: error: heap 0 bound slot vmctx+0 overlaps heap 0 ptr slot"),
        ("; heap: static, size=0x100, ptr=vmctx+3, bound=vmctx+8", "8:9: error: heap 0 ptr slot vmctx+3 is not 8-byte aligned"),
    ],
)
def test_verify_reports_malformed_heap_directives(directive, message, cli_run, write_clif):
    p = write_clif(HEAP_FN + directive + "\n; run: %f(1) == 1\n")
    status, _, err = cli_run("verify", p)
    assert status == 1 and f"{p}:{message}" in err
    # and `clifkit test` finds the same before running anything
    status, out, _ = cli_run("test", p)
    assert status == 1 and f"{p}:{message}" in out


def test_verify_checks_the_heap_grow_signature(cli_run, write_clif):
    text = """test interpret

function %f(i64 vmctx, i64) -> i64 {
    gv0 = vmctx
    fn0 = %heap_grow(i64 vmctx, i64, i64) -> i64
block0(v0: i64, v1: i64):
    v2 = iconst.i64 0
    v3 = call fn0(v0, v2, v1)
    return v3
}
; heap: dynamic, size=0x100, ptr=vmctx+0, bound=vmctx+8, max=0x1000
; run: %f(0x10) == 0x100
"""
    p = write_clif(text)
    status, _, err = cli_run("verify", p)
    assert status == 1
    assert (f"{p}:5:5: error: fn0 declares %heap_grow as (i64, i64, i64) -> i64, but the harness's "
            "%heap_grow is (i64 vmctx, i32, i64) -> i64") in err
    status, out, _ = cli_run("test", p)
    assert status == 1 and "0 passed, 1 failed" in out
    fixed = write_clif(text.replace("(i64 vmctx, i64, i64)", "(i64 vmctx, i32, i64)").replace(
        "v2 = iconst.i64 0", "v2 = iconst.i32 0"), "ok.clif")
    assert cli_run("verify", fixed)[0] == 0
    assert cli_run("test", fixed)[0] == 0


@pytest.mark.parametrize(
    "text, message",
    [
        ("test interpret\n; run: %f() == 1\n" + ONE.split("\n", 1)[1],
         "2:3: error: '; run' directive before the first function"),
        (ONE.replace("block0:\n", "block0:\n    ; run: %f() == 1\n"),
         "5:7: error: '; run' directive inside the body of %f"),
        (ONE + "; heap: static, size=0x10, ptr=vmctx+0\nfunction %g() -> i32 {\nblock0:\n    v0 = iconst.i32 2\n"
               "    return v0\n}\n",
         "9:3: error: '; heap' directive directly above function %g: it belongs to the function whose closing "
         "brace it follows"),
        (ONE + "; run\nfunction %g() -> i32 {\nblock0:\n    v0 = iconst.i32 2\n    return v0\n}\n",
         "9:3: error: '; run' directive directly above function %g"),
        (ONE + "; HEAP: static, size=0x10, ptr=vmctx+0, bound=vmctx+8\n",
         "9:3: error: 'HEAP:' is not a directive and would be ignored as a comment; did you mean '; heap:'?"),
        (ONE + "; heaps: static, size=0x10, ptr=vmctx+0, bound=vmctx+8\n", "9:3: error: 'heaps:' is not a directive and would be ignored as a comment; did you mean '; heap:'?"),
        (ONE + "; Run: %f() == 2\n", "9:3: error: 'Run:' is not a directive"),
    ],
)
def test_misplaced_directives_and_near_misses_are_located_errors(text, message, cli_run, write_clif):
    p = write_clif(text)
    status, _, err = cli_run("verify", p)
    assert status == 1 and f"{p}:{message}" in err
    status, out, _ = cli_run("test", p)
    assert status == 1 and f"{p}:{message}" in out


def test_the_corpus_style_directives_still_verify(cli_run, write_clif):
    p = write_clif(ONE + "\n; run: %f() != 2\n; note: a plain comment\n")
    assert cli_run("verify", p)[0] == 0


# -- issue 14: honest output -----------------------------------------------------------------------


@native
def test_every_console_line_names_its_engine_and_target(cli_run, write_clif):
    text = ONE.replace("test interpret\n", "test interpret\ntest run\ntarget x86_64\ntarget x86_64 has_avx\n")
    p = write_clif(text + "; run: %f() == 2\n")
    status, out, _ = cli_run("test", "-v", p)
    lines = out.splitlines()
    assert status == 1
    for tag in ("interpreter", "native x86_64", "native x86_64 has_avx"):
        assert f"{p}:11: %f() == 1: passed [{tag}]" in lines
        assert f"{p}:12: %f(): expected 2, got 1 [{tag}]" in lines
    # The flags the binding cannot set are said on the console (with and without -v).
    note = f"{p}: note: [native x86_64 has_avx] compiled with cranelift-py's default x86_64 features: it cannot set has_avx"
    assert note in lines
    assert note in cli_run("test", p)[1].splitlines()


RECURSE = """test interpret

function %rec(i32) -> i32 {
    fn0 = %rec(i32) -> i32
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
; run: %rec(50) == 50
"""


def test_the_call_depth_limit_names_its_option(cli_run, write_clif):
    p = write_clif(RECURSE)
    status, out, _ = cli_run("test", "--max-call-depth", "20", p)
    assert status == 1
    assert (f"{p}:15: %rec(50): expected 50, got trap stk_ovf (calls nested deeper than the interpreter's "
            "limit of 20; --max-call-depth raises it) [interpreter]") in out.splitlines()
    assert cli_run("test", "--max-call-depth", "100", p)[0] == 0


def test_engine_native_counts_a_test_interpret_file_as_skipped(cli_run, write_clif):
    p = write_clif(ONE)
    status, out, _ = cli_run("test", "--engine", "native", p)
    assert status == 0
    assert out.splitlines() == [
        "  interpreter: 1 skipped: `test interpret` runs on the interpreter, which --engine native leaves out",
        "0 passed, 0 failed, 1 skipped",
    ]


def test_nothing_to_run_exits_5_as_pytest(tmp_path, cli_run, write_clif):
    (tmp_path / "empty").mkdir()
    status, out, _ = cli_run("test", tmp_path / "empty")
    assert status == 5 and "no tests ran" in out
    p = write_clif(ONE)
    status, out, _ = cli_run("test", "-k", "nothing_matches", p)
    assert status == 5 and "no tests ran: -k chose none of the run lines" in out
    assert cli_run("test", "-k", "f", p)[0] == 0


def test_load_reads_a_path_and_a_bom_is_accepted(tmp_path, cli_run):
    p = tmp_path / "bom.txt"  # a path, whatever its extension
    p.write_bytes(b"\xef\xbb\xbf" + ONE.encode())
    with clifkit.load(str(p)) as program:
        assert program.call("%f") == 1
    with clifkit.load(p) as program:
        assert program.call("%f") == 1
    clif = tmp_path / "bom.clif"
    clif.write_bytes(p.read_bytes())
    assert cli_run("verify", clif)[0] == 0
    status, out, _ = cli_run("test", clif)
    assert status == 0 and out.splitlines() == ["1 passed, 0 failed, 0 skipped"]


def test_readme_and_api_docs_list_every_test_option():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    options = {s for a in sub.choices["test"]._actions for s in a.option_strings if s.startswith("--")} - {"--help"}
    for doc in ("README.md", "docs/api.md"):
        text = (root / doc).read_text()
        missing = sorted(o for o in options if f"`{o}" not in text and f"{o} " not in text and f"{o}`" not in text)
        assert missing == [], f"{doc} does not mention {missing}"


# -- clifkit reduce ----------------------------------------------------------------------------

REDUCIBLE = """test interpret
test run
target x86_64

function %f(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    v2 = iadd v0, v1
    v3 = iconst.i32 5
    v4 = iadd v2, v3
    return v4
}
; run: %f(0xff, 16) == 0x100
"""


def test_reduce_keeps_hex_arguments_hex_and_ends_with_a_newline(tmp_path, cli_run, write_clif):
    p = write_clif(REDUCIBLE)
    out = tmp_path / "reduced.clif"
    status, _, err = cli_run("reduce", "--expect", p, "-o", out)
    assert status == 0, err
    text = out.read_text()
    assert text.endswith("\n")
    assert "; run: %f(0xff, 16) == 0x100\n" in text


@native
def test_reduce_suggests_expect_when_the_engines_agree(cli_run, write_clif):
    p = write_clif(REDUCIBLE)
    status, _, err = cli_run("reduce", p)
    assert status == 1
    assert "the engines agree (--expect reduces a run line that fails against its own expectation" in err


def test_a_refusal_of_cranelifts_verifier_is_an_error_not_a_skip(monkeypatch, cli_run, write_clif):
    # What clifkit's verifier misses and Cranelift's refuses: a stand-in engine says so as the
    # native engine does (cranelift-py's "Verifier errors"); the line is an error, not a skip.
    from clifkit.runtest import engines
    from clifkit import engine as engine_interface

    class Refusing(engine_interface.Session):
        engine = "interpreter"

        def call(self, bound, env=None):
            return engine_interface.Skipped("Failed to define function: Compilation error: Verifier errors (made up)")

    class RefusingEngine(engine_interface.Engine):
        name = "interpreter"

        def open(self, test_file, options, target=None, source=None):
            return Refusing()

    monkeypatch.setitem(engines.ENGINES, "interpreter", RefusingEngine())
    p = write_clif(ONE)
    status, out, _ = cli_run("test", p)
    assert status == 1
    assert out.splitlines() == [
        f"{p}:8: %f(): error: Cranelift's verifier refuses what clifkit's verifier accepted: Failed to define "
        "function: Compilation error: Verifier errors (made up) [interpreter]",
        "0 passed, 1 failed, 0 skipped",
    ]


# -- the summary says which engines and targets ran -------------------------------------------------


@native
def test_the_summary_names_each_engine_and_why_one_ran_nothing(tmp_path, monkeypatch, cli_run, write_clif):
    from clifkit.native import emulation

    p = write_clif(TWO.replace("; run: %typo() == 2\n; run: %one() == 1\n", "; run: %two() == 2\n")
              .replace("target x86_64\n", "target x86_64\ntarget aarch64 has_lse\ntarget riscv64\n"))
    monkeypatch.setenv("CLIFKIT_CACHE", str(tmp_path / "no-emulation"))
    status, out, _ = cli_run("test", p)
    lines = out.splitlines()
    assert status == 0 and lines[-1] == "2 passed, 0 failed, 2 skipped"
    block = [" ".join(line.split()) for line in lines[-5:-1]]
    assert block[0] == "interpreter: 1 passed"
    assert block[1] == "native x86_64: 1 passed"
    assert block[2].startswith("native aarch64: 1 skipped: the host (x86_64) cannot run aarch64 code: ")
    assert "clifkit emulation setup aarch64" in block[2]
    assert block[3].startswith("native riscv64: 1 skipped: ")
    # Said once in the summary, not once per file as well.
    assert not any("run line skipped" in line for line in lines)
    assert emulation.status("aarch64").ready is False


def test_verify_reports_a_callees_declaration_that_matches_no_directive(cli_run, write_clif):
    # docs/heaps.md: a declaration that matches no directive is a located error, and `clifkit
    # verify` reports every problem of that page; the callee's heap is reached through func_addr.
    text = """test interpret

function %inner(i64 vmctx, i32) -> i32 {
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+16
    heap0 = static gv1, min 0, bound 0x100, offset_guard 0, index_type i32
block0(v0: i64, v1: i32):
    v2 = heap_load.i32 heap0 v1
    return v2
}

function %outer(i64 vmctx, i32) -> i32 {
    sig0 = (i64 vmctx, i32) -> i32
    fn0 = %inner sig0
block0(v0: i64, v1: i32):
    v2 = func_addr.i64 fn0
    v3 = call_indirect sig0, v2(v0, v1)
    return v3
}
; heap: static, size=0x100, ptr=vmctx+0
; run: %outer(0) == 0
"""
    p = write_clif(text)
    status, _, err = cli_run("verify", p)
    assert status == 1 and (f"{p}:6:5: error: heap0 of %inner: its base gv1 loads from vmctx+16, where no heap or "
                            "table directive writes a base (they write at: vmctx+0)") in err


def test_verify_reports_a_directive_after_code_on_its_line(cli_run, write_clif):
    # The reader takes `} ; heap: ...` for a comment: the heap would silently not exist.
    text = HEAP_FN.replace("}\n", "} ; heap: static, size=0x100, ptr=vmctx+0\n") + "; run: %f(1) == 1\n"
    p = write_clif(text)
    status, _, err = cli_run("verify", p)
    assert status == 1 and (f"{p}:7:5: error: '; heap' after code on the same line would be ignored as a comment: "
                            "a directive is a line of its own after the closing brace of its function") in err
    status, out, _ = cli_run("test", p)
    assert status == 1 and f"{p}:7:5: error: '; heap' after code" in out


@native
def test_the_summary_counts_the_expected_traps(cli_run, write_clif):
    p = write_clif("test interpret\ntest run\ntarget x86_64\n\nfunction %t(i32) -> i32 {\nblock0(v0: i32):\n"
                        "    trapz v0, user7\n    return v0\n}\n; run: %t(1) == 1\n; run: %t(0) == trap user7\n")
    status, out, _ = cli_run("test", p)
    assert status == 0
    assert [" ".join(line.split()) for line in out.splitlines()] == [
        "interpreter: 2 passed (1 of them trapping as expected)",
        "native x86_64: 2 passed (1 of them trapping as expected)",
        "4 passed, 0 failed, 0 skipped",
    ]
