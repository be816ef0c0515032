"""`clifkit test`: find CLIF files, run their run lines on an engine, report.

For each file:

1. read it (a file that does not parse is an ``error``; its run lines are
   counted as errors, and the run goes on with the next file);
2. choose what runs it from its test commands: ``test interpret`` runs on the
   interpreter; ``test run`` runs natively (`clifkit.native.engine`) on each
   ``target`` line, skipping the targets the host cannot run, with the reason
   (``--interpret-all`` also runs such files on the interpreter; ``--engine``
   chooses which engines run at all; ``--compare`` runs every ``test run`` line
   on the interpreter too, and a disagreement is a failure of its own);
3. for every function, read its directives (the ``; run:`` / ``; print:``
   lines from the function to the next one, as Cranelift attaches them), bind
   each to the called function's signature, describe the environment its
   ``; heap:`` directives ask for (`environment.py`; engines that cannot
   provide heaps skip those runs), call the engine and compare the results
   bit for bit.

Which function a run line calls follows Cranelift: under ``test interpret``
the one it names; under ``test run`` the one it follows, whatever it names.

Output: a line per failure or error (every run line with ``-v``), a line per
file with skips, then exactly ``N passed, N failed, N skipped`` (errors count
as failed). The exit status is 1 when anything failed.
"""

from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence, TextIO

from ..diagnostics import ClifError, Location
from ..ir.function import Function, FunctionDetails, TestFile
from . import report as report_mod
from .directives import BoundRun, OtherDirective, RunCommand, bind, parse_directive_line
from ..limits import DEFAULT_LIMITS, Limits
from .engines import ENGINES, DEFAULT_FUEL, EngineOptions, EngineUnavailable, Failed, Lost, Returned, Skipped, TimedOut, Trapped
from .results import ERROR, FAILED, PASSED, SKIPPED, TIMEOUT, FileResult, RunResult
from .values import check_value, format_values, is_truthy, values_equal


@dataclass
class Options:
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
    # `--failed-from REPORT`: only these run lines (`report.failed_from`): absolute path -> the
    # (line, engine, target) of each run line to repeat, or None for the whole file.
    only: Optional[dict] = None

    def engine_options(self) -> EngineOptions:
        return EngineOptions(fuel=self.fuel, max_call_depth=self.max_call_depth, timeout=self.limits.timeout,
                             max_memory=self.limits.max_memory)


@dataclass
class Plan:
    """One way a file's run lines are executed: an engine, a target, and how run lines pick the callee."""

    engine: str
    mode: str  # "interpret": call the function named; "run": call the function the line follows
    target: Optional[str] = None
    skip_reason: Optional[str] = None  # set when this plan cannot execute (its runs are skipped)


NO_NATIVE = "`test run` needs the native engine, which clifkit does not have yet (--interpret-all runs it on the interpreter)"


# -- discovery -------------------------------------------------------------------


def discover(paths: Sequence[str]) -> list[tuple[str, Optional[str]]]:
    """(path, problem) pairs: every *.clif under each directory (sorted), each file as given."""
    out: list[tuple[str, Optional[str]]] = []
    seen: set[str] = set()
    for path in paths:
        if os.path.isdir(path):
            found = []
            for root, dirs, files in os.walk(path):
                dirs.sort()
                found.extend(os.path.join(root, f) for f in files if f.endswith(".clif"))
            for f in sorted(found):
                if f not in seen:
                    seen.add(f)
                    out.append((f, None))
        elif os.path.isfile(path):
            if path not in seen:
                seen.add(path)
                out.append((path, None))
        else:
            out.append((path, "no such file or directory"))
    return out


# -- one file ----------------------------------------------------------------------


def _command_names(tf: TestFile) -> list[str]:
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
    names = _command_names(tf)
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
        if options.engine == "native" and "interpret" in names:
            return [], ENGINE_LEFT_OUT.format(what="test interpret", engine="the interpreter", option="native")
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
ENGINE_CHOICES = ("interpreter", "native", "all")


def _chosen_engines(plans: list[Plan], options: Options) -> list[Plan]:
    """The plans of the engines `--engine` chooses. Under `--engine interpreter`, a file whose run
    lines only the native engine would run keeps one skipped native plan, saying why."""
    if options.engine == "native":
        return [p for p in plans if p.engine == "native"]
    if options.engine == "interpreter":
        kept = [p for p in plans if p.engine == "interpreter"]
        if not kept and any(p.engine == "native" for p in plans):
            reason = ENGINE_LEFT_OUT.format(what="`test run`", engine="the native engine", option="interpreter")
            kept = [Plan("native", "run", skip_reason=reason)]
        return kept
    return plans


def _forced_plans(tf: TestFile, mode: str) -> list[Plan]:
    """`clifkit interpret`: the interpreter calls the function each line names (as `test interpret`);
    `clifkit run`: the native engine on the host calls the function each line follows (as `test run`)."""
    if mode == "interpret":
        return [Plan("interpreter", "interpret", skip_reason=nondeterministic_skip(tf.path))]
    if mode == "run":
        return [Plan("native", "run", skip_reason=None if "native" in ENGINES else NATIVE_UNAVAILABLE)]
    raise ValueError(f"unknown mode {mode!r}")


# `*-nondeterministic-<arch>.clif` files check one architecture's own choices where CLIF leaves
# the result open (which NaN fmin/fmax return: its sign, its payload). The interpreter computes
# one deterministic rule (`interpreter.softfloat`: every NaN from arithmetic is the positive
# canonical NaN), which is also the rule of Cranelift's riscv64 backend; the files of other
# architectures cannot pass on it and are skipped, never counted as passed.
_NONDETERMINISTIC_RE = re.compile(r"-nondeterministic-([A-Za-z0-9_]+)\.clif\Z")
INTERPRETER_NAN_ARCHITECTURES = frozenset({"riscv64"})


