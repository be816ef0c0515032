"""The native worker: compiles a file's functions once and runs them, isolated, in forked children.

Started as ``python -m clifkit.native.worker`` (on the host, or later under
emulation for another ISA); speaks `clifkit.native.protocol` on its stdin and
stdout. Anything else the process writes to its standard output (a panic
message, stray prints) goes to its standard error instead, so it never
corrupts the protocol.

The worker parses the CLIF text it is sent with clifkit's reader (or takes
the functions sent as clifkit IR, as the fuzzer sends them) and compiles
every function with `compile_module` (``clifkit.native.lower``), handing it
two host symbols: the trap handler (`abi.TRAP_SYMBOL`, ``(i32 code) -> ()``)
and ``%heap_grow`` (``(i64 vmctx, i32 heap, i64 delta) -> i64``), both ctypes
callbacks.

Compiled code never runs in the worker itself. For each batch of run
requests the worker forks a child, which runs the requests in order, each
with fresh guarded memory for its environment (`clifkit.native.memory`), and
writes one result per request to a pipe. A request that does not return:

* the trap handler reports the trap code;
* a fault (``SIGSEGV``, ``SIGBUS``, ``SIGILL``, ``SIGFPE``, ``SIGTRAP``) runs an
  ``SA_SIGINFO`` handler, on an alternate signal stack so that it also runs
  when the fault is a stack overflow, which receives the fault address and
  the program counter: an address in a heap's reserved or guard pages is a
  ``heap_oob`` trap, one in the guard region below the stack a ``stk_ovf``
  trap, anything else a crash, reported with its signal;
* a child that dies some other way, or does not answer within the timeout
  (then it is killed), is reported for the request it was running.

Both handlers are native code (`recover.py`) that jumps back into the
trampoline, so after a trap the child goes on with its next request; after
a crash it ends, and the worker forks a new child for the rest of the batch.
Where that cannot be set up (`NO_RECOVERY_ENV`, or no ``__sigsetjmp``), the
handlers are Python callbacks that report and end the child after a trap too. With
``isolation="call"`` every request gets a child of its own.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import platform
import signal
import sys
import time
import traceback
from typing import Optional

from . import abi, recover
from ..runtest.targets import target_byteorder
from .memory import PAGE_SIZE, PROT_RW, Mapping, environment_from_wire, materialize
from .protocol import SLOT_BYTES, ChannelClosed, ProtocolError, Timeout, pack_slots, recv, send, unpack_slots

DEFAULT_COMPILER = "clifkit.native.lower:compile_module"
GROW_SYMBOL = "%heap_grow"

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


def _machine() -> str:
    m = platform.machine().lower()
    return {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}.get(m, m)


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


_SigAction = _SigActionS390x if platform.machine().lower() == "s390x" else _SigActionGeneric


class _StackT(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


SA_SIGINFO = 0x4
SA_ONSTACK = 0x08000000
SA_RESETHAND = 0x80000000

_HANDLER_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
_TRAP_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_int32)
_GROW_TYPE = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint32, ctypes.c_uint64)
_TRAMPOLINE_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)


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


class _Child:
    """What the signal and trap handlers of a running child need (module-level: one per process)."""

    fd: int = -1
    index: int = -1
    env = None
    stack: Optional[tuple[int, int]] = None  # [lowest address the stack may reach, top)
    machine: str = ""
    pointer_bytes: int = 8
    functions: dict = {}  # name -> address of the compiled function (for crash locations)


def _goes_on() -> tuple:
    """Result kinds after which a child runs its next request: with `recover`, traps too."""
    return ("returned", "skipped", "error", "trapped") if _RECOVERY is not None else ("returned", "skipped", "error")


def _write_record(record: dict) -> None:
    try:
        send(_Child.fd, (_Child.index, record))
    finally:
        os._exit(0)


def trap_result(code_id: int) -> dict:
    """The result of a request whose code called the trap handler with `code_id`."""
    code = abi.trap_code_name(code_id)
    if code is None:
        return {"kind": "crashed", "signal": None, "signame": None, "address": None, "pc": None,
                "code": None, "detail": f"the trap handler was called with unknown trap code {code_id}"}
    return {"kind": "trapped", "code": code, "detail": ""}


def _on_trap(code_id: int) -> None:
    _write_record(trap_result(code_id))


def _on_grow(vmctx: int, index: int, delta: int) -> int:
    env = _Child.env
    if env is None:
        return (1 << 64) - 1
    try:
        return env.grow(vmctx, index, delta)
    except Exception:
        return (1 << 64) - 1


def _read_word(address: int, size: int) -> int:
    return int.from_bytes(ctypes.string_at(address, size), sys.byteorder)


def _on_signal(signum: int, info: int, ucontext: int) -> None:
    """An SA_SIGINFO handler (without `recover`): classify the fault, report it, end the child."""
    address = pc = sp = None
    si_code = None
    try:
        ptr = _Child.pointer_bytes
        si_code = ctypes.c_int.from_address(info + 8).value
        address = _read_word(info + (16 if ptr == 8 else 12), ptr)
        where = _UCONTEXT_PC_SP.get(_Child.machine)
        if where is not None and ucontext:
            pc = _read_word(ucontext + where[0], ptr)
            sp = _read_word(ucontext + where[1], ptr)
    except Exception:
        pass
    _write_record(fault_result(signum, si_code, address, pc, sp))


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
        env = _Child.env
        if env is not None:
            code = env.classify(address)
        if code is None and _Child.stack is not None:
            lo, hi = _Child.stack
            if lo <= address < hi:
                code = "stk_ovf"
    if code is not None:
        return {"kind": "trapped", "code": code, "detail": f"{name} at address 0x{address:x}"}
    detail = _SI_CODES.get(name, {}).get(si_code, f"si_code {si_code}" if si_code is not None else "")
    env = _Child.env
    if env is not None and address is not None:
        described = env.describe(address)
        if described:
            detail += f"; the address is in {described}"
    return {"kind": "crashed", "signal": signum, "signame": name, "address": address, "pc": pc,
            "sp": sp, "where": _code_location(pc), "code": si_code, "detail": detail}


def _code_location(pc: Optional[int]) -> Optional[str]:
    """``%f+0x1c``: the compiled function `pc` is in (the nearest start below it), when known."""
    if pc is None or not _Child.functions:
        return None
    best = None
    for name, start in _Child.functions.items():
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
                _RECOVERY = recover.build(_UCONTEXT_PC_SP.get(_machine()),
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


def _prepare_fault_handling() -> None:
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


def _install_fault_handlers() -> None:
    """In a child: the alternate signal stack and SA_SIGINFO handlers for the fault signals."""
    _prepare_fault_handling()
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


def _limit_stack() -> Optional[tuple[int, int]]:
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


# -- targets --------------------------------------------------------------------------------------

_POINTER_32_ARCHES = ("pulley32", "pulley32be", "i686", "x86", "arm", "riscv32")


def target_layout(triple: Optional[str]) -> tuple[str, int]:
    """(byte order, pointer bytes) of the target: from the triple, else this process's own."""
    if not triple:
        return sys.byteorder, ctypes.sizeof(ctypes.c_void_p)
    arch = triple.split("-")[0]
    return target_byteorder(triple), 4 if arch in _POINTER_32_ARCHES else 8


