"""Byte order on every engine (docs/heaps.md, "Byte order").

- ``heap_load``/``heap_store`` honour ``big``/``little`` natively, as plain loads and stores do;
- a vector's lane i is at byte i × lane size, each lane in the access's byte order, for plain
  and heap accesses alike (Cranelift's s390x lowering);
- the interpreter runs in its target's byte order: accesses without a flag, stack slots and the
  vmctx slots use it, so `--compare` agrees on s390x.

Each shape runs natively on x86_64 and under QEMU on aarch64 and s390x with `--compare`, and on
the interpreter in both byte orders.
"""

from __future__ import annotations

import sys

import pytest

from clifkit.interpreter import Interpreter
from clifkit.reader import parse_text
from clifkit.environment.byteorder import file_byteorder, target_byteorder
from support import needs_emulation, needs_native


HEAP = """    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
    heap0 = static gv1, min 0x1000, bound 0x1_0000_0000, offset_guard 0x8000_0000, index_type i64"""
DIRECTIVE = "; heap: static, size=0x10000, ptr=vmctx+0, bound=vmctx+8"

# Shapes whose results do not depend on the target: every access names its byte order
# (an i8x16 access reads bytes, the same in either order).
FLAGGED = f"""
function %heap_scalar(i64 vmctx, i64, i32) -> i32, i32, i32, i32 {{
{HEAP}
block0(v0: i64, v1: i64, v2: i32):
    heap_store heap0 big v1, v2
    v3 = heap_addr.i64 heap0, v1, 0, 8
    v4 = load.i32 little v3
    v5 = heap_load.i32 heap0 big v1
    heap_store heap0 little v1+4, v2
    v6 = load.i32 big v3+4
    v7 = heap_load.i32 heap0 little v1+4
    return v4, v5, v6, v7
}}
{DIRECTIVE}
; run: %heap_scalar(8, 0x11223344) == [0x44332211, 0x11223344, 0x44332211, 0x11223344]

function %vec_loads(i64 vmctx, i64) -> i32x4, i32x4, i32x4, i32x4 {{
{HEAP}
block0(v0: i64, v1: i64):
    v2 = vconst.i8x16 [1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16]
    heap_store heap0 v1, v2
    v3 = heap_addr.i64 heap0, v1, 0, 16
    v4 = load.i32x4 little v3
    v5 = load.i32x4 big v3
    v6 = heap_load.i32x4 heap0 little v1
    v7 = heap_load.i32x4 heap0 big v1
    return v4, v5, v6, v7
}}
{DIRECTIVE}
; run: %vec_loads(16) == [[0x04030201 0x08070605 0x0c0b0a09 0x100f0e0d], [0x01020304 0x05060708 0x090a0b0c 0x0d0e0f10], [0x04030201 0x08070605 0x0c0b0a09 0x100f0e0d], [0x01020304 0x05060708 0x090a0b0c 0x0d0e0f10]]

function %vec_stores(i64 vmctx, i64, i16x8) -> i8x16, i8x16, i8x16, i8x16 {{
{HEAP}
block0(v0: i64, v1: i64, v2: i16x8):
    v3 = heap_addr.i64 heap0, v1, 0, 64
    store little v2, v3
    store big v2, v3+16
    heap_store heap0 little v1+32, v2
    heap_store heap0 big v1+48, v2
    v4 = load.i8x16 v3
    v5 = load.i8x16 v3+16
    v6 = heap_load.i8x16 heap0 v1+32
    v7 = heap_load.i8x16 heap0 v1+48
    return v4, v5, v6, v7
}}
{DIRECTIVE}
; run: %vec_stores(0, [0x0102 0x0304 0x0506 0x0708 0x090a 0x0b0c 0x0d0e 0x0f10]) == [[2 1 4 3 6 5 8 7 10 9 12 11 14 13 16 15], [1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16], [2 1 4 3 6 5 8 7 10 9 12 11 14 13 16 15], [1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16]]

function %vec_float(f64x2) -> f64x2, i64x2, f32x4 {{
    ss0 = explicit_slot 32
block0(v0: f64x2):
    v1 = stack_addr.i64 ss0
    store big v0, v1
    v2 = load.f64x2 big v1
    v3 = load.i64x2 little v1
    v4 = vconst.i32x4 [0x3f800000 0x40000000 0x40400000 0x40800000]
    store little v4, v1+16
    v5 = load.f32x4 little v1+16
    return v2, v3, v5
}}
; run: %vec_float([0x1.0p0 -0x1.8p1]) == [[0x1.0p0 -0x1.8p1], [0x000000000000f03f 0x00000000000008c0], [0x1.0p0 0x1.0p1 0x1.8p1 0x1.0p2]]
"""

