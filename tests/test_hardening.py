"""Hostile input, resource limits, and no lost results.

- every cap of `clifkit.limits` refuses an oversized request with its exact, located message
  (never a MemoryError), and is settable on the command line;
- the interpreter's memory is sparse (a 4 GiB heap costs nothing until touched: RSS measured),
  and what a run line touches is capped;
- `--timeout` ends runaway interpreter loops and runaway native code, with status ``timeout`` in
  the text, JSON and JUnit reports, also under the parallel runner; deep recursion is ``stk_ovf``
  on both engines;
- Ctrl-C, a killed native worker (`CLIFKIT_NATIVE_CHAOS`) or a timeout still leave complete
  reports, the stopped run lines marked; `--failed-from` repeats exactly the bad run lines;
- isolation: native code writing to a wild address is a crash of that run line only; an
  interpreter store to any 64-bit address outside its regions traps heap_oob.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest

from clifkit import limits
from clifkit.cli import main as clifkit_main
from clifkit.interpreter import FuelExhausted, Interpreter, MemoryLimitExceeded, TimeLimitExceeded, Trap
from clifkit.reader import parse_text
from clifkit.runtest import engines as engines_mod
from support import EXAMPLES, needs_native, signal_then_wait

needs_posix = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals and /proc")


def run(tmp_path, capsys, text: str, *argv: str, name: str = "t.clif"):
    """`clifkit test -j1 --json --junit-xml ARGV FILE`: (status, output, JSON report, JUnit root)."""
    path = tmp_path / name
    path.write_text(text)
    report, junit = tmp_path / "r.json", tmp_path / "r.xml"
    status = clifkit_main(["test", "-j1", "--json", str(report), "--junit-xml", str(junit), *argv, str(path)])
    captured = capsys.readouterr()
    return status, captured.out + captured.err, json.loads(report.read_text()), ET.parse(junit).getroot()


run_ = run  # for tests whose parameters include one named `run`


def runs_of(report: dict) -> list[dict]:
    return [r for f in report["files"] for r in f["runs"]]


HEAP_FUNC = """test interpret
function %f(i64 vmctx) -> i64 {
block0(v0: i64):
    v1 = load.i64 v0
    return v1
}
"""


# -- limits.py -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, n", [("4096", 4096), ("4K", 4096), ("64KiB", 64 << 10), ("512M", 512 << 20),
                                      ("4G", 4 << 30), ("1t", 1 << 40), ("0x1_0000", 0x10000), ("1_000", 1000),
                                      ("100b", 100)])
def test_sizes(text, n):
    assert limits.parse_size(text) == n


@pytest.mark.parametrize("text", ["", "lots", "4X", "0x10K", "-1", "4i", "1.5G"])
def test_bad_sizes(text):
    with pytest.raises(ValueError, match="not a size"):
        limits.parse_size(text)


@pytest.mark.parametrize("text, s", [("60", 60.0), ("2.5", 2.5), ("500ms", 0.5), ("2m", 120.0), ("1h", 3600.0)])
def test_durations(text, s):
    assert limits.parse_seconds(text) == s


@pytest.mark.parametrize("argv, message", [
    (["--max-memory", "lots"], "argument --max-memory: not a size: 'lots' (examples: 4G, 512M, 64K, 0x1000, 4096)"),
    (["--max-stack-frame", "0"], "argument --max-stack-frame: '0': a limit must be more than 0 bytes"),
    (["--timeout", "0"], "argument --timeout: not a duration: '0' (it must be more than 0 seconds, and finite)"),
    (["--timeout", "soon"], "argument --timeout: not a duration: 'soon' (examples: 60, 2.5, 500ms, 2m)"),
])
def test_limit_options_are_checked(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        clifkit_main(["test", *argv, "x.clif"])
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_defaults_are_documented_values():
    d = limits.DEFAULT_LIMITS
    assert (d.max_memory, d.max_reservation, d.max_stack_frame, d.timeout) == (4 << 30, 8 << 30, 1 << 30, 60.0)


# -- caps on what a test asks for: exact, located messages ---------------------------------------------


@pytest.mark.parametrize("directive, argv, col, message", [
    ("; heap: static, size=0x1000, ptr=vmctx+0, max=0x2_0000_0000", [], 9,
     "heap of 0x200000000 bytes exceeds the limit of 0x100000000 bytes"),
    ("; heap: static, size=0x10_0000, ptr=vmctx+0", ["--max-memory", "64K"], 9,
     "heap of 0x100000 bytes exceeds the limit of 0x10000 bytes"),
    ("; heap: dynamic, size=0x100, ptr=vmctx+0, bound=vmctx+8, guard=0xffff_ffff_ffff_ffff", [], 9,
     "heap of 0x100000000000000ff bytes exceeds the limit of 0x100000000 bytes"),
    ("; table: elements=0x1_0000_0000, element_size=16, ptr=vmctx+0, bound=vmctx+8", [], 10,
     "table of 0x1000000000 bytes exceeds the limit of 0x100000000 bytes"),
    ("; heap: static, size=16, ptr=vmctx+0x1_0000_0000", [], 30,
     "vmctx struct of 0x100000008 bytes exceeds the limit of 0x100000000 bytes"),
    ("; table: elements=1, element_size=8, ptr=vmctx+0, bound=vmctx+0xffff_ffff_ffff_fff8", [], 57,
     "vmctx struct of 0x10000000000000000 bytes exceeds the limit of 0x100000000 bytes"),
])
def test_oversized_environment_requests_are_located_errors(tmp_path, capsys, directive, argv, col, message):
    status, out, report, junit = run(tmp_path, capsys, HEAP_FUNC + directive + "\n; run: %f() == 0\n", *argv)
    assert status == 1
    [r] = runs_of(report)
    assert (r["status"], r["message"], r["col"]) == ("error", message, col)
    assert f"t.clif:7:{col}: error: {message}" in out
    assert "MemoryError" not in out and "Traceback" not in out
    assert junit.find(".//error").get("message") == message


RESERVATION = """test interpret
function %f(i64 vmctx, i32) -> i32 {
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
    heap0 = static gv1, min 0x1_0000, bound 0x1_0000_0000, offset_guard 0x8000_0000, index_type i32

block0(v0: i64, v1: i32):
    v2 = heap_addr.i64 heap0, v1, 0, 4
    v3 = load.i32 v2
    return v3
}
; heap: static, size=0x10000, ptr=vmctx+0, bound=vmctx+8
; run: %f(4) == 0
; run: %f(0x10000) == trap heap_oob
"""


def test_the_wasm_layout_fits_the_default_reservation_cap(tmp_path, capsys):
    status, out, report, _ = run(tmp_path, capsys, RESERVATION)
    assert status == 0, out
    assert report["summary"]["passed"] == 2


def test_a_declared_reservation_over_the_cap_is_refused_at_the_declaration(tmp_path, capsys):
    status, out, report, _ = run(tmp_path, capsys, RESERVATION, "--max-reservation", "4G")
    message = ("heap0 reservation of 0x180000000 bytes (bound 0x100000000 + offset_guard 0x80000000) "
               "exceeds the limit of 0x100000000 bytes")
    assert status == 1
    assert [(r["line"], r["status"], r["message"]) for r in runs_of(report)] == [
        (13, "error", message), (14, "error", message)]
    # Shown once, located at the declaration, with its source line and a caret; then per line.
    assert f"t.clif:5:5: error: {message} [interpreter]\n    heap0 = static gv1," in out
    assert f"t.clif:14: %f(0x10000): not run: {message}" in out


def test_a_directive_reservation_over_the_cap_is_refused_at_the_directive(tmp_path, capsys):
    text = HEAP_FUNC + "; heap: static, size=0x1000, ptr=vmctx+0, max=0x1000, guard=0x8000_0000\n; run: %f() == 0\n"
    status, out, report, _ = run(tmp_path, capsys, text, "--max-reservation", "1G")
    [r] = runs_of(report)
    assert r["message"] == "heap reservation of 0x80001000 bytes exceeds the limit of 0x40000000 bytes"
    assert "t.clif:7:9: error: heap reservation of 0x80001000 bytes" in out


FRAMES = """test interpret
function %big(i64) -> i64 {
    ss0 = explicit_slot 8
    ss1 = explicit_slot 0x10_0000
block0(v0: i64):
    stack_store v0, ss1+0xff000
    v1 = stack_load.i64 ss1+0xff000
    return v1
}
; run: %big(5) == 5

