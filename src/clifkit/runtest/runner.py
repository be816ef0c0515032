"""`clifkit test`: find CLIF files, run their run lines on an engine, report.

For each file:

1. read it (a file that does not parse is an ``error``; its run lines are
   counted as errors, and the run goes on with the next file);
2. choose what runs it from its test commands: ``test interpret`` runs on the
   interpreter; ``test run`` needs a native engine, which does not exist yet,
   so a file with only ``test run`` is skipped (``--interpret-all`` runs such
   files on the interpreter instead);
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
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence, TextIO

from ..diagnostics import ClifError, Location
from ..ir.function import Function, FunctionDetails, TestFile
from . import report as report_mod
from .directives import BoundRun, OtherDirective, RunCommand, bind, parse_directive_line
from .engines import ENGINES, DEFAULT_FUEL, EngineOptions, EngineUnavailable, Failed, Returned, Skipped, Trapped
from .results import ERROR, FAILED, PASSED, SKIPPED, FileResult, RunResult
from .values import check_value, format_values, is_truthy, values_equal


@dataclass
class Options:
    verbose: bool = False
    interpret_all: bool = False
    fuel: int = DEFAULT_FUEL
    max_call_depth: Optional[int] = None

    def engine_options(self) -> EngineOptions:
        return EngineOptions(fuel=self.fuel, max_call_depth=self.max_call_depth)


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
    if not plans:
        what = ", ".join(f"test {n}" for n in names) if names else "no test command"
        return [], f"not a run test ({what})"
    arch_skip = nondeterministic_skip(tf.path)
    if arch_skip is not None:
        for plan in plans:
            if plan.engine == "interpreter" and plan.skip_reason is None:
                plan.skip_reason = arch_skip
    return plans, None


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


def _environment(details: FunctionDetails, others: list[OtherDirective]):
    """The environment the function's ``heap:``/``table:`` directives ask for, or None. Raises ClifError."""
    from ..ir.function import Directive
    from .environment import build_environment

    if not _wants_environment(others):
        return None
    requests = [Directive(d.kind, d.text, d.loc) for d in others if d.kind in ENVIRONMENT_KINDS]
    return build_environment(FunctionDetails(details.function, requests))


def run_file(path: str, options: Options) -> FileResult:
    started = time.perf_counter()
    result = FileResult(path)
    try:
        _run_file(path, options, result)
    finally:
        result.seconds = time.perf_counter() - started
    result.settle()
    return result


def _run_file(path: str, options: Options, result: FileResult) -> None:
    try:
        with open(path, encoding="utf-8") as f:
            source = f.read()
    except (OSError, UnicodeDecodeError) as e:
        result.status = ERROR
        result.message = f"{path}: error: cannot read: {e}"
        result.runs.append(RunResult(1, None, "interpreter", None, ERROR, f"cannot read: {e}", report=result.message))
        return
    # Lines as the reader numbers them: split at newlines only (not at form feeds and the like).
    lines = [line[:-1] if line.endswith("\r") else line for line in source.split("\n")]
    try:
        from ..reader import parse_file

        tf = parse_file(path)
    except ClifError as e:
        _file_error(result, lines, path, e.format(), e.first.message, e.first.loc)
        return
    except ImportError as e:
        _file_error(result, lines, path, f"{path}: error: the reader is not available: {e}", str(e), None)
        return
    except RecursionError:
        _file_error(result, lines, path, f"{path}: error: the file nests too deeply to read", "nests too deeply", None)
        return
    except Exception as e:  # a reader bug: report it, never a traceback
        msg = f"internal error in the reader: {type(e).__name__}: {e}"
        _file_error(result, lines, path, f"{path}: error: {msg}", msg, None)
        return

    plans, not_runtest = select_plans(tf, options)
    if not plans:
        result.status = SKIPPED
        result.message = not_runtest or ""
        result.notes.append(f"{path}: skipped: {result.message}")
        return
    groups = collect_directives(tf, lines, path)
    by_name = {d.function.name: d.function for d in tf.functions}
    for plan in plans:
        _run_plan(plan, tf, groups, by_name, options, result)
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
    if plans and all(p.skip_reason for p in plans):
        result.message = plans[0].skip_reason or ""


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


def _run_plan(plan: Plan, tf: TestFile, groups, by_name, options: Options, result: FileResult) -> None:
    session = None
    skip_reason = plan.skip_reason
    if skip_reason is None:
        engine = ENGINES.get(plan.engine)
        if engine is None:
            skip_reason = f"no engine named {plan.engine}"
        else:
            try:
                session = engine.open(tf, options.engine_options(), plan.target)
            except EngineUnavailable as e:
                skip_reason = str(e)
    try:
        for g in groups:
            _run_group(plan, g, by_name, session, skip_reason, options, result)
    finally:
        if session is not None:
            session.close()