# Accesses without a flag: the target's byte order (stack slots, vmctx slots, plain loads).
UNFLAGGED = """
function %unflagged(i64 vmctx, i32) -> i8, i8, i32, i16x8 {
    ss0 = explicit_slot 32
block0(v0: i64, v1: i32):
    stack_store v1, ss0
    v2 = stack_load.i8 ss0
    v3 = uload8.i32 v0+8
    v4 = ireduce.i8 v3
    v5 = stack_addr.i64 ss0
    v6 = load.i32 little v5
    v7 = iconst.i64 0x0102030405060708
    store big v7, v5+16
    v8 = uload8x8 v5+16
    return v2, v4, v6, v8
}
; heap: dynamic, size=0x1234, ptr=vmctx+0, bound=vmctx+8
; run: %unflagged(0x11223344) == [{first}, {slot}, {swapped}, [1 2 3 4 5 6 7 8]]
"""
ORDER_CASES = {
    "little": {"first": "0x44", "slot": "0x34", "swapped": "0x11223344"},
    "big": {"first": "0x11", "slot": "0", "swapped": "0x44332211"},
}


def _source(header: str, order: str) -> str:
    text = UNFLAGGED
    for key, value in ORDER_CASES[order].items():
        text = text.replace("{%s}" % key, value)
    return header + "\n" + FLAGGED + text


RUN_LINES = 5

ARCHES = [pytest.param("x86_64", marks=needs_native), pytest.param("aarch64", marks=needs_emulation("aarch64")),
          pytest.param("s390x", marks=needs_emulation("s390x"))]


@pytest.mark.parametrize("arch", ARCHES)
def test_native_agrees_with_the_interpreter(arch, clifkit_test):
    """Every shape passes natively and `--compare` finds no disagreement (the interpreter runs in
    the target's byte order: on s390x, the unflagged shape compares big-endian results)."""
    _, out, runs = clifkit_test(_source(f"test run\ntarget {arch}", target_byteorder(arch)), "--compare")
    assert len(runs) == RUN_LINES and all(r["status"] == "passed" and r["target"] == arch for r in runs), out


@pytest.mark.parametrize("header,order", [
    ("test interpret\ntarget s390x", "big"),
    ("test interpret\ntarget s390x\ntarget s390x has_mie2", "big"),
    ("test interpret\ntarget x86_64\ntarget aarch64", "little"),
    ("test interpret", "little"),
    ("test interpret\ntarget x86_64\ntarget s390x", "little"),  # the targets disagree
])
def test_the_interpreter_runs_in_its_files_byte_order(header, order, clifkit_test):
    _, out, runs = clifkit_test(_source(header, order), "--engine", "interpreter")
    assert len(runs) == RUN_LINES and all(r["status"] == "passed" for r in runs), out
    # ... and the other order's expectations fail on the unflagged line alone.
    other = "little" if order == "big" else "big"
    _, out, runs = clifkit_test(_source(header, other), "--engine", "interpreter")
    assert [r["function"] for r in runs if r["status"] == "failed"] == ["%unflagged"], out


def test_interpret_all_runs_a_test_run_file_in_its_targets_order(clifkit_test):
    _, out, runs = clifkit_test(_source("test run\ntarget s390x", "big"), "--engine", "interpreter",
                                "--interpret-all")
    assert len(runs) == RUN_LINES and all(r["status"] == "passed" for r in runs), out


def test_interpreter_byteorder_argument():
    tf = parse_text("""
function %f(i32) -> i8, i32 {
    ss0 = explicit_slot 4
block0(v0: i32):
    stack_store v0, ss0
    v1 = stack_load.i8 ss0
    v2 = bitcast.i32 v0
    return v1, v2
}
""")
    functions = [d.function for d in tf.functions]
    assert Interpreter(functions).call("%f", [0x11223344]) == [0x44, 0x11223344]
    assert Interpreter(functions, byteorder="big").call("%f", [0x11223344]) == [0x11, 0x11223344]
    with pytest.raises(ValueError, match="byteorder"):
        Interpreter(functions, byteorder="middle")


def test_target_byte_orders():
    assert target_byteorder("s390x has_mie2") == "big"
    assert target_byteorder("s390x-unknown-linux-gnu") == "big"
    assert target_byteorder("pulley64be") == "big"
    assert target_byteorder("x86_64 has_avx") == target_byteorder("aarch64") == "little"
    assert target_byteorder(None) == sys.byteorder
    assert file_byteorder([]) == "little"
    assert file_byteorder(["s390x", "s390x has_mie2"]) == "big"
    assert file_byteorder(["s390x", "x86_64"]) == "little"


def test_flags_without_their_byte_order_are_made_once():
    pytest.importorskip("cranelift")
    from clifkit.ir.memflags import MemFlags
    from clifkit.native.byteorder import _without_order

    big = MemFlags(endianness="big", aligned=True)
    plain = _without_order(big)
    assert plain == MemFlags(aligned=True) and plain.endianness is None
    assert _without_order(MemFlags(endianness="big", aligned=True)) is plain
