"""What runs a CLIF file's run lines, and each run line read and bound, ready for an engine.

A file's ``test`` lines, ``target`` lines and the `Options` of the run decide its `Plan`s: which
engine runs its run lines, and on which target. A run line calls the function it names (a bare
``; run`` the one it follows), under ``test interpret`` and ``test run`` alike.
`collect_directives` groups the ``; run:`` / ``; print:`` commands and other directives by
function, as the reader attached and read them (after the function's closing brace, Cranelift's
rule), and `prepare_group` binds each run line under a plan to its callee's signature, with the
environment its ``; heap:`` / ``; table:`` directives ask for (`environment.layout`), or settles
it as an error. Nothing here runs code: that is
`execute.py`, so that planning can be checked (and run lines listed, `select`) without an engine.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from .. import lazy
from ..diagnostics import ClifError
from ..ir.function import Directive, Function, FunctionDetails, TestFile
from ..limits import DEFAULT_LIMITS, Limits, stack_frame_error
from ..reader.directives import RUN_KINDS, BoundRun, RunCommand, bind, read, takes_vmctx
from ..engine import DEFAULT_FUEL, EngineOptions
from ..ir.values import format_values
from ..dialect import CURRENT, Dialect, calls_followed
from .engines import ENGINES
from .results import ERROR, RunResult

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Callable, Optional


@dataclass
class Options:
    """What `clifkit test` was asked to do (its command-line options)."""

    verbose: bool = False
    interpret_all: bool = False
    fuel: int = DEFAULT_FUEL
    max_call_depth: Optional[int] = None
    # Choosing and stopping (`clifkit test -k/--fail-fast`): `keyword` is a `select` expression
    # over full item names; `fail_fast` stops after the first failed or erroneous run line.
    keyword: Optional[str] = None
    fail_fast: bool = False
    # `clifkit interpret` / `clifkit run`: run every file's run lines this way, whatever its
    # `test` lines say ("interpret": on the interpreter; "run": natively on the host).
    force_mode: Optional[str] = None
    # `--engine`: which engines run at all ("interpreter", "native" or "all"); `--compare`: every
    # `test run` line also runs on the interpreter, and a disagreement is a failure of its own.
    engine: str = "all"
    compare: bool = False
    # The caps on what a test may ask for and how long a run line may run (`clifkit.limits`:
    # --max-memory, --max-reservation, --max-stack-frame, --timeout).
    limits: Limits = DEFAULT_LIMITS
    # `--failed-from REPORT`: only these run lines (`rerun.failed_from`): `rerun.file_key` -> the
    # (line, engine, target) of each run line to repeat, or None for the whole file.
    only: Optional[dict] = None
    # `--set NAME=VALUE`: Cranelift settings for every native compilation, over the files' own.
    settings: tuple[tuple[str, str], ...] = ()
    # `clifkit interpret --trace`: instructions traced per run line (None: no trace).
    trace_limit: Optional[int] = None
    # Called as on_runs(file_result, first) when a file run a segment at a time (`segments`) has
    # added runs from index `first` on: `clifkit test -j 1` prints them then, not at the file's end.
    on_runs: Optional[Callable] = None
    # `--cranelift ERA`: the era's rules (`clifkit.dialect`); `--run-calls named|followed`: which
    # function a `test run` line calls (None: what the dialect implies, `named` today).
    dialect: Dialect = CURRENT
    run_calls: Optional[str] = None

    @property
    def calls_followed(self) -> bool:
        return calls_followed(self.dialect, self.run_calls)

    def engine_options(self) -> EngineOptions:
        return EngineOptions(fuel=self.fuel, max_call_depth=self.max_call_depth, timeout=self.limits.timeout,
                             max_memory=self.limits.max_memory, settings=self.settings,
                             trace_limit=self.trace_limit)


@dataclass
class Plan:
    """One way a file's run lines are executed: an engine, a target, and how run lines pick the callee."""

    engine: str
    mode: str  # "interpret" or "run": the test command it comes from
    target: Optional[str] = None
    skip_reason: Optional[str] = None  # set when this plan cannot execute (its runs are skipped)


