"""The native worker: compiles a file's functions once and runs them, isolated from the harness.

Started as ``python -m clifkit.native.worker`` (on the host, or under QEMU
emulation for another ISA: `emulation.py`); speaks `clifkit.native.protocol` on its stdin and
stdout. Anything else the process writes to its standard output (a panic
message, stray prints) goes to its standard error instead, so it never
corrupts the protocol.

The worker parses the CLIF text it is sent with clifkit's reader (or takes
the functions sent as clifkit IR, as the fuzzer sends them) and compiles
every function with `compile_module` (``clifkit.native.lower``); functions
the harness lowered already (an emulated worker's: `replay.py`) it replays
and compiles with `compile_lowered`. Either way it hands the compiler
two host symbols: the trap handler (`abi.TRAP_SYMBOL`, ``(i32 code) -> ()``)
and ``%heap_grow`` (``(i64 vmctx, i32 heap, i64 delta) -> i64``), both ctypes
callbacks (`faults.host_symbols`).

Compiled code never runs in the worker process itself: that process is a
supervisor (`supervisor.py`) that forks one long-lived executor, which
compiles each module (`Worker.load`) and runs each batch of run requests in
order (`Worker.run_here`), each with fresh guarded memory for its
environment (`clifkit.native.memory`), writing one result per request (the
handlers are in `faults.py`). A request that does not return:

* the trap handler reports the trap code;
* a fault (``SIGSEGV``, ``SIGBUS``, ``SIGILL``, ``SIGFPE``, ``SIGTRAP``) runs an
  ``SA_SIGINFO`` handler, on an alternate signal stack so that it also runs
  when the fault is a stack overflow, which receives the fault address and
  the program counter: an address in a heap's reserved or guard pages is a
  ``heap_oob`` trap, one in the guard region below the stack a ``stk_ovf``
  trap, anything else a crash, reported with its signal;
* an executor that dies some other way, or does not answer within the
  timeout (then it is killed), is reported for the request it was running.

Both handlers are native code (`recover.py`) that jumps back into the
trampoline, so after a trap the executor goes on with its next request;
after a crash it ends, and the supervisor forks a new executor, which
compiles the module again, for the rest of the batch. Where that cannot be
set up (`NO_RECOVERY_ENV`, or no ``__sigsetjmp``), the handlers are Python
callbacks that report and end the executor after a trap too. With
``isolation="call"`` every request runs in a child of its own, forked by the
executor (`Worker.run`, which is also how a `Worker` used in-process runs).
"""

from __future__ import annotations

import ctypes
import gc
import importlib
import os
import pickle
import signal
import struct
import sys
import time
from typing import Optional

from ..environment.byteorder import target_byteorder
from . import chaos, faults, recover
from .basics import gc_paused
from .host import host_arch, host_triple
from .memory import environment_from_wire, keep_spares, materialize
from .protocol import (BATCH_READY, SLOT_BYTES, ChannelClosed, ProtocolError, Reader, Timeout, pack_slots, recv,
                       send, slot_codec, unpack_slots)

DEFAULT_COMPILER = "clifkit.native.lower:compile_module"
# An executor's loads between full collections (`Worker.load`): bounds the garbage an older
# generation keeps frozen to what so many loads' run lines left. A full collection walks every
# object the executor holds, the some 30,000 it was forked with included (about 12 ms of CPU in a
# fuzz campaign's executor), and finds about one object of garbage a load: every 32 loads it was
# some 2% of the executor's time in the fuzzer (an executor retires after EXECUTOR_MAX_LOADS).
FULL_COLLECT_EVERY = 256

