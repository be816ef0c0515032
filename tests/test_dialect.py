"""`--cranelift 2022` and `--run-calls followed`: the rules of Cranelift of an era, without changing
today's defaults. Each rule is shown failing without the switch and passing with it, on the
interpreter and natively on every backend the machine runs (x86_64 on the host, aarch64 and s390x
under QEMU when `clifkit emulation setup` prepared them)."""

from __future__ import annotations

import json

import pytest

import clifkit
from clifkit.api import parse, verify
from clifkit.cli import main as clifkit_main
from clifkit.dialect import CRANELIFT_2022, CURRENT, DialectError, calls_followed, dialect
from clifkit.runtest.plans import callee_environment
from support import native_targets

HEADER = "test run\ntarget x86_64\ntarget aarch64\ntarget s390x\n\n"

# Lanes 32-255 give zero lanes (Cranelift's interpreter until March 2023). The masks take the
# native lowering through each of its paths: bytes one by one, and whole 4- and 8-byte groups,
# zero groups among them; s390x lays the vectors out big-endian, so the bytes must still be
# picked by lane number, not by address.
SHUFFLES = """
function %bytes(i8x16, i8x16) -> i8x16 {
block0(v0: i8x16, v1: i8x16):
    v2 = shuffle v0, v1, [31 0 32 255 4 16 128 7 33 9 17 64 2 200 30 1]
    return v2
}
; run: %bytes([1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16], [17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32]) == [32 1 0 0 5 17 0 8 0 10 18 0 3 0 31 2]

function %words(i8x16, i8x16) -> i8x16 {
block0(v0: i8x16, v1: i8x16):
    v2 = shuffle v0, v1, [20 21 22 23 40 41 42 43 0 1 2 3 255 255 255 255]
    return v2
}
; run: %words([1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16], [17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32]) == [21 22 23 24 0 0 0 0 1 2 3 4 0 0 0 0]

function %halves(i8x16, i8x16) -> i8x16 {
block0(v0: i8x16, v1: i8x16):
    v2 = shuffle v0, v1, [32 33 34 35 36 37 38 39 24 25 26 27 28 29 30 31]
    return v2
}
; run: %halves([1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16], [17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32]) == [0 0 0 0 0 0 0 0 25 26 27 28 29 30 31 32]
"""

# A table over a heap directive's memory (the 2022 harness knew only heaps): the bound slot holds
# the heap's 0x100 bytes, which the table reads as 0x100 elements of 4 bytes. Stored through the
# table, loaded through the heap; an index below the bound but past the heap's bytes lands in
# memory the region reserves and traps heap_oob; one at the bound traps table_oob.
TABLE_OVER_HEAP = """
function %through_table(i64 vmctx, i64, i64, i32) -> i32 {
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0
    gv2 = load.i64 notrap aligned gv0+8
    heap0 = dynamic gv1, bound gv2, offset_guard 0, index_type i64
    table0 = dynamic gv1, element_size 4, bound gv2, index_type i64

block0(v0: i64, v1: i64, v2: i64, v3: i32):
    v4 = table_addr.i64 table0, v1, +0
    store.i32 v3, v4
    v5 = heap_addr.i64 heap0, v2, 0, 4
    v6 = load.i32 v5
    return v6
}
; heap: static, size=0x100, ptr=vmctx+0, bound=vmctx+8
; run: %through_table(3, 12, 77) == 77
; run: %through_table(0x3f, 0xfc, -5) == -5
; run: %through_table(0x40, 0, 1) == trap heap_oob
; run: %through_table(0xff, 0, 1) == trap heap_oob
; run: %through_table(0x100, 0, 1) == trap table_oob
"""

# The first line follows %one but names %two (Cranelift's `test run` calls %one); the second
# names a function the file does not define.
MISNAMED = """
function %one(i32) -> i32 {
block0(v0: i32):
    v1 = iadd_imm v0, 1
    return v1
}
; run: %two(5) == 6
; run: %nowhere(1) == 2

function %two(i32) -> i32 {
block0(v0: i32):
    v1 = iadd_imm v0, 2
    return v1
}
; run: %two(5) == 7
"""


