"""Running bound run lines on an engine session, and judging each outcome into a `RunResult`.

`run_plan` runs a file's items under one `Plan` on one session (letting an engine that can
`prefetch` the whole batch do so, stopping for --fail-fast, and with --compare checking each
native result against the interpreter, `compare.py`); `execute_run` runs one line and `_judge`
turns the engine's outcome (returned values, a trap, a skip, a timeout, a failure) into the
status, message and report line that every output (console, JSON, JUnit, pytest) shows.
"""

from __future__ import annotations

import dataclasses

from ..ir.function import TestFile
from ..reader.directives import BoundRun
from .engines import ENGINES
from ..engine import EngineUnavailable, Failed, Lost, Returned, Skipped, TimedOut, Trapped
from .plans import Options, Plan, PreparedRun, RunItem, expected_text
from .results import ERROR, FAILED, PASSED, SKIPPED, TIMEOUT, FileResult, RunResult
from ..ir.values import check_value, format_values, is_truthy, values_equal

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional


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


def run_plan(plan: Plan, tf: TestFile, items: list[RunItem], options: Options, result: FileResult) -> bool:
    """Run `items` (prepared under `plan`) on one session; True when --fail-fast says stop.

    Ctrl-C (KeyboardInterrupt) is passed on after the run lines in flight are added to `result`,
    marked as interrupted: the one running, or every one of the plan while its session was being
    opened or was running them all at once (`prefetch`)."""
    in_flight: list[RunItem] = list(items)
    try:
        session, skip_reason = open_session(plan, tf, options)
        if skip_reason is not None or plan.skip_reason is not None:
            from .select import engine_label

            result.engine_skips[engine_label(plan.engine, plan.target)] = skip_reason or plan.skip_reason
        note = getattr(session, "note", None)
        if note and items and engine_note(result.path, plan, note) not in result.notes:
            # Said on the console too, not only in each passed run's message: e.g. the ISA flags of
            # a `target` line that the native engine cannot set, so that it ran without them.
            result.notes.append(engine_note(result.path, plan, note))
        comparing = options.compare and session is not None and plan.engine == "native" and plan.mode == "run"
        if comparing:
            from .compare import Recording, compare_engines  # here: only --compare runs need it

            session = Recording(session)
        try:
            prefetch = getattr(session, "prefetch", None)
            if prefetch is not None and skip_reason is None:
                # An engine may run the whole batch at once (the native engine does, in its worker).
                calls = [(i.prepared.bound, i.prepared.env) for i in items
                         if i.prepared.bound is not None]
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


NOTE_MARK = ": note: "


def engine_note(path: str, plan: Plan, note: str) -> str:
    """The console line of what an engine says of its session (`Session.note`)."""
    from .select import engine_label

    return f"{path}{NOTE_MARK}[{engine_label(plan.engine, plan.target)}] {note}"


INTERRUPTED = "interrupted before it finished"


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


def execute_run(p: PreparedRun, session, skip_reason: Optional[str] = None) -> RunResult:
    """Run one prepared run line on `session` and judge it; `skip_reason` (the session could not be
    opened) skips it. Settled runs give their result as it is."""
    if p.settled is not None:
        if skip_reason is not None and p.settled.status == ERROR:
            # An engine that does not run (left out by --engine, not installed, not emulated) finds
            # no fault in a line: what its binding refused (a misnamed line under `test run`) is
            # reported by the engines that run, so the summary blames no engine that did not.
            where = p.settled.report.split(": error: ", 1)[0] if p.settled.report else f"line {p.line}"
            return dataclasses.replace(p.settled, status=SKIPPED, message=skip_reason, col=None,
                                       report=f"{where}: {p.label}: skipped: {skip_reason}")
        return p.settled
    bound = p.bound
    assert bound is not None
    cmd = bound.command
    plan = p.plan
    base = RunResult(p.line, bound.function.name, plan.engine, plan.target, SKIPPED, kind=cmd.kind, call=bound.call_text)
    base.expected = p.expected if p.expected is not None else expected_text(bound)
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
    if p.note and base.status == FAILED and isinstance(outcome, (Failed, Trapped)):
        base.message += f" ({p.note})"
        base.report += f" ({p.note})"
    # A `print` line shows a value, which is only meaningful with the function it came from.
    if p.hint and (base.status in (FAILED, ERROR) or base.kind == "print"):
        base.message += f" ({p.hint})"
        base.report += f" ({p.hint})"
    note = getattr(session, "note", None)
    if note and base.status == PASSED and not base.message:
        base.message = note  # e.g. the native engine ran a variant with the host's own features
    return base


CRANELIFT_VERIFIER = "Verifier errors"  # how cranelift-py says its verifier refused a function


def _judge(r: RunResult, bound: BoundRun, outcome) -> None:
    cmd = bound.command
    where = f"{cmd.loc.path}:{cmd.line}: {bound.call_text}"
    if isinstance(outcome, Skipped):
        if CRANELIFT_VERIFIER in outcome.reason:
            # The file passed clifkit's verifier (`runner.verify_run_test`), so this is a gap in it:
            # an error, never a skip, since the code under test is invalid.
            r.status = ERROR
            r.message = f"Cranelift's verifier refuses what clifkit's verifier accepted: {outcome.reason}"
            r.report = f"{where}: error: {r.message}"
            return
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
        if outcome.limit:
            r.message += f" ({outcome.limit})"
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