_TRAMPOLINE_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)

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
        self.slots: dict = {}  # name -> its calls' `_Slots`
        self.signatures: dict = {}  # name -> (param types, return types)
        self.unavailable: dict = {}  # name -> why it was not compiled
        self.addresses: dict = {}  # name -> address of the compiled function, when the module says
        self.byteorder, self.pointer_bytes = target_layout(None)
        self._accepts: dict = {}
        self._preloaded: set = set()  # kinds of load `preload` prepared for
        self._loaded_key: Optional[tuple] = None  # what the module compiled last was compiled from
        self._loaded_reply: Optional[dict] = None
        # Whether `load` freezes what it leaves (`gc.freeze`): only in an executor, a process of
        # its own that does nothing else (`supervisor.serve`), never in a harness's process.
        self.freezes = False
        self.loads = 0  # (of an executor that freezes: see `load`)
        self.machine = host_arch()
        self.stack = faults.limit_stack()  # for the children: where a stack overflow faults
        faults.prepare_fault_handling()
        _rehearse()

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
        # "host_symbols" and "triple": what a lowering done by the harness for this worker needs
        # to know (`replay.py`); the symbols' addresses are the worker's to fill in.
        return {"ok": True, "pid": os.getpid(), "byteorder": sys.byteorder,
                "pointer_bytes": ctypes.sizeof(ctypes.c_void_p), "python": sys.version.split()[0],
                "cranelift": version, "machine": self.machine, "triple": host_triple(),
                "host_symbols": sorted(faults.host_symbols())}

    def _flag_accepted(self, triple: Optional[str], name: str, value: str) -> bool:
        key = (triple, name, value)
        if key not in self._accepts:
            try:
                import cranelift

                cranelift.TargetIsa(triple or host_triple(), **{name: value})
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

    def preload(self, msg: dict) -> None:
        """In the supervisor, before it forks an executor to compile `msg`: import what that
        compile will import, and find the binding's condition-code and atomic-op types (a scan
        of every object of the process, `compat.binding_type`), so that no executor forked from here does either
        again (some 100 ms of CPU each, sources compiled afresh where bytecode is not written: an
        executor is forked anew after each crash). An emulated worker's replayed lowering
        (``from_ir``) needs neither the lowering nor the reader; a custom compiler, nothing
        here. Only an economy: whatever fails here, the executor meets again and reports."""
        kind = "replay" if msg.get("from_ir") else "text" if "payload" not in msg else "ir"
        if kind in self._preloaded or msg.get("compiler"):
            return
        self._preloaded.add(kind)
        try:
            if kind == "replay":
                from . import lower, replay  # noqa: F401
                return
            from . import compat
            from .translate import load_handlers

            load_handlers()
            for name in ("IntCC", "FloatCC", "AtomicRmwOp"):
                compat.binding_type(name)
            if kind == "text":
                from ..reader import parse_text  # noqa: F401
        except Exception:
            pass

    def load(self, msg: dict) -> dict:
        """Compile a file (see `_load_msg`), without cyclic garbage collection: the IR unpickled
        and its lowering are tens of thousands of small objects (`basics.gc_paused`). In an
        executor (`freezes`), what the load leaves (the module's IR, kept until the next load)
        is frozen out of the collector's generations (`gc.freeze`): else the first collection
        after the load, and the middle generation's after it, would walk all of it again only
        to find it alive (some 3% of an executor's time in the fuzzer). The next load thaws it and
        freezes again with no collection between, so garbage still uncollected then would stay
        frozen: first the young generations are collected (what the run lines since left, a few
        objects), and every `FULL_COLLECT_EVERY` loads a full collection after the thaw frees
        what an older generation held, frozen since or not. A full collection at every load cost
        the fuzzer some 10% of the executor's time: it walks every object the executor was
        forked with too."""
        if self.freezes:
            self.loads += 1
            gc.collect(1)
            gc.unfreeze()
            if self.loads % FULL_COLLECT_EVERY == 0:
                gc.collect()
        with gc_paused():
            reply = self._load_msg(msg)
            if self.freezes:
                gc.freeze()
        return reply

    def _load_msg(self, msg: dict) -> dict:
        """Compile a file. A file loaded again with the flags the binding takes unchanged (a
        target variant whose ISA flags the binding ignores, e.g. ``target aarch64 has_lse`` after
        ``target aarch64``) keeps the module compiled last: only the ignored flags differ. The
        functions or the lowering may come pickled apart (``"payload"``), which the supervisor
        passes on without reading."""
        if "payload" in msg:
            msg = dict(msg)
            msg.update(pickle.loads(msg.pop("payload")))
        triple = msg.get("triple")
        flags, ignored = self._accepted_flags(triple, msg.get("flags") or {})
        key = (msg.get("source"), msg.get("path"), triple, msg.get("compiler"), tuple(sorted(flags.items())),
               msg.get("lowered") is not None)
        from_text = msg.get("functions") is None and not msg.get("from_ir")
        if from_text and key == self._loaded_key and self._loaded_reply is not None:
            return dict(self._loaded_reply, ignored_flags=ignored, seconds=0.0)
        self._loaded_key = self._loaded_reply = None
        reply = self._load(msg, triple, flags, ignored)
        if reply.get("ok") and from_text:
            self._loaded_key, self._loaded_reply = key, reply
        return reply

    def _load(self, msg: dict, triple: Optional[str], flags: dict, ignored: list) -> dict:
        started = time.perf_counter()
        self.module = None
        self.functions, self.entries, self.signatures, self.unavailable = {}, {}, {}, {}
        self.slots = {}
        self.addresses = {}
        self.byteorder, self.pointer_bytes = target_layout(triple)
        if msg.get("lowered") is not None:
            return self._load_lowered(msg["lowered"], triple, flags, ignored, started)
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
                module = compile_module(left, triple=triple, features=flags, host_symbols=faults.host_symbols())
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
                        "traceback": _traceback()}
        self._take(module, {f.name: f for f in left}, unsupported)
        status = {f.name: self.unavailable.get(f.name) for f in functions}
        return {"ok": True, "functions": status, "ignored_flags": ignored, "seconds": time.perf_counter() - started}

    def _load_lowered(self, lowered: dict, triple: Optional[str], flags: dict, ignored: list, started: float) -> dict:
        """Compile functions the harness lowered already (`replay.py`): replay, compile, finalize."""
        from .lower import NativeUnsupported, compile_lowered

        try:
            module = compile_lowered(lowered, triple=triple, features=flags, host_symbols=faults.host_symbols())
        except NativeUnsupported as e:
            return {"ok": False, "kind": "unsupported", "message": _one_line(e)}
        except Exception as e:
            return {"ok": False, "kind": "error", "message": f"compiling failed: {_one_line(e)}",
                    "traceback": _traceback()}
        names = [e["name"] for e in lowered["functions"]]
        self._take(module, dict.fromkeys(names), NativeUnsupported)
        status = {name: self.unavailable.get(name) for name in names}
        return {"ok": True, "functions": status, "ignored_flags": ignored, "seconds": time.perf_counter() - started}

    def _take(self, module, functions: dict, unsupported) -> None:
        """Keep `module`'s entries of `functions` (name -> clifkit Function, or None when the
        harness lowered it), or why each has none."""
        self.module = module
        lazy = getattr(module, "lazy_entries", False)
        for name, f in functions.items():
            try:
                # A lazy module's trampolines are compiled when a run request first names them.
                if lazy and name in module.unsupported:
                    raise unsupported(module.unsupported[name])
                entry = None if lazy else module.entry(name)
                params, returns = module.signature(name)
                self.entries[name] = None if lazy else _TRAMPOLINE_TYPE(entry)
                self.signatures[name] = (_types(params), _types(returns))
                self.functions[name] = f
                address = getattr(module, "address", None)
                if address is not None:
                    try:
                        self.addresses[name] = address(name)
                    except Exception:
                        pass
            except unsupported as e:
                self.unavailable[name] = _one_line(e)
            except Exception as e:
                self.unavailable[name] = f"no entry point: {_one_line(e)}"

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

    def _prepare_entries(self, requests: list) -> None:
        """The trampolines of the functions `requests` name that have none yet (a lazy module)."""
        wanted = [r["function"] for r in requests if self.entries.get(r["function"], 0) is None]
        if not wanted:
            return
        from .lower import NativeUnsupported

        self.module.prepare(wanted)
        for name in dict.fromkeys(wanted):
            try:
                self.entries[name] = _TRAMPOLINE_TYPE(self.module.entry(name))
            except NativeUnsupported as e:
                del self.entries[name]
                self.unavailable[name] = _one_line(e)

    def run(self, requests: list, timeout: Optional[float], isolation: str) -> dict:
        self._prepare_entries(requests)
        results: list = [None] * len(requests)
        runnable = []  # indices of the requests that run code
        for i, req in enumerate(requests):
            if req["function"] in self.entries:
                runnable.append(i)
            else:  # answered without running code, and without ending the batch's child
                results[i] = self._skipped(req)
        batch = [requests[i] for i in runnable]
        keep_spares(_environments(batch))
        for name in {req["function"] for req in batch}:
            try:
                self._slots(name)  # here, once, rather than in every child
            except Exception:
                pass  # the child's call reports it
        answers: list = [None] * len(batch)
        children = 0
        i = 0
        while i < len(batch):
            children += 1
            i = self._run_child(batch, i, i + 1 if isolation == "call" else len(batch), answers, timeout)
        for i, answer in zip(runnable, answers):
            results[i] = answer
        return {"ok": True, "results": results, "children": children}

    def run_code_here(self, fd: int) -> None:
        """This process (a forked child, or the supervisor's executor) runs compiled code from now
        on: it dies with the process that forked it, Ctrl-C stops it at once, and the fault
        handlers are installed, writing a fault's record to `fd`."""
        faults.die_with_parent()
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C stops runaway code at once
        faults.Child.fd = fd
        faults.Child.machine = self.machine
        faults.Child.pointer_bytes = ctypes.sizeof(ctypes.c_void_p)
        faults.Child.stack = self.stack
        faults.install_fault_handlers()

    def _skipped(self, req: dict) -> dict:
        """The result of a request answered without running code (its function was not compiled)."""
        reason = self.unavailable.get(req["function"]) or f"{req['function']} was not compiled"
        return {"kind": "skipped", "reason": reason}

    def _answer(self, index: int, req: dict) -> dict:
        """Run request `index` here: its result (a fault's is written by the handlers)."""
        faults.Child.index = index
        chaos.maybe_die()
        try:
            return self._call(req)
        except Exception as e:
            return {"kind": "error", "message": f"the worker could not run the call: {_one_line(e)}"}

    def run_here(self, requests: list, fd: int) -> None:
        """Run `requests` in this process (the executor), writing `BATCH_READY` once set up, then
        ``(index, result)`` for each to `fd`, then ``(None, None)``; after a request that does not let it go on (a crash) the
        process ends, as a child's did."""
        faults.Child.index = faults.SETTING_UP  # what a fault before the first request is reported under
        self._prepare_entries(requests)
        runnable = [req for req in requests if req["function"] in self.entries]
        keep_spares(_environments(runnable))
        faults.Child.functions = self.addresses
        # The supervisor times each request from here: compiling trampolines and reserving
        # mappings (seconds under QEMU) is no run line's time, as it was not a child's.
        send(fd, BATCH_READY)
        goes_on = faults.goes_on()
        for index, req in enumerate(requests):
            result = self._answer(index, req) if req["function"] in self.entries else self._skipped(req)
            send(fd, (index, result))
            if result["kind"] not in goes_on:
                os._exit(0)  # a crash: this process may be in any state
        send(fd, (None, None))

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
        answers = Reader(r)
        answered = start
        status = None
        reported_end = False  # the child said why it stops (a crash, or a trap without `recover`)
        last = None
        try:
            while answered < end:
                try:
                    index, result = answers.recv(timeout)
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
                if last not in faults.goes_on():
                    reported_end = True
                    break  # the child ends after a crash (and, without `recover`, a trap)
        finally:
            os.close(r)
            if status is None:
                _, status = os.waitpid(pid, 0)
        return faults.blame_end(results, answered, end, status, last, reported_end)

    def _child(self, fd: int, requests: list, start: int, end: int) -> None:
        self.run_code_here(fd)
        faults.Child.functions = self.addresses
        for index in range(start, end):
            result = self._answer(index, requests[index])
            send(fd, (index, result))
            if result["kind"] not in faults.goes_on():
                break  # a crash: this process may be in any state

    def _slots(self, name: str) -> "_Slots":
        """The argument and result slots of `name`'s calls (made once per loaded module)."""
        slots = self.slots.get(name)
        if slots is None:
            params, returns = self.signatures[name]
            slots = self.slots[name] = _Slots(params, returns, self.byteorder)
        return slots

    def _call(self, req: dict) -> dict:
        name = req["function"]
        slots = self.slots.get(name) or self._slots(name)
        args = req["args"]
        env = _environment(req)
        if env is not None:
            env = materialize(env, byteorder=self.byteorder)
            args = [env.vmctx, *args]
        try:
            if len(args) != len(slots.params):
                return {"kind": "error", "message": f"{name} takes {len(slots.params)} arguments, the request has {len(args)}"}
            arg_buf, arg_address, res_buf, res_address = slots.pack(args)
            faults.Child.env = env
            entry, callee = self.entries[name], self.addresses.get(name)
            recover.clear()
            timed = req.get("time")
            started = time.perf_counter() if timed else 0.0
            entry(arg_address, res_address, callee)
            seconds = time.perf_counter() - started if timed else 0.0
            happened = recover.outcome()
            if happened is not None:  # a trap or a fault jumped back (`recover`)
                return (faults.trap_result(happened[1]) if happened[0] == "trap"
                        else faults.fault_result(*happened[1:]))
            result = {"kind": "returned", "values": slots.unpack(res_buf)}
            if timed:
                result["seconds"] = seconds
            return result
        finally:
            faults.Child.env = None
            if env is not None:
                env.end()  # (kept for an equal next environment: `memory.materialize`)


