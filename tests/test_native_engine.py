"""The native engine in `clifkit test`: targets, traps, crashes, heaps, --engine, --compare, JSON.

Tests that compile real CLIF need the ``cranelift`` binding and an x86-64
Linux host; they are skipped otherwise. The --compare test uses the fake
lowering of test_native_runtime.py, so that the engines disagree on purpose.
"""

from __future__ import annotations

import glob
import json
import os
import re

import pytest

from clifkit.cli import main as clifkit_main
from clifkit.native import engine as native_engine
from clifkit.runtest import engines as engines_mod
from support import EXAMPLES, HERE, X86_64_LINUX, needs_native


def _write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _run(capsys, *argv) -> tuple[int, str, dict]:
    """`clifkit test -j1 --json R ARGV...`: (status, output, report)."""
    report = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"clifkit-native-{os.getpid()}.json")
    status = clifkit_main(["test", "-j1", "--json", report, *argv])
    out = capsys.readouterr().out
    with open(report) as f:
        data = json.load(f)
    os.unlink(report)
    return status, out, data


def _runs(report: dict) -> list[dict]:
    return [run for f in report["files"] for run in f["runs"]]


# -- the heap examples, natively ---------------------------------------------------------------


@needs_native
def test_heap_examples_pass_natively(tmp_path, capsys):
    """examples/heaps/*.clif as `test run` files: every line passes natively, including the
    out-of-bounds traps (guard pages, dynamic bounds) and growth."""
    for path in glob.glob(os.path.join(EXAMPLES, "heaps", "*.clif")):
        with open(path) as f:
            text = "test run\n" + re.sub(r"^(test|target) .*\n", "", f.read(), flags=re.M)  # on the host only
        _write(tmp_path, os.path.basename(path), text)
    status, out, report = _run(capsys, "--engine", "native", str(tmp_path))
    runs = _runs(report)
    assert status == 0, out
    assert len(runs) >= 30 and all(r["status"] == "passed" for r in runs), out
    assert {r["engine"] for r in runs} == {"native"}
    assert sum(1 for r in runs if r.get("expected", "").startswith("trap heap_oob")) >= 8


@needs_native
def test_guard_page_access_traps_heap_oob(tmp_path):
    """The static heap promises 4 GiB + 2 GiB of guard, so the lowering checks nothing: the
    out-of-bounds access really faults in a guard page and is reported heap_oob."""
    from clifkit.reader import parse_file
    from clifkit.reader.directives import bind, parse_directive_line
    from clifkit.engine import EngineOptions, Trapped
    from clifkit.environment.layout import build_environment
    from clifkit.runtest.plans import callee_environment
    from clifkit.ir.function import Directive, FunctionDetails

    src = os.path.join(EXAMPLES, "heaps", "static.clif")
    path = _write(tmp_path, "static.clif", open(src).read().replace("test interpret", "test run"))
    tf = parse_file(path)
    details = tf.functions[0]
    lines = open(path).read().split("\n")
    heap_line = next(i for i, l in enumerate(lines, 1) if l.startswith("; heap:"))
    heap = parse_directive_line(lines[heap_line - 1], path, heap_line)
    env = build_environment(FunctionDetails(details.function, [Directive("heap", heap.text, heap.loc)]))
    env = callee_environment(env, details.function, {details.function.name: details.function})  # reservations
    session = native_engine.NativeEngine().open(tf, EngineOptions())
    calls = []
    for n, line in enumerate(lines, 1):
        if line.startswith("; run: %store_then_load"):
            calls.append((bind(parse_directive_line(line, path, n), details.function, implicit_vmctx=True), env))
    outcomes = session.call_batch(calls)
    assert [getattr(o, "values", None) for o in outcomes[:2]] == [[42], [(1 << 32) - 7]]
    for outcome in outcomes[2:]:
        assert isinstance(outcome, Trapped) and outcome.code == "heap_oob"
        assert "SIGSEGV" in outcome.detail  # a real fault, not an explicit check