NO_NATIVE = ("`test run` needs the native engine, which needs cranelift-py (not installed here); "
             "--interpret-all runs it on the interpreter")

# The test kinds that run no code (`static_tests.py`).
STATIC_TEST_KINDS = frozenset({"verifier", "cat"})


def command_names(tf: TestFile) -> list[str]:
    """The kind each ``test`` line of the file names (``interpret``, ``run``, ``verifier``, ...)."""
    names = []
    for c in tf.commands:
        name = c.name.strip()
        if name.startswith("test "):
            name = name[5:].strip()
        names.append(name.split()[0] if name else name)
    return names


def _targets(tf: TestFile) -> list[str]:
    return [" ".join(s.words) for s in tf.isa_specs if s.kind == "target" and s.words]


def select_plans(tf: TestFile, options: Options) -> tuple[list[Plan], Optional[str]]:
    """The plans for a file, or ([], reason) when it has no run tests."""
    if options.force_mode is not None:
        return _forced_plans(tf, options.force_mode), None
    names = command_names(tf)
    plans: list[Plan] = []
    if "interpret" in names:
        plans.append(Plan("interpreter", "interpret"))
    if "run" in names:
        if "native" in ENGINES:
            # A native engine runs `test run` on each target the file names that the host can run
            # (the engine decides, skipping the others), or on the host when it names none.
            for target in _targets(tf) or [None]:
                plans.append(Plan("native", "run", target=target))
        elif "interpret" not in names and not options.interpret_all:
            plans.append(Plan("native", "run", skip_reason=NO_NATIVE))
        if options.interpret_all and "interpret" not in names:
            plans.append(Plan("interpreter", "run"))
    plans = _chosen_engines(plans, options)
    if not plans:
        what = ", ".join(f"test {n}" for n in names) if names else "no test command"
        return [], f"not a run test ({what})"
    arch_skip = nondeterministic_skip(tf.path)
    if arch_skip is not None:
        for plan in plans:
            if plan.engine == "interpreter" and plan.skip_reason is None:
                plan.skip_reason = arch_skip
    return plans, None


NATIVE_UNAVAILABLE = "the native engine is not available in this clifkit"
ENGINE_LEFT_OUT = "{what} runs on {engine}, which --engine {option} leaves out"


# --engine E: the engine it leaves out, that engine's test command, and how messages name them.
_LEFT_OUT = {"native": ("interpreter", "interpret", "the interpreter"),
             "interpreter": ("native", "run", "the native engine")}


def _chosen_engines(plans: list[Plan], options: Options) -> list[Plan]:
    """The plans of the engines `--engine` chooses. A file whose run lines only the engine left
    out would run keeps one skipped plan of it, saying why, so that its run lines count as skipped."""
    if options.engine not in _LEFT_OUT:
        return plans
    other, mode, name = _LEFT_OUT[options.engine]
    kept = [p for p in plans if p.engine == options.engine]
    if not kept and any(p.engine == other for p in plans):
        reason = ENGINE_LEFT_OUT.format(what=f"`test {mode}`", engine=name, option=options.engine)
        kept = [Plan(other, mode, skip_reason=reason)]
    return kept


def _forced_plans(tf: TestFile, mode: str) -> list[Plan]:
    """`clifkit interpret`: the interpreter calls the function each line names (as `test interpret`);
    `clifkit run`: the native engine on the host (as `test run`). Both call the function each line names."""
    if mode == "interpret":
        return [Plan("interpreter", "interpret", skip_reason=nondeterministic_skip(tf.path))]
    if mode == "run":
        if "native" not in ENGINES:
            return [Plan("native", "run", skip_reason=NATIVE_UNAVAILABLE)]
        return [_host_plan(tf)]
    raise ValueError(f"unknown mode {mode!r}")


