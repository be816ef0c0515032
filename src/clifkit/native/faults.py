"""Fault handling where compiled code runs: what a trap, a fault or a death of compiled code is.

The worker's executor (`supervisor.py`), or a child it forks, runs compiled code with the
handlers installed here (each called "the child" below, as the process that runs the code). The trap handler (`abi.TRAP_SYMBOL`)
and ``%heap_grow`` are ctypes callbacks handed to the lowering as host symbols; a fault signal
runs an ``SA_SIGINFO`` handler on an alternate stack (so that a stack overflow is handled too),
which reads the fault address and the program counter and classifies them: an address in a
heap's reserved or guard pages is ``heap_oob``, one below the stack ``stk_ovf``, anything else a
crash. Each handler writes one record to the parent and ends the child. All of it goes through
ctypes and glibc's Linux structures, per machine; nothing here speaks the protocol but
`write_record`.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from typing import Optional

from . import abi, recover
from .host import host_arch
from .memory import PAGE_SIZE, PROT_RW, Mapping
from .protocol import send

from ..environment.layout import GROW_FUNCTION as GROW_SYMBOL  # noqa: E402

ALT_STACK_BYTES = 1 << 20  # the signal handler runs Python: give it room
CHILD_STACK_LIMIT = 8 << 20  # a child's stack may grow this far (runaway recursion ends there)
STACK_GUARD_SLACK = 4 << 20  # faults this far below the lowest possible stack page are stk_ovf too

FAULT_SIGNALS = ("SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGTRAP")

# si_code values (Linux) for crash reports.
_SI_CODES = {
    "SIGSEGV": {1: "SEGV_MAPERR: address not mapped", 2: "SEGV_ACCERR: access not permitted"},
    "SIGBUS": {1: "BUS_ADRALN: misaligned address", 2: "BUS_ADRERR: no such physical address", 3: "BUS_OBJERR"},
    "SIGILL": {1: "ILL_ILLOPC: illegal opcode", 2: "ILL_ILLOPN", 3: "ILL_ILLADR", 4: "ILL_ILLTRP", 5: "ILL_PRVOPC",
               6: "ILL_PRVREG", 7: "ILL_COPROC", 8: "ILL_BADSTK"},
    "SIGFPE": {1: "FPE_INTDIV: integer divide by zero", 2: "FPE_INTOVF: integer overflow", 3: "FPE_FLTDIV",
               4: "FPE_FLTOVF", 5: "FPE_FLTUND", 6: "FPE_FLTRES", 7: "FPE_FLTINV", 8: "FPE_FLTSUB"},
}

# Where a signal handler's ucontext keeps the program counter and the stack pointer (glibc,
# Linux), per machine. Unknown machines report no pc.
_UCONTEXT_PC_SP = {
    "x86_64": (168, 160),  # uc_mcontext.gregs[REG_RIP], gregs[REG_RSP]
    "aarch64": (440, 432),  # uc_mcontext.pc, .sp
    "riscv64": (176, 192),  # uc_mcontext.__gregs[0] (pc), [2] (sp)
    # uc_mcontext (at 40, after uc_flags, uc_link, uc_stack) is _sigregs: psw {mask, addr},
    # then gregs[16]; r15 is the stack pointer.
    "s390x": (48, 176),  # uc_mcontext.psw.addr, gregs[15]
}


# -- signal handling through ctypes ---------------------------------------------------------------


_SIGSET_WORDS = 1024 // (8 * ctypes.sizeof(ctypes.c_ulong))


class _SigActionGeneric(ctypes.Structure):
    # glibc's struct sigaction on Linux x86-64, aarch64, riscv64: handler, mask, flags, restorer.
    _fields_ = [
        ("sa_sigaction", ctypes.c_void_p),
        ("sa_mask", ctypes.c_ulong * _SIGSET_WORDS),
        ("sa_flags", ctypes.c_int),
        ("sa_restorer", ctypes.c_void_p),
    ]


class _SigActionS390x(ctypes.Structure):
    # glibc's struct sigaction on s390x (bits/sigaction.h): handler, a reserved int, flags,
    # restorer, then the mask.
    _fields_ = [
        ("sa_sigaction", ctypes.c_void_p),
        ("_reserved", ctypes.c_int),
        ("sa_flags", ctypes.c_int),
        ("sa_restorer", ctypes.c_void_p),
        ("sa_mask", ctypes.c_ulong * _SIGSET_WORDS),
    ]


_SigAction = _SigActionS390x if host_arch() == "s390x" else _SigActionGeneric


class _StackT(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


SA_SIGINFO = 0x4
SA_ONSTACK = 0x08000000
SA_RESETHAND = 0x80000000

_HANDLER_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
_TRAP_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_int32)
_GROW_TYPE = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint32, ctypes.c_uint64)


def _stack_range() -> Optional[tuple[int, int]]:
    """The main thread's stack mapping [lo, hi), from /proc/self/maps."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                if line.rstrip().endswith("[stack]"):
                    lo, hi = line.split()[0].split("-")
                    return int(lo, 16), int(hi, 16)
    except OSError:
        pass
    return None