function %caller(i64) -> i64 {
    fn0 = %big(i64) -> i64
block0(v0: i64):
    v1 = call fn0(v0)
    return v1
}
; run: %caller(6) == 6

function %small(i64) -> i64 {
    ss0 = explicit_slot 16
block0(v0: i64):
    return v0
}
; run: %small(7) == 7
"""


def test_stack_frames_over_the_cap_are_refused_at_the_largest_slot(tmp_path, capsys):
    status, out, report, _ = run(tmp_path, capsys, FRAMES, "--max-stack-frame", "64K")
    message = "stack frame of %big (ss0, ss1) of 0x100010 bytes exceeds the limit of 0x10000 bytes"
    assert status == 1
    got = [(r["line"], r["status"], r["message"]) for r in runs_of(report)]
    # The caller is refused too (its callee's frame), the function without a big frame runs.
    assert got == [(10, "error", message), (18, "error", message), (25, "passed", "")]
    assert f"t.clif:4:5: error: {message} [interpreter]\n    ss1 = explicit_slot 0x10_0000\n    ^" in out
    assert f"t.clif:18: %caller(6): not run: {message}" in out


def test_stack_frames_under_the_default_cap_run(tmp_path, capsys):
    status, out, report, _ = run(tmp_path, capsys, FRAMES)
    assert status == 0, out
    assert report["summary"]["passed"] == 3
    assert report["options"]["max_stack_frame"] == 1 << 30


# -- sparse memory, touched-memory cap, isolation of the interpreter ------------------------------------


def _rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


FOUR_GIB_HEAP = """test interpret
function %touch(i64 vmctx, i64, i64) -> i64 {
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
block0(v0: i64, v1: i64, v2: i64):
    v3 = global_value.i64 gv1
    v4 = iadd v3, v1
    store.i64 v2, v4
    v5 = load.i64 v4
    return v5
}
; heap: static, size=0x1_0000_0000, ptr=vmctx+0, bound=vmctx+8
"""


@needs_posix
def test_a_4_gib_heap_costs_nothing_until_touched():
    from clifkit.interpreter.engine import HOST_FUNCTIONS
    from clifkit.interpreter.heaps import materialize
    from clifkit.environment.layout import build_environment

    tf = parse_text(FOUR_GIB_HEAP, "t.clif")
    env = build_environment(tf.functions[0])
    interp = Interpreter([tf.functions[0].function], host_functions=HOST_FUNCTIONS)
    before = _rss()
    for offset in (0, 0x7fff_fff8, 0xffff_fff8):
        prepared = materialize(env)
        assert interp.call("%touch", [prepared.vmctx, offset, 0x1234], env=prepared) == [0x1234]
    grown = _rss() - before
    assert grown < 32 << 20, f"RSS grew by {grown} bytes"
    assert interp.memory.resident_bytes <= 4 * 4096  # vmctx, the touched heap page, the stack


LOOP_TOUCH = """test interpret
function %sweep(i64 vmctx, i64) -> i64 {
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
    gv2 = load.i64 notrap aligned gv0+16
block0(v0: i64, v1: i64):
    v2 = global_value.i64 gv1
    v6 = global_value.i64 gv2
    jump block1(v1)
block1(v3: i64):
    v4 = iadd v2, v3
    store.i64 v3, v4
    v7 = iadd v6, v3
    store.i64 v3, v7
    v5 = iadd_imm v3, -4096
    brif v3, block1(v5), block2
block2:
    return v3
}
; heap: static, size=0xc_0000, ptr=vmctx+0, bound=vmctx+8
; heap: static, size=0xc_0000, ptr=vmctx+16, bound=vmctx+24
; run: %sweep(0xb_f000) == 0
"""


def test_the_interpreter_memory_a_run_line_touches_is_capped(tmp_path, capsys):
    """Each heap fits the cap; touching both does not."""
    status, out, report, _ = run(tmp_path, capsys, LOOP_TOUCH, "--max-memory", "1M")
    [r] = runs_of(report)
    assert (r["status"], r["message"]) == (
        "failed", "%sweep touched more than 0x100000 bytes of memory (--max-memory raises the limit)")
    status, out, report, _ = run(tmp_path, capsys, LOOP_TOUCH, "--max-memory", "2M")
    assert status == 0, out


ANY_ADDRESS = """test interpret
function %poke(i64, i64) -> i64 {
block0(v0: i64, v1: i64):
    store.i64 v1, v0
    v2 = load.i64 v0
    return v2
}
"""


@pytest.mark.parametrize(
    "address",
    [0, 8, 0xdead_beef, 0x7fff_ffff_f000, 1 << 63, (1 << 64) - 8, (1 << 64) - 1, id(ANY_ADDRESS), id(pytest)],
    # Names that do not contain the object ids, which differ between pytest-xdist workers.
    ids=["0", "8", "deadbeef", "high-user", "2^63", "top-8", "top", "python-str", "python-module"],
)
def test_interpreter_stores_to_any_address_outside_its_regions_trap(address):
    """Addresses are virtual: no interpreter access can reach the host's memory (the ids of Python
    objects, which are their addresses in this process, included)."""
    tf = parse_text(ANY_ADDRESS, "t.clif")
    interp = Interpreter([tf.functions[0].function])
    with pytest.raises(Trap) as e:
        interp.call("%poke", [address, 42])
    assert e.value.code == "heap_oob"
    assert "outside every mapped region" in e.value.detail


# -- time limits -----------------------------------------------------------------------------------------

LOOP = """test interpret
{run}
function %id(i64) -> i64 {{
block0(v0: i64):
    return v0
}}
; run: %id(1) == 1

