"""``clifkit test --failed-from REPORT``: which run lines to repeat, read from an earlier JSON report.

A run line is named in a report by (line, engine, target) and its call, and its file by its
absolute path; the
reading of the report and the matching of files and run lines against it live together here so
the two cannot drift."""

from __future__ import annotations

import os

from .plans import Options, RunItem
from .results import ERROR, FAILED, TIMEOUT
from .select import item_key

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional

RERUN_STATUSES = (FAILED, ERROR, TIMEOUT)


class ReportError(Exception):
    """A report that cannot be read back (missing, not JSON, not a clifkit report)."""


def file_key(path: str) -> str:
    """How a file is named in `Options.only`: its absolute path, case-folded where the system does."""
    return os.path.normcase(os.path.abspath(path))


def failed_from(path: str) -> dict[str, Optional[set]]:
    """The run lines to repeat from the JSON report at `path`: `file_key` -> the set of
    (line, engine, target, call) of its failed, erroneous and timed-out run lines, or None when the
    whole file is to run again (a problem of the file itself, with no run line to pin it on).
    Paths in the report are taken relative to the current directory, as `clifkit test` wrote them."""
    try:
        with open(path, encoding="utf-8") as f:
            import json  # here: only --failed-from reads a report

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
        key = file_key(entry["path"])
        runs = entry.get("runs") or []
        if not isinstance(runs, list):
            raise ReportError(f"not a clifkit test report (the runs of {entry['path']} are not a list)")
        for run in runs:
            if not isinstance(run, dict) or run.get("status") not in RERUN_STATUSES:
                continue
            if not all(isinstance(run.get(k), (str, type(None))) for k in ("engine", "target", "call")):
                raise ReportError(f"not a clifkit test report (a run of {entry['path']} whose engine, target "
                                  "or call is not a string)")
            line = run.get("line")
            if not isinstance(line, int) or line < 1:
                out[key] = None  # the file as a whole (cannot be read, an internal error)
                continue
            if key in out and out[key] is None:
                continue
            out.setdefault(key, set()).add(run_key(line, run))
        if entry.get("status") == ERROR and key not in out:
            out[key] = None
    return out


ANY = "*"  # in a (line, engine, target, call) key read from a report: whichever the file runs now


def run_key(line: int, run: dict) -> tuple:
    """The (line, engine, target, call) a report's run names. A run whose engine no one ran (the
    file did not parse or verify, and the engine is a guess) names the line on every engine and
    target, whatever it calls now; a native run without a target (as reports of a file that did
    not verify had it before) names the line on every target. The call, as the line wrote it, keeps
    a file edited since (its lines moved) from repeating another run line that took that line."""
    engine, target, call = run.get("engine"), run.get("target"), run.get("call")
    call = call if isinstance(call, str) else ANY
    if run.get("engine_known") is False:
        return (line, ANY, ANY, ANY)
    if engine == "native" and target is None:
        return (line, engine, ANY, call)
    return (line, engine, target, call)


def wants_item(wanted: set, item: RunItem) -> bool:
    """Whether `item` is among the `wanted` keys of its file (see `run_key`)."""
    line, engine, target = item_key(item)
    return any(key in wanted for call in (item.label, ANY)
               for key in ((line, engine, target, call), (line, engine, ANY, call), (line, ANY, ANY, call)))


def wanted_lines(options: Options, path: str) -> Optional[set]:
    """The (line, engine, target) keys of the file's run lines to repeat, or None to run all of it
    (no --failed-from, or the report holds a file-level problem)."""
    only = options.only
    if only is None:
        return None
    return only.get(file_key(path))


def wants_file(options: Options, path: str) -> bool:
    """Whether --failed-from (if given) names the file at all."""
    only = options.only
    return only is None or file_key(path) in only
