"""The engine interface: what an engine is, what it is given and what it answers.

An `Engine` opens a `Session` for one test file (compiling or loading its
functions once); the session calls one function per run line and returns an
`Outcome`: the results, a trap, a skip (the engine cannot run this function,
with the reason), or a failure of the run itself (fuel exhausted, recursion
too deep, ...). Engines never raise for a run line's problems.

Each call gets the run line's environment (`clifkit.environment.layout`,
describing heaps and vmctx), or None; an engine that cannot honour an
environment skips the run with the reason. A session may also take a whole
batch of calls ahead (`prefetch`), which the native engine uses to run all of a
file's run lines in one round trip to its worker; `call` then answers from what
was fetched.

This module imports no engine: engines import it, and `registry` finds them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .ir.function import TestFile
from .reader.directives import BoundRun
from .ir.values import Value

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional

DEFAULT_FUEL = 10**9


@dataclass
class Returned:
    """A call that returned these values."""

    values: list[Value]


@dataclass
class Trapped:
    """A call that trapped with this trap code."""

    code: str
    detail: str = ""
    # Where a trapping memory access lies in memory the native engine leaves open ("heap0-0x8",
    # `clifkit.environment.guarantee`): the interpreter says so, for comparisons.
    native_open: Optional[str] = None
    # Set when the trap is a limit of the engine rather than of the code (the interpreter's call
    # depth): what to say about it, naming the option that raises it.
    limit: Optional[str] = None


@dataclass
class Skipped:
    """A call the engine did not make, and why."""

    reason: str


@dataclass
class Failed:
    """A call the engine could not make (a bad test, or an engine bug when `internal`)."""

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
    """The limits and settings an engine runs calls with."""

    fuel: int = DEFAULT_FUEL
    max_call_depth: Optional[int] = None
    timeout: Optional[float] = None  # seconds a call may run (None: the engine's default)
    max_memory: Optional[int] = None  # bytes of memory an interpreter call may touch (None: no cap)
    # Cranelift settings from `--set NAME=VALUE`, applied after the file's own `set` lines (native only).
    settings: tuple[tuple[str, str], ...] = ()
    # `clifkit interpret --trace`: the interpreter writes each executed instruction to standard
    # output, at most this many per run line (None: no trace).
    trace_limit: Optional[int] = None
    # The interpreter compiles loops as short as straight-line code (`Interpreter(compact=True)`):
    # for programs whose loops run a few iterations (the fuzzer's).
    compact: bool = False


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
