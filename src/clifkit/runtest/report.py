"""The machine-readable report of `clifkit test --json FILE`.

Shape (stable fields; more may be added)::

    {"summary": {"passed": N, "failed": N, "skipped": N, "errors": N, "timeouts": N},
     "interrupted": false,
     "files": [{"path": "...", "status": "passed|failed|skipped|error", "message": "...",
                "runs": [{"line": N, "function": "%f", "engine": "interpreter", "target": null,
                          "status": "passed|failed|skipped|error|timeout", "message": "..."}]}]}

``summary.failed`` counts errors and timeouts too (as the summary line does);
``summary.errors`` and ``summary.timeouts`` say how many of them were errors and
timeouts. A run line stopped at its time limit (``--timeout``) has status
``timeout``. ``interrupted`` is true when Ctrl-C ended the run: the report then
holds every file that finished and what the files in flight had done, the run
lines Ctrl-C stopped marked as errors ("interrupted (Ctrl-C) before it finished").
The report is written to a temporary file renamed into place, so that a run
killed while writing leaves no half report.

`failed_from` reads a report back for ``clifkit test --failed-from REPORT``: the
run lines that failed, errored or timed out.
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

from .results import ERROR, FAILED, PASSED, SKIPPED, TIMEOUT, FileResult, total_counts

FORMAT_VERSION = 1


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
        "files": [fr.to_json() for fr in results],
    }
    if options is not None:
        report["options"] = {
            "fuel": options.fuel,
            "interpret_all": options.interpret_all,
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


# -- reading a report back: --failed-from ----------------------------------------------------------

RERUN_STATUSES = (FAILED, ERROR, TIMEOUT)


class ReportError(Exception):
    """A report that cannot be read back (missing, not JSON, not a clifkit report)."""


def failed_from(path: str) -> dict[str, Optional[set]]:
    """The run lines to repeat from the JSON report at `path`: absolute file path -> the set of
    (line, engine, target) of its failed, erroneous and timed-out run lines, or None when the
    whole file is to run again (a problem of the file itself, with no run line to pin it on).
    Paths in the report are taken relative to the current directory, as `clifkit test` wrote them."""
    import json

    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise ReportError(f"cannot read it: {e.strerror or e}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ReportError(f"not a JSON report: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise ReportError("not a clifkit test report (no \"files\" list)")
    out: dict[str, Optional[set]] = {}
    for entry in data["files"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise ReportError("not a clifkit test report (a file entry without a path)")
        key = os.path.normcase(os.path.abspath(entry["path"]))
        for run in entry.get("runs") or ():
            if not isinstance(run, dict) or run.get("status") not in RERUN_STATUSES:
                continue
            line = run.get("line")
            if not isinstance(line, int) or line < 1:
                out[key] = None  # the file as a whole (cannot be read, an internal error)
                continue
            if key in out and out[key] is None:
                continue
            out.setdefault(key, set()).add((line, run.get("engine"), run.get("target")))
        if entry.get("status") == ERROR and key not in out:
            out[key] = None
    return out