# -- traps, crashes, stack overflow ------------------------------------------------------------

FAULTS = """test run
target x86_64

function %null() -> i32 {
block0:
    v0 = iconst.i64 0
    v1 = load.i32 v0
    return v1
}
; run: %null() == 0

function %ok() -> i32 {
block0:
    v0 = iconst.i32 1
    return v0
}
; run: %ok() == 1

function %user_trap() -> i32 {
block0:
    trap user7
}
; run: %user_trap() == trap user7

function %div(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    v2 = udiv v0, v1
    return v2
}
; run: %div(7, 2) == 3
; run: %div(7, 0) == trap int_divz

function %recurse(i64) -> i64 {
    fn0 = %recurse(i64) -> i64
block0(v0: i64):
    v1 = iadd_imm v0, 1
    v2 = call fn0(v1)
    return v2
}
; run: %recurse(0) == trap stk_ovf

function %after() -> i32 {
block0:
    v0 = iconst.i32 2
    return v0
}
; run: %after() == 2
"""


@needs_native
def test_crash_trap_and_stack_overflow(tmp_path, capsys):
    path = _write(tmp_path, "faults.clif", FAULTS)
    status, out, report = _run(capsys, "--engine", "native", path)
    runs = {r["line"]: r for r in _runs(report)}
    assert status == 1  # the crash
    crash = runs[10]
    assert crash["status"] == "failed" and crash["engine"] == "native" and crash["target"] == "x86_64"
    assert "crashed with SIGSEGV" in crash["message"] and "%null" in crash["message"]
    assert "run line 10" in crash["message"] and "address 0x0" in crash["message"]
    assert f"{path}:10: %null()" in out  # located like any failure
    assert [runs[n]["status"] for n in (17, 23, 30, 31, 40, 47)] == ["passed"] * 6, [runs[n] for n in runs]


# -- targets and features ------------------------------------------------------------------------

TARGETS = """test run
set opt_level=speed
target aarch64
target pulley64
target x86_64
target x86_64 has_avx

function %add(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    v2 = iadd v0, v1
    return v2
}
; run: %add(2, 40) == 42
; run: %add(-1, 1) == 0
"""


@needs_native
def test_targets_the_host_cannot_run_are_skipped(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CLIFKIT_CACHE", str(tmp_path / "no-emulation"))  # aarch64 not emulated either
    path = _write(tmp_path, "targets.clif", TARGETS)
    status, out, report = _run(capsys, path)
    assert status == 0, out
    by_target: dict = {}
    for r in _runs(report):
        assert r["engine"] == "native"
        by_target.setdefault(r["target"], []).append(r)
    assert set(by_target) == {"aarch64", "pulley64", "x86_64", "x86_64 has_avx"}
    assert all(r["status"] == "skipped" and "cannot run aarch64" in r["message"] for r in by_target["aarch64"])
    assert all(r["status"] == "skipped" and "Pulley" in r["message"] for r in by_target["pulley64"])
    assert all(r["status"] == "passed" and r["message"] == "" for r in by_target["x86_64"])
    variant = by_target["x86_64 has_avx"]
    assert all(r["status"] == "passed" and "has_avx" in r["message"] for r in variant)
    assert "2 passed" not in out  # not a count: the summary line counts everything
    assert out.strip().splitlines()[-1] == "4 passed, 0 failed, 4 skipped"


def test_cranelift_missing_skips_native_runs(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "cranelift" else real(name, *a))
    path = _write(tmp_path, "targets.clif", TARGETS)
    status, out, report = _run(capsys, "--engine", "native", path)
    runs = _runs(report)
    assert status == 0 and runs
    assert all(r["status"] == "skipped" for r in runs)
    assert any("cranelift-py" in r["message"] for r in runs if r["target"].startswith("x86_64"))


def test_a_complete_installation_is_looked_up_once(monkeypatch):
    """`open` checks the installation per session (a fuzz campaign opens one per module): found
    complete, it is not searched for again; found lacking, it is, each time."""
    import importlib.util

    real = importlib.util.find_spec
    asked = []

    def counting(name, *a):
        asked.append(name)
        return real(name, *a)

    monkeypatch.setattr(importlib.util, "find_spec", counting)
    first = native_engine.missing_requirements()
    count = len(asked)
    assert count and native_engine.missing_requirements() == first and len(asked) == (count if first is None else 2 * count)
    asked.clear()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: asked.append(name) if name == "cranelift" else real(name, *a))
    assert "cranelift-py" in native_engine.missing_requirements() and "cranelift-py" in native_engine.missing_requirements()
    assert asked == ["cranelift", "cranelift"]


