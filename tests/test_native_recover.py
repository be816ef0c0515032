"""After a trap, the native worker's executor goes on with its next request (`native/recover.py`).

One batch of run lines with traps of every kind (an explicit trap, a division by zero, a
guard-page heap_oob, a stack overflow) between lines that return: every line gets its
expected outcome, and the whole batch runs in one process (the executor). Without the recovery
(`CLIFKIT_NATIVE_NO_RECOVERY=1`) each trap ends the process that runs it, so the same batch
needs one more per trap, and gives the same outcomes. On x86_64 natively and on aarch64 and s390x under QEMU.
"""

from __future__ import annotations

import json

import pytest

from clifkit.cli import main as clifkit_main
from clifkit.native import engine as native_engine
from clifkit.native.faults import NO_RECOVERY_ENV

from test_emulation import needs_emulation
from test_native_engine import FAULTS, needs_native

HEAP = """
function %store_then_load(i64 vmctx, i32, i32) -> i32 {
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
    heap0 = static gv1, min 0x1_0000, bound 0x1_0000_0000, offset_guard 0x8000_0000, index_type i32

block0(v0: i64, v1: i32, v2: i32):
    v3 = heap_addr.i64 heap0, v1, 0, 4
    store.i32 little v2, v3
    v4 = load.i32 little v3
    return v4
}
; heap: static, size=0x10000, ptr=vmctx+0, bound=vmctx+8
; run: %store_then_load(0, 42) == 42
; run: %store_then_load(0x10000, 1) == trap heap_oob
; run: %store_then_load(0xfffc, -7) == -7
"""


def _traps(arch: str) -> str:
    """The heap accesses above, then test_native_engine's FAULTS but its crash (%ok, an explicit
    trap, a division by zero, a stack overflow, %after), for `arch`."""
    rest = FAULTS.split("; run: %null() == 0\n", 1)[1]
    return f"test run\ntarget {arch}\n{HEAP}{rest}"


TRAP_LINES = 4

ARCHES = [pytest.param("x86_64", marks=needs_native), pytest.param("aarch64", marks=needs_emulation("aarch64")),
          pytest.param("s390x", marks=needs_emulation("s390x"))]


def _run(tmp_path, capsys, monkeypatch, arch: str) -> tuple[list[dict], int]:
    """Every run line's status, and the children the worker forked for them."""
    path = tmp_path / f"traps-{arch}.clif"
    path.write_text(_traps(arch))
    children = []
    real = native_engine.WorkerClient.request

    def spy(self, msg, timeout=None):
        reply = real(self, msg, timeout)
        if msg.get("op") == "run":
            children.append(reply.get("children", 0))
        return reply

    monkeypatch.setattr(native_engine.WorkerClient, "request", spy)
    report = tmp_path / "report.json"
    native_engine.close_workers()  # a worker started with this test's environment
    try:
        clifkit_main(["test", "-j1", "--engine", "native", "--json", str(report), str(path)])
    finally:
        native_engine.close_workers()
    out = capsys.readouterr().out
    runs = [r for f in json.loads(report.read_text())["files"] for r in f["runs"]]
    assert len(runs) == 9 and all(r["status"] == "passed" for r in runs), (out, runs)
    return runs, sum(children)


@pytest.mark.parametrize("arch", ARCHES)
def test_a_batch_with_traps_runs_in_one_child(arch, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(NO_RECOVERY_ENV, raising=False)
    _runs, children = _run(tmp_path, capsys, monkeypatch, arch)
    assert children == 1


@pytest.mark.parametrize("arch", ARCHES)
def test_without_recovery_each_trap_ends_its_child(arch, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(NO_RECOVERY_ENV, "1")
    _runs, children = _run(tmp_path, capsys, monkeypatch, arch)
    assert children == 1 + TRAP_LINES
