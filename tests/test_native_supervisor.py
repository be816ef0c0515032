"""The native worker's supervisor and its executor (`clifkit.native.supervisor`).

In-process on this machine: a `Supervisor` over a real `Worker`, as the worker process runs it.
One executor compiles and runs module after module; a crash, a timeout or a death ends it, the
run line it was running gets the result a forked child's would, and a new executor compiles the
module again for the rest of the batch.
"""

from __future__ import annotations

import pickle

import pytest

from support import needs_native
from test_native_memory_guarantees import BACKENDS, _runs

pytest.importorskip("cranelift")

from clifkit.native.supervisor import Supervisor  # noqa: E402
from clifkit.native.worker import Worker  # noqa: E402

SRC = """test run
target x86_64

function %id(i64) -> i64 {
block0(v0: i64):
    return v0
}

function %wild(i64) -> i64 {
block0(v0: i64):
    v1 = load.i64 v0
    return v1
}

function %spin(i64) -> i64 {
block0(v0: i64):
    jump block1

block1:
    jump block1
}

function %div(i64, i64) -> i64 {
block0(v0: i64, v1: i64):
    v2 = udiv v0, v1
    return v2
}
"""

OTHER = """test run
target x86_64

function %id(i64) -> i64 {
block0(v0: i64):
    v1 = iadd_imm v0, 100
    return v1
}
"""

STATIC = """test run
target x86_64

function %plain(i32) -> i32 {
block0(v0: i32):
    v1 = iadd_imm v0, 1
    return v1
}

function %s(i64 vmctx, i32) -> i32 {
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
    heap0 = static gv1, min 0x1_0000, bound 0x1_0000_0000, offset_guard 0x8000_0000, index_type i32

block0(v0: i64, v1: i32):
    v2 = heap_load.i32 heap0 v1
    return v2
}
; heap: static, size=0x10000, ptr=vmctx+0, bound=vmctx+8, max=0x2000000
"""


def _load(sup: Supervisor, source: str) -> dict:
    return sup.handle({"op": "load", "path": "<t>", "source": source, "triple": None, "flags": {}})


def _run(sup: Supervisor, calls: list, timeout=30.0) -> dict:
    requests = [{"function": f, "args": args, "env": None, "line": n} for n, (f, args) in enumerate(calls, 1)]
    return sup.handle({"op": "run", "requests": requests, "timeout": timeout, "isolation": "batch"})


@pytest.fixture
def sup():
    s = Supervisor(Worker())
    yield s
    s.close()


@needs_native
def test_one_executor_compiles_and_runs_module_after_module(sup):
    assert _load(sup, SRC)["ok"]
    executor = sup.pid
    out = _run(sup, [("%id", [7]), ("%div", [7, 0]), ("%div", [9, 3])])
    assert [r["kind"] for r in out["results"]] == ["returned", "trapped", "returned"]
    assert out["results"][0]["values"] == [7] and out["results"][2]["values"] == [3]
    assert out["children"] == 1
    assert _load(sup, OTHER)["ok"]
    out = _run(sup, [("%id", [7])])
    assert out["results"][0]["values"] == [107] and sup.pid == executor  # the same process


@needs_native
def test_a_crash_ends_the_executor_and_a_new_one_runs_the_rest_of_the_batch(sup):
    assert _load(sup, SRC)["ok"]
    first = sup.pid
    out = _run(sup, [("%id", [1]), ("%wild", [8]), ("%id", [2]), ("%div", [1, 0])])
    kinds = [r["kind"] for r in out["results"]]
    assert kinds == ["returned", "crashed", "returned", "trapped"], out
    assert out["results"][1]["signame"] == "SIGSEGV" and out["results"][2]["values"] == [2]
    assert out["children"] == 2 and sup.pid not in (None, first)


@needs_native
def test_a_timeout_kills_the_executor_and_the_module_is_compiled_again(sup):
    assert _load(sup, SRC)["ok"]
    first = sup.pid
    out = _run(sup, [("%spin", [0]), ("%id", [3])], timeout=1.0)
    assert [r["kind"] for r in out["results"]] == ["timeout", "returned"]
    assert out["results"][1]["values"] == [3] and out["children"] == 2 and sup.pid != first
    # A later run needs no load: the new executor holds the module.
    assert _run(sup, [("%id", [4])])["results"][0]["values"] == [4]