def test_target_spec_collects_settings_before_the_target(tmp_path, monkeypatch):
    from clifkit.reader import parse_text

    monkeypatch.setenv("CLIFKIT_CACHE", str(tmp_path / "no-emulation"))  # s390x not emulated either

    tf = parse_text("test run\nset opt_level=speed\ntarget x86_64 sse42 has_avx=false\nset enable_llvm_abi_extensions\n"
                    "target x86_64\nfunction %f() {\nblock0:\n    return\n}\n")
    spec = native_engine.target_spec(tf, "x86_64 sse42 has_avx=false")
    assert spec.arch == "x86_64" and spec.isa_flags == {"sse42": "true", "has_avx": "false"}
    assert spec.settings == {"opt_level": "speed"}
    assert native_engine.target_spec(tf, "x86_64").settings == {"opt_level": "speed", "enable_llvm_abi_extensions": "true"}
    assert native_engine.host_cannot_run(native_engine.target_spec(tf, "x86_64")) is None or not X86_64_LINUX
    assert "s390x" in native_engine.host_cannot_run(native_engine.TargetSpec("s390x", "s390x", {}, {}))


# -- --engine -------------------------------------------------------------------------------------

BOTH = """test interpret
test run
target x86_64

function %add(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    v2 = iadd v0, v1
    return v2
}
; run: %add(2, 40) == 42
"""

RUN_ONLY = BOTH.replace("test interpret\n", "")
INTERPRET_ONLY = BOTH.replace("test run\n", "")


@needs_native
def test_engine_option_chooses_engines(tmp_path, capsys):
    both = _write(tmp_path, "both.clif", BOTH)
    run_only = _write(tmp_path, "run_only.clif", RUN_ONLY)
    interpret_only = _write(tmp_path, "interpret_only.clif", INTERPRET_ONLY)

    _, _, report = _run(capsys, both)  # default: all
    assert sorted((r["engine"], r["target"]) for r in _runs(report)) == [("interpreter", None), ("native", "x86_64")]

    _, _, report = _run(capsys, "--engine", "interpreter", both, run_only)
    runs = _runs(report)
    assert [(r["engine"], r["status"]) for r in runs] == [("interpreter", "passed"), ("native", "skipped")]
    assert "--engine interpreter" in runs[1]["message"]

    status, out, report = _run(capsys, "--engine", "native", both, interpret_only)
    assert status == 0
    # The interpret-only file's run line is counted as skipped, saying why (as --engine interpreter does).
    runs = _runs(report)
    assert [(r["engine"], r["target"], r["status"]) for r in runs] == [("native", "x86_64", "passed"),
                                                                        ("interpreter", None, "skipped")]
    assert "--engine native" in runs[1]["message"]


# -- --compare ------------------------------------------------------------------------------------

COMPARE = """test run
target x86_64

function %add(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    v2 = isub v0, v1
    return v2
}
; run: %add(2, 2) == 0
; print: %add(5, 1)
"""