# `*-nondeterministic-<arch>.clif` files check one architecture's own choices where CLIF leaves
# the result open (which NaN fmin/fmax return: its sign, its payload). The interpreter computes
# one deterministic rule (`interpreter.softfloat`, rule 1b: fmin/fmax return the NaN operand,
# quieted, sign and payload kept), which is also the rule of Cranelift's aarch64 and s390x backends;
# the files of other architectures cannot pass on it and are skipped, never counted as passed.
_NONDETERMINISTIC_RE = re.compile(r"-nondeterministic-([A-Za-z0-9_]+)\.clif\Z")
INTERPRETER_NAN_ARCHITECTURES = frozenset({"aarch64", "s390x"})


def _host_plan(tf: TestFile) -> Plan:
    """`clifkit run`, as clif-util run: the host, with the flags of the file's first target line for
    the host's architecture; a file whose target lines all name other architectures is not run
    here (clif-util run refuses it), and the skip says where it would run."""
    from ..ir.arch import target_arch
    from ..native.host import host_arch

    targets = _targets(tf)
    if not targets:
        return Plan("native", "run")
    host = host_arch()
    on_host = [t for t in targets if target_arch(t) == host]
    if on_host:
        return Plan("native", "run", target=on_host[0])
    from ..native.emulation import ARCHES

    named = ", ".join(dict.fromkeys(t.split()[0] for t in targets))
    # Only the architectures clifkit has workers for: riscv64 and Pulley code it runs nowhere.
    runnable = [a for a in dict.fromkeys(map(target_arch, targets)) if a in ARCHES]
    where = (f"`clifkit test --engine native` runs it on {', '.join(runnable)}" if runnable
             else "clifkit runs code for none of them")
    return Plan("native", "run", skip_reason=(
        f"its targets ({named}) do not include the host's architecture ({host}); {where}"))


def nondeterministic_skip(path: str) -> Optional[str]:
    """Why the interpreter skips the file at `path` (an architecture's own NaN results), or None."""
    m = _NONDETERMINISTIC_RE.search(os.path.basename(path or ""))
    if m is None or m.group(1) in INTERPRETER_NAN_ARCHITECTURES:
        return None
    return (
        f"tests {m.group(1)}'s own NaN results, which CLIF leaves nondeterministic; the interpreter "
        f"returns the NaN operand of fmin/fmax, quieted, as {' and '.join(sorted(INTERPRETER_NAN_ARCHITECTURES))} do"
    )


class FunctionDirectives:
    """The run lines and other directives that follow one function. (A plain class, as the other
    records of a run that nothing compares or prints: a dataclass costs its import a compile of
    generated methods.)"""

    def __init__(self, details: FunctionDetails, commands: list[RunCommand], errors: list[tuple[int, ClifError]],
                 others: list[Directive]):
        self.details = details
        self.commands = commands
        self.errors = errors  # malformed run/print lines
        self.others = others  # heap, table, ...: as the reader read them


def collect_directives(tf: TestFile) -> list[FunctionDirectives]:
    """Each function's directives as the reader attached them (the lines after its closing brace,
    Cranelift's rule) and read them: its run and print commands, the errors of those it could not
    read, and its other directives."""
    out = []
    for details in tf.functions:
        commands: list[RunCommand] = []
        errors: list[tuple[int, ClifError]] = []
        others: list[Directive] = []
        for d in details.directives:
            if d.kind not in RUN_KINDS:
                others.append(d)
            elif not d.after_code:  # `} ; run: ...` is a comment (the verifier says so)
                try:
                    commands.append(read(d))
                except ClifError as e:
                    errors.append((d.line, e))
        out.append(FunctionDirectives(details, commands, errors, others))
    return out


def _error_result(plan_engine: str, target, line: int, function, err: ClifError, kind: str = "run") -> RunResult:
    d = err.first
    return RunResult(
        line=line,
        function=function,
        engine=plan_engine,
        target=target,
        status=ERROR,
        message=d.message,
        col=d.loc.col,
        kind=kind,
        report=err.format(),
    )


ENVIRONMENT_KINDS = ("heap", "table")


def _wants_environment(others: list[Directive]) -> bool:
    return any(d.kind in ENVIRONMENT_KINDS for d in others)


