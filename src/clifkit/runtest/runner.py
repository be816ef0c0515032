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
finds the files, reads each one and drives it through the others, prints, and
gives the summary and exit status (`main`). `select.py` names and chooses run
lines (``-k``), `parallel.py` runs files on several processes, `console.py`,
`report.py` and `junit.py` write the outputs.

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
import os
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence, TextIO

from ..diagnostics import ClifError, Location
from ..ir.function import Directive, Function, TestFile
from ..limits import DEFAULT_LIMITS, Limits
from . import interrupts
from . import report as report_mod
from ..reader import ReadError
from ..reader.directives import RUN_KINDS
from ..engine import DEFAULT_FUEL
from .execute import INTERRUPTED, NOTE_MARK, run_plan
from .plans import FunctionDirectives, Options, Plan, RunItem, collect_directives, prepare_group, select_plans
from .results import ERROR, FAILED, PASSED, SKIPPED, TIMEOUT, FileResult, RunResult, file_problem, total_counts


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


def run_file(path: str, options: Options) -> FileResult:
    """Run one file. Ctrl-C is passed on (KeyboardInterrupt) with what the file had done so far,
    settled, as the exception's ``partial`` attribute (the run lines in flight marked as
    interrupted), so that the reports still hold it."""
    started = time.perf_counter()
    result = FileResult(path)
    try:
        with interrupts.armed():  # while watching (`run_tests`), Ctrl-C raises only in here
            _run_file(path, options, result)
    except KeyboardInterrupt as e:
        result.seconds = time.perf_counter() - started
        if not any(r.message == INTERRUPTED for r in result.runs):
            # Stopped between run lines, or before any ran (reading, planning): the file is unfinished.
            result.runs.append(RunResult(0, None, "interpreter", None, ERROR, INTERRUPTED,
                                         report=f"{path}: {INTERRUPTED}"))
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
    groups: list["FunctionDirectives"] = field(default_factory=list)
    by_name: dict[str, Function] = field(default_factory=dict)
    source: Optional[str] = None  # the file's text
    limits: Limits = DEFAULT_LIMITS  # the caps its run lines are held to

def prepare_file(path: str, options: Options, result: FileResult) -> PreparedFile:
    """Read, parse and plan the file at `path`. File-level outcomes (cannot read or parse it, not
    a run test) go into `result`: status, message, notes, and for errors a run per run line."""
    try:
        with open(path, encoding="utf-8-sig") as f:  # without a byte order mark, as the reader
            source = f.read()
    except (OSError, UnicodeDecodeError) as e:
        result.status = ERROR
        result.message = f"{path}: error: cannot read: {e}"
        result.runs.append(RunResult(1, None, "interpreter", None, ERROR, f"cannot read: {e}", report=result.message,
                                     engine_known=False))
        return PreparedFile(path, [])
    # Lines as the reader numbers them: split at newlines only (not at form feeds and the like).
    lines = [line[:-1] if line.endswith("\r") else line for line in source.split("\n")]
    prepared = PreparedFile(path, lines, source=source, limits=options.limits)
    try:
        from ..reader import parse_text

        tf = parse_text(source, path)  # the text read above: the file is opened once
    except ClifError as e:
        _file_error(result, lines, path, e.format(), e.first.message, e.first.loc,
                    directives=e.directives if isinstance(e, ReadError) else ())
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

    plans, not_runtest = select_plans(tf, options)
    if options.force_mode is None and options.engine == "all":
        from .static_tests import static_results

        result.runs.extend(static_results(tf, lines, path))  # `test verifier`, `test cat`
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
    problems = verify_run_test(tf, source)
    if problems:
        error = ClifError(problems)
        _file_error(result, lines, path, error.format(), error.first.message, error.first.loc, "verify",
                    tf.directives)
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
                for p in prepare_group(plan, g, prepared.by_name, prepared.limits, reported):
                    items.append(RunItem(p.label, p.line, plan, prepared=p))
    entries = [(item.name, *_item_key(item)) for item in items]
    for item, name in zip(items, item_names(entries)):
        item.name = name
    return items


def _run_file(path: str, options: Options, result: FileResult) -> None:
    from .segments import run_in_segments
    from .select import matcher

    if run_in_segments(path, options, result):
        return  # a file of many standalone functions, run a segment at a time
    prepared = prepare_file(path, options, result)
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
    finish_file(prepared.plans, path, result)


def choose_items(items: list[RunItem], path: str, options: Options, result: FileResult) -> list[RunItem]:
    """The items `-k` and `--failed-from` choose (counting those `-k` leaves out in `result`)."""
    from .select import full_name, matcher

    select = matcher(options.keyword)
    if select is not None:
        chosen = [item for item in items if select(full_name(path, item.name))]
        result.deselected += len(items) - len(chosen)
        items = chosen
    wanted = _rerun_set(options, path)
    if wanted is not None:
        # --failed-from: only the run lines that failed, errored or timed out in that report.
        items = [item for item in items if _item_key(item) in wanted]
    return items