def _run_group(plan: Plan, g: _FunctionDirectives, by_name, session, skip_reason, options, result: FileResult) -> None:
    above = g.details.function
    items: list = [(e_line, e) for e_line, e in g.errors] + [(c.line, c) for c in g.commands]
    items.sort(key=lambda x: x[0])
    # The environment (heaps) the function's directives ask for: engine-independent, so it is
    # built (and checked) even when the engine is skipped.
    wants_env = _wants_environment(g.others)
    env = None
    env_error: Optional[ClifError] = None
    if g.commands and wants_env:
        try:
            env = _environment(g.details, g.others)
        except ClifError as e:
            env_error = e
        except ImportError:
            skip_reason = skip_reason or "heap directives are not supported yet"
    env_reported = False
    for line, item in items:
        if isinstance(item, ClifError):
            result.runs.append(_error_result(plan.engine, plan.target, line, None, item))
            continue
        cmd: RunCommand = item
        name = cmd.call.name if cmd.call is not None else above.name
        try:
            callee = _callee(plan, cmd, above, by_name)
            if env_error is not None:
                d = env_error.first
                r = RunResult(line, callee.name, plan.engine, plan.target, ERROR, d.message, col=d.loc.col, kind=cmd.kind)
                r.call = cmd.call.text if cmd.call is not None else f"{callee.name}()"
                r.report = env_error.format() if not env_reported else f"{cmd.loc.path}:{line}: {r.call}: not run: {d.message}"
                env_reported = True
                result.runs.append(r)
                continue
            bound = bind(cmd, callee, implicit_vmctx=wants_env)
        except ClifError as e:
            result.runs.append(_error_result(plan.engine, plan.target, line, name, e, cmd.kind))
            continue
        base = RunResult(line, callee.name, plan.engine, plan.target, SKIPPED, kind=cmd.kind, call=bound.call_text)
        _describe_expected(base, bound)
        if skip_reason is not None:
            base.message = skip_reason
            base.report = f"{cmd.loc.path}:{line}: {bound.call_text}: skipped: {skip_reason}"
            result.runs.append(base)
            continue
        outcome = session.call(bound, env)
        _judge(base, bound, outcome)
        result.runs.append(base)


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


def print_file_result(fr: FileResult, verbose: bool, out: TextIO) -> None:
    for r in fr.runs:
        if r.status in (FAILED, ERROR) or (verbose and r.status == PASSED) or (r.kind == "print" and r.status == PASSED):
            if r.report:
                print(r.report, file=out)
        elif verbose and r.status == SKIPPED and r.report:
            print(r.report, file=out)
    if fr.status == ERROR and not any(r.report for r in fr.runs):
        print(fr.message, file=out)
    if not verbose:
        for note in fr.notes:
            print(note, file=out)
    elif fr.status == SKIPPED and not fr.runs:
        for note in fr.notes:
            print(note, file=out)


def summary_line(results: Iterable[FileResult]) -> tuple[str, dict[str, int]]:
    total = {PASSED: 0, FAILED: 0, SKIPPED: 0, ERROR: 0}
    for fr in results:
        for k, v in fr.counts().items():
            total[k] += v
    failed = total[FAILED] + total[ERROR]
    return f"{total[PASSED]} passed, {failed} failed, {total[SKIPPED]} skipped", total


def options_from_args(args) -> Options:
    fuel = getattr(args, "fuel", None)
    return Options(
        verbose=bool(getattr(args, "verbose", False)),
        interpret_all=bool(getattr(args, "interpret_all", False)),
        fuel=fuel if fuel is not None else DEFAULT_FUEL,
        max_call_depth=getattr(args, "max_call_depth", None),
    )


def run_paths(paths: Sequence[str], options: Options, out: TextIO = sys.stdout) -> list[FileResult]:
    results: list[FileResult] = []
    for path, problem in discover(paths):
        if problem is not None:
            fr = FileResult(path, ERROR, f"{path}: error: {problem}")
            fr.runs.append(RunResult(0, None, "interpreter", None, ERROR, problem, report=f"{path}: error: {problem}"))
        else:
            try:
                fr = run_file(path, options)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as e:  # a bug in the harness: report it for this file and go on
                msg = f"internal error in clifkit test: {type(e).__name__}: {e}"
                fr = FileResult(path, ERROR, f"{path}: error: {msg}")
                fr.runs.append(RunResult(0, None, "interpreter", None, ERROR, msg, report=f"{path}: error: {msg}"))
        results.append(fr)
        print_file_result(fr, options.verbose, out)
        out.flush()
    return results


def main(args) -> int:
    """Entry point of `clifkit test` with its argparse namespace."""
    options = options_from_args(args)
    out = sys.stdout
    if options.fuel < 1 or (options.max_call_depth is not None and options.max_call_depth < 1):
        print("clifkit test: error: --fuel and --max-call-depth must be positive", file=sys.stderr)
        return 2
    results = run_paths(list(args.paths), options, out)
    line, total = summary_line(results)
    json_path = getattr(args, "json", None)
    if json_path:
        try:
            report_mod.write_report(json_path, results, options)
        except OSError as e:
            print(f"{json_path}: error: cannot write the JSON report: {e}", file=out)
            total[ERROR] += 1
    print(line, file=out)
    out.flush()
    return 1 if total[FAILED] or total[ERROR] else 0