def _environment(req: dict, read: Optional[dict] = None):
    """The run request's environment (read from its wire form once: by the worker, which
    reserves its large mappings before forking, and then by the child that runs it). `read`, when
    given, maps id(wire form) -> environment for requests sharing one (`_environments`)."""
    wire = req.get("env")
    if wire is None:
        return None
    env = req.get("environment")
    if env is None:
        env = read.get(id(wire)) if read is not None else None
        if env is None:
            env = environment_from_wire(wire)
            if read is not None:
                read[id(wire)] = env
        req["environment"] = env
    return env


def _environments(requests: list) -> list:
    """The environments of `requests` that have one, each wire form read once: the run lines of a
    program share theirs (`engine.call_batch` sends it once; the wire forms live as long as
    `requests`, so their ids stay theirs)."""
    read: dict = {}
    return [env for env in (_environment(req, read) for req in requests) if env is not None]


class _Slots:
    """One function's argument and result slots: buffers made once and reused by every call, the
    arguments packed and the results unpacked by one precomputed struct (`protocol.slot_codec`).
    Where that cannot do (i128, a value that is not an int), fresh buffers and `pack_slots` /
    `unpack_slots`, as every call had before: the same bytes either way."""

    __slots__ = ("params", "returns", "byteorder", "codecs", "arg_buf", "res_buf", "arg_address", "res_address")

    def __init__(self, params: list, returns: list, byteorder: str):
        self.params, self.returns, self.byteorder = params, returns, byteorder
        ins, outs = slot_codec(params, byteorder), slot_codec(returns, byteorder)
        self.codecs = (ins, outs) if ins is not None and outs is not None else None
        if self.codecs is not None:
            self.arg_buf = ctypes.create_string_buffer(ins.size)
            self.res_buf = ctypes.create_string_buffer(outs.size)
            self.arg_address, self.res_address = ctypes.addressof(self.arg_buf), ctypes.addressof(self.res_buf)
            # Once here (zeros): the children inherit the translated code of these structs.
            ins.pack_into(self.arg_buf, [(0,) * t.lanes if t.is_vector else 0 for t in params])
            outs.unpack_from(self.res_buf)

    def pack(self, args: list) -> tuple:
        """(argument buffer, its address, result buffer, its address) for a call with `args`."""
        if self.codecs is not None:
            try:
                self.codecs[0].pack_into(self.arg_buf, args)
                return self.arg_buf, self.arg_address, self.res_buf, self.res_address
            except (TypeError, struct.error):
                pass  # what pack_slots makes of it (or the error it raises)
        arg_buf = ctypes.create_string_buffer(pack_slots(args, self.params, self.byteorder),
                                              SLOT_BYTES * max(len(self.params), 1))
        res_buf = ctypes.create_string_buffer(SLOT_BYTES * max(len(self.returns), 1))
        return arg_buf, ctypes.addressof(arg_buf), res_buf, ctypes.addressof(res_buf)

    def unpack(self, res_buf) -> list:
        if self.codecs is not None and res_buf is self.res_buf:
            return self.codecs[1].unpack_from(res_buf)
        return unpack_slots(res_buf.raw, self.returns, self.byteorder)


