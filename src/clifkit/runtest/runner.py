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
3. for every function, take its directives as the reader read them (the
   ``; run:`` / ``; print:`` lines after its closing brace), bind each to
   the called function's signature, describe the environment its
   ``; heap:`` directives ask for (`environment.layout`; engines that cannot
   provide heaps skip those runs), call the engine and compare the results
   bit for bit.

Where each step lives: `plans.py` chooses the engines and targets and reads and
binds the run lines (step 2 and most of 3); `execute.py` runs them on an engine
session and judges each outcome (`compare.py` for ``--compare``); this module
reads each file and drives it through the others, file after file, printing as
results come in. `files.py` finds the files and reads their lines, `unparsed.py`
reports the run lines of a file that does not parse, `select.py` names and
chooses run lines (``-k``), `rerun.py` repeats those a report says failed
(``--failed-from``), `parallel.py` runs files on several processes,
`summary.py` words the results, `console.py`, `report.py` and `junit.py` write
the outputs, and `command.py` is the command itself (arguments, exit status).

A run line calls the function it names, on every engine (an unknown name is a
located error); a bare ``; run`` calls the function it follows. (Cranelift's
``test run`` calls the function a line follows whatever it names.)

Output: a line per failure or error (every run line with ``-v``), a line per
file with skips, then exactly ``N passed, N failed, N skipped`` (errors count
as failed). The exit status is 1 when anything failed, 5 when no run line ran
(none found, or ``-k`` chose none: "no tests ran", as pytest), else 0.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass

from ..diagnostics import ClifError
from ..ir.function import Function, TestFile
from ..limits import DEFAULT_LIMITS, Limits
from ..reader import ReadError
from . import interrupts
from .files import discover, read_lines
from .execute import INTERRUPTED, run_plan
from .plans import (STATIC_TEST_KINDS, FunctionDirectives, Options, Plan, RunItem, collect_directives, command_names,
                    Shared, prepare_group, select_plans)
from .results import ERROR, FAILED, PASSED, SKIPPED, TIMEOUT, FileResult, RunResult, file_problem
from .select import engine_label, full_name, item_key, item_names, matcher, run_label
from .summary import file_result_lines, shown_counts, summary_line, with_other_reasons

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional, Sequence, TextIO

    from .lanes import Part


def run_file(path: str, options: Options, part: Optional[Part] = None) -> FileResult:
    """Run one file (with `part`, only that share of its plans, unsettled: `lanes.merge_parts`
    makes the file's result of its parts). Ctrl-C is passed on (`interrupts.Interrupted`, a
    KeyboardInterrupt) with what the file had done so far, settled, as its ``partial`` (the run
    lines in flight marked as interrupted), so that the reports still hold it."""
    started = time.perf_counter()
    result = FileResult(path)
    try:
        with interrupts.armed():  # while watching (`run_tests`), Ctrl-C raises only in here
            _run_file(path, options, result, part)
    except KeyboardInterrupt as e:
        result.seconds = time.perf_counter() - started
        ran = result.runs + [r for _, piece in result.pieces for r in piece.runs]
        if not any(r.message == INTERRUPTED for r in ran):
            # Stopped between run lines, or before any ran (reading, planning): the file is unfinished.
            result.runs.append(RunResult(0, None, "interpreter", None, ERROR, INTERRUPTED,
                                         report=f"{path}: {INTERRUPTED}"))
        if part is None:
            result.settle()
        raise interrupts.Interrupted(partial=result) from e
    finally:
        result.seconds = time.perf_counter() - started
    if part is None:
        result.settle()
    return result


class PreparedFile:
    """A file read and planned, ready to run item by item (`file_items`).

    `test_file` is None when the file cannot be read or parsed; the `FileResult` given to
    `prepare_file` then says why, with a run per run line (all errors). (A plain class, as the
    other records of a run that nothing compares or prints: see `plans.FunctionDirectives`.)"""

    def __init__(self, path: str, lines: Sequence[str], test_file: Optional[TestFile] = None,
                 plans: Optional[list[Plan]] = None, groups: Optional[list[FunctionDirectives]] = None,
                 by_name: Optional[dict[str, Function]] = None, source: Optional[str] = None,
                 limits: Limits = DEFAULT_LIMITS, options: Optional[Options] = None, part: Optional[Part] = None):
        self.path = path
        self.lines = lines
        self.test_file = test_file
        self.plans = plans if plans is not None else []
        self.groups = groups if groups is not None else []
        self.by_name = by_name if by_name is not None else {}
        self.source = source  # the file's text
        self.limits = limits  # the caps its run lines are held to
        self.options = options  # what it was prepared with (the dialect, which calls run lines make)
        self.part = part  # the share of its plans this process runs (`lanes`), None: all


