"""Lowering on the host and replaying in the worker (`clifkit.native.replay`).

In-process on this machine: a module lowered with `lower_for_worker` and
compiled with `compile_lowered` must behave exactly as `compile_module`'s:
the same results, the same functions refused with the same reasons. Through
the harness: the x86_64 worker replays when ``CLIFKIT_NATIVE_LOWER=host``, and
an emulated worker always does (its results are checked by
tests/test_emulation.py and the corpus).
"""

from __future__ import annotations

import ctypes
import sys

import pytest

cl = pytest.importorskip("cranelift")

from clifkit.native import replay  # noqa: E402
from clifkit.native.hostdata import Address, FunctionTable, SymbolicMemory  # noqa: E402
from clifkit.native.lower import NativeUnsupported, compile_lowered, compile_module, host_triple  # noqa: E402
from clifkit.native.worker import Worker  # noqa: E402

from test_native_lower import HOST, UNLOWERABLE, call, f32, functions  # noqa: E402

INFO = {"pointer_bytes": ctypes.sizeof(ctypes.c_void_p), "byteorder": sys.byteorder, "host_symbols": sorted(HOST)}

SRC = """
function %consts(i64) -> i64, f64, i8x16 {
    const0 = 0x0f0e0d0c0b0a09080706050403020100
block0(v0: i64):
    v1 = iconst.i64 -7
    v2 = imul v0, v1
    v3 = f64const -0x1.8p1
    v4 = vconst.i8x16 const0
    v5 = shuffle v4, v4, 0x1f1e1d1c1b1a19181716151413121110
    return v2, v3, v5
}
function %double(i64) -> i64 tail {
block0(v0: i64):
    v1 = iadd v0, v0
    return v1
}
function %calls(i64) -> i64 {
    sig0 = (i64) -> i64 tail
    fn0 = %double(i64) -> i64 tail
block0(v0: i64):
    v1 = call fn0(v0)
    v2 = func_addr.i64 fn0
    v3 = call_indirect sig0, v2(v1)
    return v3
}
function %libcalls(f32) -> f32, i64 {
    fn0 = %CeilF32(f32) -> f32
    fn1 = %FloorF32(f32) -> f32
block0(v0: f32):
    v1 = call fn0(v0)
    v2 = func_addr.i64 fn1
    v3 = icmp_imm ne v2, 0
    v4 = uextend.i64 v3
    return v1, v4
}
function %control(i32, i32) -> i32 {
    ss0 = explicit_slot 8, align = 64
block0(v0: i32, v1: i32):
    stack_store v1, ss0+4
    br_table v0, block3, [block1, block2]
block1:
    v2 = stack_load.i32 ss0+4
    jump block4(v2)
block2:
    v3 = udiv v1, v1
    jump block4(v3)
block3:
    v4 = iconst.i32 99
    jump block4(v4)
block4(v5: i32):
    return v5
}
function %order(i64) -> i32 {
    ss0 = explicit_slot 8
block0(v0: i64):
    v1 = stack_addr.i64 ss0
    store.i64 big v0, v1
    v2 = load.i32 little v1
    return v2
}
function %bad(i64, i128) -> i128 {
block0(v0: i64, v1: i128):
    v2 = atomic_rmw.i128 add v0, v1
    return v2
}
"""


SRC += UNLOWERABLE


def both():
    funcs = functions(SRC)
    direct = compile_module(funcs, host_symbols=HOST)
    lowered = replay.lower_for_worker(functions(SRC), INFO, host_triple())
    return direct, compile_lowered(lowered, host_symbols=HOST)


def test_a_replayed_module_computes_what_the_module_computes():
    direct, replayed = both()
    for name, args in [("%consts", (6,)), ("%calls", (5,)), ("%libcalls", (f32(1.25),)), ("%control", (0, 7)),
                       ("%control", (1, 7)), ("%control", (9, 7)), ("%order", (0x0102030405060708,))]:
        assert call(replayed, name, *args) == call(direct, name, *args), name
    assert call(replayed, "%calls", 5) == 20
    assert call(replayed, "%control", 9, 7) == 99


