"""The interpreter: runs CLIF functions exactly, by compiling each to Python once.

    from clifkit.interpreter import Interpreter, Trap, Unsupported, FuelExhausted

    interp = Interpreter([d.function for d in testfile.functions], fuel=10**8)
    interp.call("%add", [1, 2])            # -> [3]: ints are bit patterns, vectors tuples of lanes
    interp.executed                        # CLIF instructions the last call executed

Each function is compiled on its first call (`compiler.py`): a Python function
whose locals are the CLIF values, with the instruction semantics the family
modules register (`registry.impl`) inlined as expressions. A call raises
`Trap` when the program traps, `Unsupported` (with the reason) when a function
needs semantics the interpreter lacks, `FuelExhausted` when the instruction
budget runs out. Calls nested deeper than `max_call_depth` trap with
``stk_ovf``.

Every call runs on a fresh `Machine`: a fresh stack and zeroed memory; pass
``env=`` (an `Environment`, or any object with an ``apply(memory)`` method) to
map regions (a vmctx struct, heaps, data symbols) before the call. The memory
of the last call stays readable as `Interpreter.memory`.

Semantic families are the modules of this package named ``*_ops.py`` (plus
`control`); importing the package imports integer arithmetic (`integer_ops`)
and control, and `registry.lookup` imports the others (bitwise, division,
overflow, memory, floats, vectors, lanes, heaps) on the first instruction that
may need them.
"""

from __future__ import annotations

import builtins
import sys

from ..ir.function import Function
from ..ir.libcalls import LIBCALL_NAMES, libcall_signature
from ..ir.types import Type
from . import control, integer_ops  # noqa: F401  (families register)
from .compiler import compile_function, sig_types, tail_calls_other
from .machine import (
    MAX_CALL_DEPTH,
    RUNTIME,
    TAIL_CALL,
    UNLIMITED_FUEL,
    _no_fuel,
    _stk_ovf,
    big_lanes,
    indirect_key,
    Environment,
    FuelExhausted,
    Machine,
    MemoryLimitExceeded,
    TimeLimitExceeded,
    Unsupported,
)
from .memory import CODE_BASE, LIBCALL_BASE, RUNTIME_MEMORY, Memory
from .registry import Trap

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Callable, Optional, Sequence

__all__ = ["Interpreter", "Trap", "Unsupported", "FuelExhausted", "TimeLimitExceeded", "MemoryLimitExceeded",
           "Environment", "Machine", "Memory"]


_HINTS: dict[str, str] = {}  # a bound name's hint -> its prefix (hints are opcode names and a few words)


_LIBCALL_KEYS: list[tuple[int, str, tuple]] = []


def _libcall_keys() -> list[tuple[int, str, tuple]]:
    """(index, name, signature key) of each libcall Cranelift gives a signature, which every
    interpreter puts in its call_indirect table: computed once (a fuzz campaign makes an
    interpreter per program)."""
    if not _LIBCALL_KEYS:
        for j, name in enumerate(LIBCALL_NAMES):
            sig = libcall_signature(name)
            if sig is not None:
                _LIBCALL_KEYS.append((j, name, indirect_key(*sig)))
    return _LIBCALL_KEYS


def _normalise(value, t: Type):
    """An argument as the interpreter holds it: the unsigned bit pattern (negative ints wrap)."""
    if t.is_vector:
        if not isinstance(value, (tuple, list)):
            raise TypeError(f"a {t} argument must be a tuple of lanes, not {value!r}")
        m = (1 << t.lane_bits) - 1
        return tuple(int(lane) & m for lane in value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"a {t} argument must be an int bit pattern, not {value!r}")
    return value & ((1 << t.bits) - 1)