def prepare_file(path: str, options: Options, result: FileResult) -> PreparedFile:
    """Read, parse and plan the file at `path`. File-level outcomes (cannot read or parse it, not
    a run test) go into `result`: status, message, notes, and for errors a run per run line."""
    try:
        source, lines = read_lines(path)
    except ClifError as e:
        result.status = ERROR
        result.message = str(e)
        d = e.diagnostics[0]
        result.runs.append(RunResult(d.loc.line, None, "interpreter", None, ERROR, d.message, report=result.message,
                                     engine_known=False))
        return PreparedFile(path, [])
    prepared = PreparedFile(path, lines, source=source, limits=options.limits, options=options)
    failure = None  # (the diagnostics written out, the first message, its location, the run lines read)
    try:
        from ..reader import parse_text

        tf = parse_text(source, path)  # the text read above: the file is opened once
    except ClifError as e:
        failure = (e.format(), e.first.message, e.first.loc, e.directives if isinstance(e, ReadError) else ())
    except RecursionError:
        failure = (f"{path}: error: the file nests too deeply to read", "nests too deeply", None, ())
    except Exception as e:  # a reader bug: report it, never a traceback
        msg = f"internal error in the reader: {type(e).__name__}: {e}"
        failure = (f"{path}: error: {msg}", msg, None, ())
    if failure is not None:
        from .unparsed import record_error  # (only a file that does not parse or verify needs it)

        formatted, message, loc, directives = failure
        record_error(result, lines, path, formatted, message, loc, directives=directives)
        return prepared

    plans, not_runtest = select_plans(tf, options)
    if options.force_mode is None and options.engine == "all" and STATIC_TEST_KINDS.intersection(command_names(tf)):
        from .static_tests import static_results

        result.runs.extend(static_results(tf, lines, path, options.dialect))  # `test verifier`, `test cat`
    if not plans and result.runs:
        return prepared
    if not plans:
        result.status = SKIPPED
        result.message = not_runtest or ""
        result.notes.append(f"{path}: skipped: {result.message}")
        prepared.test_file = tf
        return prepared
    # No engine runs what the verifier refuses: the interpreter would give an answer for it and
    # Cranelift would refuse to compile it, so every run line is an error, located at the problem.
    problems = verify_run_test(tf, source, options.dialect)
    if problems:
        # One error per run line and plan, named as when the file verifies (the same pytest ids,
        # the same `--failed-from` keys), so that a file fixed since runs them all again.
        from .unparsed import record_error

        error = ClifError(problems)
        for k, plan in enumerate(plans):  # (the diagnostics in full once, with the first plan's first line)
            record_error(result, lines, path, error.format() if k == 0 else "", error.first.message,
                         error.first.loc, "verify", directives=tf.directives, engine=plan.engine,
                         target=plan.target, engine_known=True)
        return prepared
    prepared.test_file = tf
    prepared.plans = plans
    prepared.groups = collect_directives(tf)
    prepared.by_name = {d.function.name: d.function for d in tf.functions}
    return prepared


