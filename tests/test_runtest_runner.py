"""The run-test runner and `clifkit test`, with a stand-in reader and engine.

These tests pin the runner's own behaviour (discovery, engine choice, which
function a line calls, comparison, messages, summary, exit status, JSON) with
a tiny reader that only understands function headers and an engine that runs
Python stand-ins for the functions. `test_runtest_cli.py` drives the real
reader and interpreter end to end.
"""

import json
import re

import pytest

from clifkit import cli
from clifkit.diagnostics import Diagnostic, Location
from clifkit.ir import function as irf
from clifkit.ir.function import AbiParam, Function, FunctionDetails, IsaSpec, Signature
from clifkit.ir.types import parse_type
from clifkit.reader import ReadError
from clifkit.reader.directives import directive_at, directives_in, fill
from clifkit.runtest import engines, runner
from clifkit import engine as engine_interface
from clifkit.engine import Failed, Returned, Session, Skipped, Trapped

M32 = (1 << 32) - 1


def fake_parse_text(text, path):
    """Reads `test`, `target`, function headers and directives; `BAD` on a line is a syntax error."""
    tf = irf.TestFile(path)
    current = None
    lines = text.splitlines()
    for n, line in enumerate(lines, 1):
        if "BAD" in line:
            col = line.index("BAD") + 1
            # as the reader does, with the directives it read all the same
            raise ReadError([Diagnostic(Location(path, n, col), "unexpected 'BAD'", source_line=line)],
                            directives_in(text, path))
        m = re.match(r"test (\w+)", line)
        if m:
            tf.commands.append(irf.TestCommand(m.group(1), [], Location(path, n, 1)))
        m = re.match(r"target (.*)", line)
        if m:
            tf.isa_specs.append(IsaSpec("target", m.group(1).split(), Location(path, n, 1)))
        m = re.match(r"function (%\w+)\((.*?)\)(?: -> (.*?))? \{", line)
        if m:
            params = [
                AbiParam(parse_type(t.split()[0]), purpose=t.split()[1] if len(t.split()) > 1 else None)
                for t in m.group(2).split(",")
                if t.strip()
            ]
            rets = [AbiParam(parse_type(t.strip())) for t in (m.group(3) or "").split(",") if t.strip()]
            current = FunctionDetails(Function(m.group(1), Signature(params, rets), loc=Location(path, n, 1)))
            tf.functions.append(current)
        d = directive_at(line, 1, path, n) if line.startswith(";") else None
        if d is not None and current is not None and (d.has_colon or d.kind in ("run", "print")):
            current.directives.append(fill(d, line))
    return tf


class FakeSession(Session):
    engine = "interpreter"

    def __init__(self, behaviours):
        self.behaviours = behaviours
        self.calls = []

    def call(self, bound, env=None):
        name = bound.function.name
        self.calls.append((name, list(bound.args)))
        if env is not None:
            return Skipped(f"fake engine: no heaps ({len(env.heaps)} asked for, implicit vmctx: {bound.implicit_vmctx})")
        return self.behaviours[name](*bound.args)


class FakeEngine(engine_interface.Engine):
    name = "interpreter"

    def __init__(self, behaviours):
        self.behaviours = behaviours
        self.sessions = []

    def open(self, test_file, options, target=None):
        s = FakeSession(self.behaviours)
        self.sessions.append(s)
        return s


