"""Going on after a trap: the native worker's executor runs its next request instead of ending.

Starting a process is most of what running a program costs (about 3 ms a forked child on
x86_64, 20 ms under QEMU), and a trap used to end the process running it, so a batch of run
lines needed one process per trap. Here the trampoline (`trampoline.build_trampoline`) calls ``__sigsetjmp(JMP_BUF, 1)``
before the function; the trap handler compiled code calls (`abi.TRAP_SYMBOL`) and the fault
signal handler are two small native functions, compiled with Cranelift once per worker, that
write what happened into `RECORD` and ``siglongjmp`` back into the trampoline, which returns
at once. No Python runs between the fault and the trampoline's return (a jump out of a Python
callback would leave the interpreter's frames inconsistent); the worker reads `RECORD` after
each call and classifies the fault as before (`faults.fault_result`).

The trampoline calls ``__sigsetjmp`` itself (`trampoline.guard_call`), so its frame is live whenever the jump is taken;
on the second return it only returns (it keeps no value across the call that the jump could
have left stale). The saved signal mask is restored by the jump, so a fault signal blocked
while its handler ran is unblocked again for the next request.

`RECORD` words (i64): 0 what happened (`NOTHING`, `TRAPPED`, `SIGNALLED`), 1 the trap code id
or the signal number, 2 the signal's si_code, 3 its fault address, 4 the pc, 5 the sp (when
the machine's ucontext layout is known, else 0), 6 (`ARMED`) set by the trampoline while its
jump buffer is live. Unarmed (a fault outside compiled code, or code reached through a
trampoline that saved no jump buffer, as another lowering's), the handlers hand over to the
Python ones, which report and end the child as without `recover`.
"""

from __future__ import annotations

import ctypes
from typing import Optional

import cranelift as cl

from . import abi
from .basics import signed64 as _signed

SETJMP_SYMBOL = "clifkit_sigsetjmp"  # int __sigsetjmp(jmp_buf, int savemask)
JMP_BUF_SYMBOL = "clifkit_jmp_buf"  # the buffer the trampoline saves into (an address)
RECORD_SYMBOL = "clifkit_trap_record"  # RECORD (an address)

NOTHING, TRAPPED, SIGNALLED = 0, 1, 2
RECORD_WORDS = 7
ARMED = 6  # RECORD word: nonzero while a trampoline's jump buffer is live
JMP_BUF_BYTES = 1024  # glibc's sigjmp_buf: 200 bytes on x86_64, 312 on aarch64, under 700 on s390x

# Kept alive for the life of the process: compiled code holds their addresses.
RECORD = (ctypes.c_int64 * RECORD_WORDS)()
_JMP_BUF = ctypes.create_string_buffer(JMP_BUF_BYTES)


class Recovery:
    """The native trap and signal handlers of this process (`build`), and the symbols the
    lowering and the trampolines need."""

    def __init__(self, jit, trap: int, signal_handler: int, setjmp: int):
        self.jit = jit  # owns the code
        self.trap = trap
        self.signal_handler = signal_handler
        self.setjmp = setjmp

    def symbols(self) -> dict[str, int]:
        return {abi.TRAP_SYMBOL: self.trap, SETJMP_SYMBOL: self.setjmp, JMP_BUF_SYMBOL: ctypes.addressof(_JMP_BUF),
                RECORD_SYMBOL: ctypes.addressof(RECORD)}


def clear() -> None:
    RECORD[0] = NOTHING


def outcome() -> Optional[tuple]:
    """What the last call's fault handlers recorded: None (it returned), ("trap", code id), or
    ("signal", signum, si_code, address, pc or None, sp or None)."""
    kind = RECORD[0]
    if kind == NOTHING:
        return None
    if kind == TRAPPED:
        return ("trap", RECORD[1])
    mask = (1 << 64) - 1
    return ("signal", RECORD[1], RECORD[2], RECORD[3] & mask, (RECORD[4] & mask) or None, (RECORD[5] & mask) or None)