function %spin(i64) -> i64 {{
block0(v0: i64):
    jump block1(v0)
block1(v1: i64):
    v2 = iadd_imm v1, 1
    jump block1(v2)
}}
; run: %spin(0) == 0
; run: %id(2) == 2
"""


def test_a_runaway_interpreter_loop_times_out(tmp_path, capsys):
    text = LOOP.format(run="")
    started = time.monotonic()
    status, out, report, junit = run(tmp_path, capsys, text, "--timeout", "0.3", "--fuel", str(10**15))
    assert time.monotonic() - started < 10
    message = "timed out: %spin ran longer than 0.3 s and was stopped in %spin (--timeout raises the limit)"
    assert status == 1
    assert [(r["line"], r["status"], r["message"]) for r in runs_of(report)] == [
        (7, "passed", ""), (16, "timeout", message), (17, "passed", "")]
    assert f"t.clif:16: %spin(0): {message}" in out
    assert "1 run line timed out (--timeout 0.3 s)\n2 passed, 1 failed, 0 skipped" in out
    assert report["summary"] == {"passed": 2, "failed": 1, "skipped": 0, "errors": 0, "timeouts": 1, "files": 1}
    assert report["options"]["timeout"] == 0.3
    [failure] = junit.iter("failure")
    assert (failure.get("type"), failure.get("message")) == ("timeout", message)
    assert junit.get("failures") == "1"


def test_fuel_stays_exact_with_time_slices():
    """Fuel is handed out in slices (so the deadline is checked): the budget is still exact."""
    tf = parse_text(LOOP.format(run="").replace("jump block1(v2)", "v3 = icmp_imm ult v2, 1000000\n"
                                                "    brif v3, block1(v2), block2(v2)\nblock2(v4: i64):\n"
                                                "    return v4"), "t.clif")
    funcs = [d.function for d in tf.functions]
    need = Interpreter(funcs)
    assert need.call("%spin", [0]) == [1_000_000]
    exact = need.executed
    assert exact == 1 + 3 * 1_000_000 + 1  # jump; iadd_imm, icmp_imm, brif per iteration; return
    assert Interpreter(funcs, fuel=exact).call("%spin", [0]) == [1_000_000]
    with pytest.raises(FuelExhausted):
        Interpreter(funcs, fuel=exact - 1).call("%spin", [0])
    forever = [d.function for d in parse_text(LOOP.format(run=""), "t.clif").functions]
    started = time.monotonic()
    with pytest.raises(TimeLimitExceeded) as e:
        Interpreter(forever, timeout=0.05).call("%spin", [0])
    assert time.monotonic() - started < 1.0
    assert (e.value.function, e.value.seconds) == ("%spin", 0.05)


def test_timeouts_work_under_the_parallel_runner(tmp_path, capsys):
    for i in range(2):
        (tmp_path / f"s{i}.clif").write_text(LOOP.format(run=""))
    report = tmp_path / "r.json"
    status = clifkit_main(["test", "-j2", "--timeout", "0.3", "--fuel", str(10**15), "--json", str(report),
                           str(tmp_path)])
    capsys.readouterr()
    data = json.loads(report.read_text())
    assert status == 1
    assert [[r["status"] for r in f["runs"]] for f in data["files"]] == [["passed", "timeout", "passed"]] * 2


RECURSION = """test interpret
test run
target x86_64

function %down(i64) -> i64 {
    fn0 = %down(i64) -> i64
block0(v0: i64):
    v1 = iadd_imm v0, 1
    v2 = call fn0(v1)
    v3 = iadd v2, v0
    return v3
}
; run: %down(0) == trap stk_ovf
"""


@needs_native
def test_deep_recursion_is_stk_ovf_on_both_engines(tmp_path, capsys):
    status, out, report, _ = run(tmp_path, capsys, RECURSION)
    assert status == 0, out
    assert sorted((r["engine"], r["status"], r["actual"]) for r in runs_of(report)) == [
        ("interpreter", "passed", "trap stk_ovf"), ("native", "passed", "trap stk_ovf")]


TRAMPOLINES = """test interpret

function %f(i64) -> i64 tail {
    fn0 = %g(i64) -> i64 tail
    sig0 = (i64) -> i64 tail
block0(v0: i64):
    brif v0, block2, block1
block1:
    return v0
block2:
    v1 = iadd_imm v0, -1
    v2 = func_addr.i64 fn0
    return_call_indirect sig0, v2(v1)
}

