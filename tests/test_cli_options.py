"""`clifkit test`'s options for everyday use and CI: -j, -k, --fail-fast, --junit-xml, colours,
the progress bar, Ctrl-C; and `clifkit run`, `interpret`, `compile`.

These drive the real reader and interpreter on small files written here.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest

from clifkit import cli, commands
from clifkit.runtest import engines, runner
from clifkit import engine as engine_interface
from clifkit.runtest.console import Console, wants_colour
from clifkit.engine import Returned, Session, Skipped
from clifkit.runtest.keyword_expr import KeywordError, compile_keyword
from clifkit.runtest.results import FileResult
from clifkit.runtest.select import item_names

ADD = """test interpret

function %add(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    v2 = iadd v0, v1
    return v2
}
; run: %add(1, 2) == 3
; run: %add(2, 2) == 4
"""

FAILING = """test interpret

function %sub(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    v2 = isub v0, v1
    return v2
}
; run: %sub(5, 3) == 2
; run: %sub(5, 3) == 3
; run: %sub(1, 1) == 0
"""

DIV = """test interpret

function %div(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    v2 = sdiv v0, v1
    return v2
}
; run: %div(1, 0) == 0
; run: %div(6, 3) == 2
"""


def run(capsys, *argv):
    status = cli.main([*map(str, argv)])
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err


@pytest.fixture
def tree(tmp_path):
    """Six files: two of them fail; a JSON report comes out of every run the same way."""
    for i in range(6):
        text = FAILING if i in (2, 4) else ADD
        (tmp_path / f"f{i}.clif").write_text(text)
    return tmp_path


# -- -j ------------------------------------------------------------------------------------------


def test_parallel_output_and_reports_equal_sequential(tree, capsys):
    s1, out1, _ = run(capsys, "test", "-j", "1", "--json", tree / "a.json", tree)
    s2, out2, _ = run(capsys, "test", "-j", "2", "--json", tree / "b.json", tree)
    s3, out3, _ = run(capsys, "test", "-j", "4", tree)
    assert s1 == s2 == s3 == 1
    assert out1 == out2 == out3
    assert out1 == [
        f"{tree / 'f2.clif'}:9: %sub(5, 3): expected 3, got 2 [interpreter]",
        f"{tree / 'f4.clif'}:9: %sub(5, 3): expected 3, got 2 [interpreter]",
        "12 passed, 2 failed, 0 skipped",
    ]
    a, b = (json.loads((tree / n).read_text()) for n in ("a.json", "b.json"))
    for report in (a, b):
        for f in report["files"]:
            f.pop("seconds")
    assert a == b
    assert [f["path"] for f in a["files"]] == [str(tree / f"f{i}.clif") for i in range(6)]


def test_jobs_must_be_positive(tree, capsys):
    status, _, err = run(capsys, "test", "-j", "0", tree)
    assert status == 2 and "-j must be at least 1" in err


def test_parallel_workers_finish_big_files_and_keep_file_order(tmp_path, capsys):
    # The pool hands out the biggest file first; the output stays in file order.
    (tmp_path / "a.clif").write_text(ADD)
    (tmp_path / "b.clif").write_text(ADD + "\n" * 2000 + "; run: %add(0, 0) == 1\n")
    (tmp_path / "c.clif").write_text(DIV)
    status, out, _ = run(capsys, "test", "-j", "2", tmp_path)
    assert status == 1
    assert out == [
        f"{tmp_path / 'b.clif'}:2010: %add(0, 0): expected 1, got 0 [interpreter]",
        f"{tmp_path / 'c.clif'}:8: %div(1, 0): expected 0, got trap int_divz [interpreter]",
        "5 passed, 2 failed, 0 skipped",
    ]


def test_a_worker_that_dies_loses_only_its_own_file(tree, capsys, monkeypatch):
    real_run_one = runner.run_one

    def dies_on_f3(path, problem, options):
        if path.endswith("f3.clif"):
            os._exit(3)  # as a crash in native code would
        return real_run_one(path, problem, options)

    monkeypatch.setattr(runner, "run_one", dies_on_f3)
    status, out, _ = run(capsys, "test", "-j", "2", tree)
    assert status == 1
    assert out == [
        f"{tree / 'f2.clif'}:9: %sub(5, 3): expected 3, got 2 [interpreter]",
        f"{tree / 'f3.clif'}: error: internal error: the process running this file died (killed, or a crash in native code)",
        f"{tree / 'f4.clif'}:9: %sub(5, 3): expected 3, got 2 [interpreter]",
        "10 passed, 3 failed, 0 skipped",
    ]


def test_system_exit_in_a_worker_is_an_error_of_that_file(tree, capsys, monkeypatch):
    real_run_one = runner.run_one

    def exits_on_f1(path, problem, options):
        if path.endswith("f1.clif"):
            raise SystemExit(4)
        return real_run_one(path, problem, options)

    monkeypatch.setattr(runner, "run_one", exits_on_f1)
    status, out, _ = run(capsys, "test", "-j", "2", tree)
    assert out[0] == f"{tree / 'f1.clif'}: error: internal error in clifkit test: SystemExit: 4"
    assert out[-1] == "10 passed, 3 failed, 0 skipped"


# -- -k ------------------------------------------------------------------------------------------


def test_item_names_are_unique_in_a_file():
    names = item_names([
        ("%f(1)", 3, "interpreter", None),
        ("%f(1)", 4, "interpreter", None),
        ("%f(2)", 5, "interpreter", None),
        ("%f(1)", 3, "native", "x86_64 has_avx"),
    ])
    assert names == ["%f(1)@3[interpreter]", "%f(1)@4[interpreter]", "%f(2)[interpreter]",
                     "%f(1)[native x86_64 has_avx]"]


@pytest.mark.parametrize(
    "pattern, chosen",
    [
        ("sub", ["b::%sub(5, 3)[interpreter]"]),
        ("%ADD(1, 2)", ["a::%add(1, 2)[interpreter]"]),
        ("add and not 2, 2", ["a::%add(1, 2)[interpreter]"]),
        ("interpreter and (sub or 2, 2)", ["a::%add(2, 2)[interpreter]", "b::%sub(5, 3)[interpreter]"]),
        ("not interpreter", []),
        ("native or b::", ["b::%sub(5, 3)[interpreter]"]),
    ],
)
def test_keyword_expressions(pattern, chosen):
    names = ["a::%add(1, 2)[interpreter]", "a::%add(2, 2)[interpreter]", "b::%sub(5, 3)[interpreter]"]
    match = compile_keyword(pattern)
    assert [n for n in names if match(n)] == chosen


@pytest.mark.parametrize("pattern", ["add and", "(add or sub", "not", "add or or sub", "add or sub )", "and add"])
def test_malformed_keyword_expressions(pattern):
    with pytest.raises(KeywordError):
        compile_keyword(pattern)


def test_k_selects_items_by_name(tree, capsys):
    status, out, _ = run(capsys, "test", "-k", "sub and not 5, 3", "--json", tree / "r.json", tree)
    assert status == 0
    assert out == ["12 run lines deselected by -k", "2 passed, 0 failed, 0 skipped"]
    report = json.loads((tree / "r.json").read_text())
    assert [f["path"] for f in report["files"]] == [str(tree / "f2.clif"), str(tree / "f4.clif")]
    assert [r["line"] for r in report["files"][0]["runs"]] == [10]


def test_k_matches_file_names_and_engines(tree, capsys):
    status, out, _ = run(capsys, "test", "-j", "2", "-k", "f1.clif and [interpreter]", tree)
    assert status == 0 and out[-1] == "2 passed, 0 failed, 0 skipped"
    status, out, _ = run(capsys, "test", "-k", "f1.clif and native", tree)
    assert out[-1] == "0 passed, 0 failed, 0 skipped"


def test_k_syntax_error_is_a_usage_error(tree, capsys):
    status, out, err = run(capsys, "test", "-k", "add and", tree)
    assert status == 2 and out == []
    assert "clifkit test: error: -k 'add and': expected a word to match, got the end" in err


def test_k_also_filters_unreadable_files(tmp_path, capsys):
    (tmp_path / "bad.clif").write_text(
        "test interpret\nfunction %f() -> i32 {\nblock0:\n    v0 = iconst.i32\n    return v0\n}\n; run: %f() == 1\n"
    )
    (tmp_path / "good.clif").write_text(ADD)
    status, out, _ = run(capsys, "test", "-k", "add", tmp_path)
    assert status == 0 and out[-1] == "2 passed, 0 failed, 0 skipped"
    status, out, _ = run(capsys, "test", "-k", "%f()", tmp_path)
    assert status == 1 and out[-1] == "0 passed, 1 failed, 0 skipped"


# -- --fail-fast ---------------------------------------------------------------------------------


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_fail_fast_stops_at_the_first_failure(tree, capsys, jobs):
    status, out, _ = run(capsys, "test", "-j", jobs, "--fail-fast", "--json", tree / "r.json", tree)
    assert status == 1
    assert out == [
        f"{tree / 'f2.clif'}:9: %sub(5, 3): expected 3, got 2 [interpreter]",
        "stopped at the first failure (--fail-fast): 3 of 6 files reported",
        "5 passed, 1 failed, 0 skipped",
    ]
    report = json.loads((tree / "r.json").read_text())
    assert [f["path"] for f in report["files"]] == [str(tree / f"f{i}.clif") for i in range(3)]
    assert report["summary"]["failed"] == 1


def test_fail_fast_without_failures_runs_everything(tmp_path, capsys):
    for i in range(3):
        (tmp_path / f"g{i}.clif").write_text(ADD)
    status, out, _ = run(capsys, "test", "-x", "-j", "2", tmp_path)
    assert status == 0 and out == ["6 passed, 0 failed, 0 skipped"]


# -- --junit-xml ---------------------------------------------------------------------------------


def test_junit_xml_report(tmp_path, capsys):
    (tmp_path / "a.clif").write_text(ADD + "; print: %add(40, 2)\n")
    (tmp_path / "b.clif").write_text(DIV + "; run: %div(1) == 1\n")
    (tmp_path / "c-nondeterministic-x86_64.clif").write_text(ADD)
    report = tmp_path / "junit.xml"
    status, out, _ = run(capsys, "test", "--junit-xml", report, tmp_path)
    assert status == 1
    assert out[-1] == "4 passed, 2 failed, 2 skipped"
    root = ET.parse(report).getroot()  # well-formed XML
    assert root.tag == "testsuites"
    assert {k: root.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "8", "failures": "1", "errors": "1", "skipped": "2"
    }
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [str(tmp_path / n) for n in ("a.clif", "b.clif", "c-nondeterministic-x86_64.clif")]
    for s in suites:
        cases = s.findall("testcase")
        assert int(s.get("tests")) == len(cases)
        assert int(s.get("failures")) == sum(1 for c in cases if c.find("failure") is not None)
        assert int(s.get("errors")) == sum(1 for c in cases if c.find("error") is not None)
        assert int(s.get("skipped")) == sum(1 for c in cases if c.find("skipped") is not None)
        float(s.get("time"))
    a, b, c = ({case.get("name"): case for case in s.findall("testcase")} for s in suites)
    assert list(a) == ["%add(1, 2)[interpreter]", "%add(2, 2)[interpreter]", "%add(40, 2)[interpreter]"]
    assert a["%add(40, 2)[interpreter]"].find("system-out").text.endswith("%add(40, 2) -> 42")
    failure = b["%div(1, 0)[interpreter]"].find("failure")
    assert failure.get("message") == "expected 0, got trap int_divz"
    assert failure.text == f"{tmp_path / 'b.clif'}:8: %div(1, 0): expected 0, got trap int_divz"
    error = b["%div(1)[interpreter]"].find("error")
    assert error.get("message") == "%div takes 2 arguments (i32, i32), but 1 are given"
    assert "^" in error.text  # the located error, with its caret
    assert b["%div(6, 3)[interpreter]"].get("line") == "9"
    assert b["%div(6, 3)[interpreter]"].get("classname") == str(tmp_path / "b.clif")
    assert all(case.find("skipped") is not None for case in c.values())


def test_junit_xml_escapes_what_xml_cannot_hold(tmp_path):
    from clifkit.runtest.junit import write_junit
    from clifkit.runtest.results import RunResult

    fr = FileResult("x<&>.clif", "failed", runs=[
        RunResult(3, "%f", "interpreter", None, "failed", "expected \x01 <got> & \"more\"", report="\x1b[31mred\x1b[0m")
    ])
    path = tmp_path / "j.xml"
    write_junit(str(path), [fr])
    case = ET.parse(path).getroot().find("testsuite/testcase")
    assert case.get("classname") == "x<&>.clif"
    assert case.find("failure").get("message") == 'expected \\x01 <got> & "more"'


def test_unwritable_reports_are_errors(tree, capsys):
    status, out, _ = run(capsys, "test", "--junit-xml", tree / "no" / "such" / "dir.xml", tree / "f0.clif")
    assert status == 1
    assert out[0].startswith(f"{tree / 'no' / 'such' / 'dir.xml'}: error: cannot write the JUnit report")
    assert out[-1] == "2 passed, 0 failed, 0 skipped"  # the summary counts run lines; the status says 1


# -- colours and the progress bar ------------------------------------------------------------------


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_no_colour_when_not_a_tty(tree, capsys, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    status, out, _ = run(capsys, "test", tree)
    assert status == 1
    assert not any("\x1b" in line for line in out)
    assert out[-1] == "12 passed, 2 failed, 0 skipped"


def test_colour_decisions(monkeypatch):
    tty, pipe = FakeTTY(), io.StringIO()
    assert wants_colour(tty, "auto", {}) is True
    assert wants_colour(pipe, "auto", {}) is False
    assert wants_colour(tty, "auto", {"NO_COLOR": "1"}) is False
    assert wants_colour(tty, "auto", {"NO_COLOR": ""}) is True  # only a non-empty NO_COLOR counts
    assert wants_colour(tty, "auto", {"TERM": "dumb"}) is False
    assert wants_colour(pipe, "always", {"NO_COLOR": "1"}) is True
    assert wants_colour(tty, "never", {}) is False


def _run_on_fake_tty(monkeypatch, argv, environ):
    for key in ("NO_COLOR", "TERM"):
        monkeypatch.delenv(key, raising=False)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    tty = FakeTTY()
    monkeypatch.setattr(sys, "stdout", tty)
    status = cli.main([str(a) for a in argv])
    return status, tty.getvalue()


def test_terminal_gets_colours_and_a_progress_bar(tree, monkeypatch):
    monkeypatch.setattr(Console, "progress", _unthrottled_progress(Console.progress))
    status, text = _run_on_fake_tty(monkeypatch, ["test", "-j", "1", tree], {})
    assert status == 1
    assert "\x1b[31m" in text and "\x1b[32m" in text  # failures red, passes green
    assert "6/6 files" in text and "\r\x1b[K" in text  # the bar, redrawn in place
    last = text.rsplit("\n", 2)[-2]
    assert _strip_ansi(last.split("\r\x1b[K")[-1]) == "12 passed, 2 failed, 0 skipped"


def test_no_colour_on_a_terminal_with_no_color(tree, monkeypatch):
    status, text = _run_on_fake_tty(monkeypatch, ["test", tree], {"NO_COLOR": "1"})
    assert status == 1
    assert "\x1b[3" not in text  # no colour codes; the bar is still drawn and cleared
    assert text.endswith("12 passed, 2 failed, 0 skipped\n")


def _unthrottled_progress(original):
    def progress(self, done, total, counts, force=False):
        return original(self, done, total, counts, force=True)

    return progress


def _strip_ansi(text):
    import re

    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)


# -- Ctrl-C ----------------------------------------------------------------------------------------


def test_ctrl_c_prints_the_summary_so_far_and_writes_reports(tree, capsys, monkeypatch):
    real_run_one = runner.run_one
    calls = []

    def interrupted_on_the_fourth(path, problem, options):
        calls.append(path)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real_run_one(path, problem, options)

    monkeypatch.setattr(runner, "run_one", interrupted_on_the_fourth)
    status, out, _ = run(capsys, "test", "-j", "1", "--json", tree / "r.json", "--junit-xml", tree / "r.xml", tree)
    assert status == 130
    assert out == [
        f"{tree / 'f2.clif'}:9: %sub(5, 3): expected 3, got 2 [interpreter]",
        "interrupted: 3 of 6 files finished",
        "6 passed, 1 failed, 0 skipped",
    ]
    report = json.loads((tree / "r.json").read_text())
    assert report["summary"]["files"] == 3 and report["summary"]["passed"] == 6
    assert ET.parse(tree / "r.xml").getroot().get("tests") == "7"


def test_ctrl_c_with_a_pool_reports_every_finished_file(tree, capsys, monkeypatch):
    from clifkit.runtest import parallel

    def pool_interrupted(tasks, options, jobs):
        # Files 0, 1 and 3 finish (out of order), then Ctrl-C arrives.
        for index in (1, 3, 0):
            _, path, problem = tasks[index]
            yield index, runner.run_one(path, problem, options)
        raise KeyboardInterrupt

    monkeypatch.setattr(parallel, "run_pool", pool_interrupted)
    status, out, _ = run(capsys, "test", "-j", "2", "--json", tree / "r.json", tree)
    assert status == 130
    assert out == ["interrupted: 3 of 6 files finished", "6 passed, 0 failed, 0 skipped"]
    report = json.loads((tree / "r.json").read_text())
    assert [f["path"] for f in report["files"]] == [str(tree / f"f{i}.clif") for i in (0, 1, 3)]


SLOW = """test interpret

