"""The address space (Memory, Environment, frames) and the memory instructions on it."""

from __future__ import annotations

import struct

import pytest

from clifkit.interpreter import Environment, Interpreter, Trap, compiler
from clifkit.interpreter.machine import Machine
from clifkit.interpreter.memory import ENV_BASE, PAGE_SIZE, STACK_TOP, Memory
from clifkit.ir.memflags import MemFlags
from clifkit.ir.types import F32, F64, I8, I16, I32, I64, I128, Type

from test_interpreter import FB


pytestmark = pytest.mark.usefixtures("both_code_shapes")

I32X4 = Type.get("i", 32, 4)
I16X8 = Type.get("i", 16, 8)
I64X2 = Type.get("i", 64, 2)
I8X8 = Type.get("i", 8, 8)

# -- Memory --------------------------------------------------------------------------------


def test_map_rejects_overlaps():
    m = Memory()
    m.map(0x10000, 0x1000, "a")
    m.map(0x11000, 0x1000, "b")  # adjacent is fine
    for base, size in ((0x10800, 0x10), (0xF000, 0x1001), (0x11FFF, 2), (0x8000, 0x10000)):
        with pytest.raises(ValueError):
            m.map(base, size, "c")
    with pytest.raises(ValueError):
        m.map(1 << 64, 16)


def test_read_write_across_pages_and_edges():
    m = Memory()
    base = 0x10000 + 100  # not page aligned: both end pages are edge pages
    m.map(base, 3 * PAGE_SIZE, "r")
    data = bytes(range(256)) * 48
    m.write(base, data[: 3 * PAGE_SIZE])
    assert m.read(base, 3 * PAGE_SIZE) == data[: 3 * PAGE_SIZE]
    assert m.read(base + PAGE_SIZE - 150, 300) == data[PAGE_SIZE - 150 : PAGE_SIZE + 150]
    end = base + 3 * PAGE_SIZE
    assert m.read(end - 8, 8) == data[3 * PAGE_SIZE - 8 : 3 * PAGE_SIZE]
    for addr, n in ((end - 7, 8), (end, 1), (base - 1, 1), (base - 1, 2), (0, 1), ((1 << 64) - 4, 8)):
        with pytest.raises(Trap) as e:
            m.read(addr, n)
        assert e.value.code == "heap_oob"
    with pytest.raises(Trap) as e:
        m.write(end - 1, b"xy", code="user3")
    assert e.value.code == "user3"
    # fast pages only for pages wholly inside the region
    assert all((p << 12) >= base and (p + 1) << 12 <= end for p in m.pages)


def test_sparse_four_gib_region():
    m = Memory()
    m.map(ENV_BASE, 1 << 32, "heap")
    assert m.resident_bytes == 0
    m.store(ENV_BASE + (1 << 32) - 8, 8, 0x1122334455667788, False, "heap_oob", 0)
    m.store(ENV_BASE, 4, 0xAABBCCDD, True, "heap_oob", 0)
    assert m.load(ENV_BASE + (1 << 32) - 8, 8, False, "heap_oob", 0) == 0x1122334455667788
    assert m.read(ENV_BASE, 4) == b"\xaa\xbb\xcc\xdd"
    assert m.load(ENV_BASE + 12345678, 8, False, "heap_oob", 0) == 0  # untouched: zero
    assert m.resident_bytes <= 3 * PAGE_SIZE
    with pytest.raises(Trap):
        m.load(ENV_BASE + (1 << 32) - 4, 8, False, "heap_oob", 0)


def test_alignment_trap():
    m = Memory()
    m.map(0x10000, PAGE_SIZE)
    m.store(0x10008, 8, 1, False, "heap_oob", 8)
    with pytest.raises(Trap) as e:
        m.store(0x10004, 8, 1, False, "heap_oob", 8)
    assert e.value.code == "heap_misaligned"


def test_fill():
    m = Memory()
    m.map(0x10000, 3 * PAGE_SIZE)
    m.fill(0x10000 + 10, 0xAB, 2 * PAGE_SIZE)
    assert m.read(0x10000 + 8, 4) == b"\0\0\xab\xab"
    assert m.read(0x10000 + 10 + 2 * PAGE_SIZE - 2, 4) == b"\xab\xab\0\0"
    m.fill(0x10000, 0, 3 * PAGE_SIZE)
    assert m.read(0x10000 + 100, 1) == b"\0"


def test_environment_regions_symbols_and_fresh_copies():
    env = Environment()
    a = env.map(100, "a", data=b"hello")
    b = env.map(1 << 32, "heap")
    assert a >= ENV_BASE and b >= a + 100 + PAGE_SIZE  # an unmapped gap between regions
    env.define_symbol("%a", a)
    env.write(b + 5, b"\x07")
    with pytest.raises(ValueError):
        env.map(8, "overlap", base=a + 8)
    with pytest.raises(ValueError):
        env.write(a + 98, b"abc")  # runs off the region
    m1, m2 = Machine(None, env), Machine(None, env)
    assert m1.memory.read(a, 5) == b"hello" and m1.memory.read(b + 5, 1) == b"\x07"
    m1.memory.write(a, b"HELLO")
    assert m2.memory.read(a, 5) == b"hello"  # each machine starts from the description
    assert m1.symbols == {"%a": a}
    with pytest.raises(Trap):
        m1.memory.read(a + 100, 1)


def test_push_frame_alignment_and_page_containment():
    m = Machine(None)
    sp1, page1 = m.push_frame(48, 16)
    assert sp1 == STACK_TOP - 48 and page1 is not None
    sp2, page2 = m.push_frame(64, 64)
    assert sp2 % 64 == 0 and sp2 + 64 <= sp1
    m.sp = STACK_TOP - PAGE_SIZE + 32  # the next frame would straddle a page boundary
    sp3, page3 = m.push_frame(64, 16)
    assert sp3 >> 12 == (sp3 + 63) >> 12
    sp4, page4 = m.push_frame(2 * PAGE_SIZE, 16)
    assert page4 is None and m.memory.read(sp4, 2 * PAGE_SIZE) == bytes(2 * PAGE_SIZE)


# -- loads and stores through the interpreter ------------------------------------------------------


def _heap_env(size=PAGE_SIZE, base=None):
    env = Environment()
    addr = env.map(size, "heap", base=base)
    return env, addr


def _roundtrip(t, flags):
    """%rt(p, x): store x at p+offset, then load it back; also return the raw bytes."""
    fb = FB("%rt", [I64, t], [t, I64, I64])
    b0, (p, x) = fb.entry()
    fb.ins("store", x, p, flags=flags, offset=8)
    v = fb.ins("load", p, ty=t, flags=flags, offset=8)
    lo = fb.ins("load", p, ty=I64, flags=MemFlags(endianness="little"), offset=8)
    hi = fb.ins("load", p, ty=I64, flags=MemFlags(endianness="little"), offset=16)
    fb.ret(v, lo, hi)
    return fb.f


VALUES = {
    I8: 0xA5, I16: 0xBEEF, I32: 0xDEADBEEF, I64: 0x0123456789ABCDEF, I128: (0x0123456789ABCDEF << 64) | 0xFEDCBA9876543210,
    F32: 0x3FC00000, F64: 0x400921FB54442D18,
}  # fmt: skip


@pytest.mark.parametrize("t", list(VALUES), ids=str)
@pytest.mark.parametrize("endian", [None, "little", "big"])
@pytest.mark.parametrize("order", ["little", "big"])
def test_every_width_and_endianness(t, endian, order):
    env, heap = _heap_env()
    x = VALUES[t]
    interp = Interpreter([_roundtrip(t, MemFlags(endianness=endian))], byteorder=order)
    v, lo, hi = interp.call("%rt", [heap, x], env=env)
    assert v == x
    raw = (lo | hi << 64).to_bytes(16, "little")[: t.bytes]
    assert raw == x.to_bytes(t.bytes, endian or order)  # no flag: the interpreter's byte order


@pytest.mark.parametrize("order", ["little", "big"])
@pytest.mark.parametrize("endian", [None, "little", "big"])
def test_vector_loads_and_stores(endian, order):
    env, heap = _heap_env()
    lanes = (0x11223344, 0x55667788, 0x99AABBCC, 0xDDEEFF00)
    interp = Interpreter([_roundtrip(I32X4, MemFlags(endianness=endian))], byteorder=order)
    v, lo, hi = interp.call("%rt", [heap, lanes], env=env)
    assert v == lanes
    raw = (lo | hi << 64).to_bytes(16, "little")
    # Lane i at byte 4i, each lane in the flag's byte order, else the interpreter's (as on s390x).
    assert raw == b"".join(lane.to_bytes(4, endian or order) for lane in lanes)


def test_extending_loads_and_truncating_stores():
    fb = FB("%ext", [I64], [I64, I64, I64, I64, I64, I64, I32])
    b0, (p,) = fb.entry()
    fb.ins("store", fb.iconst(I64, -0x7F7F7F7F_7F7F7F80 & ((1 << 64) - 1)), p, flags=MemFlags(), offset=0)
    outs = [fb.ins(op, p, ty=I64, flags=MemFlags(), offset=0)
            for op in ("uload8", "sload8", "uload16", "sload16", "uload32", "sload32")]
    fb.ins("istore8", fb.iconst(I64, 0x1FF), p, flags=MemFlags(), offset=8)
    fb.ins("istore16", fb.iconst(I64, 0x12345), p, flags=MemFlags(), offset=9)
    fb.ins("istore32", fb.iconst(I64, 0x1_2345_6789), p, flags=MemFlags(), offset=11)
    outs.append(fb.ins("load", p, ty=I32, flags=MemFlags(), offset=8))
    fb.ret(*outs)
    env, heap = _heap_env()
    got = Interpreter([fb.f]).call("%ext", [heap], env=env)
    x = -0x7F7F7F7F_7F7F7F80 & ((1 << 64) - 1)
    m = (1 << 64) - 1
    assert got[:6] == [x & 0xFF, ((x & 0xFF) - 0x100) & m, x & 0xFFFF, ((x & 0xFFFF) - 0x10000) & m,
                       x & 0xFFFFFFFF, ((x & 0xFFFFFFFF) - (1 << 32)) & m]
    assert got[6] == 0x892345FF  # bytes ff, 45 23 (0x2345), 89 (low byte of 0x23456789)


def test_vector_extending_loads():
    fb = FB("%vext", [I64], [I16X8, I16X8, I64X2])
    b0, (p,) = fb.entry()
    fb.ins("store", fb.iconst(I64, 0x80FF7F0102030405), p, flags=MemFlags(), offset=0)
    a = fb.ins("uload8x8", p, ty=I16X8, flags=MemFlags(), offset=0)
    b = fb.ins("sload8x8", p, ty=I16X8, flags=MemFlags(), offset=0)
    c = fb.ins("sload32x2", p, ty=I64X2, flags=MemFlags(), offset=0)
    fb.ret(a, b, c)
    env, heap = _heap_env()
    a, b, c = Interpreter([fb.f]).call("%vext", [heap], env=env)
    assert a == (0x05, 0x04, 0x03, 0x02, 0x01, 0x7F, 0xFF, 0x80)
    assert b == (0x05, 0x04, 0x03, 0x02, 0x01, 0x7F, 0xFFFF, 0xFF80)
    assert c == (0x02030405, 0xFFFFFFFF_80FF7F01)


def _load_at(t, flags=None):
    fb = FB("%ld", [I64], [t])
    b0, (p,) = fb.entry()
    fb.ret(fb.ins("load", p, ty=t, flags=flags or MemFlags(), offset=0))
    return fb.f


def _store_at(t, flags=None):
    fb = FB("%st", [I64, t], [])
    b0, (p, x) = fb.entry()
    fb.ins("store", x, p, flags=flags or MemFlags(), offset=0)
    fb.ret()
    return fb.f


@pytest.mark.parametrize("t", [I8, I16, I32, I64, I128], ids=str)
def test_out_of_bounds_at_region_edges(t):
    size = 3 * PAGE_SIZE + 24  # the region ends inside a page
    env, heap = _heap_env(size)
    ld, st = Interpreter([_load_at(t)]), Interpreter([_store_at(t)])
    n = t.bytes
    for ok in (heap, heap + size - n, heap + PAGE_SIZE - 1, heap + 2 * PAGE_SIZE - n + 1):
        st.call("%st", [ok, 1], env=env)
        assert ld.call("%ld", [ok], env=env) == [0]
    for bad in (heap - 1, heap - n, heap + size - n + 1, heap + size, 0, (1 << 64) - 1, STACK_TOP):
        for interp, name, args in ((ld, "%ld", [bad]), (st, "%st", [bad, 1])):
            with pytest.raises(Trap) as e:
                interp.call(name, args, env=env)
            assert e.value.code == "heap_oob"


def test_trap_codes_of_memory_flags():
    env, heap = _heap_env()
    with pytest.raises(Trap) as e:
        Interpreter([_load_at(I32, MemFlags(trap_code="user5"))]).call("%ld", [heap - 4], env=env)
    assert e.value.code == "user5"
    with pytest.raises(Trap) as e:
        Interpreter([_load_at(I32, MemFlags(trap_code=None))]).call("%ld", [heap - 4], env=env)
    assert e.value.code == "heap_oob"
    aligned = MemFlags(aligned=True)
    assert Interpreter([_load_at(I32, aligned)]).call("%ld", [heap + 8], env=env) == [0]
    with pytest.raises(Trap) as e:
        Interpreter([_load_at(I32, aligned)]).call("%ld", [heap + 6], env=env)
    assert e.value.code == "heap_misaligned"
    with pytest.raises(Trap) as e:
        Interpreter([_store_at(I64, aligned)]).call("%st", [heap + 4, 1], env=env)
    assert e.value.code == "heap_misaligned"


def test_address_plus_offset_wraps_at_64_bits():
    fb = FB("%wrap", [I64], [I32])
    b0, (p,) = fb.entry()
    fb.ret(fb.ins("load", p, ty=I32, flags=MemFlags(), offset=-16))
    env, heap = _heap_env()
    assert Interpreter([fb.f]).call("%wrap", [heap + 16], env=env) == [0]
    with pytest.raises(Trap):
        Interpreter([fb.f]).call("%wrap", [8], env=env)  # 8 - 16 wraps to 2**64 - 8


def test_sparse_four_gib_heap_through_the_interpreter():
    env, heap = _heap_env(1 << 32)
    st, ld = Interpreter([_store_at(I64)]), Interpreter([_load_at(I64)])
    st.call("%st", [heap + (1 << 32) - 8, 42], env=env)
    assert st.memory.resident_bytes <= 2 * PAGE_SIZE + 16 * 1024
    assert ld.call("%ld", [heap + (1 << 31)], env=env) == [0]
    with pytest.raises(Trap):
        ld.call("%ld", [heap + (1 << 32) - 4], env=env)


def test_memory_is_fresh_for_every_call():
    env, heap = _heap_env()
    fb = FB("%bump", [I64], [I64])
    b0, (p,) = fb.entry()
    v = fb.ins("load", p, ty=I64, flags=MemFlags(), offset=0)
    fb.ins("store", fb.ins("iadd_imm", v, ty=I64, imm=1), p, flags=MemFlags(), offset=0)
    fb.ret(v)
    interp = Interpreter([fb.f])
    assert interp.call("%bump", [heap], env=env) == [0]
    assert interp.call("%bump", [heap], env=env) == [0]
    assert struct.unpack("<Q", interp.memory.read(heap, 8)) == (1,)  # the last call's memory


def test_unknown_environment_kind_is_unsupported():
    from clifkit.interpreter import Unsupported

    with pytest.raises(Unsupported):
        Interpreter([_load_at(I32)]).call("%ld", [0], env=object())


def test_read_modify_write_reuses_the_page_lookup_correctly():
    # load then store (and load again) at one address: the later accesses reuse the first's
    # page lookup; they must still take the checked path across pages, region ends, alignment.
    fb = FB("%rmw", [I64], [I64, I32])
    b0, (p,) = fb.entry()
    v = fb.ins("load", p, ty=I64, flags=MemFlags(), offset=2)
    fb.ins("store", fb.ins("iadd_imm", v, ty=I64, imm=1), p, flags=MemFlags(), offset=2)
    w = fb.ins("load", p, ty=I32, flags=MemFlags(aligned=True), offset=2)
    fb.ret(fb.ins("load", p, ty=I64, flags=MemFlags(), offset=2), w)
    src = Interpreter([fb.f]).compile("%rmw")
    if compiler.COMPACT_ONCE:  # straight-line code: every access one call of the checked path
        # (with their sizes, byte order, alignment and trap code bound: `memory.checked_name`)
        assert src.count("_pg.get") == 0 and src.count("_ld8l(") == 2 and src.count("_ld4la(") == 1
        assert src.count("_st8l(") == 1
    else:
        assert src.count("_pg.get") == 1
    env, heap = _heap_env(2 * PAGE_SIZE)
    interp = Interpreter([fb.f])
    assert interp.call("%rmw", [heap + 2], env=env) == [1, 1]
    assert interp.call("%rmw", [heap + PAGE_SIZE - 6], env=env) == [1, 1]  # crosses a page
    with pytest.raises(Trap) as e:
        interp.call("%rmw", [heap], env=env)  # the i32 load at heap+2 is misaligned
    assert e.value.code == "heap_misaligned"
    with pytest.raises(Trap) as e:
        interp.call("%rmw", [heap + 2 * PAGE_SIZE - 8], env=env)  # crosses the region end
    assert e.value.code == "heap_oob"


def test_only_code_that_runs_once_per_call_takes_the_checked_path_alone():
    # Straight-line code calls the checked path (short to compile); a loop, or a function that
    # calls itself (its code runs once per level), keeps the fast path.
    from clifkit.reader import parse_text

    text = """
function %once(i64) -> i64 {
block0(v0: i64):
    v1 = load.i64 v0
    return v1
}

function %rec(i64, i32) -> i64 {
    fn0 = %rec(i64, i32) -> i64
block0(v0: i64, v1: i32):
    v2 = load.i64 v0
    brif v1, block1, block2(v2)
block1:
    v3 = iadd_imm v1, -1
    v4 = call fn0(v0, v3)
    jump block2(v4)
block2(v5: i64):
    return v5
}
"""
    interp = Interpreter([d.function for d in parse_text(text).functions])
    assert ("_pg.get" in interp.compile("%once")) == (not compiler.COMPACT_ONCE)
    assert "_pg.get" in interp.compile("%rec")
    env, heap = _heap_env()
    assert interp.call("%rec", [heap, 3], env=env) == [0]
    assert interp.call("%once", [heap], env=env) == [0]