function %g(i64) -> i64 tail {
    fn0 = %f(i64) -> i64 tail
    sig0 = (i64) -> i64 tail
block0(v0: i64):
    v1 = func_addr.i64 fn0
    v2 = call_indirect sig0, v1(v0)
    v3 = iadd_imm v2, 1
    return v3
}
; run: %g(60000) == 60001
; run: %g(150000) == trap stk_ovf
"""


def test_a_deep_call_depth_limit_runs_deep_calls_without_crashing(tmp_path):
    # Each level of %g nests a C frame under Python's (the tail call's trampoline): 40,000 of
    # them overflowed the process's stack of 8 MiB (a segmentation fault, no report) when
    # --max-call-depth let them nest that deep.
    (tmp_path / "t.clif").write_text(TRAMPOLINES)
    done = subprocess.run([sys.executable, "-m", "clifkit", "test", "--max-call-depth", "120000",
                           str(tmp_path / "t.clif")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "2 passed, 0 failed, 0 skipped"


NATIVE_LOOP = """test run
target x86_64

function %spin(i64) -> i64 {
block0(v0: i64):
    jump block1(v0)
block1(v1: i64):
    v2 = iadd_imm v1, 1
    jump block1(v2)
}
; run: %spin(0) == 0

function %id(i64) -> i64 {
block0(v0: i64):
    return v0
}
; run: %id(2) == 2
"""


@needs_native
def test_runaway_native_code_is_killed_at_the_timeout(tmp_path, capsys):
    status, out, report, junit = run(tmp_path, capsys, NATIVE_LOOP, "--timeout", "0.5")
    message = "timed out: %spin ran longer than 0.5 s and was killed (run line 11)"
    assert [(r["line"], r["engine"], r["status"], r["message"]) for r in runs_of(report)] == [
        (11, "native", "timeout", message), (17, "native", "passed", "")]
    assert report["summary"]["timeouts"] == 1
    assert f"t.clif:11: %spin(0): {message}" in out
    assert [f.get("type") for f in junit.iter("failure")] == ["timeout"]


# -- isolation of native code ----------------------------------------------------------------------------

WILD = """test run
target x86_64

function %wild(i64) -> i64 {
block0(v0: i64):
    v1 = iconst.i64 0x7fff_dead_0000
    store.i64 v0, v1
    return v0
}
; run: %wild(1) == 1
; run: %wild(2) == 2

function %fine(i64) -> i64 {
block0(v0: i64):
    v1 = iadd_imm v0, 1
    return v1
}
; run: %fine(1) == 2
"""


@needs_native
def test_native_code_writing_to_a_wild_address_is_a_crash_of_its_run_line_only(tmp_path, capsys):
    status, out, report, _ = run(tmp_path, capsys, WILD)
    got = [(r["line"], r["status"], r["message"]) for r in runs_of(report)]
    assert [g[:2] for g in got] == [(10, "failed"), (11, "failed"), (18, "passed")]
    for _, _, message in got[:2]:
        assert message.startswith("crashed with SIGSEGV at address 0x7fffdead0000 (SEGV_MAPERR: address not mapped)")
    assert got[0][2].endswith("in %wild, run line 10") and got[1][2].endswith("in %wild, run line 11")
    # The harness goes on: another file, in the same process, with the same worker.
    status, out, report, _ = run(tmp_path, capsys, "test run\ntarget x86_64\n" + WILD.split("\n\n", 2)[2],
                                 name="u.clif")
    assert status == 0 and report["summary"]["passed"] == 1, out


# -- no lost results: Ctrl-C ---------------------------------------------------------------------------

SPIN = """test interpret

function %id(i64) -> i64 {
block0(v0: i64):
    return v0
}
; run: %id(1) == 1
; run: %id(2) == 2

function %spin(i64) -> i64 {
block0(v0: i64):
    jump block1(v0)
block1(v1: i64):
    v2 = iadd_imm v1, 1
    jump block1(v2)
}
; run: %spin(0) == 0
; run: %id(3) == 3
"""


def interrupted_run(tmp_path, jobs: str, argv: list, interrupt, status: int = 130) -> str:
    """`clifkit test -j JOBS --json r.json ARGV a.clif b.clif`, interrupted (`interrupt(pid)`) 3 s
    in, well inside %spin even on a loaded machine: its output, once it has exited with `status`."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "clifkit", "test", "-j", jobs, "--fuel", str(10**15), "--json", str(tmp_path / "r.json"),
         *argv, str(tmp_path / "a.clif"), str(tmp_path / "b.clif")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    out, err = signal_then_wait(proc, 3.0, lambda p: interrupt(p.pid), timeout=30)
    assert proc.returncode == status, out + err
    assert "Traceback" not in err, err
    return out


@needs_posix
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_leaves_complete_reports_with_the_stopped_line_marked(tmp_path, jobs):
    for name in ("a.clif", "b.clif"):
        (tmp_path / name).write_text(SPIN)
    report, junit = tmp_path / "r.json", tmp_path / "r.xml"
    # Ctrl-C: the whole process group.
    out = interrupted_run(tmp_path, jobs, ["--junit-xml", str(junit)], lambda pid: os.killpg(pid, signal.SIGINT))
    data = json.loads(report.read_text())
    assert data["interrupted"] is True
    a = str(tmp_path / "a.clif")
    first = data["files"][0]
    assert first["path"] == a
    assert [(r["line"], r["status"], r["message"]) for r in first["runs"]] == [
        (7, "passed", ""), (8, "passed", ""), (17, "error", "interrupted before it finished")]
    assert f"{a}:17: %spin(0): interrupted before it finished" in out
    expected_files = 1 if jobs == "1" else 2  # in parallel both files were in flight
    assert len(data["files"]) == expected_files
    assert f"interrupted: 0 of 2 files finished, {expected_files} stopped mid-file" in out
    root = ET.parse(junit).getroot()
    assert root.get("errors") == str(expected_files) and root.get("tests") == str(3 * expected_files)


@needs_posix
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sigterm_to_the_parent_leaves_the_reports_as_ctrl_c_does(tmp_path, jobs):
    """SIGTERM (a CI job's timeout) to the parent alone: the same reports as after Ctrl-C, the
    summary saying which signal came, status 143. It used to kill the run with no report at all."""
    for name in ("a.clif", "b.clif"):
        (tmp_path / name).write_text(SPIN)
    junit = tmp_path / "r.xml"
    out = interrupted_run(tmp_path, jobs, ["--junit-xml", str(junit)], lambda pid: os.kill(pid, signal.SIGTERM),
                          status=143)
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["interrupted"] is True
    first = data["files"][0]
    assert [(r["line"], r["status"], r["message"]) for r in first["runs"]] == [
        (7, "passed", ""), (8, "passed", ""), (17, "error", "interrupted before it finished")]
    assert "interrupted (SIGTERM): 0 of 2 files finished" in out
    assert ET.parse(junit).getroot().get("errors") == str(len(data["files"]))