BEHAVIOURS = {
    "%add": lambda a, b: Returned([(a + b) & M32]),
    "%sub": lambda a, b: Returned([(a - b) & M32]),
    "%div": lambda a, b: Trapped("int_divz") if b == 0 else Returned([a // b]),
    "%one": lambda: Returned([1]),
    "%zero": lambda: Returned([0]),
    "%fneg": lambda a: Returned([a ^ 0x80000000]),
    "%pair": lambda a: Returned([a, (a + 1) & 0xFF]),
    "%vec": lambda v: Returned([tuple(reversed(v))]),
    "%loop": lambda: Failed("ran out of fuel (100 steps) in %loop: an endless loop? (--fuel raises the limit)"),
    "%odd": lambda: Skipped("opcode 'frobnicate' is not supported"),
    "%bad": lambda: Returned([1 << 40]),
    "%nothing": lambda: Returned([]),
}


@pytest.fixture
def fakes(monkeypatch):
    import clifkit.reader

    monkeypatch.setattr(clifkit.reader, "parse_text", fake_parse_text)
    # The fake reader gives functions without bodies, which the real verifier would refuse.
    monkeypatch.setattr(runner, "verify_run_test", lambda tf, source, dialect=None: [])
    engine = FakeEngine(BEHAVIOURS)
    monkeypatch.setitem(engines.ENGINES, "interpreter", engine)
    monkeypatch.delitem(engines.ENGINES, "native", raising=False)  # these tests model the interpreter alone
    return engine


def run(capsys, *argv):
    status = cli.main(["test", *map(str, argv)])
    out = capsys.readouterr().out
    return status, out.splitlines()


HEADER = "test interpret\n\n"

ARITH = HEADER + """function %add(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    v2 = iadd v0, v1
    return v2
}
; run: %add(1, 2) == 3
; run: %add(-1, 1) == 0
; run: %add(0xffff_ffff, 2) == 1
; run: %add(1, 2) != 4

function %sub(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    v2 = isub v0, v1
    return v2
}
; run: %sub(5, 3) == 2
; run: %add(5, 3) == 8
"""


def test_all_pass(fakes, tmp_path, capsys):
    (tmp_path / "a.clif").write_text(ARITH)
    status, out = run(capsys, tmp_path)
    assert status == 0
    assert out == ["6 passed, 0 failed, 0 skipped"]
    # A run line after %sub that names %add calls %add.
    assert fakes.sessions[0].calls[-1] == ("%add", [5, 3])


def test_verbose_lists_every_line(fakes, tmp_path, capsys):
    p = tmp_path / "a.clif"
    p.write_text(ARITH)
    status, out = run(capsys, "-v", p)
    assert status == 0
    assert out[0] == f"{p}:8: %add(1, 2) == 3: passed [interpreter]"
    assert out[3] == f"{p}:11: %add(1, 2) != 4: passed (got 3) [interpreter]"
    assert len(out) == 7 and out[-1] == "6 passed, 0 failed, 0 skipped"


def test_failures_traps_and_messages(fakes, tmp_path, capsys):
    p = tmp_path / "f.clif"
    p.write_text(
        HEADER
        + """function %add(i32, i32) -> i32 {
}
; run: %add(1, 2) == 4
; run: %add(1, 2) != 3
; run: %add(0xf0, 0x0f) == 0xfe

function %div(i32, i32) -> i32 {
}
; run: %div(1, 0) == 0

function %fneg(f32) -> f32 {
}
; run: %fneg(0x1.0p0) == 0x1.0p0
; run: %fneg(NaN) == NaN
; run: %fneg(-NaN) == NaN
; run: %fneg(0.0) == 0.0

function %zero() -> i8 {
}
; run
; run: %zero()

function %pair(i8) -> i8, i8 {
}
; run: %pair(-1) == [-1, 0]
; run: %pair(5) == [5, 7]

function %vec(i32x4) -> i32x4 {
}
; run: %vec([1 2 3 4]) == [4 3 2 1]
; run: %vec([1, 2, 3, 4]) == [1 2 3 4]
"""
    )
    status, out = run(capsys, p)
    assert status == 1
    assert out == [
        f"{p}:5: %add(1, 2): expected 4, got 3 [interpreter]",
        f"{p}:6: %add(1, 2): expected anything but 3, got 3 [interpreter]",
        f"{p}:7: %add(0xf0, 0x0f): expected 0xfe, got 0xff [interpreter]",
        f"{p}:11: %div(1, 0): expected 0, got trap int_divz [interpreter]",
        f"{p}:15: %fneg(0x1.0p0): expected 0x1.000000p0, got -0x1.000000p0 [interpreter]",
        f"{p}:16: %fneg(NaN): expected +NaN, got -NaN [interpreter]",
        f"{p}:18: %fneg(0.0): expected 0.0, got -0.0 [interpreter]",
        f"{p}:22: %zero(): expected nonzero, got 0 [interpreter]",
        f"{p}:23: %zero(): expected nonzero, got 0 [interpreter]",
        f"{p}:28: %pair(5): expected [5, 7], got [5, 6] [interpreter]",
        f"{p}:33: %vec([1, 2, 3, 4]): expected [1 2 3 4], got [4 3 2 1] [interpreter]",
        "3 passed, 11 failed, 0 skipped",
    ]


def test_print_directive(fakes, tmp_path, capsys):
    p = tmp_path / "p.clif"
    p.write_text(HEADER + "function %pair(i8) -> i8, i8 {\n}\n; print: %pair(-2)\n\nfunction %one() -> i64 {\n}\n; print\n")
    status, out = run(capsys, p)
    assert status == 0
    assert out == [f"{p}:5: %pair(-2) -> [-2, -1] [interpreter]", f"{p}:9: %one() -> 1 [interpreter]", "2 passed, 0 failed, 0 skipped"]


def test_directive_errors_are_located_and_counted(fakes, tmp_path, capsys):
    p = tmp_path / "e.clif"
    p.write_text(
        HEADER
        + """function %add(i32, i32) -> i32 {
}
; run: %add(1) == 1
; run: %nope(1, 2) == 3
; run: %add(1, 2) == 3
; run: %add(1, 2 == 3
; run: %add(1, 0x1.0) == 3
"""
    )
    status, out = run(capsys, p)
    assert status == 1
    assert out == [
        f"{p}:5:8: error: %add takes 2 arguments (i32, i32), but 1 are given [interpreter]",
        "; run: %add(1) == 1",
        "       ^",
        f"{p}:6:8: error: unknown function %nope (this file defines %add) [interpreter]",
        "; run: %nope(1, 2) == 3",
        "       ^",
        f"{p}:8:18: error: expected ',' or ')' after argument 2 of %add, got '==' [interpreter]",
        "; run: %add(1, 2 == 3",
        "                 ^",
        f"{p}:9:16: error: argument 2 of %add: expected an integer for i32, got the float 0x1.0 [interpreter]",
        "; run: %add(1, 0x1.0) == 3",
        "               ^",
        "1 passed, 4 failed, 0 skipped",
    ]


def test_fuel_unsupported_and_malformed_results(fakes, tmp_path, capsys):
    p = tmp_path / "x.clif"
    p.write_text(
        HEADER
        + """function %loop() -> i32 {
}
; run: %loop() == 1

function %odd() -> i32 {
}
; run: %odd() == 1
; run: %odd() == 2

function %bad() -> i32 {
}
; run: %bad() == 1
"""
    )
    status, out = run(capsys, p)
    assert status == 1
    assert out == [
        f"{p}:5: %loop(): ran out of fuel (100 steps) in %loop: an endless loop? (--fuel raises the limit) [interpreter]",
        f"{p}:14: %bad(): internal error: the engine returned a malformed result: 1099511627776 is not a 32-bit pattern (i32) [interpreter]",
        f"{p}: 2 run lines skipped: opcode 'frobnicate' is not supported",
        "0 passed, 2 failed, 2 skipped",
    ]


def test_test_run_only_files_are_skipped(fakes, tmp_path, capsys):
    p = tmp_path / "r.clif"
    p.write_text("test run\ntarget x86_64\n\nfunction %add(i32, i32) -> i32 {\n}\n; run: %add(1, 2) == 3\n; run: %add(2, 2) == 4\n")
    status, out = run(capsys, p)
    assert status == 0
    assert out == [
        "  native: 2 skipped: `test run` needs the native engine, which needs cranelift-py (not installed "
        "here); --interpret-all runs it on the interpreter",
        "0 passed, 0 failed, 2 skipped",
    ]
    assert fakes.sessions == []


def test_a_run_line_calls_the_function_it_names_under_test_run_too(fakes, tmp_path, capsys):
    p = tmp_path / "r.clif"
    # Cranelift's `test run` calls the function the line follows, whatever it names: clifkit calls
    # the one named, and an unknown name is an error, as under `test interpret`.
    p.write_text(
        "test run\n\nfunction %sub(i32, i32) -> i32 {\n}\n\nfunction %add(i32, i32) -> i32 {\n}\n"
        "; run: %sub(1, 2) == 0xffff_ffff\n; run: %typo(1, 2) == 3\n"
    )
    status, out = run(capsys, "--interpret-all", p)
    assert status == 1
    assert out[0] == (f"{p}:9:8: error: unknown function %typo (this file defines %sub, %add); with --run-calls "
                      "followed this line calls %add, the function it follows, as Cranelift's `test run` does [interpreter]")
    assert out[-1] == "1 passed, 1 failed, 0 skipped"
    assert fakes.sessions[0].calls == [("%sub", [1, 2])]


def test_parse_errors_count_run_lines_and_continue(fakes, tmp_path, capsys):
    bad = tmp_path / "a_bad.clif"
    bad.write_text(HEADER + "function %add(i32, i32) -> i32 {\n    BAD\n}\n; run: %add(1, 2) == 3\n; run: %add(2, 2) == 4\n")
    good = tmp_path / "b_good.clif"
    good.write_text(ARITH)
    status, out = run(capsys, tmp_path)
    assert status == 1
    assert out[:3] == [f"{bad}:4:5: error: unexpected 'BAD'", "    BAD", "    ^"]
    assert out[-1] == "6 passed, 2 failed, 0 skipped"


def test_discovery_is_recursive_and_sorted(fakes, tmp_path, capsys):
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    for name in ("z.clif", "sub/b.clif", "sub/deeper/a.clif", "sub/a.clif"):
        (tmp_path / name).write_text(ARITH)
    (tmp_path / "notes.txt").write_text("not clif")
    out_json = tmp_path / "r.json"
    status, out = run(capsys, "--json", out_json, tmp_path)
    assert status == 0 and out == ["24 passed, 0 failed, 0 skipped"]
    paths = [f["path"] for f in json.loads(out_json.read_text())["files"]]
    assert paths == [str(tmp_path / n) for n in ("sub/a.clif", "sub/b.clif", "sub/deeper/a.clif", "z.clif")]


def test_a_fifo_is_refused_as_named_and_skipped_in_a_directory(fakes, tmp_path, capsys):
    """A pipe cannot be read more than once, as a run reads its file: named (`clifkit test <(...)`)
    it is refused with that reason (it said "no such file or directory"); met in a directory it
    is left out (opening it blocked the run for ever)."""
    import os

    (tmp_path / "a.clif").write_text(ARITH)
    fifo = tmp_path / "pipe.clif"
    os.mkfifo(fifo)
    status, out = run(capsys, tmp_path)
    assert status == 0 and out == ["6 passed, 0 failed, 0 skipped"]
    status, out = run(capsys, fifo)
    assert status == 1
    assert out == [f"{fifo}: error: not a regular file (a pipe?): clifkit test reads a file more than once, so "
                   "write it to a file first", "0 passed, 1 failed, 0 skipped"]


def test_missing_path_is_an_error(fakes, tmp_path, capsys):
    status, out = run(capsys, tmp_path / "nope.clif")
    assert status == 1
    assert out == [f"{tmp_path / 'nope.clif'}: error: no such file or directory", "0 passed, 1 failed, 0 skipped"]


def test_non_run_tests_are_skipped_without_runs(fakes, tmp_path, capsys):
    p = tmp_path / "c.clif"
    p.write_text("test compile\n\nfunction %add(i32, i32) -> i32 {\n}\n")
    status, out = run(capsys, p)
    assert status == 5  # as pytest when it collects nothing
    assert out == [f"{p}: skipped: not a run test (test compile)", f"no tests ran: no run line found in {p}",
                   "0 passed, 0 failed, 0 skipped"]


def test_json_report_shape(fakes, tmp_path, capsys):
    good = tmp_path / "a.clif"
    good.write_text(ARITH)
    mixed = tmp_path / "b.clif"
    mixed.write_text(
        HEADER + "function %div(i32, i32) -> i32 {\n}\n; run: %div(4, 2) == 2\n; run: %div(1, 0) == 0\n; run: %div(1) == 0\n"
        "\nfunction %odd() -> i32 {\n}\n; run: %odd() == 1\n"
    )
    bad = tmp_path / "c.clif"
    bad.write_text(HEADER + "BAD\nfunction %add(i32, i32) -> i32 {\n}\n; run: %add(1, 2) == 3\n")
    runonly = tmp_path / "d.clif"
    runonly.write_text("test run\ntarget x86_64\nfunction %add(i32, i32) -> i32 {\n}\n; run: %add(1, 2) == 3\n")
    report = tmp_path / "out.json"
    status, out = run(capsys, "--json", report, tmp_path)
    assert status == 1
    assert out[-1] == "7 passed, 3 failed, 2 skipped"
    data = json.loads(report.read_text())
    assert data["summary"]["passed"] == 7
    assert data["summary"]["failed"] == 3
    assert data["summary"]["skipped"] == 2
    files = {f["path"]: f for f in data["files"]}
    assert [files[str(p)]["status"] for p in (good, mixed, bad, runonly)] == ["passed", "failed", "error", "skipped"]
    for f in data["files"]:
        assert set(f) >= {"path", "status", "message", "runs"}
        for r in f["runs"]:
            assert set(r) >= {"line", "function", "engine", "target", "status", "message"}
            assert r["status"] in ("passed", "failed", "skipped", "error")
    runs = files[str(mixed)]["runs"]
    assert [(r["line"], r["function"], r["engine"], r["target"], r["status"]) for r in runs] == [
        (5, "%div", "interpreter", None, "passed"),
        (6, "%div", "interpreter", None, "failed"),
        (7, "%div", "interpreter", None, "error"),
        (11, "%odd", "interpreter", None, "skipped"),
    ]
    assert runs[1]["message"] == "expected 0, got trap int_divz"
    assert runs[2]["message"] == "%div takes 2 arguments (i32, i32), but 1 are given" and runs[2]["col"] == 8
    assert runs[3]["message"] == "opcode 'frobnicate' is not supported"
    assert files[str(bad)]["message"].startswith(f"{bad}:3:1: error: unexpected 'BAD'")
    assert files[str(bad)]["runs"][0]["status"] == "error" and files[str(bad)]["runs"][0]["line"] == 6
    assert [(r["engine"], r["status"]) for r in files[str(runonly)]["runs"]] == [("native", "skipped")]
    assert files[str(good)]["runs"][0]["engine"] == "interpreter"


def test_results_with_no_values(fakes, tmp_path, capsys):
    p = tmp_path / "n.clif"
    p.write_text(HEADER + "function %nothing() {\n}\n; run: %nothing() == []\n; run: %nothing() != []\n")
    status, out = run(capsys, p)
    assert out == [f"{p}:6: %nothing(): expected anything but [], got [] [interpreter]", "1 passed, 1 failed, 0 skipped"]
    assert status == 1


def test_run_lines_before_any_function_are_ignored_and_other_directives_kept(fakes, tmp_path, capsys):
    p = tmp_path / "o.clif"
    p.write_text(HEADER + "; run: %add(1, 2) == 3\nfunction %one() -> i8 {\n}\n; note: fine\n; https://example.com\n; run\n")
    status, out = run(capsys, p)
    assert status == 0 and out == ["1 passed, 0 failed, 0 skipped"]


def test_heap_directives(fakes, tmp_path, capsys):
    p = tmp_path / "h.clif"
    p.write_text(
        HEADER
        + """function %add(i64 vmctx, i32) -> i32 {
}
; heap: static, size=0x1000, ptr=vmctx+0, bound=vmctx+8
; run: %add(1) == 1
; run: %add(0, 1) == 1

function %sub(i64 vmctx, i32) -> i32 {
}
; heap: static, size=0x1000, ptr=vmctx+3
; run: %sub(1) == 1
"""
    )
    status, out = run(capsys, "-v", p)
    assert status == 1
    assert out[0] == f"{p}:6: %add(1): skipped: fake engine: no heaps (1 asked for, implicit vmctx: True) [interpreter]"
    assert out[1] == (
        f"{p}:7:8: error: the test environment (heap directives) supplies %add's vmctx argument: "
        "leave it out and pass only (i32) [interpreter]"
    )
    assert out[4] == f"{p}:11:9: error: heap 0 ptr slot vmctx+3 is not 8-byte aligned [interpreter]"
    assert out[-1] == "0 passed, 2 failed, 1 skipped"


def test_engines_are_pluggable_per_target(fakes, tmp_path, capsys, monkeypatch):
    """A native engine registered in ENGINES runs `test run` once per target the file names."""
    opened = []

    class Native(engine_interface.Engine):
        name = "native"

        def open(self, test_file, options, target=None):
            opened.append(target)
            session = FakeSession(BEHAVIOURS)
            session.engine, session.target = "native", target
            return session

    monkeypatch.setitem(engines.ENGINES, "native", Native())
    p = tmp_path / "n.clif"
    p.write_text(
        "test interpret\ntest run\ntarget x86_64\ntarget aarch64 has_lse\n\n"
        "function %add(i32, i32) -> i32 {\n}\n; run: %add(1, 2) == 3\n"
    )
    report = tmp_path / "n.json"
    status, out = run(capsys, "--json", report, p)
    assert status == 0 and out == [
        "  interpreter:    1 passed",
        "  native x86_64:  1 passed",
        "  native aarch64: 1 passed",
        "3 passed, 0 failed, 0 skipped",
    ]
    assert opened == ["x86_64", "aarch64 has_lse"]
    runs = json.loads(report.read_text())["files"][0]["runs"]
    assert [(r["engine"], r["target"]) for r in runs] == [
        ("interpreter", None),
        ("native", "x86_64"),
        ("native", "aarch64 has_lse"),
    ]


def test_print_of_a_trap_fails(fakes, tmp_path, capsys):
    p = tmp_path / "t.clif"
    p.write_text(HEADER + "function %div(i32, i32) -> i32 {\n}\n; print: %div(1, 0)\n")
    status, out = run(capsys, p)
    assert status == 1
    assert out == [f"{p}:5: %div(1, 0): trap int_divz [interpreter]", "0 passed, 1 failed, 0 skipped"]


def test_bad_fuel_is_refused(fakes, tmp_path, capsys):
    p = tmp_path / "a.clif"
    p.write_text(ARITH)
    assert cli.main(["test", "--fuel", "0", str(p)]) == 2
    assert "--fuel and --max-call-depth must be positive" in capsys.readouterr().err


def test_run_lines_are_read_once_for_all_plans(tmp_path, monkeypatch):
    """Binding a run line does not depend on the plan: a file of several plans binds each line
    once, and every plan gets the line (a line that cannot be bound is an error on each)."""
    from clifkit.runtest import plans
    from clifkit.runtest.plans import Options
    from clifkit.runtest.results import FileResult

    path = tmp_path / "multi.clif"
    path.write_text("test interpret\ntest run\ntarget x86_64\ntarget aarch64\n\n"
                    "function %f(i32) -> i32 {\nblock0(v0: i32):\n    return v0\n}\n"
                    "; run: %f(1) == 1\n; run: %f(2) == 2\n; run: %f(1, 2) == 3\n")
    calls = []
    real_bind = plans.bind
    monkeypatch.setattr(plans, "bind", lambda cmd, *a, **k: calls.append(cmd.line) or real_bind(cmd, *a, **k))
    result = FileResult(str(path))
    prepared = runner.prepare_file(str(path), Options(), result)
    items = runner.file_items(prepared, result)
    assert len(prepared.plans) >= 2
    assert sorted(calls) == [10, 11, 12]
    assert len(items) == 3 * len(prepared.plans)
    errors = [i for i in items if i.prepared.settled is not None]
    assert len(errors) == len(prepared.plans) and {i.line for i in errors} == {12}


def test_callee_checks_are_made_once_for_all_plans(tmp_path, monkeypatch):
    """A callee's stack-frame check, its no-vmctx note and each line's expected text do not depend
    on the plan: worked out once per file, and every plan's item carries the same."""
    from clifkit.runtest import plans
    from clifkit.runtest.plans import Options
    from clifkit.runtest.results import FileResult

    path = tmp_path / "multi.clif"
    path.write_text("test interpret\ntest run\ntarget x86_64\ntarget aarch64\n\n"
                    "function %g(i32) -> i32 {\n    gv0 = symbol %g\n    heap0 = static gv0, min 0x1000, bound 0x1000, "
                    "offset_guard 0, index_type i32\nblock0(v0: i32):\n    return v0\n}\n"
                    "; run: %g(1) == 1\n; run: %g(2) != 3\n\n"
                    "function %f(i32) -> i32 {\nblock0(v0: i32):\n    return v0\n}\n"
                    "; run: %f(1) == 1\n; run: %f(2) == 2\n")
    frames, notes, texts = [], [], []
    for name, log in (("stack_frame_error", frames), ("_no_environment_note", notes), ("expected_text", texts)):
        real = getattr(plans, name)
        monkeypatch.setattr(plans, name, lambda first, *a, real=real, log=log, **k: log.append(first) or real(first, *a, **k))
    result = FileResult(str(path))
    prepared = runner.prepare_file(str(path), Options(), result)
    items = runner.file_items(prepared, result)
    assert len(prepared.plans) >= 2 and len(items) == 4 * len(prepared.plans)
    assert sorted(f.name for f in frames) == ["%f", "%g"] and sorted(f.name for f in notes) == ["%f", "%g"]
    assert len(texts) == 4
    by_line: dict = {}
    for item in items:
        p = item.prepared
        by_line.setdefault(item.line, set()).add((p.note, p.expected, p.settled is None))
    assert all(len(v) == 1 for v in by_line.values())
    assert {line: next(iter(v))[:2] for line, v in by_line.items()} == {
        12: (plans.NO_VMCTX_NOTE.format(name="%g"), "1"), 13: (plans.NO_VMCTX_NOTE.format(name="%g"), "anything but 3"),
        19: (None, "1"), 20: (None, "2")}