function %count(i64) -> i64 {
block0(v0: i64):
    v1 = iconst.i64 0
    v10 = iconst.i64 0
    jump block1(v1, v10)

block1(v2: i64, v11: i64):
    v3 = iadd_imm v2, 1
    v12 = imul_imm v11, 31
    v13 = bxor v12, v3
    v4 = icmp ult v3, v0
    brif v4, block1(v3, v13), block2

block2:
    return v3
}
; run: %count(5) == 5
; run: %count(100000000) == 100000000
"""


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or sys.platform == "win32", reason="needs POSIX signals")
def test_real_sigint_stops_the_pool_cleanly(tmp_path):
    """A real Ctrl-C (SIGINT) in the middle of a parallel run: workers stop, the summary is printed."""
    # Bigger than the slow files (a long comment), so that the pool hands it out first.
    (tmp_path / "a_fast.clif").write_text(FAILING + ";" * 4000 + "\n")
    for i in range(4):
        (tmp_path / f"slow{i}.clif").write_text(SLOW)
    proc = subprocess.Popen(
        [sys.executable, "-m", "clifkit", "test", "-j", "2", "--json", str(tmp_path / "r.json"), str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # A shell's background job starts with SIGINT ignored; Ctrl-C must reach this one.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        first = proc.stdout.readline()  # the fast file's failure: the pool is running
        assert first.startswith(str(tmp_path / "a_fast.clif")), first
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = rest.splitlines()
    shown = f"first line: {first!r}\nstdout: {rest!r}\nstderr: {err!r}"
    assert proc.returncode == 130, shown
    assert "Traceback" not in err, shown
    # The files in flight report what they did, the run line Ctrl-C stopped marked (test_hardening).
    assert lines[-2] == ("interrupted: 1 of 5 files finished, 2 stopped mid-file "
                         "(the run lines in flight are marked)"), shown
    assert lines[-1] == "4 passed, 3 failed, 0 skipped", shown
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["summary"]["files"] == 3 and report["interrupted"], shown


# -- run, interpret, compile -------------------------------------------------------------------------


NOT_A_RUN_TEST = """test compile
target x86_64