@needs_posix
def test_watching_leaves_a_sigterm_handler_it_did_not_take_as_it_was():
    """`clifkit test` in a program with a SIGTERM handler of its own: `install` leaves that
    handler alone, so the end of the watch must too, even after Ctrl-C (it set SIG_IGN)."""
    from clifkit.runtest import interrupts

    def host_handler(signum, frame):
        pass

    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    signal.signal(signal.SIGTERM, host_handler)
    try:
        with interrupts.watching():
            interrupts._on_sigint(signal.SIGINT, None)  # Ctrl-C, outside any armed section
        assert signal.getsignal(signal.SIGTERM) is host_handler
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # (the process is on its way out)
    finally:
        signal.signal(signal.SIGINT, before[0])
        signal.signal(signal.SIGTERM, before[1])


@needs_posix
def test_a_sigterm_stop_that_leaves_the_watch_keeps_its_status():
    """A KeyboardInterrupt that leaves `interrupts.watching` after SIGTERM reaches `cli.main`,
    which reports it as 128 + the signal that came: 143, not 130."""
    from clifkit.runtest import interrupts

    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    try:
        with pytest.raises(KeyboardInterrupt):
            with interrupts.watching():
                interrupts._on_sigint(signal.SIGTERM, None)
                raise KeyboardInterrupt
        assert interrupts.exit_status() == 143 and interrupts.signal_name() == "SIGTERM"
    finally:
        interrupts._STATE["signum"] = signal.SIGINT  # (as a new process has it)
        signal.signal(signal.SIGINT, before[0])
        signal.signal(signal.SIGTERM, before[1])


@needs_posix
def test_stopping_the_workers_stops_one_that_has_seen_ctrl_c_already():
    """`parallel._terminate` is the last resort after Ctrl-C (the grace is over, or the run
    failed): the workers must end, whatever they are doing. They take SIGTERM as Ctrl-C
    (`interrupts.install`), which a worker that has seen Ctrl-C already ignores, so SIGTERM cannot
    be how they are stopped: one busy outside a run line lived on (and the run waited for it)."""
    from concurrent.futures import ProcessPoolExecutor

    from clifkit.runtest import parallel
    from clifkit.runtest.plans import Options

    executor = ProcessPoolExecutor(max_workers=1, mp_context=parallel._context(),
                                   initializer=parallel._init_worker, initargs=(Options(),))
    future = executor.submit(time.sleep, 60)  # busy outside a run line: Ctrl-C is only noted
    deadline = time.monotonic() + 30
    while not future.running() and time.monotonic() < deadline:
        time.sleep(0.05)
    (process,) = executor._processes.values()
    os.kill(process.pid, signal.SIGINT)  # as `_drain` does
    time.sleep(0.3)
    started = time.monotonic()
    parallel._terminate(executor)
    process.join(timeout=10)
    alive = process.is_alive()
    if alive:
        process.kill()
    assert not alive and time.monotonic() - started < 5


@needs_posix
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_repeated_sigint_to_the_parent_alone_loses_no_file(tmp_path, jobs):
    """SIGINT to the parent only, then again and again (as `timeout -s INT` sends it twice, or an
    impatient person): each later one lands somewhere in the wrap-up (collecting the workers'
    partial results, settling, writing the reports), where it used to drop the files in flight."""
    spin = SPIN.split("\n; run: %id(3)")[0] + "\n"
    (tmp_path / "a.clif").write_text(spin)
    (tmp_path / "b.clif").write_text(SPIN.split("\n\nfunction %spin")[0] + "\n")
    def again_and_again(pid: int) -> None:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            try:
                os.kill(pid, signal.SIGINT)  # the parent alone: its workers hear of it from it
            except ProcessLookupError:
                return
            time.sleep(0.002)

    out = interrupted_run(tmp_path, jobs, [], again_and_again)
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["interrupted"] is True
    by_path = {f["path"]: f for f in data["files"]}
    a, b = str(tmp_path / "a.clif"), str(tmp_path / "b.clif")
    assert [(r["line"], r["status"], r["message"]) for r in by_path[a]["runs"]] == [
        (7, "passed", ""), (8, "passed", ""), (17, "error", "interrupted before it finished")], out
    if jobs == "2":  # b ran beside a, and finished
        assert [(r["line"], r["status"]) for r in by_path[b]["runs"]] == [(7, "passed"), (8, "passed")]


# -- no lost results: --failed-from ---------------------------------------------------------------------

MIXED = """test interpret

function %id(i64) -> i64 {
block0(v0: i64):
    return v0
}
; run: %id(1) == 1
; run: %id(2) == 3
; run: %nope(1) == 1
; run: %id(4) == 4

function %spin(i64) -> i64 {
block0(v0: i64):
    jump block1(v0)
block1(v1: i64):
    v2 = iadd_imm v1, 1
    jump block1(v2)
}
; run: %spin(0) == 0
"""


def test_failed_from_repeats_only_what_failed_errored_or_timed_out(tmp_path, capsys):
    (tmp_path / "good.clif").write_text(MIXED.split("; run: %id(2)")[0])
    status, out, report, _ = run(tmp_path, capsys, MIXED, "--timeout", "0.2", "--fuel", str(10**15))
    assert [(r["line"], r["status"]) for r in runs_of(report)] == [
        (7, "passed"), (8, "failed"), (9, "error"), (10, "passed"), (19, "timeout")]
    first = tmp_path / "first.json"
    (tmp_path / "r.json").rename(first)
    status = clifkit_main(["test", "-j1", "-v", "--timeout", "0.2", "--fuel", str(10**15), "--failed-from", str(first),
                           "--json", str(tmp_path / "again.json"), str(tmp_path)])
    out = capsys.readouterr().out
    again = json.loads((tmp_path / "again.json").read_text())
    assert status == 1
    assert [f["path"] for f in again["files"]] == [str(tmp_path / "t.clif")]  # good.clif: nothing to repeat
    assert [(r["line"], r["status"]) for r in runs_of(again)] == [(8, "failed"), (9, "error"), (19, "timeout")]
    assert "%id(1)" not in out and "good.clif" not in out