def nondeterministic_skip(path: str) -> Optional[str]:
    """Why the interpreter skips the file at `path` (an architecture's own NaN results), or None."""
    m = _NONDETERMINISTIC_RE.search(os.path.basename(path or ""))
    if m is None or m.group(1) in INTERPRETER_NAN_ARCHITECTURES:
        return None
    return (
        f"tests {m.group(1)}'s own NaN results, which CLIF leaves nondeterministic; the interpreter "
        f"always gives the positive canonical NaN, as only {', '.join(sorted(INTERPRETER_NAN_ARCHITECTURES))} does"
    )


@dataclass
class _FunctionDirectives:
    details: FunctionDetails
    commands: list[RunCommand]
    errors: list[tuple[int, ClifError]]  # malformed run/print lines
    others: list[OtherDirective]


def _function_line(details: FunctionDetails) -> Optional[int]:
    loc = details.function.loc
    return loc.line if loc is not None else None


def collect_directives(tf: TestFile, lines: Sequence[str], path: str) -> list[_FunctionDirectives]:
    """Each function's directives, read from the source: the lines from its `function` keyword up to
    the next function's, plus any directive line the reader attached to it elsewhere."""
    starts = [_function_line(d) for d in tf.functions]
    out = []
    claimed: set[int] = set()
    for i, details in enumerate(tf.functions):
        line_numbers: set[int] = set()
        start = starts[i]
        if start is not None:
            nxt = next((s for s in starts[i + 1 :] if s is not None and s > start), len(lines) + 1)
            line_numbers.update(range(start, nxt))
        for d in details.directives:
            if d.loc is not None:
                line_numbers.add(d.loc.line)
        commands: list[RunCommand] = []
        errors: list[tuple[int, ClifError]] = []
        others: list[OtherDirective] = []
        for n in sorted(line_numbers):
            if n in claimed or not 1 <= n <= len(lines) or ";" not in lines[n - 1]:
                continue
            try:
                d = parse_directive_line(lines[n - 1], path, n)
            except ClifError as e:
                claimed.add(n)
                errors.append((n, e))
                continue
            if d is None:
                continue
            claimed.add(n)
            if isinstance(d, RunCommand):
                commands.append(d)
            else:
                others.append(d)
        out.append(_FunctionDirectives(details, commands, errors, others))
    return out


def _raw_run_lines(lines: Sequence[str], path: str) -> list[tuple[int, Optional[str]]]:
    """(line, called name) of every run/print line, for a file that does not parse."""
    found = []
    for n, line in enumerate(lines, 1):
        if ";" not in line:
            continue
        try:
            d = parse_directive_line(line, path, n)
        except ClifError:
            found.append((n, None))
            continue
        if isinstance(d, RunCommand):
            found.append((n, d.call.name if d.call is not None else None))
    return found


_TEST_RE = re.compile(r"\s*test\s+(\w+)")


def _engine_guess(lines: Sequence[str]) -> str:
    names = {m.group(1) for m in map(_TEST_RE.match, lines) if m}
    return "interpreter" if "interpret" in names or "run" not in names else "native"


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


def _wants_environment(others: list[OtherDirective]) -> bool:
    return any(d.kind in ENVIRONMENT_KINDS for d in others)


def _environment(details: FunctionDetails, others: list[OtherDirective], limits: Limits = DEFAULT_LIMITS):
    """The environment the function's ``heap:``/``table:`` directives ask for, or None. Raises ClifError."""
    from ..ir.function import Directive
    from .environment import build_environment

    if not _wants_environment(others):
        return None
    requests = [Directive(d.kind, d.text, d.loc) for d in others if d.kind in ENVIRONMENT_KINDS]
    return build_environment(FunctionDetails(details.function, requests), max_heap_bytes=limits.max_memory,
                             max_reservation=limits.max_reservation)


def run_file(path: str, options: Options) -> FileResult:
    """Run one file. Ctrl-C is passed on (KeyboardInterrupt) with what the file had done so far,
    settled, as the exception's ``partial`` attribute (the run lines in flight marked as
    interrupted), so that the reports still hold it."""
    started = time.perf_counter()
    result = FileResult(path)
    try:
        _run_file(path, options, result)
    except KeyboardInterrupt as e:
        result.seconds = time.perf_counter() - started
        result.settle()
        e.partial = result  # type: ignore[attr-defined]
        raise
    finally:
        result.seconds = time.perf_counter() - started
    result.settle()
    return result


@dataclass
class PreparedFile:
    """A file read and planned, ready to run item by item (`file_items`).

    `test_file` is None when the file cannot be read or parsed; the `FileResult` given to
    `prepare_file` then says why, with a run per run line (all errors)."""

    path: str
    lines: list[str]
    test_file: Optional[TestFile] = None
    plans: list[Plan] = field(default_factory=list)
    groups: list["_FunctionDirectives"] = field(default_factory=list)
    by_name: dict[str, Function] = field(default_factory=dict)
    source: Optional[str] = None  # the file's text
    limits: Limits = DEFAULT_LIMITS  # the caps its run lines are held to


@dataclass
class PreparedRun:
    """One run line under one plan, read and bound to its callee: ready for an engine session
    (`execute_run`), or already `settled` (a malformed line, a binding or environment error)."""

    plan: Plan
    line: int
    kind: str
    label: str  # what names it: the call as written (see `select`)
    settled: Optional[RunResult] = None
    bound: Optional[BoundRun] = None
    env: object = None
    skip_reason: Optional[str] = None  # skipped whatever the engine (heaps unsupported, ...)