def _environment(details: FunctionDetails, others: list[Directive], limits: Limits = DEFAULT_LIMITS):
    """The environment the function's ``heap:``/``table:`` directives ask for, or None. Raises ClifError."""
    if not _wants_environment(others):
        return None
    from ..environment.layout import build_environment

    requests = [d for d in others if d.kind in ENVIRONMENT_KINDS]
    return build_environment(FunctionDetails(details.function, requests), max_heap_bytes=limits.max_memory)


NO_VMCTX_NOTE = ("{name} declares heaps or tables but takes no vmctx parameter, so the harness allocated "
                 "no memory for them")


def callee_environment(directed, callee: Function, by_name: dict[str, Function], limits: Limits = DEFAULT_LIMITS,
                       nargs: Optional[int] = None, dialect: Dialect = CURRENT):
    """The environment a run line calling `callee` gets: the one its group's directives ask for
    (`directed`, None when there are none), else the one `callee`'s declarations imply
    (`inferred.py`) — unless the line passes `nargs` arguments, vmctx included, as a test that
    builds its own vmctx does; either way with every region's reservation worked out from the
    declarations `callee` can reach (`reservations.py`). None when there is none. Raises ClifError."""
    if not takes_vmctx(callee):
        # Nothing to hand an environment to: the directives of the group are another function's
        # (a run line naming %f below %g's `; heap:` lines), and %f is called as it is declared.
        return None
    env = directed
    # (infer_environment infers nothing for a callee without vmctx: its module, and the
    # environment's, are imported only for one that takes it)
    if env is None and (nargs is None or nargs != len(callee.signature.params)) and takes_vmctx(callee):
        from .inferred import infer_environment

        env = infer_environment(callee, by_name, max_heap_bytes=limits.max_memory)
    if env is None:
        return None
    # (on first need, by `lazy`: a fuzz campaign asks for most programs)
    reserve = lazy.module("clifkit.environment.reservations").reserve
    return reserve(env, callee, by_name, limits.max_reservation, dialect)


def _no_environment_note(callee: Function, by_name: dict[str, Function]) -> Optional[str]:
    """What to say when a run line of `callee` faults: it declares memory nobody allocated."""
    from ..ir.function import reachable

    # Does it, or a function it can reach, declare a heap or a table?
    if not takes_vmctx(callee) and any(f.heaps or f.tables for f in reachable(callee, by_name)):
        return NO_VMCTX_NOTE.format(name=callee.name)
    return None

class PreparedRun:
    """One run line under one plan, read and bound to its callee: ready for an engine session
    (`execute_run`), or already `settled` (a malformed line, a binding or environment error)."""

    def __init__(self, plan: Plan, line: int, kind: str, label: str, settled: Optional[RunResult] = None,
                 bound: Optional[BoundRun] = None, env: object = None, note: Optional[str] = None,
                 hint: Optional[str] = None, expected: Optional[str] = None):
        self.plan = plan
        self.line = line
        self.kind = kind
        self.label = label  # what names it: the call as written (see `select`)
        self.settled = settled
        self.bound = bound
        self.env = env
        self.note = note  # added to the message when the run line faults
        self.hint = hint  # added to the message when the run line fails in any way
        self.expected = expected  # `expected_text` of `bound`, None: not worked out (or a print line)


class RunItem:
    """A file's unit of testing: one run line on one engine and target, with its unique name.
    `prepared` is None for the runs of a file that cannot be read or parsed (`settled` says why)."""

    def __init__(self, name: str, line: int, plan: Optional[Plan], prepared: Optional[PreparedRun] = None,
                 settled: Optional[RunResult] = None, label: str = ""):
        self.name = name
        self.line = line
        self.plan = plan
        self.prepared = prepared
        self.settled = settled
        self.label = label  # the call as its line writes it ("%f(1)"): `name` before it was made unique

