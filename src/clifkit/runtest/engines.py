"""Engines: what runs a bound run line and says what happened.

An `Engine` opens a `Session` for one test file (compiling or loading its
functions once); the session calls one function per run line and returns an
`Outcome`: the results, a trap, a skip (the engine cannot run this function,
with the reason), or a failure of the run itself (fuel exhausted, recursion
too deep, ...). Engines never raise for a run line's problems.

Each call gets the run line's environment (`clifkit.runtest.environment`,
describing heaps and vmctx), or None; an engine that cannot honour an
environment skips the run with the reason.

The interpreter is the only engine so far; a native engine registers itself
in `ENGINES` the same way.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

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


@dataclass
class Skipped:
    reason: str


@dataclass
class Failed:
    message: str
    internal: bool = False  # an engine bug rather than a property of the test


Outcome = object  # one of Returned, Trapped, Skipped, Failed


@dataclass
class EngineOptions:
    fuel: int = DEFAULT_FUEL
    max_call_depth: Optional[int] = None


class EngineUnavailable(Exception):
    """The engine cannot run anything here (not installed, cannot load the file, ...)."""


class Session:
    engine: str = "?"
    target: Optional[str] = None

    def call(self, bound: BoundRun, env: object = None) -> Outcome:
        raise NotImplementedError

    def close(self) -> None:
        pass


class Engine:
    name: str = "?"

    def open(self, test_file: TestFile, options: EngineOptions, target: Optional[str] = None) -> Session:
        raise NotImplementedError


class InterpreterEngine(Engine):
    name = "interpreter"

    def open(self, test_file: TestFile, options: EngineOptions, target: Optional[str] = None) -> Session:
        try:
            from .. import interpreter as mod

            mod.Interpreter  # noqa: B018  (present?)
        except (ImportError, AttributeError) as e:
            raise EngineUnavailable(f"the interpreter is not available: {e}") from None
        return InterpreterSession(mod, [d.function for d in test_file.functions], options)


class InterpreterSession(Session):
    engine = "interpreter"
    target = None

    def __init__(self, mod, functions, options: EngineOptions):
        self.mod = mod
        self.functions = functions
        self.options = options
        self._interp = None
        self._open_error: Optional[Outcome] = None
        # (environment description, bound run) -> (the interpreter's environment, arguments to put
        # before the run line's: the vmctx address when `bound.implicit_vmctx`). None until heaps
        # are supported.
        self.materialize_env: Optional[Callable] = None
        params = _parameters(mod.Interpreter)
        self._ctor_kwargs = {}
        if "fuel" in params:
            self._ctor_kwargs["fuel"] = options.fuel
        if options.max_call_depth is not None and "max_call_depth" in params:
            self._ctor_kwargs["max_call_depth"] = options.max_call_depth
        self._call_params = _parameters(mod.Interpreter.call)
        self.Trap = getattr(mod, "Trap", _Never)
        self.Unsupported = getattr(mod, "Unsupported", _Never)
        self.FuelExhausted = getattr(mod, "FuelExhausted", _Never)

    def _interpreter(self):
        if self._interp is None and self._open_error is None:
            try:
                self._interp = self.mod.Interpreter(self.functions, **self._ctor_kwargs)
            except self.Unsupported as e:
                self._open_error = Skipped(_reason(e))
            except Exception as e:  # an interpreter bug: report it, never a traceback
                self._open_error = Failed(f"internal error while loading the functions: {type(e).__name__}: {e}", True)
        return self._interp

    def call(self, bound: BoundRun, env: object = None) -> Outcome:
        interp = self._interpreter()
        if interp is None:
            return self._open_error
        kwargs = {}
        args = list(bound.args)
        if env is not None:
            # `env` describes heaps and vmctx (clifkit.runtest.environment); the interpreter
            # wants its own memory map. The bridge between them is `materialize_env`.
            if self.materialize_env is None or "env" not in self._call_params:
                return Skipped("heap directives are not supported by the interpreter yet")
            try:
                kwargs["env"], leading = self.materialize_env(env, bound)
            except self.Unsupported as e:
                return Skipped(_reason(e))
            args = [*leading, *args]
        name = bound.function.name
        try:
            results = interp.call(name, args, **kwargs)
        except self.FuelExhausted as e:
            where = getattr(e, "function", None) or name
            budget = getattr(e, "fuel", None)
            if not isinstance(budget, int) or budget < 0:
                budget = self.options.fuel
            return Failed(
                f"ran out of fuel after {budget} instructions in {where}: an endless loop? (--fuel raises the limit)"
            )
        except self.Unsupported as e:
            return Skipped(_reason(e))
        except self.Trap as e:
            return Trapped(str(getattr(e, "code", e)), str(getattr(e, "detail", "") or ""))
        except RecursionError:
            return Failed(f"call depth exceeded while running {name}")
        except MemoryError:
            return Failed(f"out of memory while running {name}")
        except Exception as e:
            return Failed(f"internal error in the interpreter: {type(e).__name__}: {e}", True)
        return Returned(list(results))


class _Never(Exception):
    """Stands in for an exception class the interpreter does not define (yet)."""


def _parameters(fn: Callable) -> Sequence[str]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return ()
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return ("fuel", "max_call_depth", "env")
    return tuple(sig.parameters)


def _reason(e: BaseException) -> str:
    text = str(e)
    return text or type(e).__name__


ENGINES: dict[str, Engine] = {"interpreter": InterpreterEngine()}