def test_failed_from_does_not_repeat_another_run_line_that_moved_to_a_failed_line(tmp_path, capsys):
    # The file is edited after the report: a line added above moves every run line down, so
    # the lines that failed (8, 10) now hold run lines that passed. Repeating those and saying
    # "passed" would hide the failures: the report's call (as written) must match too.
    text = ("test interpret\n\nfunction %id(i64) -> i64 {\nblock0(v0: i64):\n    return v0\n}\n"
            "; run: %id(1) == 1\n; run: %id(2) == 3\n; run: %id(3) == 3\n; run: %id(4) == 5\n")
    path = tmp_path / "t.clif"
    path.write_text(text)
    report = tmp_path / "r.json"
    assert clifkit_main(["test", "--json", str(report), str(path)]) == 1
    capsys.readouterr()
    path.write_text(text.replace("; run: %id(1)", "; a note\n; run: %id(1)"))
    assert clifkit_main(["test", "-v", "--failed-from", str(report), str(path)]) == 1
    out = capsys.readouterr().out
    assert "passed" not in out.splitlines()[0] and "nothing repeated" in out
    path.write_text(text.replace("(2) == 3", "(2) == 2").replace("(4) == 5", "(4) == 4"))  # edited in place
    assert clifkit_main(["test", "-v", "--failed-from", str(report), str(path)]) == 0
    assert "t.clif:8: %id(2) == 2: passed" in capsys.readouterr().out


def test_failed_from_a_missing_report_is_an_error(tmp_path, capsys):
    assert clifkit_main(["test", "--failed-from", str(tmp_path / "none.json"), str(tmp_path)]) == 2
    assert "--failed-from" in capsys.readouterr().err


# -- no lost results: killed native workers -------------------------------------------------------------


def _native_corpus(tmp_path) -> list[str]:
    """The examples (run tests of every engine), on the interpreter and natively on x86_64."""
    paths = []
    for name in ("integers.clif", "loops.clif", "stack_slots.clif", "heaps/static.clif", "heaps/growth.clif"):
        with open(os.path.join(EXAMPLES, name)) as f:
            text = f.read()
        assert "test run\ntarget x86_64\n" in text
        text = text.replace("target aarch64\n", "").replace("target s390x\n", "")
        path = tmp_path / name.replace("/", "_")
        path.write_text(text)
        paths.append(str(path))
    return paths


def _chaos_run(tmp_path, monkeypatch, capsys, paths, p: float, tag: str):
    from clifkit.native.engine import NativeEngine

    if p:
        monkeypatch.setitem(engines_mod.ENGINES, "native", NativeEngine(worker_env={"CLIFKIT_NATIVE_CHAOS": str(p)}))
    report, junit = tmp_path / f"{tag}.json", tmp_path / f"{tag}.xml"
    clifkit_main(["test", "-j1", "--json", str(report), "--junit-xml", str(junit), *paths])
    capsys.readouterr()
    monkeypatch.undo()
    return json.loads(report.read_text()), ET.parse(junit).getroot()


KILLED = "the native worker died (killed by signal 9) while running this run line"


@needs_native
def test_killed_native_workers_leave_a_complete_correct_report(tmp_path, monkeypatch, capsys):
    paths = _native_corpus(tmp_path)
    clean, _ = _chaos_run(tmp_path, monkeypatch, capsys, paths, 0, "clean")
    chaos, junit = _chaos_run(tmp_path, monkeypatch, capsys, paths, 0.2, "chaos")

    def key(r):
        return (r["line"], r["engine"], r["target"], r.get("call"))

    clean_runs = {(f["path"], *key(r)): r for f in clean["files"] for r in f["runs"]}
    chaos_runs = {(f["path"], *key(r)): r for f in chaos["files"] for r in f["runs"]}
    assert chaos_runs.keys() == clean_runs.keys()  # every run line present
    assert sum(r["engine"] == "native" for r in clean_runs.values()) >= 20
    for k, r in chaos_runs.items():
        if r["status"] == "error" and r["message"] == KILLED:
            assert k[2] == "native"  # only native runs can be killed
            continue
        c = clean_runs[k]
        assert (r["status"], r["message"], r.get("actual")) == (c["status"], c["message"], c.get("actual")), k
    assert int(junit.get("tests")) == len(chaos_runs)


@needs_native
def test_a_worker_killed_at_every_run_line_marks_each_native_run_line(tmp_path, monkeypatch, capsys):
    paths = _native_corpus(tmp_path)[:1]
    chaos, _ = _chaos_run(tmp_path, monkeypatch, capsys, paths, 1.0, "always")
    native = [r for r in runs_of(chaos) if r["engine"] == "native"]
    interp = [r for r in runs_of(chaos) if r["engine"] == "interpreter"]
    assert native and all((r["status"], r["message"]) == ("error", KILLED) for r in native)
    assert len(interp) == len(native) and all(r["status"] == "passed" for r in interp)


# -- hostile input: huge numbers, deep nesting, long chains of blocks --------------------------------------

DIGITS = "9" * 5000  # past Python's int(str) limit (4300 digits)

IDENTITY = """test interpret

function %f(i64) -> i64 {{
block0(v0: i64):
    {body}
    return v0
}}
; run: {run}
"""


@pytest.mark.parametrize("body, run, col, message", [
    (f"v1 = iconst.i64 {DIGITS}", "%f(1) == 1", 21, "invalid i64 immediate"),
    (f"v1 = f64const 0x1.0p{DIGITS}", "%f(1) == 1", 19, "invalid f64 immediate"),
    (f"v{DIGITS} = iconst.i64 1", "%f(1) == 1", 5, "unknown opcode"),
    (f"v1 = iconst.i64x{DIGITS} 1", "%f(1) == 1", 17, "expected a type"),
    (f"trap user{DIGITS}", "%f(1) == 1", 10, "unknown trap code"),
])
@pytest.mark.parametrize("command", ["cat", "verify", "test"])
def test_thousands_of_digits_in_clif_are_located_errors(tmp_path, capsys, command, body, run, col, message):
    path = tmp_path / "t.clif"
    path.write_text(IDENTITY.format(body=body, run=run))
    status = clifkit_main([command, str(path)])
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert status == 1 and "Traceback" not in out and "internal error" not in out, out[:500]
    assert out.startswith(f"{path}:5:{col}: error: {message}"), out[:500]


