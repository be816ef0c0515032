"""The run lines of a file (or segment) that does not parse or verify, each reported as an error.

Without a parse there are no functions to bind run lines to, yet a report should still name every
run line that did not run, so that counts and ``--failed-from`` see them. Each comment line is read
on its own by the directive parser, and the engine is guessed from the ``test`` lines."""

from __future__ import annotations

import re
from typing import Optional, Sequence

from ..diagnostics import ClifError, Location
from ..reader.directives import RunCommand, parse_directive_line
from .results import ERROR, FileResult, RunResult


def record_error(result: FileResult, lines: Sequence[str], path: str, formatted: str, message: str,
                 loc: Optional[Location], step: str = "parse", *, first: int = 1,
                 last: Optional[int] = None, engine: Optional[str] = None, engine_known: bool = False) -> None:
    """Mark `result` as an error (keeping an earlier error's message) and add an error run for each
    run line of `lines[first-1:last]`, the first carrying the `formatted` diagnostics; with no run
    line, one run at `loc`. `step` is what the file failed to do ("parse", "verify")."""
    if result.status != ERROR:
        result.status = ERROR
        result.message = formatted.splitlines()[0] if formatted else message
    if engine is None:
        engine = engine_guess(lines)
    raw = run_lines(lines[first - 1 : last], path)
    if not raw:
        result.runs.append(RunResult(loc.line if loc is not None else 1, None, engine, None, ERROR, message,
                                     col=loc.col if loc else None, report=formatted, engine_known=engine_known))
        return
    for k, (n, name) in enumerate(raw):
        result.runs.append(RunResult(n + first - 1, name, engine, None, ERROR,
                                     f"not run: the file does not {step}: {message}",
                                     report=formatted if k == 0 else "", engine_known=engine_known))


def run_lines(lines: Sequence[str], path: str) -> list[tuple[int, Optional[str]]]:
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


def engine_guess(lines: Sequence[str]) -> str:
    """The engine a file's ``test`` lines would choose: "interpreter" unless only ``test run``."""
    names = {m.group(1) for m in map(_TEST_RE.match, lines) if m}
    return "interpreter" if "interpret" in names or "run" not in names else "native"