@needs_native
def test_an_executor_that_died_between_runs_is_replaced_with_the_module(sup):
    import os
    import signal

    assert _load(sup, OTHER)["ok"]
    dead = sup.pid
    os.kill(dead, signal.SIGKILL)
    os.waitid(os.P_PID, dead, os.WEXITED | os.WNOWAIT)  # (it is gone before the run is sent)
    out = _run(sup, [("%id", [1]), ("%id", [2])])
    # Nothing it ran is blamed: a new executor compiles the module again and runs the batch.
    assert [r["values"] for r in out["results"]] == [[101], [102]] and sup.pid != dead


@needs_native
def test_call_isolation_gives_each_request_a_child(sup):
    assert _load(sup, SRC)["ok"]
    requests = [{"function": "%wild", "args": [8], "env": None, "line": 1},
                {"function": "%id", "args": [5], "env": None, "line": 2}]
    out = sup.handle({"op": "run", "requests": requests, "timeout": 30.0, "isolation": "call"})
    assert [r["kind"] for r in out["results"]] == ["crashed", "returned"] and out["children"] == 2


@needs_native
def test_the_payload_of_a_load_is_read_by_the_executor(sup):
    from clifkit.reader import parse_text

    functions = [d.function for d in parse_text(OTHER).functions]
    reply = sup.handle({"op": "load", "path": "<ir>", "source": "", "triple": None, "flags": {},
                        "payload": pickle.dumps({"functions": functions})})
    assert reply["ok"] and reply["functions"] == {"%id": None}
    assert _run(sup, [("%id", [1])])["results"][0]["values"] == [101]


@needs_native
def test_an_executor_retires_after_its_loads_and_the_next_one_takes_over(sup, monkeypatch):
    from clifkit.native import supervisor

    monkeypatch.setattr(supervisor, "EXECUTOR_MAX_LOADS", 2)
    pids = []
    for k in range(5):
        assert _load(sup, OTHER if k % 2 else SRC)["ok"]
        out = _run(sup, [("%id", [k])])
        assert out["results"][0]["values"] == [k + 100 if k % 2 else k]
        pids.append(sup.pid)
    assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]


@needs_native
def test_setting_up_a_batch_is_not_timed_as_its_first_run_line(sup, monkeypatch):
    # Compiling the batch's trampolines and reserving its large mappings took, under QEMU, longer
    # than a short --timeout: the first run line was killed as "ran longer than", and so was the
    # first of what was left, in every new executor, until the rest compiled in time.
    import time

    slow = Worker._prepare_entries

    def prepare(self, requests):
        time.sleep(1.0)
        return slow(self, requests)

    monkeypatch.setattr(Worker, "_prepare_entries", prepare)
    assert _load(sup, SRC)["ok"]
    executor = sup.pid
    out = _run(sup, [("%id", [1]), ("%spin", [0]), ("%id", [2])], timeout=0.5)
    assert [r["kind"] for r in out["results"]] == ["returned", "timeout", "returned"], out
    assert sup.pid != executor and out["children"] == 2


@needs_native
def test_a_batch_compiles_its_module_again_once_however_many_of_its_run_lines_crash(sup, monkeypatch, tmp_path):
    # Each crash used to cost a new executor and a compile of the whole module (60 crashing run
    # lines of a 150-function file: 11.5 s on x86_64 against 0.7 s with a child per batch). After
    # the first, the new executor forks a child for the rest, which a crash ends alone.
    import os

    compiles = tmp_path / "compiles"
    real = Worker._load

    def counted(self, *args):
        with open(compiles, "a") as f:  # (from whichever process compiles)
            f.write(f"{os.getpid()}\n")
        return real(self, *args)

    monkeypatch.setattr(Worker, "_load", counted)
    assert _load(sup, SRC)["ok"]
    calls = [("%wild", [8]), ("%id", [1]), ("%wild", [16]), ("%div", [1, 0]), ("%wild", [24]), ("%spin", [0]),
             ("%id", [2])]
    out = _run(sup, calls, timeout=1.0)
    kinds = [r["kind"] for r in out["results"]]
    assert kinds == ["crashed", "returned", "crashed", "trapped", "crashed", "timeout", "returned"], out
    assert [out["results"][k]["address"] for k in (0, 2, 4)] == [8, 16, 24]
    assert out["results"][1]["values"] == [1] and out["results"][6]["values"] == [2]
    assert len(compiles.read_text().split()) == 2
    # The executor that ran the rest in children goes on running batches itself.
    executor = sup.pid
    out = _run(sup, [("%id", [5]), ("%div", [4, 2])])
    assert [r["values"] for r in out["results"]] == [[5], [2]] and sup.pid == executor
    assert len(compiles.read_text().split()) == 2