@pytest.mark.parametrize("run, col, message", [
    (f"%f({DIGITS}) == 1", 11, "argument 1 of %f: 9999"),
    (f"%f(1) == {DIGITS}", 17, "the result of %f: 9999"),
    (f"%f(1) == -{DIGITS}", 17, "the result of %f: -999"),
])
def test_thousands_of_digits_in_run_lines_are_located_errors(tmp_path, capsys, run, col, message):
    status, out, report, _ = run_(tmp_path, capsys, IDENTITY.format(body="nop", run=run))
    assert status == 1 and "internal error" not in out, out[:500]
    assert out.startswith(f"{tmp_path / 't.clif'}:8:{col}: error: {message}"), out[:500]
    assert "too many digits (5000; at most 4000)" in out.splitlines()[0]


def test_decimal_floats_with_thousands_of_digits_are_located_errors(tmp_path, capsys):
    text = """test interpret
function %f(f64) -> f64 {
block0(v0: f64):
    return v0
}
; run: %f(1.0e""" + DIGITS + """) == 0x1.0p0
; run: %f(0.""" + "0" * 5000 + """5) == 0x1.0p-1
"""
    status, out, report, _ = run_(tmp_path, capsys, text)
    assert status == 1 and "internal error" not in out, out[:500]
    assert [(r["line"], r["status"]) for r in runs_of(report)] == [(6, "error"), (7, "error")]
    assert out.startswith(f"{tmp_path / 't.clif'}:6:11: error: argument 1 of %f: 1.0e"), out[:300]


def test_leading_zeros_do_not_count_as_digits(tmp_path, capsys):
    status, out, _, _ = run_(tmp_path, capsys, IDENTITY.format(body="v1 = iconst.i64 " + "0" * 5000 + "7",
                                                                run="%f(" + "0" * 5000 + "3) == 3"))
    assert status == 0, out[:500]


def test_deeply_nested_lists_in_a_run_line_are_a_located_error(tmp_path, capsys):
    text = IDENTITY.format(body="nop", run="%f(" + "[" * 1000 + "1" + "]" * 1000 + ") == 1")
    status, out, report, _ = run_(tmp_path, capsys, text)
    assert status == 1 and "internal error" not in out, out[:500]
    assert out.startswith(f"{tmp_path / 't.clif'}:8:27: error: lists nest too deeply (more than 16 levels)"), out[:300]


def block_chain(n: int, test: str = "test interpret") -> str:
    """A function whose blocks form a straight chain of n jumps, each passing a value on."""
    lines = [test, "", "function %f(i64) -> i64 {", "block0(v0: i64):", "    jump block1(v0)"]
    for i in range(1, n):
        lines += [f"block{i}(v{i}: i64):", f"    jump block{i + 1}(v{i})"]
    lines += [f"block{n}(v{n}: i64):", f"    v{n + 1} = iadd_imm v{n}, 1", f"    return v{n + 1}", "}",
              "; run: %f(5) == 6"]
    return "\n".join(lines) + "\n"


