"""Trampolines (`abi.py`): ``tramp(args: *u8, results: *u8, callee: *u8)`` in the host's C convention.

A trampoline loads argument i from ``args + 16*i`` (native byte order: the
binding's loads with trusted flags are native-endian, which is the target's
here), calls the CLIF function at ``callee`` (its address, as its
function-table slot holds it), and stores result i at ``results + 16*i``.
Nothing in it depends on which function it calls, only on the callee's
signature (`trampoline_key`): one trampoline serves every function of a
signature, in every module a worker loads (`lower.py`, the replayed modules). In the worker it first saves a jump buffer
that a trap jumps back to (`recover.py`); it then returns without results.

`pack_slots` / `unpack_slots` convert clifkit values (ints, tuples of lane
ints) to and from that layout, for callers in this process (tests) and for the
worker.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Sequence

import cranelift as cl

from .abi import SLOT_BYTES
from .basics import new_signature, signed64
from .hostdata import Address
from .recover import ARMED, JMP_BUF_SYMBOL, RECORD_SYMBOL, SETJMP_SYMBOL

if TYPE_CHECKING:  # (a worker that replays a recorded lowering never imports the lowering)
    from ..ir.function import Function
    from ..ir.types import Type
    from .translate import ModuleContext


def build_trampoline(ctx: ModuleContext, func: Function, builder=None):
    """A finalized FunctionBuilder for a trampoline that calls functions of `func`'s signature;
    `builder`: the builder to use (a recording one, `replay.py`)."""
    from .translate import cl_signature, cl_type

    ptr = cl_type(ctx.pointer)
    b, (args_ptr, results_ptr, target) = begin_function(ctx.host_conv, [ptr, ptr, ptr], builder)

    def body(disarm) -> None:
        flags = cl.MemFlags.trusted()
        args = [b.ins_load(cl_type(p.type), flags, args_ptr, SLOT_BYTES * i) for i, p in enumerate(func.signature.params)]
        ref = b.import_signature(cl_signature(func.signature, ctx.default_conv))
        call = b.ins_call_indirect(ref, target, args)
        for i, value in enumerate(b.inst_results(call)):
            b.ins_store(flags, value, results_ptr, SLOT_BYTES * i)
        disarm()
        b.ins_return([])

    # In the worker, a trap jumps back here and the trampoline returns (`recover.py`).
    guard_call(b, ctx, ptr, body)
    return end_function(b)


def trampoline_key(func: Function) -> str:
    """What a trampoline for `func` depends on, in one module context: its signature (all of it,
    written from plain tuples: the dataclasses' own repr costs some 15 µs a signature)."""
    sig = func.signature
    return repr(([(p.type.name, p.extension, p.purpose) for p in sig.params],
                 [(r.type.name, r.extension, r.purpose) for r in sig.returns], sig.call_conv, sig.call_conv_written))


def begin_function(conv, params: list, builder=None):
    """A FunctionBuilder (`builder`, else a new one) for a function of `params` in convention
    `conv`, in its entry block: (builder, the parameters' values)."""
    b = builder if builder is not None else cl.FunctionBuilder()
    b.func_signature = new_signature(conv, params)
    block = b.create_block()
    b.append_block_params_for_function_params(block)
    b.switch_to_block(block)
    return b, b.block_params(block)


def end_function(b):
    b.seal_all_blocks()
    b.finalize()
    return b


def guard_call(b, ctx, ptr, body) -> None:
    """In a trampoline being built: ``if __sigsetjmp(JMP_BUF, 1) != 0: return``, arm, then
    `body(disarm)` (which ends the block it is given, calling `disarm()` before it returns).
    Without the recovery symbols, just `body(lambda: None)`."""
    setjmp = ctx.host_symbols.get(SETJMP_SYMBOL)
    buf = ctx.host_symbols.get(JMP_BUF_SYMBOL)
    record = ctx.host_symbols.get(RECORD_SYMBOL)
    if setjmp is None or buf is None or record is None:
        body(lambda: None)
        return
    ref = b.import_signature(new_signature(ctx.host_conv, [ptr, cl.Type.I32], [cl.Type.I32]))
    call = b.ins_call_indirect(ref, address_const(b, ptr, setjmp), [address_const(b, ptr, buf),
                                                                   b.ins_iconst(cl.Type.I32, 1)])
    run, done = b.create_block(), b.create_block()
    b.ins_brif(b.inst_results(call)[0], done, [], run, [])
    b.switch_to_block(done)
    b.ins_return([])
    b.switch_to_block(run)
    armed = address_const(b, ptr, record + 8 * ARMED)
    flags = cl.MemFlags.trusted()
    b.ins_store(flags, b.ins_iconst(cl.Type.I64, 1), armed, 0)
    body(lambda: b.ins_store(flags, b.ins_iconst(cl.Type.I64, 0), armed, 0))


def address_const(b, ptr, address):
    """An iconst of an address (a `hostdata.Address` is kept as it is, for replay.py)."""
    return b.ins_iconst(ptr, address if isinstance(address, Address) else signed64(address))


# -- values in slots ----------------------------------------------------------------------------


def pack_value(value, t: Type, byteorder: str = sys.byteorder) -> bytes:
    """One 16-byte slot holding `value` (an int bit pattern, or a tuple of lane patterns)."""
    if t.is_vector:
        lane = t.lane_bits // 8
        data = b"".join((int(v) & ((1 << t.lane_bits) - 1)).to_bytes(lane, byteorder) for v in value)
    else:
        data = (int(value) & ((1 << t.bits) - 1)).to_bytes(t.bytes, byteorder)
    if len(data) > SLOT_BYTES:
        raise ValueError(f"a {t} value does not fit a {SLOT_BYTES}-byte slot")
    return data.ljust(SLOT_BYTES, b"\0")


def unpack_value(data: bytes, t: Type, byteorder: str = sys.byteorder):
    if t.is_vector:
        lane = t.lane_bits // 8
        return tuple(int.from_bytes(data[i * lane : (i + 1) * lane], byteorder) for i in range(t.lanes))
    return int.from_bytes(data[: t.bytes], byteorder)


def pack_slots(values: Sequence, types: Sequence[Type], count: int = 0, byteorder: str = sys.byteorder) -> bytearray:
    """Slots for `values`, at least `count` of them (room for results)."""
    out = bytearray(SLOT_BYTES * max(len(types), count, 1))
    for i, (v, t) in enumerate(zip(values, types)):
        out[SLOT_BYTES * i : SLOT_BYTES * (i + 1)] = pack_value(v, t, byteorder)
    return out


def unpack_slots(data: bytes, types: Sequence[Type], byteorder: str = sys.byteorder) -> list:
    return [unpack_value(bytes(data[SLOT_BYTES * i : SLOT_BYTES * (i + 1)]), t, byteorder) for i, t in enumerate(types)]