def file_items(prepared: PreparedFile, result: FileResult) -> list[RunItem]:
    """Every item of a prepared file, in the order `clifkit test` runs them (plan by plan, function
    by function, line by line), each with its name (unique in the file). For a file that cannot be
    read or parsed, the items are the settled runs `prepare_file` put in `result`."""
    items: list[RunItem] = []
    if prepared.test_file is None:
        for r in result.runs:
            source = prepared.lines[r.line - 1] if 1 <= r.line <= len(prepared.lines) else None
            label = r.call or (r.function if r.kind in ("verifier", "cat") else None)  # `%f[verifier]`
            items.append(RunItem(run_label(label, r.line, source), r.line, None, settled=r))
    else:
        shared = Shared()  # run lines read, callees checked, once for all plans
        for plan in prepared.plans:
            if prepared.part is not None and not prepared.part.takes(plan):
                continue  # another process's (its items' names do not depend on these)
            reported: set[str] = set()  # frame errors shown in full once per plan, then referred to
            for g in prepared.groups:
                for p in prepare_group(plan, g, prepared.by_name, prepared.limits, reported, prepared.options, shared):
                    items.append(RunItem(p.label, p.line, plan, prepared=p))
    entries = [(item.name, *item_key(item)) for item in items]
    for item, name in zip(items, item_names(entries)):
        item.label, item.name = item.name, name
    return items


def _segment_candidate(path: str) -> Optional[list[str]]:
    """The lines of the file at `path` when `segments` may cut it: it has more than one function
    (`segments.cut` never cuts one); else None, and the file is read whole without that module."""
    try:
        lines = read_lines(path)[1]
    except ClifError:
        return None  # the whole-file path says why
    return lines if sum(1 for line in lines if line.startswith("function")) > 1 else None


def _run_file(path: str, options: Options, result: FileResult, part: Optional[Part] = None) -> None:
    lines = _segment_candidate(path) if part is None or part.primary else None
    if lines is not None:
        from .segments import run_in_segments

        if run_in_segments(path, lines, options, result):
            return  # a file of many standalone functions, run a segment at a time (never split)
    if part is not None and not part.primary:
        # Only the plans of its lanes, when the file runs at all: what the file says of itself
        # (cannot be read, does not verify, `test verifier`) is the primary part's to say.
        prepared = prepare_file(path, options, FileResult(path))
        if prepared.test_file is None or not prepared.plans:
            return
    else:
        prepared = prepare_file(path, options, result)
    prepared.part = part
    select = matcher(options.keyword)
    if select is None and prepared.test_file is None:
        return
    items = choose_items(file_items(prepared, result), path, options, result)
    if prepared.test_file is None:
        result.runs = []
        for item in items:
            item.settled.name = item.name
            result.runs.append(item.settled)
        return
    run_items(prepared, items, options, result)
    if part is None:
        finish_file(prepared.plans, path, result)
    elif part.primary:
        result.plans = prepared.plans  # merge_parts finishes the file with them


def choose_items(items: list[RunItem], path: str, options: Options, result: FileResult) -> list[RunItem]:
    """The items `-k` and `--failed-from` choose (counting those `-k` leaves out in `result`)."""
    select = matcher(options.keyword)
    if select is not None:
        chosen = [item for item in items if select(full_name(path, item.name))]
        result.deselected += len(items) - len(chosen)
        items = chosen
    if options.only is not None:
        # --failed-from: only the run lines that failed, errored or timed out in that report.
        from . import rerun

        wanted = rerun.wanted_lines(options, path)
        if wanted is not None:
            items = [item for item in items if rerun.wants_item(wanted, item)]
    return items


def run_items(prepared: PreparedFile, items: list[RunItem], options: Options, result: FileResult) -> bool:
    """Run the chosen items of a prepared file, plan by plan; True when --fail-fast says stop. A
    part of a file (`prepared.part`) puts each plan's outcome in a piece of its own (`FileResult.pieces`)."""
    by_plan: dict[int, list[RunItem]] = {}  # (one pass over the items, not one per plan)
    for item in items:
        by_plan.setdefault(id(item.plan), []).append(item)
    for k, plan in enumerate(prepared.plans):
        runs = by_plan.get(id(plan))
        if not runs:
            continue
        into = result
        if prepared.part is not None:
            into = FileResult(result.path)
            result.pieces.append((k, into))
        if run_plan(plan, prepared.test_file, runs, options, into):
            return True
    return False


def finish_file(plans: list[Plan], path: str, result: FileResult) -> None:
    """Per-file notes on skipped runs, grouped by reason (an engine that could not run the file at
    all is said once, in the summary of engines); the file's message when every plan skips."""
    reasons: dict[str, int] = {}
    for r in result.runs:
        if r.status == SKIPPED and result.engine_skips.get(engine_label(r.engine, r.target)) != r.message:
            reasons[r.message] = reasons.get(r.message, 0) + 1
    if reasons:
        n = sum(reasons.values())
        result.notes.append(f"{path}: {n} run line{'s' if n != 1 else ''} skipped: {with_other_reasons(list(reasons))}")
    if plans and all(p.skip_reason for p in plans):
        result.message = plans[0].skip_reason or ""


