"""Engines: what runs a bound run line and says what happened.

An `Engine` opens a `Session` for one test file (compiling or loading its
functions once); the session calls one function per run line and returns an
`Outcome`: the results, a trap, a skip (the engine cannot run this function,
with the reason), or a failure of the run itself (fuel exhausted, recursion
too deep, ...). Engines never raise for a run line's problems.

Each call gets the run line's environment (`clifkit.runtest.environment`,
describing heaps and vmctx), or None; an engine that cannot honour an
environment skips the run with the reason.

Two engines are registered in `ENGINES`: the interpreter (here) and the native
engine (`clifkit.native.engine`: Cranelift-compiled machine code run in a worker
process). A session may also take a whole batch of calls ahead (`prefetch`),
which the native engine uses to run all of a file's run lines in one round trip
to its worker; `call` then answers from what was fetched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..ir.function import TestFile
from .directives import BoundRun
from .values import Value

DEFAULT_FUEL = 10**9


@dataclass
class Returned:
    values: list[Value]


@dataclass
class Trapped:
    code: str
    detail: str = ""
    # Where a trapping memory access lies in memory the native engine leaves open ("heap0-0x8",
    # `clifkit.runtest.guarantee`): the interpreter says so, for comparisons.
    native_open: Optional[str] = None
    # Set when the trap is a limit of the engine rather than of the code (the interpreter's call
    # depth): what to say about it, naming the option that raises it.
    limit: Optional[str] = None


@dataclass
class Skipped:
    reason: str


@dataclass
class Failed:
    message: str
    internal: bool = False  # an engine bug rather than a property of the test


@dataclass
class Crashed(Failed):
    """The compiled code crashed (a fault that is not a trap): the signal and where."""

    signal: Optional[str] = None
    address: Optional[int] = None
    pc: Optional[int] = None
    function: Optional[str] = None
    line: Optional[int] = None


@dataclass
class TimedOut(Failed):
    """The call ran past its time limit and was stopped (native code killed, the interpreter
    halted at its next fuel check)."""

    seconds: Optional[float] = None


@dataclass
class Lost(Failed):
    """The process running the call died (not the compiled code: its host, e.g. the native
    worker), so the call's result is unknown. The harness runs such a call once more alone."""


Outcome = object  # one of Returned, Trapped, Skipped, Failed (Crashed, TimedOut and Lost are Faileds)


@dataclass
class EngineOptions:
    fuel: int = DEFAULT_FUEL
    max_call_depth: Optional[int] = None
    timeout: Optional[float] = None  # seconds a call may run (None: the engine's default)
    max_memory: Optional[int] = None  # bytes of memory an interpreter call may touch (None: no cap)
    # Cranelift settings from `--set NAME=VALUE`, applied after the file's own `set` lines (native only).
    settings: tuple[tuple[str, str], ...] = ()
    # `clifkit interpret --trace`: the interpreter writes each executed instruction to standard
    # output, at most this many per run line (None: no trace).
    trace_limit: Optional[int] = None


class EngineUnavailable(Exception):
    """The engine cannot run anything here (not installed, cannot load the file, ...)."""


class Session:
    engine: str = "?"
    target: Optional[str] = None
    # Said of every run that passes on this session (e.g. "ran with the host's own features").
    note: Optional[str] = None

    def call(self, bound: BoundRun, env: object = None) -> Outcome:
        raise NotImplementedError

    def prefetch(self, calls: "list[tuple[BoundRun, object]]") -> None:
        """A hint: these (bound run, environment) calls follow. An engine may run them now, all at
        once, and answer the `call`s from the results. The default does nothing."""

    def close(self) -> None:
        pass


class Engine:
    name: str = "?"

    def open(self, test_file: TestFile, options: EngineOptions, target: Optional[str] = None,
             source: Optional[str] = None) -> Session:
        """A session for `test_file` (whose text is `source`, when the caller has it)."""
        raise NotImplementedError


class InterpreterEngine(Engine):
    name = "interpreter"

    def open(self, test_file: TestFile, options: EngineOptions, target: Optional[str] = None,
             source: Optional[str] = None, byteorder: Optional[str] = None) -> Session:
        """The interpreter runs in `byteorder`, else the byte order of `target`, else that of
        the file's targets when they agree (little-endian otherwise: `targets.file_byteorder`)."""
        from .targets import file_byteorder, target_byteorder

        if byteorder is None:
            byteorder = target_byteorder(target) if target else file_byteorder(
                " ".join(s.words) for s in test_file.isa_specs if s.kind == "target" and s.words)
        return InterpreterSession([d.function for d in test_file.functions], options, byteorder)