_targets = native_targets


def _run(tmp_path, capsys, text: str, *argv: str) -> tuple[int, str, list[dict]]:
    path = tmp_path / "t.clif"
    path.write_text(text)
    report = tmp_path / "report.json"
    status = clifkit_main(["test", "-j1", "--interpret-all", "--json", str(report), *argv, str(path)])
    captured = capsys.readouterr()
    data = json.loads(report.read_text())
    runs = [r for f in data["files"] for r in f["runs"]]
    return status, captured.out + captured.err, runs


def _passed_everywhere(runs: list[dict]) -> set:
    """The (engine, target)s that ran: every run line must have passed on each, and each must be one
    this machine runs."""
    ran = {(r["engine"], r["target"]) for r in runs if r["status"] != "skipped"}
    assert all(r["status"] == "passed" for r in runs if r["status"] != "skipped"), runs
    assert ("interpreter", None) in ran
    assert {t for e, t in ran if e == "native"} == _targets()
    return ran


# -- shuffle lanes 32-255 ------------------------------------------------------------------------


def test_shuffle_zero_lanes_are_refused_today(tmp_path, capsys):
    status, out, runs = _run(tmp_path, capsys, HEADER + SHUFFLES)
    assert status == 1 and runs and all(r["status"] == "error" for r in runs)
    assert "shuffle immediate index 32 is larger than the maximum 31" in out
    assert "--cranelift 2022" in out  # the message says where the old rule is


def test_shuffle_zero_lanes_with_2022_on_every_engine(tmp_path, capsys):
    status, out, runs = _run(tmp_path, capsys, HEADER + SHUFFLES, "--cranelift", "2022")
    assert status == 0, out
    _passed_everywhere(runs)


def test_shuffle_zero_lanes_verify_only_with_2022():
    tf = parse(HEADER + SHUFFLES, "t.clif")
    assert [d.loc.line for d in verify(tf)] == [9, 16, 23]
    assert verify(tf, cranelift="2022") == []
    assert clifkit.call(HEADER + SHUFFLES, "%halves", tuple(range(1, 17)), tuple(range(17, 33)),
                        cranelift="2022") == (0,) * 8 + tuple(range(25, 33))


# -- a table over a heap directive's memory --------------------------------------------------------


def test_table_over_heap_is_refused_today(tmp_path, capsys):
    status, out, runs = _run(tmp_path, capsys, HEADER + TABLE_OVER_HEAP)
    assert status == 1 and runs and all(r["status"] == "error" for r in runs)
    assert "whose bound slot counts bytes; a table needs a `; table:` directive" in out
    assert "t.clif:12:5: error: table0 of %through_table: its base gv1 is heap directive 0's" in out
    assert "--cranelift 2022" in out  # the message says where the old rule is


def test_table_over_an_inferred_heap_is_refused_in_words_of_what_the_file_wrote(tmp_path, capsys):
    # No directive: the heap is inferred from heap0, so no "heap directive 0" to speak of.
    text = HEADER + "\n".join(line for line in TABLE_OVER_HEAP.splitlines() if not line.startswith("; heap:")) + "\n"
    assert "; heap:" not in text
    status, out, runs = _run(tmp_path, capsys, text)
    assert status == 1 and runs and all(r["status"] == "error" for r in runs)
    assert "its base gv1 is the heap inferred for vmctx+0 from the heap declarations" in out
    assert "heap directive" not in out and "--cranelift 2022" in out


def test_table_over_heap_with_2022_on_every_engine(tmp_path, capsys):
    status, out, runs = _run(tmp_path, capsys, HEADER + TABLE_OVER_HEAP, "--cranelift", "2022")
    assert status == 0, out
    _passed_everywhere(runs)
    options = json.loads((tmp_path / "report.json").read_text())["options"]
    assert (options["cranelift"], options["run_calls"]) == ("2022", "followed")


