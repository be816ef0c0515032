"""The machine-readable report of `clifkit test --json FILE`.

Shape (stable fields; more may be added)::

    {"summary": {"passed": N, "failed": N, "skipped": N, "errors": N, "timeouts": N},
     "interrupted": false,
     "files": [{"path": "...", "status": "passed|failed|skipped|error", "message": "...",
                "runs": [{"line": N, "function": "%f", "engine": "interpreter", "target": null,
                          "status": "passed|failed|skipped|error|timeout", "message": "..."}]}]}

``options`` records what ran and by which rules: ``engine`` (``--engine``),
``compare``, ``settings`` (``--set``, as ``NAME=VALUE``), ``fuel``,
``interpret_all``, ``cranelift``, ``run_calls`` and the limits.

``summary.failed`` counts errors and timeouts too (as the summary line does);
``summary.errors`` and ``summary.timeouts`` say how many of them were errors and
timeouts. A run line stopped at its time limit (``--timeout``) has status
``timeout``. ``interrupted`` is true when Ctrl-C ended the run: the report then
holds every file that finished and what the files in flight had done, the run
lines Ctrl-C stopped marked as errors ("interrupted before it finished").
The report is written to a temporary file renamed into place, so that a run
killed while writing leaves no half report.

`rerun.failed_from` reads a report back for ``clifkit test --failed-from REPORT``.
"""

from __future__ import annotations

import os
from typing import Sequence

from .results import ERROR, FAILED, PASSED, SKIPPED, TIMEOUT, FileResult, RunResult, total_counts

FORMAT_VERSION = 1


def run_json(r: RunResult) -> dict:
    """A run line's entry in the report."""
    out = {
        "line": r.line,
        "function": r.function,
        "engine": r.engine,
        "target": r.target,
        "status": r.status,
        "message": r.message,
        "kind": r.kind,
    }
    if r.col is not None:
        out["col"] = r.col
    if not r.engine_known:
        out["engine_known"] = False  # `engine` is a guess: `--failed-from` repeats the line on every engine
    for key in ("call", "expected", "actual"):
        value = getattr(r, key)
        if value is not None:
            out[key] = value
    return out


def file_json(fr: FileResult) -> dict:
    """A file's entry in the report."""
    return {
        "path": fr.path,
        "status": fr.status,
        "message": fr.message,
        "seconds": round(fr.seconds, 4),
        "runs": [run_json(r) for r in fr.runs],
    }


def _default_call_depth() -> int:
    from ..interpreter.machine import MAX_CALL_DEPTH

    return MAX_CALL_DEPTH


def build_report(results: Sequence[FileResult], options=None, interrupted: bool = False) -> dict:
    total = total_counts(results)
    report = {
        "version": FORMAT_VERSION,
        "summary": {
            "passed": total[PASSED],
            "failed": total[FAILED] + total[ERROR] + total[TIMEOUT],
            "skipped": total[SKIPPED],
            "errors": total[ERROR],
            "timeouts": total[TIMEOUT],
            "files": len(results),
        },
        "interrupted": bool(interrupted),
        "files": [file_json(fr) for fr in results],
    }
    if options is not None:
        report["options"] = {
            "engine": options.engine,
            "compare": options.compare,
            "settings": [f"{name}={value}" for name, value in options.settings],
            "fuel": options.fuel,
            "max_call_depth": options.max_call_depth or _default_call_depth(),
            "interpret_all": options.interpret_all,
            "cranelift": options.dialect.name,
            "run_calls": "followed" if options.calls_followed else "named",
        }
        limits = options.limits
        report["options"].update({
            "timeout": limits.timeout,
            "max_memory": limits.max_memory,
            "max_reservation": limits.max_reservation,
            "max_stack_frame": limits.max_stack_frame,
        })
    return report


def write_report(path: str, results: Sequence[FileResult], options=None, interrupted: bool = False) -> None:
    import json  # here: only runs that write a report need json and tempfile
    import tempfile

    data = build_report(results, options, interrupted)
    directory = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(prefix=".clifkit-report-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise

