"""Large reservations kept for reuse (`clifkit.native.memory.RECYCLE_MIN`): a run line still
gets fresh, zeroed memory whose inaccessible pages fault, on x86_64 natively and on aarch64 and
s390x under QEMU, where mapping a Wasm-style heap's 6 GiB costs tens of milliseconds."""

from __future__ import annotations

import ctypes

import pytest

from clifkit.native import memory
from clifkit.native.memory import PAGE_SIZE, PROT_RW, Mapping
from support import LINUX
from test_native_memory_guarantees import BACKENDS, _runs

LARGE = memory.RECYCLE_MIN + 16 * PAGE_SIZE


def _protection(addr: int) -> str:
    """The permissions /proc/self/maps gives the page at `addr` (e.g. ``---p``)."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            span, perms = line.split()[:2]
            lo, hi = (int(x, 16) for x in span.split("-"))
            if lo <= addr < hi:
                return perms
    raise AssertionError(f"0x{addr:x} is not mapped")


@pytest.fixture
def no_spares(monkeypatch):
    monkeypatch.setattr(memory, "_spares", {})
    yield
    for length, addrs in memory._spares.items():
        for addr in addrs:
            memory.libc().munmap(addr, length)


@pytest.mark.skipif(not LINUX, reason="reads /proc/self/maps")
def test_a_released_reservation_is_reused_zeroed_and_inaccessible(no_spares):
    first = Mapping(LARGE)
    addr = first.addr
    first.protect(PAGE_SIZE, 3 * PAGE_SIZE, PROT_RW)
    first.protect(9 * PAGE_SIZE, 1, PROT_RW)
    ctypes.memset(addr + PAGE_SIZE, 0xAB, 3 * PAGE_SIZE)
    ctypes.memset(addr + 9 * PAGE_SIZE, 0xCD, PAGE_SIZE)
    first.close()
    assert memory._spares == {LARGE: [addr]}
    second = Mapping(LARGE)
    assert second.addr == addr and memory._spares == {LARGE: []}
    for page in range(16):
        assert _protection(addr + page * PAGE_SIZE) == "---p", page
    second.protect(0, LARGE, PROT_RW)
    assert ctypes.string_at(addr, 16 * PAGE_SIZE) == bytes(16 * PAGE_SIZE)
    second.close()


@pytest.mark.skipif(not LINUX, reason="maps memory")
def test_what_is_not_worth_cleaning_is_unmapped(no_spares):
    small = Mapping(memory.RECYCLE_MIN - PAGE_SIZE)
    small.close()
    wide = Mapping(LARGE)
    wide.protect(0, memory.RECYCLE_TOUCHED_MAX + PAGE_SIZE, PROT_RW)
    wide.close()
    assert memory._spares == {}


@pytest.fixture
def no_warm(monkeypatch):
    monkeypatch.setattr(memory, "_warm", {})
    yield
    for length, addrs in memory._warm.items():
        for addr in addrs:
            memory.libc().munmap(addr, length)


@pytest.mark.skipif(not LINUX, reason="reads /proc/self/maps")
def test_a_released_one_page_region_is_reused_zeroed_with_only_that_page_accessible(no_warm):
    first = memory._place("heap0", "static", 0x100, 0x200)
    mapping = first.mapping
    addr, length = mapping.addr, mapping.length
    ctypes.memset(first.base - first.slack, 0xAB, first.slack + first.size)
    mapping.close()
    assert memory._warm == {length: [addr]}
    # Another size whose bytes fit one page, in a mapping of the same length: the same mapping.
    second = memory._place("vmctx", "vmctx", 0x20, 0x200)
    assert second.mapping.addr == addr and second.mapping.length == length
    assert memory._warm == {length: []}
    page = addr + PAGE_SIZE
    assert ctypes.string_at(page, PAGE_SIZE) == bytes(PAGE_SIZE)
    assert _protection(page) == "rw-p"
    for other in range(length // PAGE_SIZE):
        if other != 1:
            assert _protection(addr + other * PAGE_SIZE) == "---p", other
    assert second.base + second.size == page + PAGE_SIZE  # its end still on the guard page
    second.mapping.close()


@pytest.mark.skipif(not LINUX, reason="maps memory")
def test_a_mapping_whose_protection_changed_otherwise_is_unmapped(no_warm):
    grown = memory._place("heap0", "static", 0x100, 4 * PAGE_SIZE)
    grown.mapping.protect(grown.head, 2 * PAGE_SIZE, PROT_RW)  # (a static heap grown in place)
    grown.mapping.close()
    moved = memory._place("heap1", "dynamic", 0x100, 0x100)
    moved.mapping.protect(0, moved.mapping.length, memory.PROT_NONE)  # (a dynamic heap's old range)
    moved.mapping.close()
    wide = memory._place("heap2", "static", PAGE_SIZE + 1, PAGE_SIZE + 1)  # two pages accessible
    wide.mapping.close()
    assert memory._warm == {}


@pytest.mark.skipif(not LINUX, reason="maps memory")
def test_keep_spares_reserves_what_an_environment_places(no_spares):
    from clifkit.environment.layout import Environment, HeapRequest

    def static(index: int, size: int, reach: int, guard: int) -> HeapRequest:
        return HeapRequest(index=index, style="static", size=size, ptr_offset=16 * index,
                           bound_offset=16 * index + 8, max_size=size, guard=guard, loc=None, reach=reach)

    wasm = 0x1_0000, 0x1_0000_0000, 0x8000_0000  # a 64 KiB heap in 6 GiB of address space
    env = Environment((static(0, *wasm), static(1, *wasm), static(2, 0x1000, 0, 0x1000)), pointer_bytes=8)
    memory.keep_spares([env, env])
    assert [len(a) for a in memory._spares.values()] == [2]  # two 6 GiB heaps; the third is small
    placed = memory.materialize(env)
    try:
        assert memory._spares[next(iter(memory._spares))] == []
    finally:
        placed.release()
    assert [len(a) for a in memory._spares.values()] == [2]
    # No more than SPARE_BYTES in all (16 GiB): a third 6 GiB heap is not reserved ahead.
    memory.keep_spares([Environment(tuple(static(i, *wasm) for i in range(3)), pointer_bytes=8)])
    assert [len(a) for a in memory._spares.values()] == [2]
    # A released mapping of another length takes the place of the ones kept longest.
    other = Mapping(5 << 30)
    other.close()
    assert memory._spares == {5 << 30: [other.addr]}


# Every run line of a file runs in the worker's executor, so each reuses the 6 GiB reservation
# the line before released: what one wrote or grew must be gone for the next.
REUSED = """test run
target {arch}