@dataclass
class RunItem:
    """A file's unit of testing: one run line on one engine and target, with its unique name.
    `prepared` is None for the runs of a file that cannot be read or parsed (`settled` says why)."""

    name: str
    line: int
    plan: Optional[Plan]
    prepared: Optional[PreparedRun] = None
    settled: Optional[RunResult] = None


def prepare_file(path: str, options: Options, result: FileResult) -> PreparedFile:
    """Read, parse and plan the file at `path`. File-level outcomes (cannot read or parse it, not
    a run test) go into `result`: status, message, notes, and for errors a run per run line."""
    try:
        with open(path, encoding="utf-8") as f:
            source = f.read()
    except (OSError, UnicodeDecodeError) as e:
        result.status = ERROR
        result.message = f"{path}: error: cannot read: {e}"
        result.runs.append(RunResult(1, None, "interpreter", None, ERROR, f"cannot read: {e}", report=result.message))
        return PreparedFile(path, [])
    # Lines as the reader numbers them: split at newlines only (not at form feeds and the like).
    lines = [line[:-1] if line.endswith("\r") else line for line in source.split("\n")]
    prepared = PreparedFile(path, lines, source=source, limits=getattr(options, "limits", DEFAULT_LIMITS))
    try:
        from ..reader import parse_file

        tf = parse_file(path)
    except ClifError as e:
        _file_error(result, lines, path, e.format(), e.first.message, e.first.loc)
        return prepared
    except ImportError as e:
        _file_error(result, lines, path, f"{path}: error: the reader is not available: {e}", str(e), None)
        return prepared
    except RecursionError:
        _file_error(result, lines, path, f"{path}: error: the file nests too deeply to read", "nests too deeply", None)
        return prepared
    except Exception as e:  # a reader bug: report it, never a traceback
        msg = f"internal error in the reader: {type(e).__name__}: {e}"
        _file_error(result, lines, path, f"{path}: error: {msg}", msg, None)
        return prepared

    prepared.test_file = tf
    plans, not_runtest = select_plans(tf, options)
    if not plans:
        result.status = SKIPPED
        result.message = not_runtest or ""
        result.notes.append(f"{path}: skipped: {result.message}")
        return prepared
    prepared.plans = plans
    prepared.groups = collect_directives(tf, lines, path)
    prepared.by_name = {d.function.name: d.function for d in tf.functions}
    return prepared


def file_items(prepared: PreparedFile, result: FileResult) -> list[RunItem]:
    """Every item of a prepared file, in the order `clifkit test` runs them (plan by plan, function
    by function, line by line), each with its name (unique in the file). For a file that cannot be
    read or parsed, the items are the settled runs `prepare_file` put in `result`."""
    from .select import item_names, run_label

    items: list[RunItem] = []
    if prepared.test_file is None:
        for r in result.runs:
            source = prepared.lines[r.line - 1] if 1 <= r.line <= len(prepared.lines) else None
            items.append(RunItem(run_label(r.call, r.line, source), r.line, None, settled=r))
    else:
        for plan in prepared.plans:
            reported: set[str] = set()  # frame errors shown in full once per plan, then referred to
            for g in prepared.groups:
                for p in prepare_group(plan, g, prepared.by_name, prepared.limits, prepared.lines, reported):
                    items.append(RunItem(p.label, p.line, plan, prepared=p))
    entries = []
    for item in items:
        if item.plan is not None:
            entries.append((item.name, item.line, item.plan.engine, item.plan.target))
        else:
            entries.append((item.name, item.line, item.settled.engine, item.settled.target))
    for item, name in zip(items, item_names(entries)):
        item.name = name
    return items


def _run_file(path: str, options: Options, result: FileResult) -> None:
    from .select import full_name, matcher

    prepared = prepare_file(path, options, result)
    select = matcher(options.keyword)
    if select is None and prepared.test_file is None:
        return
    items = file_items(prepared, result)
    if select is not None:
        chosen = [item for item in items if select(full_name(path, item.name))]
        result.deselected = len(items) - len(chosen)
        items = chosen
    wanted = _rerun_set(options, path)
    if wanted is not None:
        # --failed-from: only the run lines that failed, errored or timed out in that report.
        items = [item for item in items if _item_key(item) in wanted]
    if prepared.test_file is None:
        result.runs = []
        for item in items:
            item.settled.name = item.name
            result.runs.append(item.settled)
        return
    for plan in prepared.plans:
        runs = [item for item in items if item.plan is plan]
        if runs and _run_plan(plan, prepared.test_file, runs, options, result):
            break
    # Per-file notes on skipped runs, grouped by reason.
    reasons: dict[str, int] = {}
    for r in result.runs:
        if r.status == SKIPPED:
            reasons[r.message] = reasons.get(r.message, 0) + 1
    if reasons:
        n = sum(reasons.values())
        first, *others = reasons
        more = f" (and {len(others)} other reason{'s' if len(others) != 1 else ''}; -v shows each line)" if others else ""
        result.notes.append(f"{path}: {n} run line{'s' if n != 1 else ''} skipped: {first}{more}")
    plans = prepared.plans
    if plans and all(p.skip_reason for p in plans):
        result.message = plans[0].skip_reason or ""