class InterpreterSession(Session):
    engine = "interpreter"
    target = None

    def __init__(self, functions, options: EngineOptions, byteorder: str = "little"):
        from ..interpreter import Interpreter, Unsupported
        from ..interpreter.heaps import HOST_FUNCTIONS

        self.options = options
        self.byteorder = byteorder
        self.interp: Optional[Interpreter] = None
        self.open_error: Optional[Outcome] = None
        kwargs = {"fuel": options.fuel, "host_functions": HOST_FUNCTIONS, "timeout": options.timeout,
                  "max_memory": options.max_memory, "byteorder": byteorder}
        if options.max_call_depth is not None:
            kwargs["max_call_depth"] = options.max_call_depth
        self.tracer = None
        if options.trace_limit is not None:
            from ..interpreter.trace import Tracer

            self.tracer = kwargs["tracer"] = Tracer(lambda line: print(line, flush=True), options.trace_limit)
        try:
            self.interp = Interpreter(functions, **kwargs)
        except Unsupported as e:
            self.open_error = Skipped(_reason(e))
        except Exception as e:  # an interpreter bug: report it, never a traceback
            self.open_error = Failed(f"internal error while loading the functions: {type(e).__name__}: {e}", True)

    def call(self, bound: BoundRun, env: object = None) -> Outcome:
        outcome = self._call(bound, env)
        if self.tracer is not None:
            if self.tracer.dropped:
                print(f"... and {self.tracer.dropped} more instructions (--trace-limit {self.tracer.limit})")
            if isinstance(outcome, Trapped) and self.tracer.pending is not None:
                print(f"{self.tracer.pending}  <- trapped here")
            print(f"{bound.call_text} -> {_describe(outcome)}", flush=True)
        return outcome

    def _call(self, bound: BoundRun, env: object = None) -> Outcome:
        from ..interpreter import FuelExhausted, MemoryLimitExceeded, TimeLimitExceeded, Trap, Unsupported
        from ..interpreter.heaps import materialize

        if self.interp is None:
            return self.open_error
        args = list(bound.args)
        prepared = None
        if env is not None:
            prepared = materialize(env, self.byteorder)
            args = [prepared.vmctx, *args]
        name = bound.function.name
        if self.tracer is not None:
            loc = bound.command.loc
            print(f"trace of {loc.path}:{loc.line}: {bound.call_text}", flush=True)
            self.tracer.count, self.tracer.pending = 0, None
        try:
            results = self.interp.call(name, args, env=prepared)
        except FuelExhausted as e:
            return Failed(
                f"ran out of fuel after {self.options.fuel} instructions in {e.function}: "
                "an endless loop? (--fuel raises the limit)"
            )
        except TimeLimitExceeded as e:
            return TimedOut(f"timed out: {name} ran longer than {e.seconds:g} s and was stopped in {e.function} "
                            "(--timeout raises the limit)", seconds=e.seconds)
        except MemoryLimitExceeded as e:
            return Failed(f"{name} touched more than 0x{e.limit:x} bytes of memory (--max-memory raises the limit)")
        except Unsupported as e:
            return Skipped(_reason(e))
        except Trap as e:
            if e.code == "stk_ovf" and e.detail.startswith("call depth"):
                depth = self.interp.max_call_depth
                return Trapped(e.code, e.detail, limit=f"calls nested deeper than the interpreter's limit of {depth:,}; "
                                                       "--max-call-depth raises it")
            return Trapped(e.code, e.detail, _native_open(prepared, self.interp.memory, e))
        except MemoryError:
            return Failed(f"out of memory while running {name}")
        except Exception as e:
            return Failed(f"internal error in the interpreter: {type(e).__name__}: {e}", True)
        return Returned(list(results))


def _native_open(prepared, memory, trap) -> Optional[str]:
    """Where `trap`'s access lies when the native engine would not have trapped there."""
    if prepared is None or memory is None or trap.address is None:
        return None
    from .guarantee import outside_native_guarantee

    return outside_native_guarantee(prepared.placed_regions(memory), trap.address, trap.size)


def _describe(outcome: Outcome) -> str:
    """An outcome in a trace's last line."""
    if isinstance(outcome, Returned):
        from ..interpreter.trace import format_value

        return "returned " + (", ".join(format_value(v) for v in outcome.values) or "nothing")
    if isinstance(outcome, Trapped):
        return f"trap {outcome.code}"
    return getattr(outcome, "message", None) or getattr(outcome, "reason", None) or type(outcome).__name__


def _reason(e: BaseException) -> str:
    text = str(e)
    return text or type(e).__name__


class _Engines(dict):
    """The engines by name. The native engine registers itself on the first look for an engine
    not yet here (or at the whole table), not when this module is imported: a run of `test
    interpret` files never imports it."""

    loaded = False

    def _load(self) -> None:
        if not self.loaded:
            self.loaded = True
            _register_native()

    def __getitem__(self, name):
        if not super().__contains__(name):
            self._load()
        return super().__getitem__(name)

    def __contains__(self, name) -> bool:
        if not super().__contains__(name):
            self._load()
        return super().__contains__(name)

    def __iter__(self):
        self._load()
        return super().__iter__()

    def __len__(self) -> int:
        self._load()
        return super().__len__()

    def __setitem__(self, name, engine) -> None:
        self._load()  # so that what is replaced (and restored, by a test's monkeypatch) is the real one
        super().__setitem__(name, engine)

    def __delitem__(self, name) -> None:
        self._load()  # so that the deletion sticks
        super().__delitem__(name)

    def setdefault(self, name, engine=None):
        self.loaded = True  # clifkit.native.engine registering itself as it is imported
        return super().setdefault(name, engine)

    def get(self, name, default=None):
        if not super().__contains__(name):
            self._load()
        return super().get(name, default)

    def keys(self):
        self._load()
        return super().keys()

    def values(self):
        self._load()
        return super().values()

    def items(self):
        self._load()
        return super().items()


ENGINES: dict[str, Engine] = _Engines(interpreter=InterpreterEngine())


def _register_native() -> None:
    try:
        from ..native.engine import NativeEngine
    except ImportError:
        return  # clifkit.native.engine is being imported first: it registers itself when done
    ENGINES.setdefault("native", NativeEngine())