function %poke(i64 vmctx, i32, i32) -> i32 {{
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
    heap0 = static gv1, min 0x1_0000, bound 0x1_0000_0000, offset_guard 0x8000_0000, index_type i32

block0(v0: i64, v1: i32, v2: i32):
    v3 = heap_addr.i64 heap0, v1, 0, 4
    store.i32 little v2, v3
    v4 = load.i32 little v3
    return v4
}}
; heap: static, size=0x10000, ptr=vmctx+0, bound=vmctx+8, max=0x20000
; run: %poke(0, 42) == 42
; run: %poke(0xfffc, -1) == -1

function %peek(i64 vmctx, i32) -> i32 {{
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
    heap0 = static gv1, min 0x1_0000, bound 0x1_0000_0000, offset_guard 0x8000_0000, index_type i32

block0(v0: i64, v1: i32):
    v2 = heap_addr.i64 heap0, v1, 0, 4
    v3 = load.i32 little v2
    return v3
}}
; heap: static, size=0x10000, ptr=vmctx+0, bound=vmctx+8, max=0x20000
; run: %peek(0) == 0
; run: %peek(0xfffc) == 0

function %grow_poke(i64 vmctx, i64, i32, i32) -> i32 {{
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
    heap0 = static gv1, min 0x1_0000, bound 0x1_0000_0000, offset_guard 0x8000_0000, index_type i32
    fn0 = %heap_grow(i64 vmctx, i32, i64) -> i64

block0(v0: i64, v1: i64, v2: i32, v3: i32):
    v4 = iconst.i32 0
    v5 = call fn0(v0, v4, v1)
    v6 = heap_addr.i64 heap0, v2, 0, 4
    store.i32 little v3, v6
    v7 = load.i32 little v6
    return v7
}}
; heap: static, size=0x10000, ptr=vmctx+0, bound=vmctx+8, max=0x20000
; run: %grow_poke(0x10000, 0x1fffc, 5) == 5
; run: %grow_poke(0, 0x10000, 5) == trap heap_oob

