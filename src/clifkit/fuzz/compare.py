"""Running a run-test file on several engines and judging their differences.

`Harness.run_text` reads, verifies and runs every run line of a file on each
engine in-process (the same steps as `clifkit test`: directives, environment,
binding) and gives one `LineResult` per run line. `judge` compares two
engines' outcomes for a line under the named rules (`rules.py`):

- results are compared value by value and lane by lane, bit for bit, except
  that a float lane that is NaN on both sides matches whatever its bits
  (rule ``nan-bits``);
- traps match when their codes do; a trap never matches results;
- a run an engine skips is ``skipped`` (rule ``engine-skip``);
- a run both engines fail alike (say, out of fuel) is an ``error`` of the
  program, not a disagreement; any other failure is a disagreement;
- a trap on memory the native engine leaves open (within a page of a
  region, `clifkit.environment.guarantee`) that the other engine does not share
  is ``outside-guarantee`` (rule ``native-page-slack``): the program relies
  on more than the native engine guarantees.

`outcome_class` names what a line did in a few words ("values",
"trap:heap_oob", "failed", "skipped"); the reducer keeps a failure "the same"
when these classes stay the same.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Optional, Sequence

from ..diagnostics import ClifError
from ..dialect import CURRENT, Dialect
from ..environment.layout import build_environment
from ..ir.function import Function, FunctionDetails, TestFile
from ..ir.types import Type
from ..reader import parse_text
from ..reader.directives import RUN_KINDS, BoundRun, bind, directives_in, read, takes_vmctx
from ..runtest.plans import FunctionDirectives, callee_environment, collect_directives, command_names
from ..verifier import verify_test_file
from ..engine import EngineOptions, EngineUnavailable, Failed, Returned, Skipped, Trapped
from ..environment.guarantee import RULE as GUARANTEE_RULE
from ..environment.guarantee import explain
from ..ir.floats import is_nan
from ..ir.values import format_values
from .engines import get_engine

FUEL_WORDS = "ran out of fuel"


def out_of_fuel(o: "Observed") -> bool:
    return o.kind == "failed" and FUEL_WORDS in o.message


class InvalidProgram(Exception):
    """The file does not read, verify or bind: a generator (or reducer) bug, never an engine's.
    `step` says which ("read", "verify", "bind"); the message holds the located diagnostics."""

    def __init__(self, message: str, step: str = "read"):
        super().__init__(message)
        self.step = step


@dataclass
class Observed:
    kind: str  # values, trap, skipped, failed
    values: Optional[list] = None
    code: Optional[str] = None
    message: str = ""
    internal: bool = False
    native_open: Optional[str] = None  # a trapping access the native engine lets through (rule native-page-slack)

    @property
    def klass(self) -> str:
        return f"trap:{self.code}" if self.kind == "trap" else self.kind

    def describe(self, types: Sequence[Type]) -> str:
        if self.kind == "values":
            return format_values(self.values or [], types)
        if self.kind == "trap":
            return f"trap {self.code}"
        return f"{self.kind}: {self.message}"

    def expectation(self, types: Sequence[Type]) -> Optional[str]:
        """The `== ...` text of a run line expecting this outcome (None: cannot be expected)."""
        if self.kind == "values":
            return format_values(self.values or [], types) if self.values else "[]"
        if self.kind == "trap":
            return f"trap {self.code}"
        return None


def observe(outcome) -> Observed:
    if isinstance(outcome, Returned):
        return Observed("values", values=list(outcome.values))
    if isinstance(outcome, Trapped):
        return Observed("trap", code=outcome.code, message=outcome.detail, native_open=outcome.native_open)
    if isinstance(outcome, Skipped):
        return Observed("skipped", message=outcome.reason)
    if isinstance(outcome, Failed):
        return Observed("failed", message=outcome.message, internal=outcome.internal)
    return Observed("failed", message=f"the engine returned {outcome!r}", internal=True)


@dataclass
class Verdict:
    status: str  # agree, disagree, skipped, error
    rules: list[str] = field(default_factory=list)  # rules that explained a difference
    detail: str = ""

    @property
    def disagrees(self) -> bool:
        return self.status == "disagree"


def values_match(a, b, ty: Type, rules: list[str]) -> bool:
    """Bitwise equality, except that NaN float lanes match any NaN (rule nan-bits)."""
    if a == b:
        return True
    if not ty.lane_type.is_float:
        return False
    lanes_a = a if ty.is_vector else (a,)
    lanes_b = b if ty.is_vector else (b,)
    if len(lanes_a) != len(lanes_b):
        return False
    for x, y in zip(lanes_a, lanes_b):
        if x == y:
            continue
        if is_nan(x, ty.lane_bits) and is_nan(y, ty.lane_bits):
            if "nan-bits" not in rules:
                rules.append("nan-bits")
            continue
        return False
    return True


def judge(a: Observed, b: Observed, types: Sequence[Type], names: tuple[str, str] = ("a", "b")) -> Verdict:
    """How outcome `b` compares with outcome `a` of the same run line."""
    def what() -> str:
        # (the detail, written only for a verdict that keeps one: most lines agree, and formatting
        # their values was most of judging them)
        return f"{names[0]}: {a.describe(types)}; {names[1]}: {b.describe(types)}"

    if a.kind == "skipped" or b.kind == "skipped":
        return Verdict("skipped", ["engine-skip"], what())
    for x, y in ((a, b), (b, a)):
        if x.kind == "trap" and x.native_open and not (y.kind == "trap" and y.code == x.code):
            # The program touched memory only one engine guards: its fault, not an engine's.
            return Verdict("outside-guarantee", [GUARANTEE_RULE], f"{what()}; {explain(x.native_open)}")
    if a.kind == "failed" and b.kind == "failed" and not (a.internal or b.internal):
        return Verdict("error", [], what())
    if a.kind != b.kind:
        return Verdict("disagree", [], what())
    if a.kind == "trap":
        return Verdict("agree" if a.code == b.code else "disagree", [], what())
    if a.kind == "failed":
        return Verdict("disagree", [], what())
    rules: list[str] = []
    va, vb = a.values or [], b.values or []
    if len(va) != len(vb):
        return Verdict("disagree", [], what())
    for x, y, t in zip(va, vb, types):
        if not values_match(x, y, t, rules):
            return Verdict("disagree", [], what())
    return Verdict("agree", rules, what() if rules else "")


@dataclass
class LineResult:
    line: int
    call: str  # "%main(1, 2)"
    function: Function
    return_types: list[Type]
    outcomes: list[Observed]
    bound: BoundRun
    env: object = None  # the environment its heap directives ask for (None: none)

    def verdict(self, names: Sequence[str], a: int = 0, b: int = 1) -> Verdict:
        """How column `b`'s outcome compares with column `a`'s (by default the first two)."""
        return judge(self.outcomes[a], self.outcomes[b], self.return_types, (names[a], names[b]))


def _bound(cmd, callee: Function, values: list, implicit_vmctx: bool) -> BoundRun:
    """`bind(cmd, callee, implicit_vmctx)` for a print line whose arguments are values already
    (the generator's own, which its text prints and the reader reads back as the same values:
    tests/test_fuzz.py checks it); anything else is bound from the command."""
    implicit_vmctx = implicit_vmctx and takes_vmctx(callee)
    params = [p.type for p in callee.signature.params][1 if implicit_vmctx else 0 :]
    if cmd.kind != "print" or len(values) != len(params):
        return bind(cmd, callee, implicit_vmctx)
    return BoundRun(cmd, callee, list(values), params, [r.type for r in callee.signature.returns],
                    implicit_vmctx=implicit_vmctx)


def split_column(spec: str) -> tuple[str, Optional[str]]:
    """``engine`` or ``engine@target``: an engine, run for one target (None: the file's first)."""
    name, _, target = spec.partition("@")
    return name, target or None


class _Clock:
    """Accumulates process CPU time per stage into a dict (or does nothing without one)."""

    def __init__(self, table: Optional[dict]):
        self.table = table
        self.last = time.process_time() if table is not None else 0.0

    def lap(self, stage: str) -> None:
        if self.table is not None:
            now = time.process_time()
            self.table[stage] = self.table.get(stage, 0.0) + now - self.last
            self.last = now


class Harness:
    """Runs files on a list of engines, in-process. The first engine is the reference."""

    def __init__(self, engines: Sequence[str], options: Optional[EngineOptions] = None, stop_on_fuel: bool = True,
                 dialect: Dialect = CURRENT, calls_followed: bool = False):
        # Each column is an engine, or `engine@target` (the interpreter then runs in that target's
        # byte order; the native engine compiles for it, emulated when it is not the host).
        self.engine_names = list(engines)
        columns = [split_column(n) for n in engines]
        self.engines = [get_engine(n) for n, _ in columns]  # raises EngineUnavailable
        self.targets = [t for _, t in columns]
        self.options = options or EngineOptions()
        # When an earlier engine runs out of fuel, do not run the later ones (a native engine would hang).
        self.stop_on_fuel = stop_on_fuel
        # The rules of `clifkit test --cranelift` / `--run-calls followed` (`clifkit.dialect`).
        self.dialect = dialect
        self.calls_followed = calls_followed
        # When set, a run line that does not bind is left out (its error kept in `unbound`) rather
        # than making the whole file invalid: the reducer's first run, where only one line matters.
        self.skip_unbound = False
        # When set, a file that is a `test interpret` file too calls by name, as `clifkit test`'s
        # interpreter does for it whatever --run-calls says: the reducer's --expect on the interpreter.
        self.interpret_by_name = False
        self.unbound: list[tuple[int, ClifError]] = []

    def run_text(self, text: str, path: str = "<fuzz>", verify: bool = True,
                 timing: Optional[dict] = None) -> list[LineResult]:
        """Run every run line of `text` on every column. `timing`, when given, accumulates the CPU
        seconds of this process per stage (parse, verify, plan, and each column: for the native
        engine that is its client side; its worker's time is its own)."""
        clock = _Clock(timing)
        try:
            tf = parse_text(text, path)
        except ClifError as e:
            raise InvalidProgram(e.format(), "read") from None
        clock.lap("parse")
        if verify:
            diags = verify_test_file(tf, text, dialect=self.dialect)
            if diags:
                raise InvalidProgram("\n".join(d.format() for d in diags[:5]), "verify")
            clock.lap("verify")
        groups = collect_directives(tf)
        targets = [" ".join(s.words) for s in tf.isa_specs if s.kind == "target" and s.words]
        return self._run(tf, groups, text, targets[0] if targets else None, clock)

    def run_ir(self, functions: list[Function], text: str, target: Optional[str], path: str = "<fuzz>",
               timing: Optional[dict] = None, runs: Optional[list[tuple]] = None,
               others: Optional[list] = None) -> list[LineResult]:
        """Like `run_text` for a generated program, without reading its functions back: `functions`
        are the generator's IR (what `text` prints); the directives after the last function (its
        heaps and run lines) are read from `text`. The native engine still gets `text`. With
        `runs` (`Program.run_commands`: each run line's command with its arguments as values)
        and `others` (the other directives, read: `Program.heap_directives`), the directives are
        those, and `text` is not read."""
        clock = _Clock(timing)
        tf = TestFile(path, functions=[FunctionDetails(f) for f in functions])
        args = None
        if runs is not None:
            commands = [cmd for cmd, _ in runs]
            args = {id(cmd): values for cmd, values in runs}
            others = list(others or [])
        else:
            found = directives_in(text, path)
            others = [d for d in found if d.kind not in RUN_KINDS]
            try:
                commands = [read(d) for d in found if d.kind in RUN_KINDS]
            except ClifError as e:
                raise InvalidProgram(e.format()) from None
        groups = [FunctionDirectives(d, [], [], []) for d in tf.functions[:-1]]
        groups.append(FunctionDirectives(tf.functions[-1], commands, [], others))
        clock.lap("directives")
        return self._run(tf, groups, text, target, clock, args)

    def _run(self, tf, groups, text: str, target: Optional[str], clock: "_Clock",
             args: Optional[dict] = None) -> list[LineResult]:
        """`args`: the arguments of some commands as values already (by the command's id), which
        are then not read from the command again (`_bound`)."""
        by_name = {d.function.name: d.function for d in tf.functions}
        # As `clifkit test --run-calls followed`: a `test run` line calls the function it follows.
        kinds = command_names(tf)
        followed = self.calls_followed and "run" in kinds and not (self.interpret_by_name and "interpret" in kinds)
        plan: list[tuple] = []
        self.unbound = []
        for g in groups:
            if g.errors:
                raise InvalidProgram(g.errors[0][1].format(), "read")
            env_kinds = ("heap", "table")
            wants_env = any(d.kind in env_kinds for d in g.others)
            env = None
            envs: dict = {}
            try:
                if wants_env and g.commands:
                    requests = [d for d in g.others if d.kind in env_kinds]
                    env = build_environment(FunctionDetails(g.details.function, requests))
                for cmd in g.commands:
                    callee = g.details.function
                    if (not followed and cmd.call is not None and cmd.call.name in by_name
                            and cmd.call.name != callee.name):
                        callee = by_name[cmd.call.name]
                    # Reservations from every declaration the callee reaches; inferred when no directives.
                    nargs = len(cmd.call.args) if cmd.call is not None else 0
                    try:
                        # (run lines of one callee with as many arguments share its environment:
                        # a description, which every engine lays out anew for each run)
                        key = (callee.name, nargs)
                        callee_env = envs[key] if key in envs else envs.setdefault(
                            key, callee_environment(env, callee, by_name, nargs=nargs, dialect=self.dialect))
                        implicit = wants_env or callee_env is not None
                        values = args.get(id(cmd)) if args else None
                        bound = bind(cmd, callee, implicit) if values is None else _bound(cmd, callee, values, implicit)
                    except ClifError as e:
                        if not self.skip_unbound:
                            raise
                        self.unbound.append((cmd.line, e))
                        continue
                    plan.append((cmd, bound, callee_env))
            except ClifError as e:
                raise InvalidProgram(e.format(), "bind") from None
        clock.lap("plan")
        sessions = []
        results: list[LineResult] = []
        try:
            for engine, column_target in zip(self.engines, self.targets):
                sessions.append(engine.open(tf, self.options, column_target or target, source=text))
                clock.lap(f"open {engine.name}")
            # Engine by engine, each with the whole batch at once (the native engine runs it in one
            # round trip to its worker). Runs on which the first engine ran out of fuel are not given
            # to the later ones: they may not terminate (a native engine would hang until its timeout).
            table: list[list[Observed]] = [[] for _ in plan]
            for i, session in enumerate(sessions):
                todo = [k for k in range(len(plan))
                        if i == 0 or not self.stop_on_fuel or not out_of_fuel(table[k][0])]
                if todo:
                    session.prefetch([(plan[k][1], plan[k][2]) for k in todo])
                for k in range(len(plan)):
                    if k in todo:
                        table[k].append(observe(session.call(plan[k][1], plan[k][2])))
                    else:
                        table[k].append(Observed("skipped", message=f"not run: {self.engine_names[0]} ran out of fuel"))
                clock.lap(f"run {self.engines[i].name}")
            for (cmd, bound, env), outs in zip(plan, table):
                results.append(LineResult(cmd.line, bound.call_text, bound.function, list(bound.return_types), outs,
                                          bound, env))
        finally:
            for s in sessions:
                try:
                    s.close()
                except Exception:
                    pass
        return results


__all__ = ["Harness", "InvalidProgram", "LineResult", "Observed", "Verdict", "judge", "observe", "EngineUnavailable"]