def _rerun_key(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


def _rerun_set(options: Options, path: str) -> Optional[set]:
    """--failed-from: the (line, engine, target) keys of the file's run lines to repeat, or None
    to run all of it (no --failed-from, or the report holds a file-level problem)."""
    only = getattr(options, "only", None)
    if only is None:
        return None
    return only.get(_rerun_key(path))


def _rerun_wants_file(options: Options, path: str) -> bool:
    only = getattr(options, "only", None)
    return only is None or _rerun_key(path) in only


def _item_key(item: "RunItem") -> tuple:
    if item.plan is not None:
        return (item.line, item.plan.engine, item.plan.target)
    return (item.line, item.settled.engine, item.settled.target)


def _file_error(result: FileResult, lines, path: str, formatted: str, message: str, loc: Optional[Location]) -> None:
    result.status = ERROR
    result.message = formatted.splitlines()[0] if formatted else message
    engine = _engine_guess(lines)
    raw = _raw_run_lines(lines, path)
    if not raw:
        line = loc.line if loc is not None else 1
        result.runs.append(
            RunResult(line, None, engine, None, ERROR, message, col=loc.col if loc else None, report=formatted)
        )
        return
    first = True
    for n, name in raw:
        text = formatted if first else ""
        first = False
        result.runs.append(
            RunResult(n, name, engine, None, ERROR, f"not run: the file does not parse: {message}", report=text)
        )


def _callee(plan: Plan, cmd: RunCommand, above: Function, by_name: dict[str, Function]) -> Function:
    if cmd.call is None or plan.mode == "run":
        return above
    found = by_name.get(cmd.call.name)
    if found is None:
        names = list(by_name)
        shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
        raise cmd.error(cmd.call.col, f"unknown function {cmd.call.name} (this file defines {shown})")
    return found


def open_session(plan: Plan, tf: TestFile, options: Options):
    """(session, None) for a plan that can run, else (None, why its runs are skipped)."""
    if plan.skip_reason is not None:
        return None, plan.skip_reason
    engine = ENGINES.get(plan.engine)
    if engine is None:
        return None, f"no engine named {plan.engine}"
    try:
        return engine.open(tf, options.engine_options(), plan.target), None
    except EngineUnavailable as e:
        return None, str(e)


def _run_plan(plan: Plan, tf: TestFile, items: list[RunItem], options: Options, result: FileResult) -> bool:
    """Run `items` (prepared under `plan`) on one session; True when --fail-fast says stop.

    Ctrl-C (KeyboardInterrupt) is passed on after the run lines in flight are added to `result`,
    marked as interrupted: the one running, or every one of the plan while its session was being
    opened or was running them all at once (`prefetch`)."""
    in_flight: list[RunItem] = list(items)
    try:
        session, skip_reason = open_session(plan, tf, options)
        comparing = options.compare and session is not None and plan.engine == "native" and plan.mode == "run"
        if comparing:
            session = _Recording(session)
        try:
            prefetch = getattr(session, "prefetch", None)
            if prefetch is not None and skip_reason is None:
                # An engine may run the whole batch at once (the native engine does, in its worker).
                calls = [(i.prepared.bound, i.prepared.env) for i in items
                         if i.prepared.bound is not None and i.prepared.skip_reason is None]
                if calls:
                    prefetch(calls)
            for item in items:
                in_flight = [item]
                r = execute_run(item.prepared, session, skip_reason)
                r.name = item.name
                result.runs.append(r)
                in_flight = []
                if options.fail_fast and r.status in (FAILED, ERROR, TIMEOUT):
                    return True
                if comparing:
                    c = compare_engines(item, session, tf, options)
                    if c is not None:
                        result.runs.append(c)
                        if options.fail_fast:
                            return True
        finally:
            if session is not None:
                session.close()
    except KeyboardInterrupt:
        for item in in_flight:
            result.runs.append(_interrupted(item, result.path))
        raise
    return False


INTERRUPTED = "interrupted (Ctrl-C) before it finished"


def _interrupted(item: RunItem, path: str) -> RunResult:
    """The result of a run line that Ctrl-C stopped (or that was in flight when it came)."""
    p = item.prepared
    plan = item.plan
    bound = p.bound if p is not None else None
    r = RunResult(item.line, bound.function.name if bound is not None else None,
                  plan.engine if plan is not None else "interpreter", plan.target if plan is not None else None,
                  ERROR, INTERRUPTED, kind=p.kind if p is not None else "run",
                  call=bound.call_text if bound is not None else None)
    r.report = f"{path}:{item.line}: {r.call or item.name}: {INTERRUPTED}"
    r.name = item.name
    return r


def prepare_group(plan: Plan, g: _FunctionDirectives, by_name: dict[str, Function], limits: Limits = DEFAULT_LIMITS,
                  lines: Optional[Sequence[str]] = None, reported: Optional[set] = None) -> list[PreparedRun]:
    """The run lines of one function's directives under `plan`, in line order, each bound to its
    callee at its signature's types, or settled as an error (also when the callee, or a function
    it calls, has a stack frame over `limits.max_stack_frame`; `lines`: the file's, to show)."""
    from ..limits import stack_frame_error

    above = g.details.function
    items: list = [(e_line, e) for e_line, e in g.errors] + [(c.line, c) for c in g.commands]
    items.sort(key=lambda x: x[0])
    # The environment (heaps) the function's directives ask for: engine-independent, so it is
    # built (and checked) even when the engine is skipped.
    wants_env = _wants_environment(g.others)
    env = None
    env_error: Optional[ClifError] = None
    group_skip: Optional[str] = None
    if g.commands and wants_env:
        try:
            env = _environment(g.details, g.others, limits)
        except ClifError as e:
            env_error = e
        except ImportError:
            group_skip = "heap directives are not supported yet"
    env_reported = False
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
        try:
            callee = _callee(plan, cmd, above, by_name)
            if env_error is not None:
                d = env_error.first
                r = RunResult(line, callee.name, plan.engine, plan.target, ERROR, d.message, col=d.loc.col, kind=cmd.kind)
                r.call = cmd.call.text if cmd.call is not None else f"{callee.name}()"
                r.report = env_error.format() if not env_reported else f"{cmd.loc.path}:{line}: {r.call}: not run: {d.message}"
                env_reported = True
                out.append(PreparedRun(plan, line, cmd.kind, label, settled=r))
                continue
            frame_error = stack_frame_error(callee, by_name, limits.max_stack_frame, lines)
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
            bound = bind(cmd, callee, implicit_vmctx=wants_env)
        except ClifError as e:
            out.append(PreparedRun(plan, line, cmd.kind, label, settled=_error_result(plan.engine, plan.target, line, name, e, cmd.kind)))
            continue
        out.append(PreparedRun(plan, line, cmd.kind, label, bound=bound, env=env, skip_reason=group_skip))
    return out


def execute_run(p: PreparedRun, session, skip_reason: Optional[str] = None) -> RunResult:
    """Run one prepared run line on `session` and judge it; `skip_reason` (the session could not be
    opened) skips it. Settled runs give their result as it is."""
    if p.settled is not None:
        return p.settled
    bound = p.bound
    assert bound is not None
    cmd = bound.command
    plan = p.plan
    base = RunResult(p.line, bound.function.name, plan.engine, plan.target, SKIPPED, kind=cmd.kind, call=bound.call_text)
    _describe_expected(base, bound)
    skip_reason = skip_reason or p.skip_reason
    if skip_reason is not None or session is None:
        skip_reason = skip_reason or f"no session of {plan.engine}"
        base.message = skip_reason
        base.report = f"{cmd.loc.path}:{p.line}: {bound.call_text}: skipped: {skip_reason}"
        return base
    outcome = session.call(bound, p.env)
    if isinstance(outcome, Lost):
        # The process running it died (not the code under test): its result is unknown. Once
        # more, alone, so that one killed batch costs no other run line its result.
        outcome = session.call(bound, p.env)
    _judge(base, bound, outcome)
    note = getattr(session, "note", None)
    if note and base.status == PASSED and not base.message:
        base.message = note  # e.g. the native engine ran a variant with the host's own features
    return base


# -- --compare: the native engine against the interpreter ------------------------------------------


class _Recording:
    """A session that remembers the outcome of every call (for `compare_engines`)."""

    def __init__(self, session):
        self.session = session
        self.engine = session.engine
        self.target = session.target
        self.note = getattr(session, "note", None)
        self.outcomes: dict[int, tuple[BoundRun, object]] = {}

    def prefetch(self, calls) -> None:
        prefetch = getattr(self.session, "prefetch", None)
        if prefetch is not None:
            prefetch(calls)

    def call(self, bound: BoundRun, env: object = None):
        outcome = self.session.call(bound, env)
        self.outcomes[id(bound)] = (bound, outcome)
        return outcome

    def close(self) -> None:
        self.session.close()


def _interpreter_outcome(tf: TestFile, bound: BoundRun, env: object, options: Options):
    """The interpreter's outcome for the same call (one interpreter per file, outcomes cached by
    line: each target's native plan compares against the same run)."""
    cache = getattr(tf, "_compare_cache", None)
    if cache is None:
        engine = ENGINES["interpreter"]
        try:
            session = engine.open(tf, options.engine_options(), None)
        except EngineUnavailable:
            session = None
        cache = {"session": session, "outcomes": {}}
        setattr(tf, "_compare_cache", cache)
    key = (bound.command.line, bound.function.name)
    if key not in cache["outcomes"]:
        session = cache["session"]
        cache["outcomes"][key] = session.call(bound, env) if session is not None else None
    return cache["outcomes"][key]


def compare_engines(item: "RunItem", session: _Recording, tf: TestFile, options: Options) -> Optional[RunResult]:
    """A failed run of its own when the interpreter and the native engine disagree on `item`.
    Only results and traps are compared (skips, crashes and other failures are reported already);
    any NaN equals any NaN, since CLIF leaves NaN bits open. Files testing one architecture's own
    NaN choices (`*-nondeterministic-<arch>.clif`) are not compared."""
    p = item.prepared
    if p is None or p.bound is None or nondeterministic_skip(tf.path) is not None:
        return None
    recorded = session.outcomes.get(id(p.bound))
    if recorded is None or recorded[0] is not p.bound:
        return None
    bound, native = recorded
    if not isinstance(native, (Returned, Trapped)):
        return None
    interp = _interpreter_outcome(tf, bound, p.env, options)
    if not isinstance(interp, (Returned, Trapped)):
        return None
    types = bound.return_types
    hexes = bound.expected_hex or [False] * len(types)

    def show(outcome) -> str:
        if isinstance(outcome, Trapped):
            return f"trap {outcome.code}"
        try:
            return format_values([check_value(v, t) for v, t in zip(outcome.values, types)], types, hexes)
        except ValueError:
            return repr(outcome.values)

    if isinstance(native, Trapped) and isinstance(interp, Trapped):
        if native.code == interp.code:
            return None
    elif isinstance(native, Returned) and isinstance(interp, Returned):
        if _same_results(native.values, interp.values, types):
            return None
    cmd = bound.command
    target = session.target or "the host"
    r = RunResult(p.line, bound.function.name, "native", session.target, FAILED, kind="compare", call=bound.call_text)
    r.expected, r.actual = show(interp), show(native)
    r.message = f"the engines disagree: native ({target}) gives {r.actual}, the interpreter {r.expected}"
    r.report = f"{cmd.loc.path}:{p.line}: {bound.call_text}: {r.message}"
    r.name = item.name.replace("[", "[compare ", 1) if "[" in item.name else f"{item.name}[compare]"
    return r


def _same_results(a, b, types) -> bool:
    if len(a) != len(b):
        return False
    for x, y, t in zip(a, b, types):
        if t.is_float:
            lanes_x = x if isinstance(x, tuple) else (x,)
            lanes_y = y if isinstance(y, tuple) else (y,)
            if len(lanes_x) != len(lanes_y):
                return False
            for lx, ly in zip(lanes_x, lanes_y):
                if lx != ly and not (_is_nan(lx, t.lane_bits) and _is_nan(ly, t.lane_bits)):
                    return False
        elif not values_equal([x], [y]):
            return False
    return True


def _is_nan(bits: int, width: int) -> bool:
    from .values import FLOAT_FORMATS

    exp_bits, frac_bits = FLOAT_FORMATS[width]
    exponent = (bits >> frac_bits) & ((1 << exp_bits) - 1)
    return exponent == (1 << exp_bits) - 1 and bits & ((1 << frac_bits) - 1) != 0


def _describe_expected(r: RunResult, bound: BoundRun) -> None:
    cmd = bound.command
    if cmd.kind == "print":
        return
    if cmd.expected_trap is not None:
        r.expected = f"trap {cmd.expected_trap}"
        return
    if bound.expected is None:
        r.expected = "nonzero"
        return
    text = format_values(bound.expected, bound.return_types, bound.expected_hex)
    r.expected = text if cmd.comparison == "==" else f"anything but {text}"


def _judge(r: RunResult, bound: BoundRun, outcome) -> None:
    cmd = bound.command
    where = f"{cmd.loc.path}:{cmd.line}: {bound.call_text}"
    if isinstance(outcome, Skipped):
        r.status, r.message = SKIPPED, outcome.reason
        r.report = f"{where}: skipped: {outcome.reason}"
        return
    if isinstance(outcome, TimedOut):
        r.status = TIMEOUT
        r.message = outcome.message
        r.actual = None
        r.report = f"{where}: {outcome.message}"
        return
    if isinstance(outcome, Failed):
        r.status = ERROR if outcome.internal else FAILED
        r.message = outcome.message
        r.actual = None
        r.report = f"{where}: {outcome.message}"
        return
    if isinstance(outcome, Trapped):
        r.actual = f"trap {outcome.code}"
        if cmd.expected_trap == outcome.code:
            r.status, r.message = PASSED, ""
            r.report = f"{cmd.loc.path}:{cmd.line}: {_as_written(bound)}: passed"
            return
        r.status = FAILED
        if cmd.kind == "print":
            r.message = f"trap {outcome.code}"
        else:
            r.message = f"expected {r.expected}, got trap {outcome.code}"
        r.report = f"{where}: {r.message}"
        return
    assert isinstance(outcome, Returned)
    values = outcome.values
    types = bound.return_types
    try:
        if len(values) != len(types):
            raise ValueError(f"{len(values)} results for a function returning {len(types)}")
        values = [check_value(v, t) for v, t in zip(values, types)]
    except ValueError as e:
        r.status = ERROR
        r.message = f"internal error: the engine returned a malformed result: {e}"
        r.report = f"{where}: {r.message}"
        return
    hexes = bound.expected_hex or [False] * len(types)
    r.actual = format_values(values, types, hexes)
    if cmd.expected_trap is not None:
        r.status = FAILED
        r.message = f"expected trap {cmd.expected_trap}, got {r.actual} (no trap)"
        r.report = f"{where}: {r.message}"
        return
    if cmd.kind == "print":
        r.status = PASSED
        r.message = f"-> {r.actual}"
        r.report = f"{where} -> {r.actual}"
        return
    if bound.expected is None:
        ok = is_truthy(values[0])
    else:
        equal = values_equal(values, bound.expected)
        ok = equal if cmd.comparison == "==" else not equal
    if ok:
        r.status = PASSED
        r.message = ""
        r.report = f"{cmd.loc.path}:{cmd.line}: {_as_written(bound)}: passed" + (
            f" (got {r.actual})" if cmd.comparison == "!=" else ""
        )
    else:
        r.status = FAILED
        r.message = f"expected {r.expected}, got {r.actual}"
        r.report = f"{where}: {r.message}"


def _as_written(bound: BoundRun) -> str:
    """The run line from its call to its end, as written (whitespace trimmed)."""
    cmd = bound.command
    if cmd.call is None or not cmd.source_line:
        return bound.call_text
    return cmd.source_line[cmd.call.col - 1 : cmd.end_col - 1].strip()


# -- the command -------------------------------------------------------------------------


def file_result_lines(fr: FileResult, verbose: bool) -> list[tuple[str, Optional[str]]]:
    """What `clifkit test` prints for a file, as (text, status) pairs (status colours the text on a
    terminal; None for plain text). The text may span lines (a located error, its source line, a caret)."""
    lines: list[tuple[str, Optional[str]]] = []
    for r in fr.runs:
        if r.status in (FAILED, ERROR, TIMEOUT) or (verbose and r.status == PASSED) or (r.kind == "print" and r.status == PASSED):
            if r.report:
                colour = FAILED if r.status == TIMEOUT else r.status
                lines.append((r.report, None if r.kind == "print" and r.status == PASSED and not verbose else colour))
        elif verbose and r.status == SKIPPED and r.report:
            lines.append((r.report, SKIPPED))
    if fr.status == ERROR and not any(r.report for r in fr.runs):
        lines.append((fr.message, ERROR))
    if not verbose or (fr.status == SKIPPED and not fr.runs):
        for note in fr.notes:
            lines.append((note, SKIPPED))
    return lines


def print_file_result(fr: FileResult, verbose: bool, out: TextIO) -> None:
    for text, _ in file_result_lines(fr, verbose):
        print(text, file=out)


def summary_line(results: Iterable[FileResult]) -> tuple[str, dict[str, int]]:
    """``N passed, N failed, N skipped`` (failed counts errors and timeouts too) and the counts by
    status."""
    total = {PASSED: 0, FAILED: 0, SKIPPED: 0, ERROR: 0, TIMEOUT: 0}
    for fr in results:
        for k, v in fr.counts().items():
            total[k] = total.get(k, 0) + v
    failed = total[FAILED] + total[ERROR] + total[TIMEOUT]
    return f"{total[PASSED]} passed, {failed} failed, {total[SKIPPED]} skipped", total


def _shown_counts(counts: dict[str, int]) -> dict[str, int]:
    """Counts for the console, which knows four statuses: timeouts are failures there."""
    shown = {k: v for k, v in counts.items() if k != TIMEOUT}
    shown[FAILED] = shown.get(FAILED, 0) + counts.get(TIMEOUT, 0)
    return shown


def options_from_args(args) -> Options:
    fuel = getattr(args, "fuel", None)
    return Options(
        verbose=bool(getattr(args, "verbose", False)),
        interpret_all=bool(getattr(args, "interpret_all", False)),
        fuel=fuel if fuel is not None else DEFAULT_FUEL,
        max_call_depth=getattr(args, "max_call_depth", None),
        keyword=getattr(args, "keyword", None),
        fail_fast=bool(getattr(args, "fail_fast", False)),
        force_mode=getattr(args, "force_mode", None),
        engine=getattr(args, "engine", None) or "all",
        compare=bool(getattr(args, "compare", False)),
        limits=DEFAULT_LIMITS.with_(
            max_memory=getattr(args, "max_memory", None),
            max_reservation=getattr(args, "max_reservation", None),
            max_stack_frame=getattr(args, "max_stack_frame", None),
            timeout=getattr(args, "timeout", None),
        ),
    )


def run_one(path: str, problem: Optional[str], options: Options) -> FileResult:
    """The result of one discovered file (`problem`: why it cannot be run at all, from `discover`).
    Never raises for the file's problems, nor for a bug of the harness on it."""
    if problem is not None:
        fr = FileResult(path, ERROR, f"{path}: error: {problem}")
        fr.runs.append(RunResult(0, None, "interpreter", None, ERROR, problem, report=f"{path}: error: {problem}"))
        return fr
    try:
        return run_file(path, options)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:  # a bug in the harness: report it for this file and go on
        msg = f"internal error in clifkit test: {type(e).__name__}: {e}"
        fr = FileResult(path, ERROR, f"{path}: error: {msg}")
        fr.runs.append(RunResult(0, None, "interpreter", None, ERROR, msg, report=f"{path}: error: {msg}"))
        return fr


@dataclass
class TestRun:
    """What a `clifkit test` run did: the results of the files that finished, in file order."""

    __test__ = False  # not a pytest test class, whatever its name

    results: list[FileResult]
    files: int  # files found
    interrupted: bool = False  # Ctrl-C: `results` holds the files that had finished
    stopped: bool = False  # --fail-fast stopped it
    deselected: int = 0  # run lines left out by -k

    @property
    def counts(self) -> dict[str, int]:
        return summary_line(self.results)[1]

    @property
    def summary(self) -> str:
        """``N passed, N failed, N skipped``: the last line of `clifkit test` (errors count as failed)."""
        return summary_line(self.results)[0]

    @property
    def passed(self) -> int:
        return self.counts[PASSED]

    @property
    def failed(self) -> int:
        """Failed, erroneous and timed-out run lines."""
        c = self.counts
        return c[FAILED] + c[ERROR] + c.get(TIMEOUT, 0)

    @property
    def timed_out(self) -> int:
        return self.counts.get(TIMEOUT, 0)

    @property
    def skipped(self) -> int:
        return self.counts[SKIPPED]


def run_tests(
    paths: Sequence[str], options: Options, out: TextIO = sys.stdout, jobs: int = 1, console=None
) -> TestRun:
    """Run every file under `paths` (on `jobs` processes) and print each file's lines in file order
    as they become available. Ctrl-C ends it early with what finished (`TestRun.interrupted`)."""
    from .console import Console

    console = console if console is not None else Console(out)
    found = [(path, problem) for path, problem in discover(paths) if _rerun_wants_file(options, path)]
    tasks = [(i, path, problem) for i, (path, problem) in enumerate(found)]
    done: dict[int, FileResult] = {}
    counts = {PASSED: 0, FAILED: 0, SKIPPED: 0, ERROR: 0, TIMEOUT: 0}
    state = {"shown": 0, "stop_at": None, "current": None}

    def keep(i: int) -> bool:
        stop_at = state["stop_at"]
        fr = done[i]
        if (options.keyword or getattr(options, "only", None) is not None) and not fr.runs and fr.status != ERROR:
            return False  # nothing of it was chosen by -k or --failed-from
        return stop_at is None or i <= stop_at

    def show_ready() -> None:
        while state["shown"] in done:
            i = state["shown"]
            if keep(i):
                for text, status in file_result_lines(done[i], options.verbose):
                    console.line(text, status)
            state["shown"] += 1
        out.flush()

    def accept(index: int, fr: FileResult) -> bool:
        """Record a finished file; True once nothing more is needed (--fail-fast)."""
        done[index] = fr
        for k, v in fr.counts().items():
            counts[k] = counts.get(k, 0) + v
        if options.fail_fast and fr.status in (FAILED, ERROR):
            stop_at = state["stop_at"]
            state["stop_at"] = index if stop_at is None else min(stop_at, index)
        show_ready()
        console.progress(len(done), len(tasks), _shown_counts(counts))
        stop_at = state["stop_at"]
        return stop_at is not None and all(i in done for i in range(stop_at + 1))

    run = TestRun([], len(tasks))
    try:
        if jobs <= 1 or len(tasks) <= 1:
            for index, path, problem in tasks:
                state["current"] = index
                if accept(index, run_one(path, problem, options)):
                    break
            state["current"] = None
        else:
            from .parallel import run_pool

            results = run_pool(tasks, options, min(jobs, len(tasks)))
            try:
                for index, fr in results:
                    if accept(index, fr):
                        break
            finally:
                results.close()
    except KeyboardInterrupt as e:
        run.interrupted = True
        # What the files in flight had done: the file this process was running (`run_file`), or
        # those the pool's workers sent back when Ctrl-C stopped them (`parallel.run_pool`).
        partial = getattr(e, "partial", None)
        if isinstance(partial, FileResult) and state["current"] is not None:
            done.setdefault(state["current"], partial)
        for index, fr in getattr(e, "partial_results", None) or ():
            if isinstance(fr, FileResult):
                done.setdefault(index, fr)
        # Show what finished out of order too: the report is of everything that ran.
        for i in sorted(done):
            if i >= state["shown"] and keep(i):
                for text, status in file_result_lines(done[i], options.verbose):
                    console.line(text, status)
    console.finish()
    run.results = [done[i] for i in sorted(done) if keep(i)]
    run.stopped = state["stop_at"] is not None
    stop_at = state["stop_at"]
    run.deselected = sum(done[i].deselected for i in done if stop_at is None or i <= stop_at)
    return run


def run_paths(paths: Sequence[str], options: Options, out: TextIO = sys.stdout, jobs: int = 1) -> list[FileResult]:
    """The results of every file under `paths`, printing as `clifkit test` does (without a summary)."""
    return run_tests(paths, options, out, jobs).results


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def main(args) -> int:
    """Entry point of `clifkit test` (and `clifkit run`/`interpret`) with its argparse namespace."""
    from .console import Console
    from .parallel import default_jobs
    from .select import KeywordError, matcher

    options = options_from_args(args)
    out = sys.stdout
    command = getattr(args, "command", None) or "test"
    if options.fuel < 1 or (options.max_call_depth is not None and options.max_call_depth < 1):
        print(f"clifkit {command}: error: --fuel and --max-call-depth must be positive", file=sys.stderr)
        return 2
    jobs = getattr(args, "jobs", None)
    if jobs is None:
        jobs = default_jobs()
    if jobs < 1:
        print(f"clifkit {command}: error: -j must be at least 1", file=sys.stderr)
        return 2
    try:
        matcher(options.keyword)
    except KeywordError as e:
        print(f"clifkit {command}: error: {e}", file=sys.stderr)
        return 2
    failed_from = getattr(args, "failed_from", None)
    if failed_from:
        try:
            options.only = report_mod.failed_from(failed_from)
        except report_mod.ReportError as e:
            print(f"clifkit {command}: error: --failed-from {failed_from}: {e}", file=sys.stderr)
            return 2
    console = Console.for_stream(out, getattr(args, "color", None) or "auto")
    run = run_tests(list(args.paths), options, out, jobs, console)
    results = run.results
    line, total = summary_line(results)
    json_path = getattr(args, "json", None)
    if json_path:
        try:
            report_mod.write_report(json_path, results, options, interrupted=run.interrupted)
        except OSError as e:
            console.line(f"{json_path}: error: cannot write the JSON report: {e}", ERROR)
            total[ERROR] += 1
    junit_path = getattr(args, "junit_xml", None)
    if junit_path:
        from .junit import write_junit

        try:
            write_junit(junit_path, results)
        except OSError as e:
            console.line(f"{junit_path}: error: cannot write the JUnit report: {e}", ERROR)
            total[ERROR] += 1
    if run.deselected:
        console.line(f"{_plural(run.deselected, 'run line')} deselected by -k")
    if failed_from and not results:
        console.line(f"nothing to repeat: {failed_from} holds no failed, erroneous or timed-out run line of these paths")
    if total.get(TIMEOUT):
        console.line(f"{_plural(total[TIMEOUT], 'run line')} timed out (--timeout {options.limits.timeout:g} s)", FAILED)
    if run.stopped:
        console.line(f"stopped at the first failure (--fail-fast): {len(results)} of {_plural(run.files, 'file')} reported", FAILED)
    if run.interrupted:
        cut = sum(1 for fr in results if any(r.message == INTERRUPTED for r in fr.runs))
        finished = len(results) - cut
        console.line(f"interrupted: {finished} of {_plural(run.files, 'file')} finished"
                     + (f", {cut} stopped mid-file (the run lines in flight are marked)" if cut else ""), FAILED)
    console.summary(line, _shown_counts(total))
    if run.interrupted:
        return 130
    return 1 if total[FAILED] or total[ERROR] or total.get(TIMEOUT) else 0