function %add(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    v2 = iadd v0, v1
    return v2
}
; run: %add(1, 2) == 3
; run: %add(1, 2) == 4
"""


def test_interpret_runs_every_file_on_the_interpreter(tmp_path, capsys):
    p = tmp_path / "c.clif"
    p.write_text(NOT_A_RUN_TEST)
    status, out, _ = run(capsys, "test", p)
    assert out[-1] == "0 passed, 0 failed, 0 skipped"  # `clifkit test` runs only run tests
    status, out, _ = run(capsys, "interpret", "--json", tmp_path / "r.json", p)
    assert status == 1
    assert out == [f"{p}:10: %add(1, 2): expected 4, got 3 [interpreter]", "1 passed, 1 failed, 0 skipped"]
    runs = json.loads((tmp_path / "r.json").read_text())["files"][0]["runs"]
    assert {r["engine"] for r in runs} == {"interpreter"}


class StandInNative(engine_interface.Engine):
    """A native engine that runs %add in Python, and compiles to fixed x86-64 bytes."""

    name = "native"

    def __init__(self):
        self.opened = []

    def open(self, test_file, options, target=None, source=None):
        self.opened.append(target)

        class S(Session):
            def call(self, bound, env=None):
                if bound.function.name == "%add":
                    return Returned([(bound.args[0] + bound.args[1]) & 0xFFFFFFFF])
                return Skipped("stand-in")

        s = S()
        s.engine, s.target = "native", target
        return s

    def compile(self, test_file, options, target=None, source=None):
        code = bytes.fromhex("8d0437c3")  # lea eax, [rdi+rsi]; ret
        return [{"name": d.function.name, "code": code, "target": "x86_64"} for d in test_file.functions]


def test_run_calls_the_native_engine_on_the_host(tmp_path, capsys, monkeypatch):
    native = StandInNative()
    monkeypatch.setitem(engines.ENGINES, "native", native)
    p = tmp_path / "c.clif"
    p.write_text(NOT_A_RUN_TEST.replace("target x86_64\n", ""))
    status, out, _ = run(capsys, "run", "--json", tmp_path / "r.json", p)
    assert status == 1
    assert out == [f"{p}:9: %add(1, 2): expected 4, got 3 [native]", "1 passed, 1 failed, 0 skipped"]
    assert native.opened == [None]  # the host
    runs = json.loads((tmp_path / "r.json").read_text())["files"][0]["runs"]
    assert {(r["engine"], r["target"]) for r in runs} == {("native", None)}


@pytest.mark.parametrize("foreign", ["aarch64", "s390x"])
def test_run_takes_the_target_line_of_the_hosts_architecture_and_skips_a_file_without_one(
        tmp_path, capsys, monkeypatch, foreign):
    """As clif-util run: the flags of the file's target line for the host's architecture; a file
    whose targets are all foreign is not run on the host (its big-endian or other results would
    be checked against the wrong machine), and the skip says where it runs."""
    monkeypatch.setattr("clifkit.native.host.host_arch", lambda: "x86_64")
    native = StandInNative()
    monkeypatch.setitem(engines.ENGINES, "native", native)
    both = tmp_path / "both.clif"
    both.write_text(NOT_A_RUN_TEST.replace("target x86_64\n", f"target {foreign}\ntarget x86_64 has_avx\n"))
    status, out, _ = run(capsys, "run", both)
    assert status == 1 and out[-1] == "1 passed, 1 failed, 0 skipped"
    assert native.opened == ["x86_64 has_avx"]
    only = tmp_path / "only.clif"
    only.write_text(NOT_A_RUN_TEST.replace("target x86_64\n", f"target {foreign}\n"))
    status, out, _ = run(capsys, "run", only)
    assert status == 0 and out[-1] == "0 passed, 0 failed, 2 skipped"
    assert f"its targets ({foreign}) do not include the host's architecture (x86_64)" in out[0]
    assert f"`clifkit test --engine native` runs it on {foreign}" in out[0]
    assert native.opened == ["x86_64 has_avx"]  # nothing more opened


@pytest.mark.parametrize("targets,where", [
    (["riscv64"], "clifkit runs code for none of them"),
    (["pulley64", "riscv64gc-unknown-linux-gnu"], "clifkit runs code for none of them"),
    (["riscv64", "s390x-ibm-linux", "aarch64"], "`clifkit test --engine native` runs it on s390x, aarch64")])
def test_run_says_where_a_foreign_file_would_run_and_only_where_clifkit_runs_code(
        tmp_path, capsys, monkeypatch, targets, where):
    """The skip of an all-foreign file named `clifkit test --engine native` for riscv64 and Pulley
    targets too, which clifkit runs nowhere."""
    monkeypatch.setattr("clifkit.native.host.host_arch", lambda: "x86_64")
    monkeypatch.setitem(engines.ENGINES, "native", StandInNative())
    p = tmp_path / "foreign.clif"
    p.write_text(NOT_A_RUN_TEST.replace("target x86_64\n", "".join(f"target {t}\n" for t in targets)))
    status, out, _ = run(capsys, "run", p)
    assert status == 0 and out[-1] == "0 passed, 0 failed, 2 skipped"
    assert out[0].endswith(f"do not include the host's architecture (x86_64); {where}"), out[0]


def test_run_without_a_native_engine_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.delitem(engines.ENGINES, "native", raising=False)
    p = tmp_path / "c.clif"
    p.write_text(ADD)
    status, out, err = run(capsys, "run", p)
    assert status == 2 and out == []
    assert err.strip() == (
        "clifkit run: error: the native engine is not available in this clifkit; "
        "`clifkit interpret` runs the same lines on the interpreter"
    )


def test_compile_shows_sizes_and_a_disassembly(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(engines.ENGINES, "native", StandInNative())
    p = tmp_path / "c.clif"
    p.write_text(NOT_A_RUN_TEST)
    status, out, err = run(capsys, "compile", p)
    assert status == 0, err
    assert out[0] == f"{p}: target x86_64"
    assert out[1] == "  %add: 4 bytes of machine code (1 block, 2 instructions)"
    if importlib.util.find_spec("capstone") is None:
        assert out[2] == "    (install capstone for a disassembly: pip install 'clifkit[disasm]')"
    else:
        assert [line.split(None, 1)[1].split("  ")[-1].strip() for line in out[2:]] == ["lea eax, [rdi + rsi]", "ret"]
    status, out, _ = run(capsys, "compile", "--no-disasm", p)
    assert out[1:] == ["  %add: 4 bytes of machine code (1 block, 2 instructions)"]


def test_compile_without_machine_code_says_what_is_missing(tmp_path, capsys, monkeypatch):
    monkeypatch.delitem(engines.ENGINES, "native", raising=False)
    p = tmp_path / "c.clif"
    p.write_text(NOT_A_RUN_TEST)
    status, out, err = run(capsys, "compile", p)
    assert status == 1
    assert out == [f"{p}: target x86_64", "  %add: 1 block, 2 instructions; machine code: not available"]
    assert err.strip() == f"clifkit compile: error: {p}: no machine code: the native engine is not available in this clifkit"


def test_compile_reports_reader_errors(tmp_path, capsys):
    p = tmp_path / "bad.clif"
    p.write_text("function %f() {\nblock0:\n    v0 = iconst.i32\n}\n")
    status, out, err = run(capsys, "compile", p)
    assert status == 1 and out == []
    assert err.startswith(f"{p}:4:1: error: ")


def test_disassemble_without_capstone_for_the_arch():
    assert commands.disassemble(b"\xc3", "pulley64") is None


def test_compile_with_the_real_native_engine(capsys):
    if commands.native_unavailable() is not None:
        pytest.skip(commands.native_unavailable())
    from clifkit.native.host import host_arch

    if host_arch() != "x86_64":
        pytest.skip("the expected output is x86-64 code")
    examples = os.path.join(os.path.dirname(__file__), "..", "examples", "integers.clif")
    status, out, err = run(capsys, "compile", examples)
    assert status == 0, err
    assert out[0].endswith("integers.clif: target x86_64")  # the file names its targets
    sizes = [line for line in out if "bytes of machine code" in line]
    assert [line.split(":")[0].strip() for line in sizes] == ["%add_wraps", "%checked_div", "%mul_i128"]
    assert all(int(line.split(": ")[1].split()[0]) > 0 for line in sizes)
    if importlib.util.find_spec("capstone") is not None:
        assert any(line.rstrip().endswith("ret") for line in out)


def test_junit_counts_timeouts_as_failures(tmp_path):
    from clifkit.runtest.junit import build_junit
    from clifkit.runtest.results import RunResult

    fr = FileResult("t.clif", "failed", runs=[
        RunResult(3, "%f", "native", "x86_64", "timeout", "timed out: %f ran longer than 1 s", report="t.clif:3: ..."),
        RunResult(4, "%f", "native", "x86_64", "passed"),
    ])
    root = build_junit([fr])
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("2", "1", "0")
    assert root.find("testsuite/testcase/failure").get("type") == "timeout"


def test_interpret_takes_the_limit_options(tmp_path, capsys):
    path = tmp_path / "spin.clif"
    path.write_text("test interpret\nfunction %spin() -> i32 {\nblock0:\n    jump block1\nblock1:\n    jump block1\n}\n; run: %spin() == 0\n")
    assert cli.main(["interpret", "--timeout", "0.5", "--max-memory", "64M", str(path)]) == 1
    out = capsys.readouterr().out
    assert "1 run line timed out (--timeout 0.5 s)" in out
    assert out.splitlines()[-1] == "0 passed, 1 failed, 0 skipped"


def test_an_option_a_command_does_not_take_gets_that_commands_usage_and_who_takes_it(tmp_path, capsys):
    path = tmp_path / "add.clif"
    path.write_text(ADD)
    with pytest.raises(SystemExit) as e:
        cli.main(["interpret", "--run-calls", "followed", str(path)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: clifkit interpret ")
    assert "clifkit interpret: error: unrecognized arguments: --run-calls; clifkit test, run and reduce take --run-calls" in err
    with pytest.raises(SystemExit) as e:
        cli.main(["cat", "--bogus", str(path)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: clifkit cat ") and err.rstrip().endswith("clifkit cat: error: unrecognized arguments: --bogus")


def test_the_json_reports_options_say_which_engines_and_settings_ran(tree, capsys):
    run(capsys, "test", "-j", "1", "--json", tree / "a.json", tree / "f0.clif")
    options = json.loads((tree / "a.json").read_text())["options"]
    assert (options["engine"], options["compare"], options["settings"]) == ("all", False, [])
    run(capsys, "test", "-j", "1", "--engine", "interpreter", "--compare", "--set", "opt_level=speed",
        "--json", tree / "b.json", tree / "f0.clif")
    options = json.loads((tree / "b.json").read_text())["options"]
    assert (options["engine"], options["compare"], options["settings"]) == ("interpreter", True, ["opt_level=speed"])


def test_the_json_reports_options_say_the_interpreters_limits(tree, capsys):
    # The fuel and the call depth decide whether a run line passes: a report says which ran.
    run(capsys, "test", "-j", "1", "--engine", "interpreter", "--json", tree / "a.json", tree / "f0.clif")
    options = json.loads((tree / "a.json").read_text())["options"]
    assert (options["fuel"], options["max_call_depth"]) == (10**9, 2000)
    run(capsys, "test", "-j", "1", "--engine", "interpreter", "--fuel", "77", "--max-call-depth", "5",
        "--json", tree / "b.json", tree / "f0.clif")
    options = json.loads((tree / "b.json").read_text())["options"]
    assert (options["fuel"], options["max_call_depth"]) == (77, 5)


def test_the_engine_summary_counts_a_triple_under_its_architecture_and_each_skip_reason(
        tmp_path, capsys, monkeypatch):
    """`target x86_64-unknown-linux-gnu` had a summary line of its own beside `target x86_64`'s, and
    files skipped for different reasons showed the first file's reason as everyone's."""
    monkeypatch.setattr("clifkit.native.host.host_arch", lambda: "x86_64")
    monkeypatch.setitem(engines.ENGINES, "native", StandInNative())
    paths = []
    for name, target in (("a", "x86_64"), ("b", "x86_64-unknown-linux-gnu"), ("c", "riscv64"), ("d", "pulley64")):
        paths.append(tmp_path / f"{name}.clif")
        paths[-1].write_text(NOT_A_RUN_TEST.replace("target x86_64\n", f"target {target}\n"))
    status, out, _ = run(capsys, "run", *paths)
    assert status == 1 and out[-1] == "2 passed, 2 failed, 4 skipped"
    assert [line for line in out if line.startswith("  ")] == [
        "  native x86_64: 2 passed, 2 failed",
        "  native:        4 skipped: its targets (riscv64) do not include the host's architecture (x86_64); "
        "clifkit runs code for none of them (and 1 other reason; -v shows each line)"]
    status, out, _ = run(capsys, "run", *paths[:3])
    assert out[-2].startswith("  native:        2 skipped: its targets (riscv64) do not include"), out
