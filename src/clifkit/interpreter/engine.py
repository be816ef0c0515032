"""The interpreter engine: run lines on clifkit's interpreter, as the harness's
`Engine` interface (`clifkit.engine`) asks."""

from __future__ import annotations

from ..ir.function import TestFile
from ..reader.directives import BoundRun
from ..engine import Engine, EngineOptions, Failed, Outcome, Returned, Session, Skipped, TimedOut, Trapped
from ..environment import GROW_FUNCTION
from ..ir.types import I32, I64
from ..lazy import module

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional

    from . import Interpreter


def _heap_grow(machine, vmctx: int, index: int, delta: int) -> int:
    # `heaps.heap_grow`, imported on the first call: a file that grows no heap needs neither that
    # module nor the environment's layout.
    return module("clifkit.interpreter.heaps").heap_grow(machine, vmctx, index, delta)


# The host functions the harness gives the interpreter: name -> (fn, params, returns).
HOST_FUNCTIONS = {GROW_FUNCTION: (_heap_grow, (I64, I32, I64), (I64,))}


class InterpreterEngine(Engine):
    name = "interpreter"

    def open(self, test_file: TestFile, options: EngineOptions, target: Optional[str] = None,
             source: Optional[str] = None, byteorder: Optional[str] = None) -> Session:
        """The interpreter runs in `byteorder`, else the byte order of `target`, else that of
        the file's targets when they agree (little-endian otherwise: `targets.file_byteorder`)."""
        from ..environment.byteorder import file_byteorder, target_byteorder

        if byteorder is None:
            byteorder = target_byteorder(target) if target else file_byteorder(
                " ".join(s.words) for s in test_file.isa_specs if s.kind == "target" and s.words)
        return InterpreterSession([d.function for d in test_file.functions], options, byteorder)


class InterpreterSession(Session):
    engine = "interpreter"
    target = None

    def __init__(self, functions, options: EngineOptions, byteorder: str = "little"):
        package = module("clifkit.interpreter")  # (the package: it imports this module)
        self.options = options
        self.byteorder = byteorder
        self.interp: Optional[Interpreter] = None
        self.open_error: Optional[Outcome] = None
        kwargs = {"fuel": options.fuel, "host_functions": HOST_FUNCTIONS, "timeout": options.timeout,
                  "max_memory": options.max_memory, "byteorder": byteorder, "compact": options.compact}
        if options.max_call_depth is not None:
            kwargs["max_call_depth"] = options.max_call_depth
        self.tracer = None
        if options.trace_limit is not None:
            from .trace import Tracer

            self.tracer = kwargs["tracer"] = Tracer(lambda line: print(line, flush=True), options.trace_limit)
        try:
            self.interp = package.Interpreter(functions, **kwargs)
        except package.Unsupported as e:
            self.open_error = Skipped(_reason(e))
        except Exception as e:  # an interpreter bug: report it, never a traceback
            self.open_error = Failed(f"internal error while loading the functions: {type(e).__name__}: {e}", True)

    def close(self) -> None:
        if self.interp is not None:
            self.interp.close()

    def call(self, bound: BoundRun, env: object = None) -> Outcome:
        outcome = self._call(bound, env)
        if self.tracer is not None:
            trapped = self.tracer.finish(isinstance(outcome, Trapped))
            if self.tracer.dropped:
                print(f"... and {self.tracer.dropped} more instructions (--trace-limit {self.tracer.limit})")
            if trapped is not None:
                print(f"{trapped}  <- trapped here")
            print(f"{bound.call_text} -> {_describe(outcome)}", flush=True)
        return outcome

    def _call(self, bound: BoundRun, env: object = None) -> Outcome:
        # (the package's names: it imports this module, and `lazy.module` runs no import machinery per call)
        package = module("clifkit.interpreter")
        if self.interp is None:
            return self.open_error
        args = list(bound.args)
        prepared = None
        if env is not None:
            prepared = module("clifkit.interpreter.heaps").materialize(env, self.byteorder)
            args = [prepared.vmctx, *args]
        name = bound.function.name
        if self.tracer is not None:
            loc = bound.command.loc
            print(f"trace of {loc.path}:{loc.line}: {bound.call_text}", flush=True)
            self.tracer.start()
        try:
            results = self.interp.call(name, args, env=prepared)
        except package.FuelExhausted as e:
            return Failed(
                f"ran out of fuel after {self.options.fuel} instructions in {e.function}: "
                "an endless loop? (--fuel raises the limit)"
            )
        except package.TimeLimitExceeded as e:
            return TimedOut(f"timed out: {name} ran longer than {e.seconds:g} s and was stopped in {e.function} "
                            "(--timeout raises the limit)", seconds=e.seconds)
        except package.MemoryLimitExceeded as e:
            return Failed(f"{name} touched more than 0x{e.limit:x} bytes of memory (--max-memory raises the limit)")
        except package.Unsupported as e:
            return Skipped(_reason(e))
        except package.Trap as e:
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
    from ..environment.guarantee import outside_native_guarantee

    return outside_native_guarantee(prepared.placed_regions(memory), trap.address, trap.size)


def _describe(outcome: Outcome) -> str:
    """An outcome in a trace's last line."""
    if isinstance(outcome, Returned):
        from .trace import format_value

        return "returned " + (", ".join(format_value(v) for v in outcome.values) or "nothing")
    if isinstance(outcome, Trapped):
        return f"trap {outcome.code}"
    return getattr(outcome, "message", None) or getattr(outcome, "reason", None) or type(outcome).__name__


def _reason(e: BaseException) -> str:
    text = str(e)
    return text or type(e).__name__