def run_items(prepared: PreparedFile, items: list[RunItem], options: Options, result: FileResult) -> bool:
    """Run the chosen items of a prepared file, plan by plan; True when --fail-fast says stop."""
    for plan in prepared.plans:
        runs = [item for item in items if item.plan is plan]
        if runs and run_plan(plan, prepared.test_file, runs, options, result):
            return True
    return False


def finish_file(plans: list[Plan], path: str, result: FileResult) -> None:
    """Per-file notes on skipped runs, grouped by reason (an engine that could not run the file at
    all is said once, in the summary of engines); the file's message when every plan skips."""
    from .select import engine_label

    reasons: dict[str, int] = {}
    for r in result.runs:
        if r.status == SKIPPED and result.engine_skips.get(engine_label(r.engine, r.target)) != r.message:
            reasons[r.message] = reasons.get(r.message, 0) + 1
    if reasons:
        n = sum(reasons.values())
        first, *others = reasons
        more = f" (and {len(others)} other reason{'s' if len(others) != 1 else ''}; -v shows each line)" if others else ""
        result.notes.append(f"{path}: {n} run line{'s' if n != 1 else ''} skipped: {first}{more}")
    if plans and all(p.skip_reason for p in plans):
        result.message = plans[0].skip_reason or ""


def _rerun_key(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


def _rerun_set(options: Options, path: str) -> Optional[set]:
    """--failed-from: the (line, engine, target) keys of the file's run lines to repeat, or None
    to run all of it (no --failed-from, or the report holds a file-level problem)."""
    only = options.only
    if only is None:
        return None
    return only.get(_rerun_key(path))


def _rerun_wants_file(options: Options, path: str) -> bool:
    only = options.only
    return only is None or _rerun_key(path) in only


def _item_key(item: RunItem) -> tuple:
    """(line, engine, target): what names a run line in a report (`--failed-from`)."""
    if item.plan is not None:
        return (item.line, item.plan.engine, item.plan.target)
    return (item.line, item.settled.engine, item.settled.target)


def verify_run_test(tf: TestFile, source: Optional[str]) -> list:
    """The verifier's diagnostics for a file about to run (its functions and its directives)."""
    from ..verifier import verify_test_file

    return verify_test_file(tf, source)


def _file_error(result: FileResult, lines, path: str, formatted: str, message: str, loc: Optional[Location],
                step: str = "parse", directives: Sequence[Directive] = ()) -> None:
    result.status = ERROR
    result.message = formatted.splitlines()[0] if formatted else message
    engine = _engine_guess(lines)
    raw = _raw_run_lines(directives)
    if not raw:
        line = loc.line if loc is not None else 1
        result.runs.append(
            RunResult(line, None, engine, None, ERROR, message, col=loc.col if loc else None, report=formatted,
                      engine_known=False)
        )
        return
    first = True
    for n, name in raw:
        text = formatted if first else ""
        first = False
        result.runs.append(
            RunResult(n, name, engine, None, ERROR, f"not run: the file does not {step}: {message}", report=text,
                      engine_known=False)
        )


def _raw_run_lines(directives: Sequence[Directive]) -> list[tuple[int, Optional[str]]]:
    """(line, called name) of every run/print line the reader found, for a file that does not
    parse or verify (the name is None for a line it could not read)."""
    found = []
    for d in directives:
        if d.kind in RUN_KINDS and not d.after_code:
            cmd = d.parsed
            found.append((d.line, cmd.call.name if cmd is not None and cmd.call is not None else None))
    return found


_TEST_RE = re.compile(r"\s*test\s+(\w+)")


def _engine_guess(lines: Sequence[str]) -> str:
    names = {m.group(1) for m in map(_TEST_RE.match, lines) if m}
    return "interpreter" if "interpret" in names or "run" not in names else "native"


# -- the command -------------------------------------------------------------------------


def file_result_lines(fr: FileResult, verbose: bool, shown: int = 0) -> list[tuple[str, Optional[str]]]:
    """What `clifkit test` prints for a file, as (text, status) pairs (status colours the text on a
    terminal; None for plain text). The text may span lines (a located error, its source line, a caret).
    `shown`: how many of its runs were printed already (`Options.on_runs`)."""
    lines: list[tuple[str, Optional[str]]] = []
    for r in fr.runs[shown:] if shown else fr.runs:
        if r.status in (FAILED, ERROR, TIMEOUT) or (verbose and r.status == PASSED) or (r.kind == "print" and r.status == PASSED):
            if r.report:
                colour = FAILED if r.status == TIMEOUT else r.status
                lines.append((_tagged(r), None if r.kind == "print" and r.status == PASSED and not verbose else colour))
        elif verbose and r.status == SKIPPED and r.report:
            lines.append((_tagged(r), SKIPPED))
    if fr.status == ERROR and not any(r.report for r in fr.runs):
        lines.append((fr.message, ERROR))
    for note in fr.notes:
        # With -v the skip notes would repeat the skipped lines just shown; an engine's notes would not.
        if not verbose or (fr.status == SKIPPED and not fr.runs) or NOTE_MARK in note:
            lines.append((note, SKIPPED))
    return lines


def _tagged(r: RunResult) -> str:
    """`r.report` with the engine and target that ran it (``[native x86_64 has_avx]``) at the end of
    its first line: a file runs on several, and the same line may pass on one and fail on another."""
    from .select import engine_label

    if not r.engine_known:
        return r.report
    first, sep, rest = r.report.partition("\n")
    return f"{first} [{engine_label(r.engine, r.target)}]{sep}{rest}"


def engine_summary(results: Iterable[FileResult]) -> list[str]:
    """What ran on each engine and architecture (target variants with other ISA flags together),
    and why one ran nothing (`native aarch64: 56 skipped: aarch64 emulation is not set up ...`):
    said when more than one ran, or when one could not run."""
    from .select import engine_label

    def arch(label: str) -> str:  # "native x86_64 has_avx" -> "native x86_64"
        return " ".join(label.split()[:2])

    counts: dict[str, dict[str, int]] = {}
    traps: dict[str, int] = {}  # passed run lines that expected a trap and got it
    why: dict[str, str] = {}
    for fr in results:
        for r in fr.runs:
            if not r.engine_known:
                continue
            name = arch(engine_label(r.engine, r.target))
            c = counts.setdefault(name, {PASSED: 0, FAILED: 0, SKIPPED: 0})
            c[r.status if r.status in (PASSED, SKIPPED) else FAILED] += 1
            if r.status == PASSED and (r.expected or "").startswith("trap "):
                traps[name] = traps.get(name, 0) + 1
        for label, reason in fr.engine_skips.items():
            why.setdefault(arch(label), reason)
    if len(counts) < 2 and not any(name in why for name in counts):
        return []
    width = max(len(name) for name in counts) + 1
    lines = []
    for name, c in counts.items():
        shown = ", ".join(f"{n} {status}" + (f" ({traps[name]} of them trapping as expected)"
                                             if status == PASSED and traps.get(name) else "")
                          for status, n in c.items() if n)
        if c[SKIPPED] and name in why:
            shown += f" ({why[name]})" if c[PASSED] or c[FAILED] else f": {why[name]}"
        lines.append(f"  {name + ':':<{width}} {shown}")
    return lines


def summary_line(results: Iterable[FileResult]) -> tuple[str, dict[str, int]]:
    """``N passed, N failed, N skipped`` (failed counts errors and timeouts too) and the counts by
    status."""
    total = total_counts(results)
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
        settings=tuple(getattr(args, "settings", None) or ()),
        trace_limit=getattr(args, "trace_limit", None) if getattr(args, "trace", False) else None,
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
        return file_problem(path, problem)
    try:
        return run_file(path, options)
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
        console.progress(len(done), len(tasks), _shown_counts(counts))
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
        partial = getattr(e, "partial", None)
        if isinstance(partial, FileResult) and state["current"] is not None:
            done.setdefault(state["current"], partial)
        for index, fr in getattr(e, "partial_results", None) or ():
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


NO_TESTS_RAN = 5  # pytest's exit status when it collects no test


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def main(args) -> int:
    """Entry point of `clifkit test` (and `clifkit run`/`interpret`) with its argparse namespace."""
    with interrupts.watching():  # from the first Ctrl-C on, SIGINT cannot cut the reports short
        return _main(args)


def _main(args) -> int:
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
    if options.trace_limit is not None:
        jobs = 1  # a trace is written as the line runs: one process keeps it in order
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
    nothing_ran = not run.interrupted and not failed_from and sum(total.values()) == 0
    if nothing_ran:
        # As pytest: no run line was found, or -k chose none of them (status 5, not success).
        console.line("no tests ran: " + ("-k chose none of the run lines" if run.deselected
                                         else "no run line found in " + ", ".join(map(str, args.paths))))
    for engine_line in engine_summary(results):
        console.line(engine_line)
    console.summary(line, _shown_counts(total))
    if run.interrupted:
        return 130
    if nothing_ran:
        return NO_TESTS_RAN
    return 1 if total[FAILED] or total[ERROR] or total.get(TIMEOUT) else 0