def test_table_over_heap_reserves_the_elements_its_bound_counts():
    tf = parse(HEADER + TABLE_OVER_HEAP, "t.clif")
    func = tf.functions[0].function
    env = clifkit.heap_environment(func, "static, size=0x100, ptr=vmctx+0, bound=vmctx+8")
    with pytest.raises(clifkit.ClifError, match="bound slot counts bytes"):
        callee_environment(env, func, {func.name: func})
    (heap,) = callee_environment(env, func, {func.name: func}, dialect=CRANELIFT_2022).heaps
    assert (heap.size, heap.reach, heap.reservation()) == (0x100, 0x400, 0x400)


def test_table_over_heap_reservation_is_capped_at_the_table(tmp_path, capsys):
    status, out, runs = _run(tmp_path, capsys, HEADER + TABLE_OVER_HEAP, "--cranelift", "2022",
                             "--max-reservation", "0x3ff", "--engine", "interpreter")
    assert status == 1 and runs and all(r["status"] == "error" for r in runs)
    assert ("t.clif:12:5: error: table0 reservation of 0x400 bytes (0x100 elements, the heap directive's bytes, "
            "x element_size 4) exceeds the limit of 0x3ff bytes") in out


def test_api_program_takes_the_dialect():
    with pytest.raises(clifkit.ClifError, match="bound slot counts bytes"):
        clifkit.load(HEADER + TABLE_OVER_HEAP).call("%through_table", 3, 12, 77)
    with clifkit.load(HEADER + TABLE_OVER_HEAP, cranelift="2022") as program:
        assert program.call("%through_table", 3, 12, 77) == 77
        assert str(program.call("%through_table", 0x40, 0, 1)) == "trap heap_oob"


# -- run lines that name another function than the one they follow -------------------------------


def test_misnamed_lines_call_what_they_name_by_default(tmp_path, capsys):
    status, out, runs = _run(tmp_path, capsys, HEADER + MISNAMED)
    assert status == 1
    by_line = {}
    for r in runs:
        if r["status"] != "skipped":
            by_line.setdefault(r["line"], set()).add(r["status"])
    assert by_line == {12: {"failed"}, 13: {"error"}, 20: {"passed"}}
    assert "this line follows %one, which Cranelift's `test run` would call whatever the line names, as " \
           "--run-calls followed does; clifkit calls %two" in out
    # A line naming no function at all says what the other choice would call, too.
    assert ("t.clif:13:8: error: unknown function %nowhere (this file defines %one, %two); with --run-calls "
            "followed this line calls %one, the function it follows, as Cranelift's `test run` does") in out


@pytest.mark.parametrize("argv", [("--run-calls", "followed"), ("--cranelift", "2022")])
def test_misnamed_lines_call_the_function_they_follow(tmp_path, capsys, argv):
    status, out, runs = _run(tmp_path, capsys, HEADER + MISNAMED, *argv)
    assert status == 0, out
    _passed_everywhere(runs)
    # The report names what the line wrote.
    assert {r.get("call") for r in runs if r["line"] == 12} == {"%two(5)"}


@pytest.mark.parametrize("argv, value, hint", [
    ((), "6", "this line follows %one, which Cranelift's `test run` would call"),
    (("--run-calls", "followed"), "5", "this line names %two but follows %one, which --run-calls followed calls"),
])
def test_a_misnamed_print_line_says_which_function_its_value_came_from(tmp_path, capsys, argv, value, hint):
    text = HEADER + MISNAMED.replace("; run: %nowhere(1) == 2\n", "; print: %two(4)\n")
    _, out, runs = _run(tmp_path, capsys, text, *argv)
    printed = [line for line in out.splitlines() if "t.clif:13: %two(4) -> " in line]
    assert printed and all(f"-> {value} ({hint}" in line for line in printed), out