class Child:
    """What the signal and trap handlers of a running child need (module-level: one per process)."""

    fd: int = -1
    index: int = -1
    env = None
    stack: Optional[tuple[int, int]] = None  # [lowest address the stack may reach, top)
    machine: str = ""
    pointer_bytes: int = 8
    functions: dict = {}  # name -> address of the compiled function (for crash locations)


# The request index a fault handler reports while the executor sets a batch up (`Worker.run_here`).
SETTING_UP = -1


def write_record(record: dict) -> None:
    try:
        send(Child.fd, (Child.index, record))
    finally:
        os._exit(0)


def goes_on() -> tuple:
    """Result kinds after which a child runs its next request: with `recover`, traps too."""
    return ("returned", "skipped", "error", "trapped") if _RECOVERY is not None else ("returned", "skipped", "error")


def trap_result(code_id: int) -> dict:
    """The result of a request whose code called the trap handler with `code_id`."""
    code = abi.trap_code_name(code_id)
    if code is None:
        return {"kind": "crashed", "signal": None, "signame": None, "address": None, "pc": None,
                "code": None, "detail": f"the trap handler was called with unknown trap code {code_id}"}
    return {"kind": "trapped", "code": code, "detail": ""}


def _on_trap(code_id: int) -> None:
    write_record(trap_result(code_id))


def _on_grow(vmctx: int, index: int, delta: int) -> int:
    env = Child.env
    if env is None:
        return (1 << 64) - 1
    # Python runs here: a fault now must not jump back into the trampoline past its frames, so the
    # jump buffer is disarmed (the Python handlers then report a crash) until compiled code resumes.
    armed = recover.RECORD[recover.ARMED]
    recover.RECORD[recover.ARMED] = 0
    try:
        return env.grow(vmctx, index, delta)
    except Exception:
        return (1 << 64) - 1
    finally:
        recover.RECORD[recover.ARMED] = armed


def _read_word(address: int, size: int) -> int:
    return int.from_bytes(ctypes.string_at(address, size), sys.byteorder)


def _on_signal(signum: int, info: int, ucontext: int) -> None:
    """An SA_SIGINFO handler (without `recover`): classify the fault, report it, end the child."""
    address = pc = sp = None
    si_code = None
    try:
        ptr = Child.pointer_bytes
        si_code = ctypes.c_int.from_address(info + 8).value
        address = _read_word(info + (16 if ptr == 8 else 12), ptr)
        where = _UCONTEXT_PC_SP.get(Child.machine)
        if where is not None and ucontext:
            pc = _read_word(ucontext + where[0], ptr)
            sp = _read_word(ucontext + where[1], ptr)
    except Exception:
        pass
    write_record(fault_result(signum, si_code, address, pc, sp))