def _callee(plan: Plan, cmd: RunCommand, above: Function, by_name: dict[str, Function],
            followed: bool = False) -> Function:
    # A run line calls the function it names, on every engine (Cranelift's `test run` calls the
    # function the line follows whatever it names, which lets a misnamed line pass: `followed`,
    # `--run-calls followed`, does the same for `test run` lines; `test interpret` calls by name).
    if cmd.call is None or (followed and plan.mode == "run"):
        return above
    found = by_name.get(cmd.call.name)
    if found is None:
        names = list(by_name)
        shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
        other = (f"; with --run-calls followed this line calls {above.name}, the function it follows, as "
                 "Cranelift's `test run` does") if plan.mode == "run" else ""
        raise cmd.error(cmd.call.col, f"unknown function {cmd.call.name} (this file defines {shown}){other}")
    return found


def misnamed_hint(plan: Plan, cmd: RunCommand, above: Function, followed: bool = False) -> Optional[str]:
    """Said when a `test run` line that names another function than the one it follows fails:
    Cranelift's `test run` calls the function a line follows, whatever it names."""
    if plan.mode != "run" or cmd.call is None or cmd.call.name == above.name:
        return None
    if followed:
        return f"this line names {cmd.call.name} but follows {above.name}, which --run-calls followed calls"
    return (f"this line follows {above.name}, which Cranelift's `test run` would call whatever the line names, "
            f"as --run-calls followed does; clifkit calls {cmd.call.name}")


class Shared:
    """What preparing a file's run lines works out once for all its plans (none of it depends on
    the plan; `prepare_group` is called once per plan and function): each line's binding, and each
    callee's stack-frame check and the note said when it faults, and each bound line's expected
    text. Keyed by object identity: it lives no longer than the file's functions and run lines."""

    def __init__(self):
        self.binds: dict = {}  # (line, callee, vmctx rule) -> (BoundRun, None) or (None, ClifError)
        self.frames: dict = {}  # callee -> `stack_frame_error` (None: within the limit)
        self.notes: dict = {}  # callee -> `_no_environment_note`
        self.expected: dict = {}  # BoundRun -> `expected_text`


def expected_text(bound: BoundRun) -> Optional[str]:
    """What a bound run line expects, as reports show it (None for a ``print`` line)."""
    cmd = bound.command
    if cmd.kind == "print":
        return None
    if cmd.expected_trap is not None:
        return f"trap {cmd.expected_trap}"
    if bound.expected is None:
        return "nonzero"
    text = format_values(bound.expected, bound.return_types, bound.expected_hex)
    return text if cmd.comparison == "==" else f"anything but {text}"


def _bind_once(shared: Optional[Shared], cmd: RunCommand, callee: Function, implicit_vmctx: bool):
    """`bind`, or what it gave (or raised) for the same line, callee and vmctx rule before: reading
    run-line values is most of preparing a file, and every engine and target reads them alike."""
    if shared is None:
        return bind(cmd, callee, implicit_vmctx=implicit_vmctx)
    key = (id(cmd), id(callee), implicit_vmctx)
    found = shared.binds.get(key)
    if found is None:
        try:
            found = (bind(cmd, callee, implicit_vmctx=implicit_vmctx), None)
        except ClifError as e:
            found = (None, e)
        shared.binds[key] = found
    if found[1] is not None:
        raise found[1]
    return found[0]


def _once(table: Optional[dict], key: int, work: Callable, *args):
    """`work(*args)`, done once per `key` in `table` (a dict of `Shared`; None: every time)."""
    if table is None:
        return work(*args)
    if key not in table:
        table[key] = work(*args)
    return table[key]