def test_2022_with_run_calls_named_calls_what_lines_name(tmp_path, capsys):
    status, _, runs = _run(tmp_path, capsys, HEADER + MISNAMED, "--cranelift", "2022", "--run-calls", "named")
    assert status == 1 and {r["status"] for r in runs if r["line"] == 12} == {"failed"}


def test_test_interpret_lines_call_by_name_in_every_dialect(tmp_path, capsys):
    # Cranelift's `test interpret` called functions by name (`call_by_name`), in 2022 as today.
    text = "test interpret\n" + MISNAMED
    status, out, runs = _run(tmp_path, capsys, text, "--cranelift", "2022")
    assert status == 1
    assert {r["line"]: r["status"] for r in runs} == {8: "failed", 9: "error", 16: "passed"}
    assert "unknown function %nowhere (this file defines %one, %two)" in out and "followed" not in out


# -- choosing a dialect ----------------------------------------------------------------------------


def test_dialect_names():
    assert dialect(None) is CURRENT and dialect("current") is CURRENT and dialect("2022") is CRANELIFT_2022
    assert CURRENT == dialect(CURRENT)
    with pytest.raises(DialectError, match="unknown Cranelift dialect '2021': choose current or 2022"):
        dialect("2021")
    assert calls_followed(CRANELIFT_2022, None) and not calls_followed(CURRENT, None)
    assert not calls_followed(CRANELIFT_2022, "named") and calls_followed(CURRENT, "followed")
    with pytest.raises(DialectError, match="unknown --run-calls 'both'"):
        calls_followed(CURRENT, "both")


@pytest.mark.parametrize("command", ["test", "verify", "run", "interpret"])
def test_bad_dialect_is_a_clear_error(tmp_path, capsys, command):
    path = tmp_path / "t.clif"
    path.write_text(HEADER + SHUFFLES)
    with pytest.raises(SystemExit) as exit_info:
        clifkit_main([command, "--cranelift", "1999", str(path)])
    assert exit_info.value.code == 2
    assert "argument --cranelift: unknown Cranelift dialect '1999': choose current or 2022" in capsys.readouterr().err


def test_api_rejects_a_bad_dialect():
    with pytest.raises(ValueError, match="unknown Cranelift dialect"):
        clifkit.run_tests("nowhere.clif", cranelift="2030")
    with pytest.raises(ValueError, match="unknown --run-calls"):
        clifkit.run_tests("nowhere.clif", run_calls="all")
    with pytest.raises(ValueError, match="unknown Cranelift dialect"):
        verify(parse(HEADER + SHUFFLES), cranelift="old")


def test_verify_command_takes_the_dialect(tmp_path, cli_run):
    path = tmp_path / "t.clif"
    path.write_text(HEADER + SHUFFLES)
    status, _, err = cli_run("verify", path)
    assert status == 1 and "larger than the maximum 31" in err
    assert cli_run("verify", "--cranelift", "2022", path)[0] == 0


def test_api_run_tests_and_report(tmp_path):
    path = tmp_path / "t.clif"
    path.write_text(HEADER + MISNAMED)
    assert clifkit.run_tests(path, interpret_all=True, engine="interpreter").failed == 2
    run = clifkit.run_tests(path, interpret_all=True, engine="interpreter", cranelift="2022")
    assert (run.passed, run.failed) == (3, 0)
    assert clifkit.run_tests(path, interpret_all=True, engine="interpreter", run_calls="followed").failed == 0


# -- running again, under the old rules, what today's rules refused --------------------------------