class Interpreter:
    """Runs the given functions. Compiles each lazily, once, on its first call."""

    def __init__(self, functions: Sequence[Function], *, fuel: Optional[int] = None,
                 max_call_depth: int = MAX_CALL_DEPTH,
                 host_functions: Optional[dict[str, tuple[Callable, Sequence[Type], Sequence[Type]]]] = None,
                 timeout: Optional[float] = None, max_memory: Optional[int] = None, byteorder: str = "little",
                 tracer=None, compact: bool = False):
        """`host_functions` maps a function name to (fn, param types, return types): calls to that
        name run ``fn(machine, *args)`` in Python (e.g. a heap-growth routine). Names defined by
        `functions` win, as do Cranelift's libcall names.

        `timeout` (seconds) bounds each call's wall-clock time (`TimeLimitExceeded`, checked
        every `machine.FUEL_SLICE` instructions); `max_memory` (bytes) bounds the memory a call
        may touch (`MemoryLimitExceeded`; mapped but untouched memory costs nothing).

        `byteorder` ("little" or "big") is the target's: loads, stores, stack slots, atomics and
        bitcasts without a `big`/`little` flag use it (fixed when a function is compiled).

        `tracer` (a `clifkit.interpreter.trace.Tracer`) is told every instruction executed, with
        its operand and result values (`clifkit interpret --trace`).

        `compact`: compile every block as code that runs once per call (`OpContext.once`: short
        code, cheap to compile, rather than fast code), loops too: for programs whose loops run a
        few iterations, such as the fuzzer's, where compiling costs more than running. The
        results are the same either way."""
        if byteorder not in ("little", "big"):
            raise ValueError(f"byteorder must be 'little' or 'big', not {byteorder!r}")
        self.byteorder = byteorder
        self.tracer = tracer
        self.compact = compact
        self.functions: list[Function] = list(functions)
        self.fuel = fuel
        self.max_call_depth = max_call_depth
        self.timeout = timeout
        self.max_memory = max_memory
        self.index: dict[str, int] = {}
        for i, f in enumerate(self.functions):
            self.index.setdefault(f.name, i)
        self.executed = 0  # CLIF instructions executed by the last call (exact unless it trapped)
        self.memory: Optional[Memory] = None  # the address space of the last call
        self.sources: dict[int, str] = {}
        self._failed: dict[int, str] = {}
        self._compiled: dict[int, Callable] = {}
        self._may_tail: dict[int, bool] = {}
        self._bound = 0
        self._shared_names: dict[int, str] = {}  # id of a value bound by bind_shared -> its name
        self._host = dict(host_functions or {})
        self.ns: dict = {"__builtins__": builtins, **RUNTIME, **RUNTIME_MEMORY}
        self.indirect: dict[int, list] = {}
        self.vector_adapters: dict[tuple, list] = {}  # (address, signature key) -> entry (`vector_calls`)
        self.ns["_IND"] = self.indirect
        for i, f in enumerate(self.functions):
            stub = self._stub(i)
            self.ns[f"_F{i}"] = stub
            if self.index[f.name] == i:
                # [callee, exact signature key, whether call_indirect checks its depth (a CLIF
                # function), whether its vector lanes are big-endian (`vector_calls`)]
                self.indirect[CODE_BASE + 16 * i] = [stub, indirect_key(*sig_types(f.signature)), True,
                                                     big_lanes(byteorder, f.signature.call_conv)]
        for j, name, key in _libcall_keys():
            self.indirect[LIBCALL_BASE + 16 * j] = [self._libcall_stub(name, j), key, False,
                                                    big_lanes(byteorder, "system_v")]

    # -- compilation ----------------------------------------------------------------
    def _stub(self, i: int):
        def stub(_m, _d, *args):
            return self._compile(i)(_m, _d, *args)

        return stub

    def _libcall_stub(self, name: str, j: int):
        def stub(_m, _d, *args):
            try:
                fn = control.libcall_function(name)
            except NotImplementedError as e:
                raise Unsupported(str(e)) from None
            self.indirect[LIBCALL_BASE + 16 * j][0] = fn
            return fn(_m, _d, *args)

        return stub

    def _compile(self, i: int) -> Callable:
        fn = self._compiled.get(i)
        if fn is not None:
            return fn
        if i in self._failed:
            raise Unsupported(self._failed[i])
        try:
            func = self.functions[i]
            # A tail-call group starts at a block ending in return_call (`tail_groups`, imported then).
            # Not traced: a trace shows each function's own blocks and its return_call.
            if self.tracer is None and any(
                    b.insts and b.insts[-1].opcode.name == "return_call" for b in func.blocks.values()):
                from . import tail_groups

                func = tail_groups.merged(self, i)
            try:
                fn, source = compile_function(self, i, func, self.ns)
            except Unsupported:
                if func is self.functions[i]:
                    raise
                # A tail callee the interpreter cannot compile: it fails when (if) it is called.
                fn, source = compile_function(self, i, self.functions[i], self.ns)
        except Unsupported as e:
            self._failed[i] = e.reason
            raise
        self.sources[i] = source
        self._compiled[i] = fn
        entry = self.indirect.get(CODE_BASE + 16 * i)
        if entry is not None:
            entry[0] = fn
        return fn

    def close(self) -> None:
        """Drop the compiled code, after which nothing can run. The code and this interpreter
        refer to each other (its namespace holds functions whose globals it is; stubs call back
        here), so without this only the cyclic collector frees them: a fuzz campaign makes an
        interpreter a program and collected some 20,000 such objects a batch."""
        self.ns.clear()
        self.indirect.clear()
        self.vector_adapters.clear()
        self._compiled.clear()

    def compile(self, name: str) -> str:
        """Compile function `name` now (raising Unsupported if it cannot be); returns the generated source."""
        i = self._lookup(name)
        self._compile(i)
        return self.sources[i]

    def bind(self, value, hint: str = "k") -> str:
        """A fresh global name for `value` in the generated code's namespace."""
        self._bound += 1
        prefix = _HINTS.get(hint)
        if prefix is None:
            prefix = _HINTS[hint] = "_" + "".join(c for c in hint if c.isalnum())[:12]
        name = f"{prefix}{self._bound}"
        self.ns[name] = value
        return name

    def bind_shared(self, value, hint: str = "k") -> str:
        """`value`'s global name, the same at every use (a lowering's callable, remembered per
        instruction shape, bound once rather than once per instruction)."""
        name = self._shared_names.get(id(value))
        if name is None:  # (the namespace keeps `value`, so its id stays its own)
            name = self._shared_names[id(value)] = self.bind(value, hint)
        return name

    def resolve_callee(self, name: str):
        """("lib", libcall) for a Cranelift libcall name, ("func", index) for a function here,
        ("host", name) for a host function, or None."""
        if name.startswith("%") and name[1:] in LIBCALL_NAMES:
            return ("lib", name[1:])
        if name in self.index:
            return ("func", self.index[name])
        if name in self._host:
            return ("host", name)
        return None

    def bind_callee(self, resolved) -> str:
        """The global name generated code calls for a resolved callee."""
        kind, ident = resolved
        if kind == "func":
            return f"_F{ident}"
        if kind == "lib":
            name = f"_L{ident}"
            if name not in self.ns:
                try:
                    self.ns[name] = control.libcall_function(ident)
                except NotImplementedError as e:
                    raise Unsupported(str(e)) from None
            return name
        fn = self._host[ident][0]
        return self.bind(lambda _m, _d, *args: fn(_m, *args), "host")

    def callee_signature(self, resolved) -> tuple[tuple[Type, ...], tuple[Type, ...]]:
        """(params, returns) of a resolved callee."""
        kind, ident = resolved
        if kind == "func":
            return sig_types(self.functions[ident].signature)
        if kind == "lib":
            sig = libcall_signature(ident)
            if sig is None:
                raise Unsupported(f"libcall %{ident} has no meaning in the interpreter")
            return sig
        _, params, returns = self._host[ident]
        return tuple(params), tuple(returns)

    def may_tail_call(self, i: int) -> bool:
        flag = self._may_tail.get(i)
        if flag is None:
            flag = self._may_tail[i] = tail_calls_other(self.functions[i])
        return flag

    def function_address(self, name: str) -> Optional[int]:
        """The opaque address func_addr gives `name` (a function here or a libcall), or None."""
        resolved = self.resolve_callee(name)
        if resolved is None:
            return None
        kind, ident = resolved
        if kind == "func":
            return CODE_BASE + 16 * ident
        if kind == "lib":
            return LIBCALL_BASE + 16 * LIBCALL_NAMES.index(ident)
        return None

    # -- running ------------------------------------------------------------------------
    def _lookup(self, name: str) -> int:
        i = self.index.get(name)
        if i is None:
            raise KeyError(f"no function named {name}")
        return i

    def call(self, name: str, args: Sequence = (), env=None) -> list:
        """Run function `name` on `args` (bit-pattern ints, tuples of lanes for vectors) in a fresh
        machine; returns the list of results. Raises Trap, Unsupported, FuelExhausted,
        TimeLimitExceeded or MemoryLimitExceeded."""
        i = self._lookup(name)
        func = self.functions[i]
        params = [p.type for p in func.signature.params]
        if len(args) != len(params):
            raise TypeError(f"{name} takes {len(params)} arguments, {len(args)} given")
        values = [_normalise(a, t) for a, t in zip(args, params)]
        fn = self._compile(i)
        if env is not None and not hasattr(env, "apply"):
            raise Unsupported(f"the interpreter cannot prepare an environment of type {type(env).__name__}")
        budget = UNLIMITED_FUEL if self.fuel is None else self.fuel
        machine = Machine(self, env, budget, self.timeout, self.max_memory)
        self.memory = machine.memory
        limit = sys.getrecursionlimit()
        needed = min(FRAMES_PER_CALL * self.max_call_depth + 500 + _stack_depth(), MAX_FRAMES)
        if limit < needed:
            sys.setrecursionlimit(needed)
        try:
            if self.max_call_depth < 1:  # (generated code checks the depth of the calls it makes)
                _stk_ovf(1)
            if needed <= SAFE_FRAMES:
                r = _run(machine, name, fn, values)
            else:
                r = _on_own_stack(needed, _run, machine, name, fn, values)
        except RecursionError:
            raise Trap("stk_ovf", "the Python stack is exhausted") from None
        finally:
            if limit < needed:
                sys.setrecursionlimit(limit)
            self.executed = budget - machine.fuel - machine.reserve
        nrets = len(func.signature.returns)
        if nrets == 0:
            return []
        if nrets == 1:
            return [r]
        return list(r)