MIX = """test run
target {arch}

function %wild(i64) -> i64 {{
block0(v0: i64):
    v1 = load.i64 v0
    return v1
}}

function %rec(i64) -> i64 {{
    fn0 = %rec(i64) -> i64
block0(v0: i64):
    v1 = iadd_imm v0, 1
    v2 = call fn0(v1)
    return v2
}}

function %spin(i64) -> i64 {{
block0(v0: i64):
    jump block1
block1:
    jump block1
}}

function %div(i64, i64) -> i64 {{
block0(v0: i64, v1: i64):
    v2 = sdiv v0, v1
    return v2
}}
; run: %div(6, 3) == 2
; run: %wild(0x10) == 0
; run: %rec(0) == trap stk_ovf
; run: %wild(0x20) == 0
; run: %div(7, 0) == trap int_divz
; run: %spin(0) == 0
; run: %div(-8, 2) == -4
; run: %wild(0x30) == 0
; run: %rec(5) == trap stk_ovf
; run: %div(9, 3) == 3
"""


@pytest.mark.parametrize("arch", BACKENDS)
def test_crashes_traps_and_a_timeout_in_one_batch_answer_for_their_own_run_lines(arch, tmp_path, capsys):
    # The first crash ends the executor; a new one runs the rest in forked children, where the
    # next crashes, the timeout and the traps that follow must land on their own lines.
    runs, out = _runs(tmp_path, capsys, MIX.format(arch=arch), "--timeout", "2")
    got = {r["line"]: r["status"] for r in runs if r["target"] == arch}
    first = min(got)
    assert [got[first + k] for k in range(10)] == [
        "passed", "failed", "passed", "failed", "passed", "timeout", "passed", "failed", "passed", "passed"], out
    crashes = [r["message"] for r in runs if r["status"] == "failed"]
    assert all("crashed with SIGSEGV" in m for m in crashes) and len(crashes) == 3, out


@needs_native
def test_a_mapping_that_cannot_be_kept_spare_fails_only_the_run_lines_that_need_it(sup, monkeypatch):
    # Reserving a batch's large mappings ahead (`keep_spares`) is an economy: under `ulimit -v` it
    # failed, and with it every run line of the file, those that map nothing included.
    import clifkit
    from clifkit.native import memory
    from clifkit.native.memory import environment_to_wire

    source = STATIC
    real = memory._reserve

    def reserve(length):
        if length >= memory.RECYCLE_MIN:
            raise memory.MappingError(12, f"cannot reserve 0x{length:x} bytes of address space")
        return real(length)

    monkeypatch.setattr(memory, "_reserve", reserve)
    monkeypatch.setattr(memory, "_spares", {})
    with clifkit.load(source) as program:
        env = environment_to_wire(program.environment("%s"))
    assert _load(sup, source)["ok"]
    requests = [{"function": "%plain", "args": [1], "env": None, "line": 1},
                {"function": "%s", "args": [0], "env": env, "line": 2},
                {"function": "%plain", "args": [2], "env": None, "line": 3}]
    out = sup.handle({"op": "run", "requests": requests, "timeout": 30.0, "isolation": "batch"})
    kinds = [r["kind"] for r in out["results"]]
    assert kinds == ["returned", "error", "returned"], out
    assert "cannot reserve" in out["results"][1]["message"]


@needs_native
def test_a_crash_while_the_executor_sets_a_batch_up_fails_that_batch_not_an_earlier_run_line(sup, monkeypatch):
    import ctypes

    assert _load(sup, SRC)["ok"]
    assert _run(sup, [("%id", [1])])["results"][0]["values"] == [1]  # the executor's last request was 0
    real = Worker._prepare_entries

    def crash(self, requests):
        ctypes.string_at(8)  # a fault of the executor's own code, outside any run line

    sup.close()  # the next executor is forked with the crashing setup
    monkeypatch.setattr(Worker, "_prepare_entries", crash)
    out = _run(sup, [("%id", [2]), ("%id", [3])])
    assert [r["kind"] for r in out["results"]] == ["error", "error"]
    assert all("crashed while setting the batch up (SIGSEGV)" in r["message"] for r in out["results"]), out
    monkeypatch.setattr(Worker, "_prepare_entries", real)
    sup.close()
    assert _run(sup, [("%id", [4])])["results"][0]["values"] == [4]


