"""The native runtime: guarded memory, the worker protocol, isolation of crashes, traps, stack overflow.

These tests do not need the lowering: the worker compiles with a fake
`compile_module` defined here (hand-assembled x86-64 trampolines chosen by
function name), so they run on any x86-64 Linux host, with or without
``cranelift``.
"""

from __future__ import annotations

import ctypes
import faulthandler
import mmap
import os
import sys

import pytest

from clifkit.native import abi
from clifkit.native import memory as nm
from clifkit.native import protocol
from clifkit.environment.layout import Environment, HeapRequest
from clifkit.environment.guarantee import PlacedRegion
from support import HERE, X86_64_LINUX

needs_x86_64 = pytest.mark.skipif(not X86_64_LINUX, reason="the fake lowering emits x86-64 machine code")
FAKE = "test_native_runtime:compile_module"


# -- a fake lowering: x86-64 trampolines tramp(args*, results*) by function name ----------------


class NativeUnsupported(Exception):
    def __init__(self, message: str, function=None):
        super().__init__(message)
        self.function = function


def _imm64(value: int) -> bytes:
    return (value & (1 << 64) - 1).to_bytes(8, "little")


def _code(name: str, symbols: dict) -> bytes:
    trap = symbols.get(abi.TRAP_SYMBOL, 0)
    grow = symbols.get("%heap_grow", 0)
    table = {
        # results[0] = args[0] + args[1] (i32)
        "%add": b"\x8b\x07\x03\x47\x10\x89\x06\xc3",
        # loads from address 0
        "%null": b"\x31\xc0\x8b\x00\x89\x06\xc3",
        # calls the trap handler with args[0]
        "%trap": b"\x48\x83\xec\x08\x8b\x3f\x48\xb8" + _imm64(trap) + b"\xff\xd0\x48\x83\xc4\x08\xc3",
        # calls itself forever
        "%recurse": b"\xe8\xfb\xff\xff\xff",
        # loops forever
        "%spin": b"\xeb\xfe",
        # results[0] = *(u8 *)(*(u64 *)vmctx + index): args (vmctx, index)
        "%load8": b"\x48\x8b\x07\x48\x8b\x00\x48\x03\x47\x10\x0f\xb6\x00\x88\x06\xc3",
        # store8 then load8 at *(vmctx+8 slot? no: ptr slot at vmctx+16) + index: args (vmctx, index)
        "%load8_heap1": b"\x48\x8b\x07\x48\x8b\x40\x10\x48\x03\x47\x10\x0f\xb6\x00\x88\x06\xc3",
        # results[0] = %heap_grow(vmctx, 0, delta); then results[1] = *(u8 *)(reloaded base + index)
        # args (vmctx, delta, index)
        "%grow_then_load": (
            b"\x53\x41\x54\x48\x83\xec\x08"  # push rbx; push r12; sub rsp, 8
            b"\x48\x89\xfb\x49\x89\xf4"  # mov rbx, rdi; mov r12, rsi
            b"\x48\x8b\x3b\x31\xf6\x48\x8b\x53\x10"  # mov rdi,[rbx]; xor esi,esi; mov rdx,[rbx+16]
            b"\x48\xb8" + _imm64(grow) + b"\xff\xd0"  # movabs rax, grow; call rax
            b"\x49\x89\x04\x24"  # mov [r12], rax
            b"\x48\x8b\x03\x48\x8b\x00\x48\x03\x43\x20"  # mov rax,[rbx]; mov rax,[rax]; add rax,[rbx+32]
            b"\x0f\xb6\x00\x41\x88\x44\x24\x10"  # movzx eax, byte [rax]; mov [r12+16], al
            b"\x48\x83\xc4\x08\x41\x5c\x5b\xc3"  # add rsp, 8; pop r12; pop rbx; ret
        ),
        # keeps the base it loaded before growing: results[0] = grow result, then reads old base + 0
        # args (vmctx, delta)
        "%stale_load": (
            b"\x53\x41\x54\x41\x55"  # push rbx; push r12; push r13
            b"\x48\x89\xfb\x49\x89\xf4"  # mov rbx, rdi; mov r12, rsi
            b"\x48\x8b\x3b\x4c\x8b\x2f"  # mov rdi,[rbx]; mov r13,[rdi]  (old base)
            b"\x31\xf6\x48\x8b\x53\x10"  # xor esi,esi; mov rdx,[rbx+16]
            b"\x48\xb8" + _imm64(grow) + b"\xff\xd0"  # movabs rax, grow; call rax
            b"\x49\x89\x04\x24"  # mov [r12], rax
            b"\x41\x0f\xb6\x45\x00\x41\x88\x44\x24\x10"  # movzx eax, byte [r13]; mov [r12+16], al
            b"\x41\x5d\x41\x5c\x5b\xc3"  # pop r13; pop r12; pop rbx; ret
        ),
        # results[0] = args[0] (i32x4 identity through a 16-byte slot)
        "%vec_id": b"\x0f\x10\x07\x0f\x11\x06\xc3",
        # results[0] = args[0] (i128 identity)
        "%wide_id": b"\x48\x8b\x07\x48\x89\x06\x48\x8b\x47\x08\x48\x89\x46\x08\xc3",
    }
    code = table.get(name)
    if code is None:
        raise NativeUnsupported(f"the fake lowering has no code for {name}", function=name)
    return code