def fault_result(signum: int, si_code: Optional[int], address: Optional[int], pc: Optional[int],
                 sp: Optional[int]) -> dict:
    """The result of a request whose code raised fault signal `signum`: a trap when the address
    is in a heap's reserved or guard pages or below the stack, else a crash."""
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    code = None
    if name in ("SIGSEGV", "SIGBUS") and address is not None:
        env = Child.env
        if env is not None:
            code = env.classify(address)
        if code is None and Child.stack is not None:
            lo, hi = Child.stack
            if lo <= address < hi:
                code = "stk_ovf"
    if code is not None:
        return {"kind": "trapped", "code": code, "detail": f"{name} at address 0x{address:x}"}
    detail = _SI_CODES.get(name, {}).get(si_code, f"si_code {si_code}" if si_code is not None else "")
    env = Child.env
    if env is not None and address is not None:
        described = env.describe(address)
        if described:
            detail += f"; the address is in {described}"
    return {"kind": "crashed", "signal": signum, "signame": name, "address": address, "pc": pc,
            "sp": sp, "where": _code_location(pc), "code": si_code, "detail": detail}


def _code_location(pc: Optional[int]) -> Optional[str]:
    """``%f+0x1c``: the compiled function `pc` is in (the nearest start below it), when known."""
    if pc is None or not Child.functions:
        return None
    best = None
    for name, start in Child.functions.items():
        if start <= pc and (best is None or start > best[1]):
            best = (name, start)
    if best is None or pc - best[1] > (1 << 20):
        return None
    return f"{best[0]}+0x{pc - best[1]:x}"


# Kept alive for the life of the process: compiled code and the kernel hold their addresses.
_TRAP_CALLBACK = _TRAP_TYPE(_on_trap)
_GROW_CALLBACK = _GROW_TYPE(_on_grow)
_SIGNAL_CALLBACK = _HANDLER_TYPE(_on_signal)
_ALT_STACK: Optional[Mapping] = None
_LIBC = None
_ACTION: Optional["_SigAction"] = None
_RECOVERY: Optional[recover.Recovery] = None  # the native handlers: a trap does not end its child
_RECOVERY_TRIED = False
NO_RECOVERY_ENV = "CLIFKIT_NATIVE_NO_RECOVERY"  # set to 1: every trap ends its child (as before `recover`)


def _recovery() -> Optional[recover.Recovery]:
    global _RECOVERY, _RECOVERY_TRIED
    if not _RECOVERY_TRIED:
        _RECOVERY_TRIED = True
        if os.environ.get(NO_RECOVERY_ENV) != "1" and ctypes.sizeof(ctypes.c_void_p) == 8:
            try:
                _RECOVERY = recover.build(_UCONTEXT_PC_SP.get(host_arch()),
                                          ctypes.cast(_TRAP_CALLBACK, ctypes.c_void_p).value,
                                          ctypes.cast(_SIGNAL_CALLBACK, ctypes.c_void_p).value)
            except Exception:
                _RECOVERY = None  # no libc symbols or no host ISA: the Python handlers end the child
    return _RECOVERY


def host_symbols() -> dict[str, int]:
    """The host functions compiled code may call, by symbol (with `recover`, the trap handler
    is native, and the trampolines find their jump buffer here)."""
    symbols = {
        abi.TRAP_SYMBOL: ctypes.cast(_TRAP_CALLBACK, ctypes.c_void_p).value,
        GROW_SYMBOL: ctypes.cast(_GROW_CALLBACK, ctypes.c_void_p).value,
    }
    rec = _recovery()
    if rec is not None:
        symbols.update(rec.symbols())
    return symbols


def prepare_fault_handling() -> None:
    """In the worker, once: what every child needs to install its handlers quickly (an alternate
    signal stack, inherited through fork, and the sigaction record)."""
    global _ALT_STACK, _LIBC, _ACTION
    if _ALT_STACK is not None:
        return
    _LIBC = ctypes.CDLL(None, use_errno=True)
    _ALT_STACK = Mapping(ALT_STACK_BYTES + PAGE_SIZE)
    _ALT_STACK.protect(PAGE_SIZE, ALT_STACK_BYTES, PROT_RW)  # the lowest page stays a guard
    _ACTION = _SigAction()
    rec = _recovery()
    if rec is not None:
        # The native handler jumps back into the trampoline: it stays installed for the next request.
        _ACTION.sa_sigaction = rec.signal_handler
        _ACTION.sa_flags = SA_SIGINFO | SA_ONSTACK
    else:
        _ACTION.sa_sigaction = ctypes.cast(_SIGNAL_CALLBACK, ctypes.c_void_p).value
        _ACTION.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND


def install_fault_handlers() -> None:
    """In a child: the alternate signal stack and SA_SIGINFO handlers for the fault signals."""
    prepare_fault_handling()
    libc, action = _LIBC, _ACTION
    ss = _StackT(_ALT_STACK.addr + PAGE_SIZE, 0, ALT_STACK_BYTES)
    if libc.sigaltstack(ctypes.byref(ss), None) != 0:
        raise OSError(ctypes.get_errno(), "sigaltstack failed")
    for name in FAULT_SIGNALS:
        signum = getattr(signal, name, None)
        if signum is None:
            continue
        if libc.sigaction(int(signum), ctypes.byref(action), None) != 0:
            raise OSError(ctypes.get_errno(), f"sigaction({name}) failed")


def rehearse() -> None:
    """In the worker, once: the ctypes calls `install_fault_handlers` and `die_with_parent` make in
    every child, as queries that change nothing. Under QEMU, code translated in the worker is
    inherited through fork, so the children no longer each translate these paths again."""
    prepare_fault_handling()
    libc = _LIBC
    libc.sigaction(int(signal.SIGSEGV), None, ctypes.byref(_SigAction()))
    libc.sigaltstack(None, ctypes.byref(_StackT()))
    if sys.platform.startswith("linux"):
        libc.prctl(2, ctypes.byref(ctypes.c_int()), 0, 0, 0)  # PR_GET_PDEATHSIG
    recover.clear()
    recover.outcome()


def limit_stack() -> Optional[tuple[int, int]]:
    """Cap the child's stack (so runaway recursion ends soon) and say which addresses a stack
    overflow faults at: from below the lowest page the stack may reach up to its top."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
        limit = CHILD_STACK_LIMIT
        if soft != resource.RLIM_INFINITY and soft < limit:
            limit = soft
        elif hard == resource.RLIM_INFINITY or hard >= limit:
            resource.setrlimit(resource.RLIMIT_STACK, (limit, hard))
    except (ImportError, ValueError, OSError):
        limit = CHILD_STACK_LIMIT
    found = _stack_range()
    if found is None:
        return None
    lo, hi = found
    # Under QEMU user-mode emulation the stack is a fixed mapping (its size chosen when QEMU
    # started, whatever the limit says): an overflow faults below that mapping's start.
    return max(min(hi - limit, lo) - STACK_GUARD_SLACK, 0), hi




def die_with_parent() -> None:
    """Linux: be killed when the worker ends (even by SIGKILL), so no code runs on orphaned."""
    if not sys.platform.startswith("linux"):
        return
    try:
        prepare_fault_handling()
        _LIBC.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def blame_end(results: list, answered: int, end: int, status: int, last: Optional[str], reported: bool) -> int:
    """After the process running requests[..end] ended with wait `status`, having answered those
    before `answered` (the last of kind `last`; `reported`: it said why it stops): the request it
    was running gets its death, unless it had reported it or it ended after a trap reached through
    a trampoline that saved no jump buffer (another lowering's: it then exits 0, and the rest goes
    to a new process). The first request left unanswered."""
    after_trap = last == "trapped" and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    if not reported and not after_trap and answered < end and results[answered] is None:
        results[answered] = death(status)
        answered += 1
    return answered


def death(status: int) -> dict:
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        return {"kind": "crashed", "signal": signum, "signame": name, "address": None, "pc": None, "code": None,
                "detail": "killed before its fault handler could report"}
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else status
    return {"kind": "error", "message": f"the child running the call exited (status {code}) without answering"}