@pytest.mark.skipif(not X86_64_LINUX, reason="the fake lowering emits x86-64 machine code")
def test_compare_reports_disagreement(tmp_path, capsys, monkeypatch):
    """The fake lowering compiles %add as an addition while the CLIF subtracts: the run line fails
    natively, and --compare adds a failure of its own for each line where the engines disagree."""
    fake = native_engine.NativeEngine(compiler="test_native_runtime:compile_module", worker_env={"PYTHONPATH": HERE})
    monkeypatch.setitem(engines_mod.ENGINES, "native", fake)
    path = _write(tmp_path, "compare.clif", COMPARE)
    status, out, report = _run(capsys, "--engine", "native", "--compare", path)
    runs = _runs(report)
    assert status == 1
    compares = [r for r in runs if r["kind"] == "compare"]
    assert [(r["line"], r["status"], r["engine"], r["target"]) for r in compares] == [
        (9, "failed", "native", "x86_64"), (10, "failed", "native", "x86_64")]
    assert compares[0]["actual"] == "4" and compares[0]["expected"] == "0"
    assert "disagree" in compares[1]["message"] and "6" in compares[1]["message"] and "4" in compares[1]["message"]

    # Without --compare: only the ordinary failure of line 9 (the print line just prints).
    status, out, report = _run(capsys, "--engine", "native", path)
    assert [r["kind"] for r in _runs(report)] == ["run", "print"]


@needs_native
def test_compare_agrees_on_real_code(tmp_path, capsys):
    path = _write(tmp_path, "both.clif", RUN_ONLY + "; print: %add(1, 2)\n")
    status, out, report = _run(capsys, "--compare", path)
    assert status == 0, out
    assert [r["kind"] for r in _runs(report)] == ["run", "print"]


DEEP = """test run
target x86_64

function %sum(i64) -> i64 {
    fn0 = %sum(i64) -> i64
block0(v0: i64):
    brif v0, block2, block1
block1:
    return v0
block2:
    v1 = iadd_imm v0, -1
    v2 = call fn0(v1)
    v3 = iadd v0, v2
    return v3
}
; run: %sum(50) == 1275
"""


@needs_native
def test_a_disagreement_names_a_trace_with_the_interpreters_limits(tmp_path, capsys):
    # The interpreter's limits decide where it stops: the trace it names must run with them.
    path = _write(tmp_path, "deep.clif", DEEP)
    status, out, report = _run(capsys, "--engine", "native", "--compare", "--max-call-depth", "10",
                               "--fuel", "5000", path)
    (compare,) = [r for r in _runs(report) if r["kind"] == "compare"]
    assert compare["expected"] == "trap stk_ovf" and compare["actual"] == "1275"
    assert compare["message"].endswith(
        f"(its trace: clifkit interpret --trace --fuel 5000 --max-call-depth 10 {path} -k '%sum(50)')")
    status, out, report = _run(capsys, "--engine", "native", "--compare", "--max-call-depth", "10", path)
    (compare,) = [r for r in _runs(report) if r["kind"] == "compare"]
    assert f"(its trace: clifkit interpret --trace --max-call-depth 10 {path} -k " in compare["message"]


# -- batching -------------------------------------------------------------------------------------


@needs_native
def test_run_lines_are_batched(tmp_path, monkeypatch):
    """All run lines of a file and target go to the worker in one round trip."""
    from clifkit.runtest.plans import Options
    from clifkit.runtest.runner import run_file

    lines = "\n".join(f"; run: %add({i}, 1) == {i + 1}" for i in range(20))
    path = _write(tmp_path, "many.clif", RUN_ONLY.replace("; run: %add(2, 40) == 42", lines))
    sent = []
    real = native_engine.WorkerClient.request

    def spy(self, msg, timeout=None):
        sent.append(msg["op"])
        return real(self, msg, timeout)

    monkeypatch.setattr(native_engine.WorkerClient, "request", spy)
    result = run_file(path, Options(engine="native"))
    assert [r.status for r in result.runs] == ["passed"] * 20
    assert sent.count("run") == 1 and sent.count("load") == 1