def build(pc_sp: Optional[tuple[int, int]], python_trap: int, python_signal: int) -> Recovery:
    """Compile the handlers for this process's machine (`pc_sp`: where its ucontext keeps the
    pc and the sp, or None; `python_trap`, `python_signal`: the addresses of the handlers that
    end the child, for faults while unarmed). Raises when libc or Cranelift cannot provide them."""
    libc = ctypes.CDLL(None)
    setjmp = ctypes.cast(libc.__sigsetjmp, ctypes.c_void_p).value
    longjmp = ctypes.cast(libc.siglongjmp, ctypes.c_void_p).value
    from .lower import host_call_conv, host_triple
    from .trampoline import begin_function, end_function

    isa = cl.TargetIsa(host_triple())
    ptr = cl.Type.target_pointer_type(isa)
    conv = host_call_conv(host_triple())
    jit = cl.JITModule(isa)
    record = ctypes.addressof(RECORD)
    flags = cl.MemFlags.trusted()

    def jump_back(b, base) -> None:
        store(b, base, ARMED, b.ins_iconst(cl.Type.I64, 0))
        sig = cl.Signature(conv)
        sig.add_param(ptr)
        sig.add_param(cl.Type.I32)
        ref = b.import_signature(sig)
        b.ins_call_indirect(ref, b.ins_iconst(ptr, _signed(longjmp)),
                            [b.ins_iconst(ptr, _signed(ctypes.addressof(_JMP_BUF))), b.ins_iconst(cl.Type.I32, 1)])
        b.ins_trap(cl.TrapCode.STACK_OVERFLOW)  # siglongjmp does not return

    def store(b, base, word: int, value) -> None:
        b.ins_store(flags, value, base, 8 * word)

    def unless_armed(b, base, fallback: int, params: list, args: list) -> None:
        """Hand over to `fallback` (which does not return) unless a trampoline is armed."""
        armed, unarmed = b.create_block(), b.create_block()
        b.ins_brif(b.ins_load(cl.Type.I64, flags, base, 8 * ARMED), armed, [], unarmed, [])
        b.switch_to_block(unarmed)
        sig = cl.Signature(conv)
        for p in params:
            sig.add_param(p)
        b.ins_call_indirect(b.import_signature(sig), b.ins_iconst(ptr, _signed(fallback)), args)
        b.ins_trap(cl.TrapCode.STACK_OVERFLOW)
        b.switch_to_block(armed)

    def trap_fn():
        b, (code,) = begin_function(conv, [cl.Type.I32])
        base = b.ins_iconst(ptr, _signed(record))
        unless_armed(b, base, python_trap, [cl.Type.I32], [code])
        store(b, base, 1, b.ins_uextend(cl.Type.I64, code))
        store(b, base, 0, b.ins_iconst(cl.Type.I64, TRAPPED))
        jump_back(b, base)
        return end_function(b)

    def signal_fn():
        b, (signum, info, uc) = begin_function(conv, [cl.Type.I32, ptr, ptr])
        base = b.ins_iconst(ptr, _signed(record))
        unless_armed(b, base, python_signal, [cl.Type.I32, ptr, ptr], [signum, info, uc])
        store(b, base, 1, b.ins_uextend(cl.Type.I64, signum))
        store(b, base, 2, b.ins_sextend(cl.Type.I64, b.ins_load(cl.Type.I32, flags, info, 8)))
        store(b, base, 3, b.ins_load(cl.Type.I64, flags, info, 16))
        if pc_sp is not None:
            store(b, base, 4, b.ins_load(cl.Type.I64, flags, uc, pc_sp[0]))
            store(b, base, 5, b.ins_load(cl.Type.I64, flags, uc, pc_sp[1]))
        else:
            store(b, base, 4, b.ins_iconst(cl.Type.I64, 0))
            store(b, base, 5, b.ins_iconst(cl.Type.I64, 0))
        store(b, base, 0, b.ins_iconst(cl.Type.I64, SIGNALLED))
        jump_back(b, base)
        return end_function(b)

    ids = []
    for name, params, make in (("clifkit_trap_jump", [cl.Type.I32], trap_fn),
                               ("clifkit_signal_jump", [cl.Type.I32, ptr, ptr], signal_fn)):
        sig = cl.Signature(conv)
        for p in params:
            sig.add_param(p)
        fid = jit.declare_function(name, cl.Linkage.Local, sig)
        jit.define_function(fid, make())
        ids.append(fid)
    jit.finalize_definitions()
    return Recovery(jit, jit.get_finalized_function(ids[0]), jit.get_finalized_function(ids[1]), setjmp)