def test_a_replayed_module_refuses_what_the_module_refuses_with_the_same_reasons():
    direct, replayed = both()
    assert replayed.unsupported == direct.unsupported
    assert set(direct.unsupported) == {"%unknown", "%caller", "%dynamic", "%bad"}
    with pytest.raises(NativeUnsupported, match="atomic_rmw"):
        replayed.entry("%bad")
    assert replayed.report("%calls").callees == {"%double"}
    assert replayed.signature("%consts") == direct.signature("%consts")


def test_the_recording_is_plain_data_with_symbolic_addresses():
    lowered = replay.lower_for_worker(functions(SRC), INFO, host_triple())
    kinds = {spec[0] for spec in lowered["consts"]}
    assert {"lit", "addr", "type", "memflags", "sig"} <= kinds
    symbols = {spec[1][0] for spec in lowered["consts"] if spec[0] == "addr"}
    assert symbols == {"table", "const", "symbol", "libcall"}
    import pickle

    assert pickle.loads(pickle.dumps(lowered)) == lowered  # nothing but plain data
    entry = {e["name"]: e for e in lowered["functions"]}
    assert entry["%unknown"]["reason"] is not None and "body" not in entry["%unknown"]
    assert entry["%calls"]["callees"] == ["%double"]


def test_addresses_are_symbol_plus_offset():
    table = FunctionTable(SymbolicMemory(), ["%a", "%b"])
    assert table.slot("%b") == Address(("table",), 8)
    assert Address(("symbol", "x")) + 4 + 4 == Address(("symbol", "x"), 8)
    assert SymbolicMemory().constant(b"\1\2") == Address(("const", b"\1\2"))


@pytest.mark.parametrize("words", [(), ("notrap",), ("notrap", "aligned"), ("aligned", "readonly", "big"),
                                   ("int_divz", "little", "heap"), ("user5", "can_move", "checked", "vmctx"),
                                   ("notrap", "aligned", "readonly", "table")])
def test_memflags_round_trip(words):
    mf = cl.MemFlags()
    for w in words:
        mf.set_by_name(w)
    spec = replay.memflags_spec(mf)
    assert replay.memflags_spec(replay.materialize(("memflags",) + spec, None)) == spec


def test_the_target_decides_byte_order_and_conventions():
    ctx = replay.target_context(dict(INFO, byteorder="big"), "s390x-unknown-linux-gnu")
    assert ctx.byteorder == "big" and ctx.stack_align == 8 and ctx.vector_bits is None and ctx.symbolic
    ctx = replay.target_context(INFO, "x86_64-unknown-linux-gnu")
    assert ctx.vector_bits == frozenset({128}) and ctx.stack_align == 16


def test_big_endian_constants_are_swapped_for_the_target():
    """A vconst lowered for s390x holds each lane's bytes reversed (CLIF constants are
    little-endian lanes), whatever the host's byte order."""
    src = """
function %v() -> i16x8 {
block0:
    v0 = vconst.i16x8 [1 2 3 4 5 6 7 8]
    return v0
}
"""
    info = dict(INFO, byteorder="big")
    lowered = replay.lower_for_worker(functions(src), info, "s390x-unknown-linux-gnu")
    data = [spec[1][1] for spec in lowered["consts"] if spec[0] == "addr" and spec[1][0] == "const"]
    assert data == [b"".join(i.to_bytes(2, "big") for i in range(1, 9))]


def test_the_worker_never_reuses_a_module_lowered_from_ir():
    """Fuzz batches all have the same `source` placeholder: a load lowered from IR is compiled
    afresh even when its source and path equal the previous load's."""
    worker = Worker()
    first = functions(SRC)[:1]
    second = functions(SRC.replace("iconst.i64 -7", "iconst.i64 -8"))[:1]
    for funcs, expected in ((first, -42), (second, -48)):
        lowered = replay.lower_for_worker(funcs, dict(INFO, host_symbols=sorted(worker.hello()["host_symbols"])),
                                          host_triple())
        reply = worker.load({"op": "load", "source": "<batch>", "path": "<batch>", "triple": None, "flags": {},
                             "lowered": lowered, "from_ir": True})
        assert reply["ok"] and reply["functions"] == {"%consts": None}
        assert call(worker.module, "%consts", 6)[0] == expected & (2**64 - 1)