def prepare_group(plan: Plan, g: FunctionDirectives, by_name: dict[str, Function], limits: Limits = DEFAULT_LIMITS,
                  reported: Optional[set] = None, options: Optional[Options] = None,
                  shared: Optional[Shared] = None) -> list[PreparedRun]:
    """The run lines of one function's directives under `plan`, in line order, each bound to its
    callee at its signature's types, or settled as an error (also when the callee, or a function
    it calls, has a stack frame over `limits.max_stack_frame`). `shared`: what the file's other
    plans worked out (bindings, frame checks, notes), reused: none of it depends on the plan."""
    above = g.details.function
    dialect = options.dialect if options is not None else CURRENT
    followed = options is not None and options.calls_followed
    items: list = [(e_line, e) for e_line, e in g.errors] + [(c.line, c) for c in g.commands]
    items.sort(key=lambda x: x[0])
    # The environment (heaps) the function's directives ask for: engine-independent, so it is
    # built (and checked) even when the engine is skipped.
    wants_env = _wants_environment(g.others)
    env = None
    env_error: Optional[ClifError] = None
    if g.commands and wants_env:
        try:
            env = _environment(g.details, g.others, limits)
        except ClifError as e:
            env_error = e
    env_reported: set[str] = set()
    envs: dict[tuple, tuple] = {}  # (callee, vmctx passed?) -> (its environment, or the error that refuses it)
    frames_reported: set[str] = reported if reported is not None else set()
    out: list[PreparedRun] = []
    from .select import run_label

    for line, item in items:
        if isinstance(item, ClifError):
            label = run_label(None, line, item.first.source_line)
            out.append(PreparedRun(plan, line, "run", label, settled=_error_result(plan.engine, plan.target, line, None, item)))
            continue
        cmd: RunCommand = item
        name = cmd.call.name if cmd.call is not None else above.name
        label = cmd.call.text if cmd.call is not None else f"{above.name}()"
        follows = followed and plan.mode == "run"
        hint = misnamed_hint(plan, cmd, above, follows) if cmd.call is None or cmd.call.name in by_name or follows else None
        try:
            callee = _callee(plan, cmd, above, by_name, followed)
            callee_env, callee_error = None, env_error
            if callee_error is None:
                nargs = len(cmd.call.args) if cmd.call is not None else 0
                key = (callee.name, nargs == len(callee.signature.params))
                if key not in envs:
                    try:
                        envs[key] = (callee_environment(env, callee, by_name, limits, nargs, dialect), None)
                    except ClifError as e:
                        envs[key] = (None, e)
                callee_env, callee_error = envs[key]
            if callee_error is not None:
                d = callee_error.first
                r = RunResult(line, callee.name, plan.engine, plan.target, ERROR, d.message, col=d.loc.col, kind=cmd.kind)
                r.call = cmd.call.text if cmd.call is not None else f"{callee.name}()"
                r.report = (callee_error.format() if d.message not in env_reported
                            else f"{cmd.loc.path}:{line}: {r.call}: not run: {d.message}")
                env_reported.add(d.message)
                out.append(PreparedRun(plan, line, cmd.kind, label, settled=r))
                continue
            frame_error = _once(shared and shared.frames, id(callee), stack_frame_error, callee, by_name,
                                limits.max_stack_frame)
            if frame_error is not None:
                d = frame_error.first
                r = RunResult(line, callee.name, plan.engine, plan.target, ERROR, d.message, kind=cmd.kind)
                r.call = cmd.call.text if cmd.call is not None else f"{callee.name}()"
                r.col = d.loc.col if d.loc.line == line else None
                r.report = (frame_error.format() if d.message not in frames_reported
                            else f"{cmd.loc.path}:{line}: {r.call}: not run: {d.message}")
                frames_reported.add(d.message)
                out.append(PreparedRun(plan, line, cmd.kind, label, settled=r))
                continue
            bound = _bind_once(shared, cmd, callee, wants_env or callee_env is not None)
        except ClifError as e:
            r = _error_result(plan.engine, plan.target, line, name, e, cmd.kind)
            if hint is not None:
                first, sep, rest = r.report.partition("\n")
                r.message, r.report = f"{r.message} ({hint})", f"{first} ({hint}){sep}{rest}"
            out.append(PreparedRun(plan, line, cmd.kind, label, settled=r))
            continue
        note = None
        if callee_env is None:
            note = _once(shared and shared.notes, id(callee), _no_environment_note, callee, by_name)
        out.append(PreparedRun(plan, line, cmd.kind, label, bound=bound, env=callee_env, note=note, hint=hint,
                               expected=_once(shared and shared.expected, id(bound), expected_text, bound)))
    return out