# Python frames a thread's stack of 8 MiB (Linux's default) bears whatever they do: a call Python
# cannot inline (a tail call's trampoline, `f(*args)`) nests a C frame too, and 40,000 such levels
# overflow it, which kills the process. Deeper limits run the call on a thread of its own with a
# stack of FRAME_BYTES per frame; past MAX_FRAMES (a stack of 4 GiB), Python's own limit traps
# stk_ovf first.
SAFE_FRAMES = 12_000
# Python frames one level of CLIF calls may nest: the callee's, short code's call_indirect helper,
# the adapter of a call through a signature naming other vector types (`vector_calls`), and, on a
# function's first call, its stub (`Interpreter._stub`), which the adapter calls as the callee.
FRAMES_PER_CALL = 4
FRAME_BYTES = 1024
MAX_FRAMES = 4_000_000


def _run(machine: Machine, name: str, fn, values):
    r = fn(machine, 1, *values)
    while r is TAIL_CALL:
        r = machine.tail_fn(machine, 1, *machine.tail_args)
    if machine.fuel < 0:  # a last charge left unchecked (`FunctionCompiler.returns_unobserved`)
        machine.fuel = _no_fuel(machine, name, machine.fuel)
    return r


def _on_own_stack(frames: int, run, *args):
    """`run(*args)` on a thread whose stack bears `frames` Python frames; its exception is raised
    here. Where no such thread can start, on this thread, as deep as its own stack lets it."""
    import threading

    outcome: list = [None, None]

    def body():
        try:
            outcome[0] = run(*args)
        except BaseException as e:  # (re-raised in the calling thread)
            outcome[1] = e

    try:
        old = threading.stack_size(frames * FRAME_BYTES + (16 << 20))
    except (ValueError, RuntimeError):
        old = None
    try:
        thread = threading.Thread(target=body, name="clifkit-interpreter", daemon=True)
        thread.start()
    except RuntimeError:
        sys.setrecursionlimit(SAFE_FRAMES)  # (restored by the caller)
        return run(*args)
    finally:
        if old is not None:
            threading.stack_size(old)
    thread.join()
    if outcome[1] is not None:
        raise outcome[1]
    return outcome[0]


def _stack_depth() -> int:
    n, f = 0, sys._getframe()
    while f is not None:
        n += 1
        f = f.f_back
    return n