# -- the worker ---------------------------------------------------------------------------------


class Worker:
    def __init__(self) -> None:
        self.module = None
        self.functions: dict = {}  # name -> clifkit Function
        self.entries: dict = {}  # name -> ctypes trampoline
        self.signatures: dict = {}  # name -> (param types, return types)
        self.unavailable: dict = {}  # name -> why it was not compiled
        self.addresses: dict = {}  # name -> address of the compiled function, when the module says
        self.byteorder, self.pointer_bytes = target_layout(None)
        self._accepts: dict = {}
        self._loaded_key: Optional[tuple] = None  # what the module compiled last was compiled from
        self._loaded_reply: Optional[dict] = None
        self.machine = _machine()
        self.stack = _limit_stack()  # for the children: where a stack overflow faults
        _prepare_fault_handling()

    # -- messages ---------------------------------------------------------------------------

    def handle(self, msg: dict) -> Optional[dict]:
        op = msg.get("op")
        if op == "hello":
            return self.hello()
        if op == "load":
            return self.load(msg)
        if op == "run":
            return self.run(msg.get("requests", []), msg.get("timeout"), msg.get("isolation", "batch"))
        if op == "inspect":
            return self.inspect(bool(msg.get("code")), bool(msg.get("listing")))
        return {"ok": False, "kind": "error", "message": f"unknown request {op!r}"}

    def hello(self) -> dict:
        try:
            import cranelift  # noqa: F401

            version = getattr(cranelift, "__version__", "") or "present"
        except ImportError:
            version = None
        return {"ok": True, "pid": os.getpid(), "byteorder": sys.byteorder,
                "pointer_bytes": ctypes.sizeof(ctypes.c_void_p), "python": platform.python_version(),
                "cranelift": version, "machine": self.machine}

    def _flag_accepted(self, triple: Optional[str], name: str, value: str) -> bool:
        key = (triple, name, value)
        if key not in self._accepts:
            try:
                import cranelift

                cranelift.TargetIsa(triple or _host_triple(), **{name: value})
                self._accepts[key] = True
            except Exception:
                self._accepts[key] = False
        return self._accepts[key]

    def _accepted_flags(self, triple: Optional[str], wanted: dict) -> tuple[dict, list]:
        flags, ignored = {}, []
        for name, value in wanted.items():
            if self._flag_accepted(triple, name, value):
                flags[name] = value
            else:
                ignored.append(name if value == "true" else f"{name}={value}")
        return flags, ignored

    def load(self, msg: dict) -> dict:
        """Compile a file. A file loaded again with the flags the binding takes unchanged (a
        target variant whose ISA flags the binding ignores, e.g. ``target aarch64 has_lse`` after
        ``target aarch64``) keeps the module compiled last: only the ignored flags differ."""
        triple = msg.get("triple")
        flags, ignored = self._accepted_flags(triple, msg.get("flags") or {})
        key = (msg.get("source"), msg.get("path"), triple, msg.get("compiler"), tuple(sorted(flags.items())))
        if msg.get("functions") is None and key == self._loaded_key and self._loaded_reply is not None:
            return dict(self._loaded_reply, ignored_flags=ignored, seconds=0.0)
        self._loaded_key = self._loaded_reply = None
        reply = self._load(msg, triple, flags, ignored)
        if reply.get("ok") and msg.get("functions") is None:
            self._loaded_key, self._loaded_reply = key, reply
        return reply

    def _load(self, msg: dict, triple: Optional[str], flags: dict, ignored: list) -> dict:
        started = time.perf_counter()
        self.module = None
        self.functions, self.entries, self.signatures, self.unavailable = {}, {}, {}, {}
        self.addresses = {}
        self.byteorder, self.pointer_bytes = target_layout(triple)
        functions = msg.get("functions")
        if functions is None:
            try:
                from ..reader import parse_text

                tf = parse_text(msg["source"], msg.get("path") or "<worker>")
            except Exception as e:
                return {"ok": False, "kind": "error", "message": f"the worker cannot read the file: {_one_line(e)}"}
            functions = [d.function for d in tf.functions]
        try:
            compile_module, unsupported = _compiler(msg.get("compiler") or DEFAULT_COMPILER)
        except Exception as e:
            return {"ok": False, "kind": "unsupported", "message": f"the lowering is not available: {_one_line(e)}"}
        # Compile the whole file; when the lowering refuses one function, leave it (and whatever
        # calls it) out and compile the rest.
        left = list(functions)
        while True:
            try:
                module = compile_module(left, triple=triple, features=flags, host_symbols=host_symbols())
                break
            except unsupported as e:
                name = getattr(e, "function", None)
                reason = _one_line(e)
                if name is None or name not in {f.name for f in left}:
                    return {"ok": False, "kind": "unsupported", "message": reason}
                dropped = _with_callers(left, name)
                for f in left:
                    if f.name in dropped:
                        self.unavailable[f.name] = reason if f.name == name else f"it calls {name}: {reason}"
                left = [f for f in left if f.name not in dropped]
                if not left:
                    return {"ok": True, "functions": dict(self.unavailable), "ignored_flags": ignored,
                            "seconds": time.perf_counter() - started}
            except Exception as e:
                return {"ok": False, "kind": "error", "message": f"compiling failed: {_one_line(e)}",
                        "traceback": traceback.format_exc(limit=8)}
        self.module = module
        for f in left:
            try:
                entry = module.entry(f.name)
                params, returns = module.signature(f.name)
                self.entries[f.name] = _TRAMPOLINE_TYPE(entry)
                self.signatures[f.name] = (_types(params), _types(returns))
                self.functions[f.name] = f
                address = getattr(module, "address", None)
                if address is not None:
                    try:
                        self.addresses[f.name] = address(f.name)
                    except Exception:
                        pass
            except unsupported as e:
                self.unavailable[f.name] = _one_line(e)
            except Exception as e:
                self.unavailable[f.name] = f"no entry point: {_one_line(e)}"
        status = {f.name: self.unavailable.get(f.name) for f in functions}
        return {"ok": True, "functions": status, "ignored_flags": ignored, "seconds": time.perf_counter() - started}

    def inspect(self, code: bool, listing: bool) -> dict:
        """What `clifkit compile` and `clifkit lower` show of the module loaded last: each
        function's machine code, and the CLIF the lowering handed to Cranelift."""
        if self.module is None:
            return {"ok": False, "kind": "error", "message": "no module is loaded"}
        out: dict = {}
        for name in self.functions:
            found: dict = {}
            try:
                if code:
                    size = self.module.code_size(name)
                    found["size"] = size
                    found["code"] = ctypes.string_at(self.module.address(name), size) if size else None
                if listing:
                    from .listing import lowering_listing

                    found["listing"], found["decisions"] = lowering_listing(self.module, name)
            except Exception as e:
                found = {"error": _one_line(e)}
            out[name] = found
        for name, reason in self.unavailable.items():
            out[name] = {"error": reason}
        return {"ok": True, "functions": out, "machine": self.machine}

    # -- running ------------------------------------------------------------------------------

    def run(self, requests: list, timeout: Optional[float], isolation: str) -> dict:
        results: list = [None] * len(requests)
        children = 0
        i = 0
        while i < len(requests):
            # Requests the worker can answer without running code.
            req = requests[i]
            if req["function"] not in self.entries:
                reason = self.unavailable.get(req["function"]) or f"{req['function']} was not compiled"
                results[i] = {"kind": "skipped", "reason": reason}
                i += 1
                continue
            end = i + 1
            if isolation != "call":
                while end < len(requests) and requests[end]["function"] in self.entries:
                    end += 1
            children += 1
            i = self._run_child(requests, i, end, results, timeout)
        return {"ok": True, "results": results, "children": children}

    def _run_child(self, requests: list, start: int, end: int, results: list, timeout: Optional[float]) -> int:
        """Run requests[start:end] in a forked child; the index of the first request left unanswered."""
        r, w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child
            try:
                os.close(r)
                self._child(w, requests, start, end)
            finally:
                os._exit(0)
        os.close(w)
        answered = start
        status = None
        reported_end = False  # the child said why it stops (a crash, or a trap without `recover`)
        last = None
        try:
            while answered < end:
                try:
                    index, result = recv(r, timeout)
                except Timeout:
                    os.kill(pid, signal.SIGKILL)
                    _, status = os.waitpid(pid, 0)
                    results[answered] = {"kind": "timeout", "seconds": timeout}
                    return answered + 1
                except (ChannelClosed, ProtocolError):
                    break
                results[index] = result
                answered = index + 1
                last = result["kind"]
                if last not in _goes_on():
                    reported_end = True
                    break  # the child ends after a crash (and, without `recover`, a trap)
        finally:
            os.close(r)
            if status is None:
                _, status = os.waitpid(pid, 0)
        # A trap reached through a trampoline that saved no jump buffer (another lowering's)
        # still ends its child, which exits 0: the rest of the batch goes to a new child.
        ended_after_trap = last == "trapped" and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        if not reported_end and not ended_after_trap and answered < end and results[answered] is None:
            results[answered] = _death(status)
            answered += 1
        return answered

    def _child(self, fd: int, requests: list, start: int, end: int) -> None:
        _die_with_parent()
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C stops runaway code at once
        _Child.fd = fd
        _Child.machine = self.machine
        _Child.pointer_bytes = ctypes.sizeof(ctypes.c_void_p)
        _Child.functions = self.addresses
        _Child.stack = self.stack
        _install_fault_handlers()
        for index in range(start, end):
            _Child.index = index
            _chaos()
            try:
                result = self._call(requests[index])
            except Exception as e:
                result = {"kind": "error", "message": f"the worker could not run the call: {_one_line(e)}"}
            send(fd, (index, result))
            if result["kind"] not in _goes_on():
                break  # a crash: this process may be in any state

    def _call(self, req: dict) -> dict:
        name = req["function"]
        params, returns = self.signatures[name]
        args = list(req["args"])
        env = None
        if req.get("env") is not None:
            env = materialize(environment_from_wire(req["env"]), byteorder=self.byteorder)
            args = [env.vmctx, *args]
        try:
            if len(args) != len(params):
                return {"kind": "error", "message": f"{name} takes {len(params)} arguments, the request has {len(args)}"}
            arg_buf = ctypes.create_string_buffer(pack_slots(args, params, self.byteorder), SLOT_BYTES * max(len(params), 1))
            res_buf = ctypes.create_string_buffer(SLOT_BYTES * max(len(returns), 1))
            _Child.env = env
            entry = self.entries[name]
            recover.clear()
            started = time.perf_counter()
            entry(ctypes.addressof(arg_buf), ctypes.addressof(res_buf))
            seconds = time.perf_counter() - started
            happened = recover.outcome()
            if happened is not None:  # a trap or a fault jumped back (`recover`)
                return trap_result(happened[1]) if happened[0] == "trap" else fault_result(*happened[1:])
            _Child.env = None
            result = {"kind": "returned", "values": unpack_slots(res_buf.raw, returns, self.byteorder)}
            if req.get("time"):
                result["seconds"] = seconds
            return result
        finally:
            _Child.env = None
            if env is not None:
                env.release()


