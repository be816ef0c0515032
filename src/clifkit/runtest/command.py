"""`clifkit test` as a command: its argparse namespace made `Options`, the checks of its arguments,
the closing lines of its output and its exit status (`main`).

Apart from the runner, which the API and the pytest plugin call with `Options` of their own."""

from __future__ import annotations

import os
import sys

from ..dialect import CURRENT
from ..engine import DEFAULT_FUEL
from ..limits import DEFAULT_LIMITS
from . import interrupts
from .execute import INTERRUPTED
from .plans import Options
from .results import ERROR, FAILED, TIMEOUT
from .runner import run_tests
from .summary import engine_summary, shown_counts, summary_line


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
        dialect=getattr(args, "cranelift", None) or CURRENT,
        run_calls=getattr(args, "run_calls", None),
        trace_limit=getattr(args, "trace_limit", None) if getattr(args, "trace", False) else None,
        limits=DEFAULT_LIMITS.with_(
            max_memory=getattr(args, "max_memory", None),
            max_reservation=getattr(args, "max_reservation", None),
            max_stack_frame=getattr(args, "max_stack_frame", None),
            timeout=getattr(args, "timeout", None),
        ),
    )


NO_TESTS_RAN = 5  # pytest's exit status when it collects no test


def default_jobs() -> int:
    """The number of cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def main(args) -> int:
    """Entry point of `clifkit test` (and `clifkit run`/`interpret`) with its argparse namespace."""
    with interrupts.watching():  # from the first Ctrl-C on, SIGINT cannot cut the reports short
        return _main(args)


def _main(args) -> int:
    from .console import Console

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
    if options.keyword:  # (a run without -k does without keyword_expr)
        from .keyword_expr import KeywordError, compile_keyword

        try:
            compile_keyword(options.keyword)
        except KeywordError as e:
            print(f"clifkit {command}: error: {e}", file=sys.stderr)
            return 2
    failed_from = getattr(args, "failed_from", None)
    if failed_from:
        from . import rerun

        try:
            options.only = rerun.failed_from(failed_from)
        except rerun.ReportError as e:
            print(f"clifkit {command}: error: --failed-from {failed_from}: {e}", file=sys.stderr)
            return 2
    console = Console.for_stream(out, getattr(args, "color", None) or "auto")
    run = run_tests(list(args.paths), options, out, jobs, console)
    results = run.results
    line, total = summary_line(results)
    json_path = getattr(args, "json", None)
    if json_path:
        try:
            from .report import write_report  # here: only --json writes one

            write_report(json_path, results, options, interrupted=run.interrupted)
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
    # The report names run lines of these files, yet none of them is a run line now (the file
    # changed since): not green, as nothing that failed has been shown to pass.
    stale = bool(failed_from and not results and run.files and not run.deselected and not run.interrupted)
    if stale:
        console.line(f"nothing repeated: {failed_from} holds failed, erroneous or timed-out run lines of "
                     f"{_plural(run.files, 'file')} among these paths, but none of them is a run line of "
                     "the file now (edited since?); run the files without --failed-from", ERROR)
    elif failed_from and not results:
        console.line(f"nothing to repeat: {failed_from} holds no failed, erroneous or timed-out run line of these paths")
    if total.get(TIMEOUT):
        console.line(f"{_plural(total[TIMEOUT], 'run line')} timed out (--timeout {options.limits.timeout:g} s)", FAILED)
    if run.stopped:
        console.line(f"stopped at the first failure (--fail-fast): {len(results)} of {_plural(run.files, 'file')} reported", FAILED)
    if run.interrupted:
        cut = sum(1 for fr in results if any(r.message == INTERRUPTED for r in fr.runs))
        finished = len(results) - cut
        how = "" if interrupts.signal_name() == "Ctrl-C" else f" ({interrupts.signal_name()})"
        console.line(f"interrupted{how}: {finished} of {_plural(run.files, 'file')} finished"
                     + (f", {cut} stopped mid-file (the run lines in flight are marked)" if cut else ""), FAILED)
    nothing_ran = not run.interrupted and not failed_from and sum(total.values()) == 0
    if nothing_ran:
        # As pytest: no run line was found, or -k chose none of them (status 5, not success).
        console.line("no tests ran: " + ("-k chose none of the run lines" if run.deselected
                                         else "no run line found in " + ", ".join(map(str, args.paths))))
    for engine_line in engine_summary(results):
        console.line(engine_line)
    console.summary(line, shown_counts(total))
    if run.interrupted:
        return interrupts.exit_status()  # 130 after Ctrl-C, 143 after SIGTERM
    if nothing_ran:
        return NO_TESTS_RAN
    return 1 if total[FAILED] or total[ERROR] or total.get(TIMEOUT) or stale else 0