function %peek_again(i64 vmctx, i32) -> i32 {{
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
    heap0 = static gv1, min 0x1_0000, bound 0x1_0000_0000, offset_guard 0x8000_0000, index_type i32

block0(v0: i64, v1: i32):
    v2 = heap_addr.i64 heap0, v1, 0, 4
    v3 = load.i32 little v2
    return v3
}}
; heap: static, size=0x10000, ptr=vmctx+0, bound=vmctx+8, max=0x20000
; run: %peek_again(0x1fffc) == trap heap_oob
; run: %peek_again(0x10000) == trap heap_oob
; run: %peek_again(0) == 0
; run: %peek_again(0xfffc) == 0
"""


@pytest.mark.parametrize("arch", BACKENDS)
def test_each_run_line_gets_fresh_memory_in_a_reused_reservation(arch, tmp_path, capsys):
    runs, out = _runs(tmp_path, capsys, REUSED.format(arch=arch))
    assert len(runs) == 10 and all(r["target"] == arch for r in runs), out
    assert all(r["status"] == "passed" for r in runs), out


# The same with a heap of one page, zeroed in place rather than mapped anew (`NativeEnvironment._renew`).
SMALL = REUSED.replace("size=0x10000", "size=0x100").replace("0xfffc", "0xfc").replace("0x1fffc", "0x1fc") \
    .replace("max=0x20000", "max=0x200").replace("min 0x1_0000", "min 0x100").replace("0x10000", "0x100")


@pytest.mark.parametrize("arch", BACKENDS)
def test_a_small_heap_is_zeroed_again_for_the_next_run_line(arch, tmp_path, capsys):
    runs, out = _runs(tmp_path, capsys, SMALL.format(arch=arch))
    assert len(runs) == 10 and all(r["status"] == "passed" for r in runs), out


@pytest.mark.skipif(not LINUX, reason="reads /proc/self/maps")
@pytest.mark.parametrize("size", [0x100, 0x3000])
def test_an_equal_environment_takes_the_memory_of_the_run_line_before_zeroed(size, monkeypatch):
    from clifkit.environment.layout import Environment, HeapRequest

    monkeypatch.setattr(memory, "_kept", None)
    heap = HeapRequest(index=0, style="static", size=size, ptr_offset=0, bound_offset=8, max_size=2 * size,
                       guard=PAGE_SIZE, loc=None, reach=0)
    env = Environment((heap,), pointer_bytes=8)
    first = memory.materialize(env)
    region = first.heaps[0]
    base, vmctx = region.base, first.vmctx
    ctypes.memset(base - region.slack, 0xAB, region.slack + size)
    ctypes.memset(vmctx - 8, 0xCD, 24)  # (its slack and both slots)
    first.end()
    again = memory.materialize(Environment((heap,), pointer_bytes=8))
    assert again is first and again.heaps[0].base == base
    assert ctypes.string_at(base - region.slack, region.slack + size) == bytes(region.slack + size)
    assert ctypes.string_at(vmctx - 8, 8) == bytes(8) and again.read_slot(0) == base and again.read_slot(8) == size
    assert _protection(base) == "rw-p" and _protection(base + size) == "---p"
    assert _protection(base - region.slack - PAGE_SIZE) == "---p"
    # A heap that grew is not kept; nor is an environment for a different one.
    assert again.grow(again.vmctx, 0, 1) == size
    again.end()
    assert memory._kept is None
    other = memory.materialize(env)
    other.end()
    third = memory.materialize(Environment((heap,), pointer_bytes=4))
    assert third is not other and memory._kept is None
    third.release()


@pytest.mark.skipif(not LINUX, reason="maps memory")
def test_keep_spares_counts_the_mappings_of_the_environment_kept(no_spares, monkeypatch):
    """The environment kept from the run line before holds its large mappings: a batch of run
    lines asking for it again reserves no more (each costs tens of milliseconds under QEMU)."""
    from clifkit.environment.layout import Environment, HeapRequest

    monkeypatch.setattr(memory, "_kept", None)
    wasm = HeapRequest(index=0, style="static", size=0x1_0000, ptr_offset=0, bound_offset=8, max_size=0x1_0000,
                       guard=0x8000_0000, loc=None, reach=0x1_0000_0000)
    env = Environment((wasm,), pointer_bytes=8)
    placed = memory.materialize(env)
    placed.end()
    memory.keep_spares([env])
    assert memory._spares == {}
    assert memory.materialize(env) is placed
    placed.release()