# Testing only (clifkit's own tests of lost results): CLIFKIT_NATIVE_CHAOS=P makes the worker die,
# killed by SIGKILL, before each run request with probability P, as a worker crash would.
_CHAOS = float(os.environ.get("CLIFKIT_NATIVE_CHAOS") or 0)


def _chaos() -> None:
    """In a child, before a request: kill the worker (and this child) with probability `_CHAOS`."""
    if _CHAOS > 0:
        import random

        if random.SystemRandom().random() < _CHAOS:
            os.kill(os.getppid(), signal.SIGKILL)
            os._exit(1)


def _die_with_parent() -> None:
    """Linux: be killed when the worker ends (even by SIGKILL), so no code runs on orphaned."""
    if not sys.platform.startswith("linux"):
        return
    try:
        _prepare_fault_handling()
        _LIBC.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _death(status: int) -> dict:
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


def _types(types) -> list:
    from ..ir.types import Type, parse_type

    out = []
    for t in types:
        if isinstance(t, Type):
            out.append(t)
        else:
            parsed = parse_type(str(t))
            if parsed is None:
                raise ValueError(f"unknown type {t!r} in a signature")
            out.append(parsed)
    return out


def _with_callers(functions: list, name: str) -> set:
    """`name` and every function that calls it, directly or not (by test-case name)."""
    calls: dict = {}
    for f in functions:
        calls[f.name] = {str(ext.name) for ext in f.func_refs.values()}
    dropped = {name}
    changed = True
    while changed:
        changed = False
        for f, callees in calls.items():
            if f not in dropped and callees & dropped:
                dropped.add(f)
                changed = True
    return dropped