def _rehearse() -> None:
    """Take, once here, the paths every child takes to set up and to call (`faults.rehearse`, and
    a trampoline's ctypes call, made to ``memmove`` of nothing): under QEMU a child then inherits
    their translated code instead of translating it again (some 2-3 ms of each child's 10)."""
    try:
        faults.rehearse()
        buf = ctypes.create_string_buffer(SLOT_BYTES)
        memmove = ctypes.cast(ctypes.CDLL(None).memmove, ctypes.c_void_p).value
        _TRAMPOLINE_TYPE(memmove)(ctypes.addressof(buf), ctypes.addressof(buf), 0)
    except (OSError, AttributeError, ValueError):
        pass  # a child then translates these paths itself


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


def _traceback() -> str:
    import traceback  # here: a worker that meets no internal error does without it

    return traceback.format_exc(limit=8)


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text or type(e).__name__


# (The fuzz campaign's process, whose batches give their count back, uses more: `fuzz.campaign.GC_THRESHOLD`.)
GC_THRESHOLD = 20_000


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
    # A load unpickles a whole batch's IR and keeps its module: with Python's default threshold
    # (700) the cyclic collector scans those objects again and again (about 0.3 ms a fuzzed
    # program); the young generation is collected every GC_THRESHOLD allocations instead.
    young, *older = gc.get_threshold()
    if 0 < young < GC_THRESHOLD:
        gc.set_threshold(GC_THRESHOLD, *older)
    from .supervisor import Supervisor

    supervisor = Supervisor(Worker(), private_fds=(proto_in, proto_out))
    try:
        return _serve(supervisor, proto_in, proto_out)
    finally:
        supervisor.close()


def _serve(supervisor, proto_in: int, proto_out: int) -> int:
    while True:
        try:
            msg = recv(proto_in)
        except ChannelClosed:
            return 0
        if not isinstance(msg, dict) or msg.get("op") == "quit":
            return 0
        try:
            reply = supervisor.handle(msg)
        except Exception as e:
            reply = {"ok": False, "kind": "error", "message": f"internal error in the worker: {_one_line(e)}",
                     "traceback": _traceback()}
        if reply is not None:
            send(proto_out, reply)


if __name__ == "__main__":
    sys.exit(main())