def test_failed_from_repeats_the_lines_of_a_file_that_did_not_verify(tmp_path, capsys):
    status, out, runs = _run(tmp_path, capsys, HEADER + SHUFFLES)
    assert status == 1 and runs and all(r["status"] == "error" for r in runs)
    # Named as when the file verifies: by the engine and target each would have run on.
    assert {(r["engine"], r["target"]) for r in runs} >= {("native", "x86_64"), ("interpreter", None)}
    report = tmp_path / "first.json"
    (tmp_path / "report.json").rename(report)
    status, out, again = _run(tmp_path, capsys, HEADER + SHUFFLES, "--cranelift", "2022", "--failed-from", str(report))
    assert status == 0, out
    assert "nothing to repeat" not in out
    assert _passed_everywhere(again) and len(again) == len(runs)


def test_failed_from_old_reports_without_a_target_repeat_every_target(tmp_path, capsys):
    _run(tmp_path, capsys, HEADER + SHUFFLES)
    data = json.loads((tmp_path / "report.json").read_text())
    for r in data["files"][0]["runs"]:
        r["target"] = None  # as reports of a file that did not verify had it
    report = tmp_path / "old.json"
    report.write_text(json.dumps(data))
    status, out, again = _run(tmp_path, capsys, HEADER + SHUFFLES, "--cranelift", "2022", "--failed-from", str(report))
    assert status == 0, out
    assert {t for e, t in _passed_everywhere(again) if e == "native"} == _targets()


def test_failed_from_that_matches_no_run_line_of_the_file_now_is_not_green(tmp_path, capsys):
    _run(tmp_path, capsys, HEADER + SHUFFLES)
    report = tmp_path / "first.json"
    (tmp_path / "report.json").rename(report)
    # The file edited since: its run lines moved, so none of the report's is a run line now.
    status, out, again = _run(tmp_path, capsys, HEADER + "\n\n\n" + SHUFFLES, "--cranelift", "2022",
                              "--failed-from", str(report))
    assert status == 1 and again == []
    assert "none of them is a run line of the file now" in out


def test_an_engine_left_out_blames_no_run_line(tmp_path, capsys):
    # Only `test run`: --engine interpreter leaves the native engine out, so %nowhere's line is
    # skipped with the rest, not an error counted against an engine that did not run.
    path = tmp_path / "t.clif"
    path.write_text(HEADER + MISNAMED)
    status = clifkit_main(["test", "-j1", "--engine", "interpreter", str(path)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "failed" not in out.splitlines()[-2] and out.splitlines()[-1] == "0 passed, 0 failed, 3 skipped"
    assert "leaves out" in out


# -- clifkit reduce under the old rules ------------------------------------------------------------

WRONG_HALVES = HEADER.replace("target aarch64\ntarget s390x\n", "") + SHUFFLES.split("\nfunction %halves")[0].replace(
    "[32 1 0 0 5 17 0 8 0 10 18 0 3 0 31 2]", "[32 1 0 0 5 17 0 8 0 10 18 0 3 0 31 3]")


def test_reduce_takes_the_dialect(tmp_path, capsys):
    path = tmp_path / "t.clif"
    path.write_text(WRONG_HALVES)
    out = tmp_path / "small.clif"
    assert clifkit_main(["reduce", "--expect", "--cranelift", "2022", "-o", str(out), str(path)]) == 0
    assert "shuffle" in out.read_text()
    # Without it the file does not verify: said with the verifier's located diagnostics.
    assert clifkit_main(["reduce", "--expect", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"clifkit reduce: {path}: the file does not verify:\n{path}:7:10: error: shuffle immediate index 32" in err


def test_reduce_with_run_calls_followed_calls_the_function_a_line_follows(tmp_path, capsys):
    path = tmp_path / "t.clif"
    path.write_text(HEADER + MISNAMED.replace("; run: %nowhere(1) == 2\n", ""))
    # Named, %two(5) == 6 fails (7); followed, it calls %one and passes: nothing to reduce.
    assert clifkit_main(["reduce", "--expect", str(path), "-o", str(tmp_path / "o.clif")]) == 0
    assert clifkit_main(["reduce", "--expect", "--run-calls", "followed", str(path)]) == 1
    assert "no run line fails on interpreter: each gives what it expects" in capsys.readouterr().err