_COMPILERS: dict = {}


def _compiler(spec: str):
    """(compile_module, the exception it raises for unsupported code) of `module:function`."""
    found = _COMPILERS.get(spec)
    if found is None:
        module_name, _, attr = spec.partition(":")
        module = importlib.import_module(module_name)
        compile_module = getattr(module, attr or "compile_module")
        unsupported = getattr(module, "NativeUnsupported", None) or _NeverRaised
        found = _COMPILERS[spec] = (compile_module, unsupported)
    return found


class _NeverRaised(Exception):
    pass


def _host_triple() -> str:
    try:
        from .lower import host_triple

        return host_triple()
    except Exception:
        return f"{_machine()}-unknown-linux-gnu"


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text or type(e).__name__


def main() -> int:
    # The protocol runs on private copies of stdin and stdout; the process's own stdout goes to
    # stderr, so that nothing else can write into the protocol stream.
    proto_in, proto_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    # Ctrl-C reaches the whole process group: the harness acts on it (and closes this worker).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    worker = Worker()
    while True:
        try:
            msg = recv(proto_in)
        except ChannelClosed:
            return 0
        if not isinstance(msg, dict) or msg.get("op") == "quit":
            return 0
        try:
            reply = worker.handle(msg)
        except Exception as e:
            reply = {"ok": False, "kind": "error", "message": f"internal error in the worker: {_one_line(e)}",
                     "traceback": traceback.format_exc(limit=8)}
        if reply is not None:
            send(proto_out, reply)


if __name__ == "__main__":
    sys.exit(main())