def verify_run_test(tf: TestFile, source: Optional[str], dialect=None) -> list:
    """The verifier's diagnostics for a file about to run (its functions and its directives), by
    the rules of `dialect` (None: today's)."""
    from ..dialect import CURRENT
    from ..verifier import verify_test_file

    return verify_test_file(tf, source, dialect=dialect or CURRENT)


def run_one(path: str, problem: Optional[str], options: Options, part: Optional[Part] = None) -> FileResult:
    """The result of one discovered file (`problem`: why it cannot be run at all, from `discover`),
    or of its `part`. Never raises for the file's problems, nor for a bug of the harness on it."""
    if problem is not None:
        return file_problem(path, problem) if part is None or part.primary else FileResult(path)
    try:
        return run_file(path, options, part)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:  # a bug in the harness: report it for this file and go on
        return file_problem(path, f"internal error in clifkit test: {type(e).__name__}: {e}")


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
    if console is None:
        from .console import Console

        console = Console(out)
    found = discover(paths)
    if options.only is not None:  # --failed-from: only the files the report names
        from .rerun import wants_file

        found = [(path, problem) for path, problem in found if wants_file(options, path)]
    tasks = [(i, path, problem) for i, (path, problem) in enumerate(found)]
    done: dict[int, FileResult] = {}
    counts = {PASSED: 0, FAILED: 0, SKIPPED: 0, ERROR: 0, TIMEOUT: 0}
    state = {"shown": 0, "stop_at": None, "current": None}

    def keep(i: int) -> bool:
        stop_at = state["stop_at"]
        fr = done[i]
        if (options.keyword or options.only is not None) and not fr.runs and fr.status != ERROR:
            return False  # nothing of it was chosen by -k or --failed-from
        return stop_at is None or i <= stop_at

    streamed: dict[int, int] = {}  # runs of a file printed while it ran (`on_runs`)

    def show(i: int) -> None:
        if keep(i):
            for text, status in file_result_lines(done[i], options.verbose, streamed.get(i, 0)):
                console.line(text, status)

    def on_runs(fr: FileResult, first: int) -> None:
        """A file run a segment at a time has new runs: print them now (files go one at a time)."""
        index = state["current"]
        if index is None or index != state["shown"]:
            return
        for text, status in file_result_lines(FileResult(fr.path, PASSED, runs=fr.runs[first:]), options.verbose):
            console.line(text, status)
        streamed[index] = len(fr.runs)
        out.flush()

    def show_ready() -> None:
        while state["shown"] in done:
            show(state["shown"])
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
        console.progress(len(done), len(tasks), shown_counts(counts))
        stop_at = state["stop_at"]
        return stop_at is not None and all(i in done for i in range(stop_at + 1))

    run = TestRun([], len(tasks))
    try:
        if jobs <= 1 or len(tasks) <= 1:
            file_options = dataclasses.replace(options, on_runs=on_runs)
            for index, path, problem in tasks:
                if interrupts.interrupted():  # Ctrl-C came while the last file was being shown
                    raise KeyboardInterrupt
                state["current"] = index
                if accept(index, run_one(path, problem, file_options)):
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
        partial = e.partial if isinstance(e, interrupts.Interrupted) else None
        if isinstance(partial, FileResult) and state["current"] is not None:
            done.setdefault(state["current"], partial)
        for index, fr in (e.partial_results if isinstance(e, interrupts.Interrupted) else None) or ():
            if isinstance(fr, FileResult):
                done.setdefault(index, fr)
        # Show what finished out of order too: the report is of everything that ran.
        for i in sorted(done):
            if i >= state["shown"]:
                show(i)
    console.finish()
    run.results = [done[i] for i in sorted(done) if keep(i)]
    run.stopped = state["stop_at"] is not None
    stop_at = state["stop_at"]
    run.deselected = sum(done[i].deselected for i in done if stop_at is None or i <= stop_at)
    return run