PRELOADED = """
import sys
from clifkit.native.supervisor import Supervisor
from clifkit.native.worker import Worker
from clifkit.native import compat

sup = Supervisor(Worker())
assert "clifkit.native.translate" not in sys.modules and "clifkit.reader" not in sys.modules
reply = sup.handle({"op": "load", "path": "<t>", "source": SOURCE, "triple": None, "flags": {}})
assert reply["ok"], reply
print(sorted(m for m in ("clifkit.native.translate", "clifkit.native.legalize", "clifkit.reader") if m in sys.modules),
      sorted(compat._cache))
sup.close()
"""


@needs_native
def test_the_supervisor_imports_what_its_executors_would_before_forking_them():
    """What compiling a file imports (the lowering, the reader) and the binding's condition-code
    and atomic-op types are found once in the supervisor, not again by every executor forked
    after a crash."""
    import subprocess
    import sys

    code = f"SOURCE = {SRC!r}\n" + PRELOADED
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[0] == ("['clifkit.native.legalize', 'clifkit.native.translate', 'clifkit.reader'] "
                                         "['AtomicRmwOp', 'FloatCC', 'IntCC']")


@needs_native
def test_only_an_executor_freezes_what_a_load_leaves():
    """An executor's load freezes what it keeps (the module's IR) out of the collector's walks;
    a worker used in another process (a harness's, this one) never freezes anything."""
    import gc

    assert gc.get_freeze_count() == 0
    worker = Worker()
    msg = {"op": "load", "path": "<t>", "source": SRC, "triple": None, "flags": {}}
    try:
        assert worker.load(msg)["ok"] and gc.get_freeze_count() == 0
        worker.freezes = True  # (as `supervisor.serve` sets it in an executor)
        assert worker.load(dict(msg, source=OTHER))["ok"]
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


@needs_native
def test_garbage_left_between_an_executors_loads_is_collected_not_frozen():
    """A cycle a run line leaves (garbage no collection met yet) must not be frozen by the next
    load with what that load keeps: each load thaws and freezes again with no collection in
    between, so it would stay frozen, and uncollected, for the executor's life."""
    import gc
    import weakref

    class Node:
        pass

    worker = Worker()
    worker.freezes = True
    msg = {"op": "load", "path": "<t>", "source": SRC, "triple": None, "flags": {}}
    try:
        assert worker.load(msg)["ok"]
        node = Node()
        node.me = node
        ref = weakref.ref(node)
        del node
        assert worker.load(dict(msg, source=OTHER))["ok"]
        gc.collect()  # (a collection does not look at frozen objects)
        assert ref() is None
    finally:
        gc.unfreeze()


def test_old_garbage_frozen_by_an_executors_loads_is_freed_by_its_periodic_full_collection(monkeypatch):
    """A cycle that reached the oldest generation before it became garbage is past the young
    collection each load makes, so a load freezes it again; the full collection every
    FULL_COLLECT_EVERY loads, after the thaw, frees it."""
    import gc
    import weakref

    from clifkit.native import worker as worker_module

    class Node:
        pass

    monkeypatch.setattr(worker_module, "FULL_COLLECT_EVERY", 3)
    worker = Worker()
    worker.freezes = True
    msg = {"op": "load", "path": "<t>", "source": SRC, "triple": None, "flags": {}}
    try:
        assert worker.load(msg)["ok"]  # load 1
        node = Node()
        node.me = node
        ref = weakref.ref(node)
        gc.collect()  # (alive: it survives into the oldest generation)
        del node
        assert worker.load(dict(msg, source=OTHER))["ok"]  # load 2: young collection only, frozen again
        gc.collect()  # (a collection does not look at frozen objects)
        assert ref() is not None
        assert worker.load(msg)["ok"]  # load 3: the full collection after the thaw
        assert ref() is None
    finally:
        gc.unfreeze()