def branch_chain(n: int) -> str:
    """n blocks in a chain, each also branching to one exit block: a dominator tree n deep, and a
    block with n predecessors."""
    lines = ["test interpret", "", "function %f(i64) -> i64 {", "block0(v0: i64):", "    jump block1"]
    for i in range(1, n):
        lines += [f"block{i}:", f"    brif v0, block{i + 1}, block{n + 1}"]
    lines += [f"block{n}:", "    return v0", f"block{n + 1}:", "    v1 = iconst.i64 7", "    return v1", "}",
              "; run: %f(5) == 5", "; run: %f(0) == 7"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("n", [300, 20_000])
def test_a_long_chain_of_blocks_reads_verifies_prints_and_runs(tmp_path, capsys, n):
    text = block_chain(n)
    status, out, report, _ = run_(tmp_path, capsys, text)
    assert status == 0 and [r["status"] for r in runs_of(report)] == ["passed"], out[:500]
    assert clifkit_main(["verify", str(tmp_path / "t.clif")]) == 0
    assert clifkit_main(["cat", str(tmp_path / "t.clif")]) == 0
    assert capsys.readouterr().out.startswith("test interpret\n\nfunction %f(i64) -> i64 {\n")


def test_a_deep_dominator_tree_verifies_and_runs(tmp_path, capsys):
    status, out, report, _ = run_(tmp_path, capsys, branch_chain(20_000))
    assert status == 0 and [r["status"] for r in runs_of(report)] == ["passed", "passed"], out[:500]
    # v9 of block2 dominates block2000, at the end of the chain, but not the exit, which block1
    # reaches directly.
    text = branch_chain(2_000).replace("block2:\n", "block2:\n    v9 = iconst.i64 9\n").replace(
        "block2000:\n    return v0", "block2000:\n    return v9")
    path = tmp_path / "bad.clif"
    path.write_text(text)
    assert clifkit_main(["verify", str(path)]) == 0
    path.write_text(text.replace("    return v1\n}", "    return v9\n}"))
    assert clifkit_main(["verify", str(path)]) == 1
    assert "use of v9 is not dominated by its definition" in capsys.readouterr().err


def test_immediate_dominators_match_their_definition_on_random_graphs():
    import random

    from clifkit.verifier.core import immediate_dominators

    def reach(succs, skip):
        seen, todo = set(), [0] if skip != 0 else []
        while todo:
            x = todo.pop()
            if x not in seen:
                seen.add(x)
                todo.extend(s for s in succs[x] if s != skip)
        return seen

    rng = random.Random(13)
    for _ in range(1500):
        n = rng.randint(1, 10)
        succs = {i: rng.sample(range(n), rng.randint(0, min(3, n))) for i in range(n)}
        reachable = reach(succs, None)
        # b's dominators: the blocks without which b cannot be reached.
        doms = {b: {a for a in reachable if a == b or b not in reach(succs, a)} for b in reachable}
        expected = {0: 0}
        for b in reachable - {0}:
            strict = doms[b] - {b}
            expected[b] = next(a for a in strict if strict <= doms[a])
        assert immediate_dominators(0, succs) == expected, succs


# -- large files: a segment at a time, results as they come, memory that does not grow -----------------


def small_functions(n: int, wrong: set = frozenset(), extra: str = "") -> str:
    """`test interpret`, n functions %fI returning I + 1, each with its run line (wrong for I in `wrong`)."""
    parts = ["test interpret\n" + extra]
    for i in range(n):
        parts.append(f"function %f{i}(i32) -> i32 {{\nblock0(v0: i32):\n    v1 = iadd_imm v0, 1\n    return v1\n}}\n"
                     f"; run: %f{i}({i}) == {i + 1 + (i in wrong)}\n")
    return "\n".join(parts)


def test_files_of_standalone_functions_are_cut_into_segments():
    from clifkit.runtest import segments

    lines = small_functions(5).split("\n")
    assert segments.cut(lines, size=5) is None  # not more than the segment size
    cut = segments.cut(lines, size=2)
    starts = [n for n, line in enumerate(lines, 1) if line.startswith("function")]
    assert cut == [(starts[0], starts[2] - 1), (starts[2], starts[4] - 1), (starts[4], len(lines))]
    # A run line calling a function of another segment, or a function reference: read whole.
    calls_back = small_functions(5).replace("; run: %f3(3) == 4", "; run: %f0(3) == 4").split("\n")
    assert segments.cut(calls_back, size=2) is None
    refers = small_functions(5).replace("block0(v0: i32):\n    v1 = iadd_imm v0, 1",
                                        "    fn0 = %f0(i32) -> i32\nblock0(v0: i32):\n    v1 = iadd_imm v0, 1", 1)
    assert segments.cut(refers.split("\n"), size=2) is None


@pytest.mark.parametrize("size", [3, 10_000])
def test_a_file_run_in_segments_gives_the_same_results_as_whole(tmp_path, capsys, monkeypatch, size):
    from clifkit.runtest import segments

    monkeypatch.setattr(segments, "SEGMENT_FUNCTIONS", size)
    status, out, report, _ = run_(tmp_path, capsys, small_functions(10, wrong={4, 9}))
    assert status == 1
    t = tmp_path / "t.clif"
    assert out.splitlines() == [f"{t}:36: %f4(4): expected 6, got 5 [interpreter]",
                                f"{t}:71: %f9(9): expected 11, got 10 [interpreter]", "8 passed, 2 failed, 0 skipped"]
    assert [(r["line"], r["status"]) for r in runs_of(report)] == [
        (8 + 7 * i, "failed" if i in (4, 9) else "passed") for i in range(10)]


def test_a_function_that_does_not_parse_stops_only_its_segment(tmp_path, capsys, monkeypatch):
    from clifkit.runtest import segments

    monkeypatch.setattr(segments, "SEGMENT_FUNCTIONS", 3)
    text = small_functions(9).replace("%f4(i32) -> i32 {\nblock0(v0: i32):\n    v1 = iadd_imm",
                                      "%f4(i32) -> i32 {\nblock0(v0: i32):\n    v1 = iadd_imx")
    status, out, report, _ = run_(tmp_path, capsys, text)
    assert status == 1
    assert out.startswith(f"{tmp_path / 't.clif'}:33:10: error: unknown opcode 'iadd_imx'"), out
    assert [(r["line"], r["status"]) for r in runs_of(report)] == [
        (8 + 7 * i, "error" if i in (3, 4, 5) else "passed") for i in range(9)]


def test_segments_are_shown_as_they_finish(tmp_path, monkeypatch):
    """`on_runs` hears of each segment's runs as soon as it has run (before the file ends)."""
    from clifkit.runtest import command, runner, segments

    monkeypatch.setattr(segments, "SEGMENT_FUNCTIONS", 4)
    path = tmp_path / "t.clif"
    path.write_text(small_functions(10, wrong={1, 6}))
    heard = []
    options = dataclasses.replace(command.options_from_args(argparse.Namespace()),
                                  on_runs=lambda fr, first: heard.append((first, len(fr.runs))))
    result = runner.run_file(str(path), options)
    assert heard == [(0, 4), (4, 8), (8, 10)] and len(result.runs) == 10
    status = subprocess.run([sys.executable, "-c", "import sys; from clifkit.runtest import segments; "
                             "segments.SEGMENT_FUNCTIONS = 4; from clifkit.cli import main; sys.exit(main(sys.argv[1:]))",
                             "test", "-j", "1", str(path)], capture_output=True, text=True)
    assert status.stdout.splitlines() == [f"{path}:15: %f1(1): expected 3, got 2 [interpreter]", f"{path}:50: %f6(6): expected 8, got 7 [interpreter]",
                                          "8 passed, 2 failed, 0 skipped"], status.stdout + status.stderr


def test_running_a_file_keeps_none_of_its_functions_alive(tmp_path):
    """Nothing in the process holds a file's IR once its results are in (a cache of frame layouts
    once held every function of every file)."""
    import gc
    import weakref

    from clifkit.ir.function import Function
    from clifkit.runtest import command, runner

    path = tmp_path / "t.clif"
    path.write_text(small_functions(3) + "\nfunction %s() -> i64 {\n    ss0 = explicit_slot 8\nblock0:\n"
                    "    v0 = stack_addr.i64 ss0\n    return v0\n}\n; run: %s() != 0\n")
    alive = []
    real_init = Function.__init__

    def track(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        alive.append(weakref.ref(self))

    Function.__init__ = track
    try:
        result = runner.run_file(str(path), command.options_from_args(argparse.Namespace()))
    finally:
        Function.__init__ = real_init
    assert [r.status for r in result.runs] == ["passed"] * 4
    gc.collect()
    assert alive and [ref() for ref in alive if ref() is not None] == []


def test_failed_from_a_report_with_malformed_runs_is_an_error(tmp_path, capsys):
    """A hand-edited report whose runs are not a list, or whose run names its engine with a list,
    is refused with one line (it was a TypeError traceback, or nothing repeated and status 0)."""
    path = tmp_path / "t.clif"
    path.write_text(MIXED.split("function %spin")[0])
    for runs in ("x", [{"line": 8, "status": "failed", "engine": ["interpreter"], "call": "%id(2)"}]):
        report = tmp_path / "r.json"
        report.write_text(json.dumps({"files": [{"path": str(path), "runs": runs}]}))
        assert clifkit_main(["test", "--failed-from", str(report), str(path)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"clifkit test: error: --failed-from {report}: not a clifkit test report")