def test_the_harness_lowers_here_when_told(monkeypatch, tmp_path, capsys):
    from clifkit.cli import main as clifkit_main
    from clifkit.native import engine

    monkeypatch.setenv(engine.LOWER_ENV, "host")
    engine.close_workers()
    path = tmp_path / "t.clif"
    path.write_text("test run\n" + SRC.split("function %double")[0]
                    + "; run: %consts(6) == [-42, -0x1.8p1, [0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15]]\n")
    assert clifkit_main(["test", "-j1", "--engine", "native", str(path)]) == 0
    assert "1 passed" in capsys.readouterr().out
    assert [c for c in engine._CLIENTS.values() if c.lowered is not None], "the file was lowered here"


def test_trampolines_are_compiled_when_first_wanted():
    """A replayed module compiles a function's trampoline when its entry is first asked for: a
    function only called by others (most of a fuzz batch) never needs one."""
    _, replayed = both()
    assert replayed.lazy_entries
    assert not replayed._entries
    assert call(replayed, "%calls", 5) == 20
    assert "%calls" in replayed._entries
    assert "%double" not in replayed._entries and replayed._compiled["%double"].tramp is not None


SAME_SIGNATURE = """
function %plus(i64, i64) -> i64 {
block0(v0: i64, v1: i64):
    v2 = iadd v0, v1
    return v2
}
function %minus(i64, i64) -> i64 {
block0(v0: i64, v1: i64):
    v2 = isub v0, v1
    return v2
}
function %neg(i64) -> i64 {
block0(v0: i64):
    v1 = ineg v0
    return v1
}
"""


def test_one_trampoline_per_signature_for_all_replayed_modules():
    """Functions of one signature share a trampoline (it takes the callee's address), recorded
    once per file and compiled once for every module of the ISA the worker loads."""
    from clifkit.native import lower

    lowered = replay.lower_for_worker(functions(SAME_SIGNATURE), INFO, host_triple())
    assert len(lowered["units"]) == 3 + 2  # three functions, two signatures
    scope = ("test-scope",)  # trampolines kept apart from other tests' modules
    modules = []
    for _ in range(2):
        mod = compile_lowered(lowered, host_symbols=HOST)
        mod._tramp_scope = scope
        modules.append(mod)
        assert call(mod, "%plus", 5, 3) == 8 and call(mod, "%minus", 5, 3) == 2 and call(mod, "%neg", 5) == -5 & (2**64 - 1)
    first, second = modules
    assert first.entry("%plus") == first.entry("%minus") != first.entry("%neg")
    assert second.entry("%plus") == first.entry("%plus") and second.entry("%neg") == first.entry("%neg")
    assert len(lower._TRAMPOLINES.pop(scope).entries) == 2


def test_the_worker_runs_a_replayed_module():
    worker = Worker()
    info = dict(INFO, host_symbols=worker.hello()["host_symbols"])
    lowered = replay.lower_for_worker(functions(SRC), info, host_triple())
    reply = worker.load({"op": "load", "source": SRC, "path": "<t>", "triple": None, "flags": {}, "lowered": lowered})
    assert reply["ok"] and reply["functions"]["%calls"] is None and "atomic_rmw" in reply["functions"]["%bad"]
    out = worker.run([{"function": "%calls", "args": [5], "env": None, "line": 1},
                      {"function": "%bad", "args": [0, 0], "env": None, "line": 2},
                      {"function": "%control", "args": [1, 0], "env": None, "line": 3},
                      {"function": "%calls", "args": [1], "env": None, "line": 4}], 30.0, "batch")
    assert [r["kind"] for r in out["results"]] == ["returned", "skipped", "trapped", "returned"]
    assert out["results"][0]["values"] == [20] and out["results"][2]["code"] == "int_divz"
    assert out["results"][3]["values"] == [4]
    # A request answered without running code does not end the batch's child: one fork for all.
    assert out["children"] == 1