class FakeModule:
    def __init__(self, functions, symbols):
        self._mem = mmap.mmap(-1, 1 << 16, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        base = ctypes.addressof(ctypes.c_char.from_buffer(self._mem))
        self._entries, self._signatures = {}, {}
        offset = 0
        for f in functions:
            code = _code(f.name, symbols)
            self._mem[offset : offset + len(code)] = code
            self._entries[f.name] = base + offset
            sig = f.signature
            self._signatures[f.name] = ([p.type for p in sig.params], [r.type for r in sig.returns])
            offset += (len(code) + 15) // 16 * 16

    def entry(self, name):
        return self._entries[name]

    def signature(self, name):
        return self._signatures[name]

    def code_size(self, name):
        return 16


def compile_module(functions, triple=None, features=None, host_symbols=None):
    return FakeModule(functions, host_symbols or {})


# -- guarded memory, in this process ------------------------------------------------------------


def _heap(index=0, style="static", size=0x1000, ptr=0, bound=8, max_size=None, guard=0, element_size=1, reach=0):
    return HeapRequest(index, style, size, ptr, bound, max_size if max_size is not None else size, guard, None,
                       element_size, reach)


def _readable(address: int) -> bool:
    """Whether `address` can be read, probed in a child (a fault there kills only the child)."""
    pid = os.fork()
    if pid == 0:
        try:
            faulthandler.disable()
            ctypes.string_at(address, 1)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mmap/mprotect through ctypes")
class TestGuardedMemory:
    def test_static_heap_layout_and_slots(self):
        env = nm.NativeEnvironment(Environment((_heap(size=0x1000, max_size=0x4000),)))
        try:
            heap = env.heaps[0]
            assert env.read_slot(0) == heap.base and env.read_slot(8) == 0x1000
            assert ctypes.string_at(heap.base, 0x1000) == bytes(0x1000)  # zeroed
            assert _readable(heap.base + 0xFFF)
            assert not _readable(heap.base + 0x1000)  # just past size: guard
            assert env.classify(heap.base + 0x1000) == "heap_oob"
            assert env.classify(heap.base + 0x3FFF) == "heap_oob"  # reserved up to max
            assert env.classify(heap.base + 0x10) is None  # accessible: not a trap
        finally:
            env.release()

    def test_declared_reservation_is_reserved(self):
        # A heap declaration promising 4 GiB + 2 GiB guard: the whole range is reserved PROT_NONE.
        env = nm.NativeEnvironment(Environment((_heap(size=0x10000, reach=(1 << 32) + (1 << 31)),)))
        try:
            base = env.heaps[0].base
            for offset in (0x10000, 0xFFFF_FFFC, (1 << 32) + (1 << 31) - 1):
                assert env.classify(base + offset) == "heap_oob"
            assert not _readable(base + 0xFFFF_FFFC)
        finally:
            env.release()

    @pytest.mark.parametrize("size", [1, 0x20, 0x1001, 0xFFF])
    def test_every_region_ends_exactly_at_a_page(self, size):
        # Any size, even odd: the first byte past it faults, for heaps, tables and vmctx alike.
        table = HeapRequest(1, "table", size, 16, 24, size, 0, None, 1)
        env = nm.NativeEnvironment(Environment((_heap(style="dynamic", size=size), table)))
        try:
            for region in (*env.heaps, env.vmctx_region):
                end = region.base + region.size
                assert end % nm.PAGE_SIZE == 0
                assert _readable(end - 1) and not _readable(end)
                assert env.classify(end) == "heap_oob" and env.classify(end - 1) is None
            assert env.vmctx_region.size == 32
            # A base is as aligned as its size (docs/heaps.md): odd for an odd size.
            assert (env.heaps[0].base & -env.heaps[0].base) == min(size & -size, nm.PAGE_SIZE)
        finally:
            env.release()

    def test_below_the_base_only_the_first_page_is_open(self):
        env = nm.NativeEnvironment(Environment((_heap(style="dynamic", size=0x100),)))
        try:
            heap = env.heaps[0]
            assert heap.slack == nm.PAGE_SIZE - 0x100 == heap.base % nm.PAGE_SIZE
            assert _readable(heap.base - heap.slack)  # the documented slack
            assert not _readable(heap.base - heap.slack - 1)  # the guard page below it
            assert env.classify(heap.base - heap.slack - 1) == "heap_oob"
            placed = PlacedRegion("heap0", heap.base, 0x100, 0x100)
            assert placed.natively_open(-heap.slack, 1) and not placed.natively_open(-heap.slack - 1, 1)
        finally:
            env.release()

    def test_static_growth_in_place(self):
        env = nm.NativeEnvironment(Environment((_heap(size=0x1000, max_size=0x4000),)))
        try:
            base = env.heaps[0].base
            assert env.grow(env.vmctx, 0, 0x1000) == 0x1000
            assert env.heaps[0].base == base and env.read_slot(8) == 0x2000
            assert _readable(base + 0x1FFF) and not _readable(base + 0x2000)
            assert env.grow(env.vmctx, 0, 0x3000) == nm.ALL_ONES_64  # past max
            assert env.grow(env.vmctx, 0, 1 << 63) == nm.ALL_ONES_64  # negative
            assert env.grow(env.vmctx + 8, 0, 0x10) == nm.ALL_ONES_64  # not this vmctx
            assert env.grow(env.vmctx, 1, 0x10) == nm.ALL_ONES_64  # no such heap
            assert env.grow(env.vmctx, 0, 0) == 0x2000
            # Growth by part of a page opens the rest of that page (docs/heaps.md), as the
            # comparisons' model of the guarantee predicts.
            assert env.grow(env.vmctx, 0, 0x10) == 0x2000
            assert _readable(base + 0x2FFF) and not _readable(base + 0x3000)
            placed = PlacedRegion("heap0", base, 0x2010, 0x1000)
            assert placed.natively_open(0x2FFF, 1) and not placed.natively_open(0x3000, 1)
        finally:
            env.release()

    def test_dynamic_heap_moves_and_old_base_faults(self):
        env = nm.NativeEnvironment(Environment((_heap(style="dynamic", size=0x100, max_size=0x1000),)))
        try:
            old = env.heaps[0].base
            ctypes.memmove(old + 0x10, b"\x2a", 1)
            assert env.grow(env.vmctx, 0, 0x100) == 0x100
            new = env.read_slot(0)
            assert new != old and env.read_slot(8) == 0x200
            assert ctypes.string_at(new + 0x10, 1) == b"\x2a"  # contents came along
            assert not _readable(old) and env.classify(old) == "heap_oob"
            assert _readable(new + 0x1FF) and not _readable(new + 0x200)
        finally:
            env.release()

    def test_tables_do_not_grow_and_bound_counts_elements(self):
        table = HeapRequest(0, "table", 8 * 16, 0, 8, 8 * 16, 0, None, 16)
        env = nm.NativeEnvironment(Environment((table,)))
        try:
            assert env.read_slot(8) == 8
            assert env.grow(env.vmctx, 0, 16) == nm.ALL_ONES_64
        finally:
            env.release()

    def test_big_endian_slots(self):
        env = nm.NativeEnvironment(Environment((_heap(size=0x1000),)), byteorder="big")
        try:
            assert ctypes.string_at(env.vmctx + 8, 8) == (0x1000).to_bytes(8, "big")
        finally:
            env.release()

    def test_wire_round_trip(self):
        env = Environment((_heap(size=0x1000, guard=0x1000), _heap(1, "dynamic", 0x40, 16, 24, 0x100)))
        back = nm.environment_from_wire(protocol.pickle.loads(protocol.pickle.dumps(nm.environment_to_wire(env))))
        assert [(h.style, h.size, h.ptr_offset, h.bound_offset, h.max_size, h.guard) for h in back.heaps] == [
            (h.style, h.size, h.ptr_offset, h.bound_offset, h.max_size, h.guard) for h in env.heaps]

    def test_equal_wire_forms_give_one_environment(self):
        """A program's run lines each send their environment: the worker reads equal forms as one
        object (compared with the environment it keeps at once, its regions worked out once), and
        different forms as different environments."""
        env = Environment((_heap(size=0x1000, guard=0x1000),))
        first = nm.environment_from_wire(protocol.pickle.loads(protocol.pickle.dumps(nm.environment_to_wire(env))))
        again = nm.environment_from_wire(protocol.pickle.loads(protocol.pickle.dumps(nm.environment_to_wire(env))))
        other = nm.environment_from_wire(nm.environment_to_wire(Environment((_heap(size=0x2000),))))
        assert first is again and first == env
        assert other is not first and other.heaps[0].size == 0x2000
        assert nm._regions(first) is nm._regions(again)

    def test_a_shared_environment_is_sent_once_and_read_once(self, monkeypatch):
        """Run lines sharing one environment (a fuzzed program's) send one wire form, which the
        worker reads once for all of them; another environment, even an equal one, is sent apart."""
        from types import SimpleNamespace

        from clifkit.native import engine as native_engine, worker as native_worker

        sent = []

        class Client:
            generation, alive = 1, True

            def request(self, msg, timeout=None):
                sent.append(protocol.pickle.loads(protocol.pickle.dumps(msg, protocol=protocol.PICKLE_PROTOCOL)))
                return {"ok": True, "results": [{"kind": "returned", "values": []} for _ in msg["requests"]]}

        client = Client()
        session = native_engine.NativeSession.__new__(native_engine.NativeSession)
        session.client, session.generation, session.load_error, session.timeout = client, 1, None, 1.0
        session.engine_obj = SimpleNamespace(isolation="batch")
        client.loaded = session
        shared = Environment((_heap(size=0x1000, guard=0x1000),))
        equal = Environment((_heap(size=0x1000, guard=0x1000),))
        bound = SimpleNamespace(function=SimpleNamespace(name="%f"), args=[], command=SimpleNamespace(line=1))
        session.call_batch([(bound, shared), (bound, shared), (bound, equal), (bound, None)])
        wires = [req["env"] for req in sent[0]["requests"]]
        assert wires[0] is wires[1] and wires[2] is not wires[0] and wires[2] == wires[0] and wires[3] is None
        read = []
        monkeypatch.setattr(native_worker, "environment_from_wire", lambda w: read.append(w) or nm.environment_from_wire(w))
        envs = native_worker._environments(sent[0]["requests"])
        assert len(read) == 2 and envs[0] is envs[1] and envs == [shared, shared, equal]
        assert [req.get("environment") for req in sent[0]["requests"]] == [shared, shared, equal, None]

    def test_wire_carries_every_field_of_a_heap_request(self):
        import dataclasses

        heap = dataclasses.replace(_heap(1, "table", 0x40, 16, 24, 0x100), element_size=8, reach=0x80, bound_bytes=4)
        back = nm.environment_from_wire(nm.environment_to_wire(Environment((heap,)))).heaps[0]
        assert dataclasses.replace(back, loc=heap.loc) == heap


# -- the protocol ---------------------------------------------------------------------------------


class TestProtocol:
    def test_framing_round_trip(self):
        r, w = os.pipe()
        try:
            msg = {"op": "run", "values": [1 << 127, (1, 2, 3, 4)], "none": None, "text": "é"}
            protocol.send(w, msg)
            protocol.send(w, [1, 2])
            assert protocol.recv(r) == msg
            assert protocol.recv(r) == [1, 2]
        finally:
            os.close(w)
        with pytest.raises(protocol.ChannelClosed):
            protocol.recv(r)
        os.close(r)

    def test_timeout(self):
        r, w = os.pipe()
        try:
            with pytest.raises(protocol.Timeout):
                protocol.recv(r, timeout=0.05)
        finally:
            os.close(r)
            os.close(w)

    def test_slots_in_either_byte_order(self):
        from clifkit.ir.types import parse_type

        types = [parse_type(t) for t in ("i8", "i32", "i128", "f64", "i32x4")]
        values = [0xAB, 0xDEADBEEF, (1 << 127) | 5, 0x3FF0000000000000, (1, 2, 3, 0xFFFFFFFF)]
        for order in ("little", "big"):
            data = protocol.pack_slots(values, types, order)
            assert len(data) == 16 * len(types)
            assert protocol.unpack_slots(data, types, order) == values
        assert protocol.pack_slots([1], [types[1]], "big")[:4] == b"\x00\x00\x00\x01"
        assert protocol.pack_slots([(1, 2, 3, 4)], [types[4]], "big")[:8] == b"\x00\x00\x00\x01\x00\x00\x00\x02"

    def test_slot_codec_gives_the_bytes_and_values_of_pack_slots(self):
        # The worker's children pack every run line with a signature's precomputed struct: it must
        # write exactly what pack_slots writes, and read back what unpack_slots reads, in both orders.
        import random
        import struct

        from clifkit.ir.types import parse_type

        names = ["i8", "i16", "i32", "i64", "f16", "f32", "f64", "i8x16", "i16x8", "i32x4", "i64x2", "f32x4",
                 "f64x2", "i8x8", "i32x2", "i16x4"]
        rng = random.Random(16)

        def value(ty):
            def one(bits):
                return rng.choice([0, 1, -1, (1 << bits) - 1, 1 << (bits - 1), rng.getrandbits(bits),
                                   -rng.getrandbits(bits), rng.getrandbits(bits + 8)])
            return tuple(one(ty.lane_bits) for _ in range(ty.lanes)) if ty.is_vector else one(ty.bits)

        for order in ("little", "big"):
            for _ in range(300):
                types = [parse_type(rng.choice(names)) for _ in range(rng.randrange(0, 5))]
                values = [value(t) for t in types]
                codec = protocol.slot_codec(types, order)
                assert codec is not None and codec.size == 16 * max(len(types), 1)
                buf = bytearray(b"\xa5" * codec.size)  # a reused buffer's leftovers are overwritten
                codec.pack_into(buf, values)
                expected = protocol.pack_slots(values, types, order)
                assert bytes(buf) == expected
                assert codec.unpack_from(expected) == protocol.unpack_slots(expected, types, order)
        # i128 and odd lane counts are left to pack_slots; a wrong lane count is refused, not guessed
        assert protocol.slot_codec([parse_type("i128")], "little") is None
        codec = protocol.slot_codec([parse_type("i32x4")], "little")
        with pytest.raises(struct.error):
            codec.pack_into(bytearray(16), [(1, 2, 3)])

    def test_reader_takes_messages_arriving_together_or_in_pieces(self):
        r, w = os.pipe()
        try:
            reader = protocol.Reader(r)
            data = protocol.encode((0, {"kind": "returned", "values": [1]})) + protocol.encode((1, "x" * 70000))
            os.write(w, data[:3])  # half a header: the rest comes later
            pid = os.fork()
            if pid == 0:
                try:
                    os.close(r)
                    protocol.write_all(w, data[3:])
                finally:
                    os._exit(0)
            assert reader.recv(timeout=10) == (0, {"kind": "returned", "values": [1]})
            assert reader.recv(timeout=10) == (1, "x" * 70000)
            os.waitpid(pid, 0)
            with pytest.raises(protocol.Timeout):
                reader.recv(timeout=0.05)
            os.write(w, protocol.encode("last")[:6])
            os.close(w)
            w = -1
            with pytest.raises(protocol.ProtocolError):
                reader.recv(timeout=10)
        finally:
            os.close(r)
            if w >= 0:
                os.close(w)


# -- the worker -----------------------------------------------------------------------------------

SOURCE = """
function %add(i32, i32) -> i32 fast {
block0(v0: i32, v1: i32):
    v2 = iadd v0, v1
    return v2
}
function %null() -> i32 fast {
block0:
    v0 = iconst.i64 0
    v1 = load.i32 v0
    return v1
}
function %trap(i32) fast {
block0(v0: i32):
    trap user1
}
function %recurse() fast {
    fn0 = %recurse()
block0:
    call fn0()
    return
}
function %spin() fast {
block0:
    jump block0
}
function %load8(i64 vmctx, i64) -> i8 fast {
block0(v0: i64, v1: i64):
    v2 = load.i64 v0
    v3 = iadd v2, v1
    v4 = load.i8 v3
    return v4
}
function %load8_heap1(i64 vmctx, i64) -> i8 fast {
block0(v0: i64, v1: i64):
    v2 = load.i64 v0+16
    v3 = iadd v2, v1
    v4 = load.i8 v3
    return v4
}
function %grow_then_load(i64 vmctx, i64, i64) -> i64, i8 fast {
    fn0 = %heap_grow(i64 vmctx, i32, i64) -> i64
block0(v0: i64, v1: i64, v2: i64):
    v3 = iconst.i32 0
    v4 = call fn0(v0, v3, v1)
    v5 = load.i64 v0
    v6 = iadd v5, v2
    v7 = load.i8 v6
    return v4, v7
}
function %stale_load(i64 vmctx, i64) -> i64, i8 fast {
    fn0 = %heap_grow(i64 vmctx, i32, i64) -> i64
block0(v0: i64, v1: i64):
    v2 = load.i64 v0
    v3 = iconst.i32 0
    v4 = call fn0(v0, v3, v1)
    v5 = load.i8 v2
    return v4, v5
}
function %vec_id(i32x4) -> i32x4 fast {
block0(v0: i32x4):
    return v0
}
function %wide_id(i128) -> i128 fast {
block0(v0: i128):
    return v0
}
function %unknown() fast {
block0:
    return
}
function %calls_unknown() fast {
    fn0 = %unknown()
block0:
    call fn0()
    return
}
"""


def _env(*heaps):
    return nm.environment_to_wire(Environment(tuple(heaps)))


@pytest.fixture(scope="module")
def worker():
    from clifkit.native.engine import WorkerClient

    client = WorkerClient(env={"PYTHONPATH": HERE})
    reply = client.request({"op": "load", "path": "<test>", "source": SOURCE, "triple": None,
                            "flags": {"opt_level": "speed", "has_avx": "true"}, "compiler": FAKE}, timeout=60)
    assert reply["ok"], reply
    client.load_reply = reply
    yield client
    client.close()


def _run(client, *requests, timeout=30, isolation="batch"):
    reqs = [{"function": f, "args": list(a), "env": e, "line": n} for n, (f, a, e) in enumerate(requests, 1)]
    reply = client.request({"op": "run", "requests": reqs, "timeout": timeout, "isolation": isolation}, timeout=120)
    assert reply["ok"], reply
    return reply["results"]


@needs_x86_64
class TestWorker:
    def test_hello_and_load(self, worker):
        assert worker.info["ok"] and worker.info["pid"] > 0
        status = worker.load_reply["functions"]
        assert status["%add"] is None
        assert "no code for %unknown" in status["%unknown"]
        assert status["%calls_unknown"].startswith("it calls %unknown")
        assert "has_avx" in worker.load_reply["ignored_flags"] or "opt_level" not in worker.load_reply["ignored_flags"]

    def test_round_trip_values(self, worker):
        results = _run(worker, ("%add", [2, 40], None), ("%add", [0xFFFFFFFF, 2], None),
                       ("%vec_id", [(1, 2, 3, 0xFFFFFFFF)], None), ("%wide_id", [(1 << 127) | 3], None))
        assert results == [{"kind": "returned", "values": [42]}, {"kind": "returned", "values": [1]},
                           {"kind": "returned", "values": [(1, 2, 3, 0xFFFFFFFF)]},
                           {"kind": "returned", "values": [(1 << 127) | 3]}]

    def test_crash_is_isolated_and_the_next_line_runs(self, worker):
        results = _run(worker, ("%add", [1, 1], None), ("%null", [], None), ("%add", [2, 2], None))
        assert results[0]["values"] == [2] and results[2]["values"] == [4]
        crash = results[1]
        assert crash["kind"] == "crashed" and crash["signame"] == "SIGSEGV"
        assert crash["address"] == 0 and crash["pc"]
        assert "SEGV_MAPERR" in crash["detail"]

    def test_trap_codes_from_the_trap_handler(self, worker):
        results = _run(worker, ("%trap", [abi.trap_code_id("int_divz")], None),
                       ("%trap", [abi.trap_code_id("user7")], None), ("%add", [3, 4], None),
                       ("%trap", [abi.trap_code_id("heap_oob")], None))
        assert [r.get("code") for r in results] == ["int_divz", "user7", None, "heap_oob"]
        assert results[2]["values"] == [7]

    def test_stack_overflow_is_stk_ovf(self, worker):
        results = _run(worker, ("%recurse", [], None), ("%add", [5, 5], None))
        assert results[0]["kind"] == "trapped" and results[0]["code"] == "stk_ovf", results[0]
        assert results[1]["values"] == [10]

    def test_heap_access_past_size_is_heap_oob(self, worker):
        heap = _env(_heap(size=0x1000, max_size=0x4000))
        results = _run(worker, ("%load8", [0xFFF], heap), ("%load8", [0x1000], heap), ("%load8", [0x3FFF], heap),
                       ("%load8", [0], heap))
        assert results[0] == {"kind": "returned", "values": [0]}
        assert results[1]["kind"] == "trapped" and results[1]["code"] == "heap_oob"
        assert results[2]["code"] == "heap_oob"
        assert results[3]["values"] == [0]

    def test_second_heap_and_dynamic_guard(self, worker):
        env = _env(_heap(size=0x1000), _heap(1, "dynamic", 0x40, 16, 24, 0x40))
        results = _run(worker, ("%load8_heap1", [0x3F], env), ("%load8_heap1", [0x40], env))
        assert results[0]["values"] == [0] and results[1]["code"] == "heap_oob"

    def test_growth_makes_memory_accessible(self, worker):
        static = _env(_heap(size=0x1000, max_size=0x4000))
        dynamic = _env(_heap(style="dynamic", size=0x100, max_size=0x1000))
        results = _run(worker, ("%grow_then_load", [0x1000, 0x1FFF], static),
                       ("%grow_then_load", [0x3001, 0x1000], static),  # past max: fails, then faults
                       ("%grow_then_load", [0x100, 0x1FF], dynamic))
        assert results[0] == {"kind": "returned", "values": [0x1000, 0]}
        assert results[1]["kind"] == "trapped" and results[1]["code"] == "heap_oob"
        assert results[2] == {"kind": "returned", "values": [0x100, 0]}

    def test_stale_dynamic_base_faults(self, worker):
        dynamic = _env(_heap(style="dynamic", size=0x100, max_size=0x1000))
        static = _env(_heap(size=0x100, max_size=0x1000))
        results = _run(worker, ("%stale_load", [16], dynamic), ("%stale_load", [16], static))
        assert results[0]["kind"] == "trapped" and results[0]["code"] == "heap_oob"
        assert results[1] == {"kind": "returned", "values": [0x100, 0]}  # static heaps grow in place

    def test_fresh_memory_every_run_line(self, worker):
        # Growth in one run line does not carry over to the next.
        static = _env(_heap(size=0x1000, max_size=0x4000))
        results = _run(worker, ("%grow_then_load", [0x1000, 0], static), ("%grow_then_load", [0, 0x1000], static))
        assert results[0]["values"] == [0x1000, 0]
        assert results[1]["code"] == "heap_oob"

    def test_timeout_kills_the_child(self, worker):
        results = _run(worker, ("%spin", [], None), ("%add", [1, 2], None), timeout=0.5)
        assert results[0] == {"kind": "timeout", "seconds": 0.5}
        assert results[1]["values"] == [3]

    def test_unavailable_functions_are_skipped(self, worker):
        results = _run(worker, ("%unknown", [], None), ("%calls_unknown", [], None), ("%add", [1, 1], None))
        assert results[0]["kind"] == "skipped" and "no code" in results[0]["reason"]
        assert results[1]["kind"] == "skipped" and results[2]["values"] == [2]

    def test_isolation_per_call(self, worker):
        results = _run(worker, ("%add", [1, 1], None), ("%null", [], None), ("%add", [2, 2], None),
                       isolation="call")
        assert [r["kind"] for r in results] == ["returned", "crashed", "returned"]

    def test_worker_replaced_after_death(self):
        from clifkit.native.engine import WorkerClient, WorkerDied

        client = WorkerClient(env={"PYTHONPATH": HERE})
        try:
            first = client.request({"op": "hello"})["pid"]
            os.kill(first, 9)
            try:
                # Dead before the request was written (a new worker answers), or while waiting.
                second = client.request({"op": "hello"}, timeout=10)["pid"]
            except WorkerDied as e:
                assert "killed by signal 9" in str(e)
                second = client.request({"op": "hello"})["pid"]
            assert second != first and client.generation == 2
        finally:
            client.close()


@needs_x86_64
def test_session_carries_on_after_the_worker_dies(tmp_path):
    """A session whose worker was killed between batches gets a new worker, which compiles the
    file again, and the run lines run."""
    from clifkit.native.engine import NativeEngine
    from clifkit.reader import parse_file
    from clifkit.reader.directives import bind, parse_directive_line
    from clifkit.engine import EngineOptions, Returned

    path = tmp_path / "add.clif"
    path.write_text("test run\n" + SOURCE.split("function %null")[0] + "; run: %add(2, 40) == 42\n")
    tf = parse_file(str(path))
    line = str(path.read_text()).splitlines().index("; run: %add(2, 40) == 42") + 1
    bound = bind(parse_directive_line("; run: %add(2, 40) == 42", str(path), line), tf.functions[0].function)
    engine = NativeEngine(compiler=FAKE, worker_env={"PYTHONPATH": HERE})
    session = engine.open(tf, EngineOptions())
    assert session.call_batch([(bound, None)])[0] == Returned([42])
    os.kill(session.client.proc.pid, 9)
    session.client.proc.wait()
    assert session.call_batch([(bound, None), (bound, None)]) == [Returned([42]), Returned([42])]
    assert session.client.generation == 2
