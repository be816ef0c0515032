"""The run lines of a file (or segment) that does not parse or verify, each reported as an error.

Without a parse there are no functions to bind run lines to, yet a report should still name every
run line that did not run, so that counts and ``--failed-from`` see them. The run lines are those
the reader found before it stopped (`ReadError.directives`, or `TestFile.directives` of a file that
does not verify), and the engine is guessed from the ``test`` lines."""

from __future__ import annotations

import re

from ..diagnostics import Location
from ..ir.function import Directive
from ..reader.directives import RUN_KINDS
from .results import ERROR, FileResult, RunResult

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional, Sequence


def record_error(result: FileResult, lines: Sequence[str], path: str, formatted: str, message: str,
                 loc: Optional[Location], step: str = "parse", *, directives: Sequence[Directive] = (),
                 engine: Optional[str] = None, target: Optional[str] = None, engine_known: bool = False) -> None:
    """Mark `result` as an error (keeping an earlier error's message) and add an error run for each
    run line among `directives`, the first carrying the `formatted` diagnostics (empty: an earlier
    call carries them); with no run line, one run at `loc`. `step` is what the file failed to do
    ("parse", "verify"). `engine` and `target` name the plan the runs belong to, when known."""
    if result.status != ERROR:
        result.status = ERROR
        result.message = formatted.splitlines()[0] if formatted else message
    if engine is None:
        engine = engine_guess(lines)
    raw = run_lines(directives)
    if not raw:
        result.runs.append(RunResult(loc.line if loc is not None else 1, None, engine, target, ERROR, message,
                                     col=loc.col if loc else None, report=formatted, engine_known=engine_known))
        return
    for k, (n, name) in enumerate(raw):
        result.runs.append(RunResult(n, name, engine, target, ERROR, f"not run: the file does not {step}: {message}",
                                     report=formatted if k == 0 else "", engine_known=engine_known))


def run_lines(directives: Sequence[Directive]) -> list[tuple[int, Optional[str]]]:
    """(line, called name) of every run/print line the reader found (the name is None for a line
    it could not read)."""
    found = []
    for d in directives:
        if d.kind in RUN_KINDS and not d.after_code:
            cmd = d.parsed
            found.append((d.line, cmd.call.name if cmd is not None and cmd.call is not None else None))
    return found


_TEST_RE = re.compile(r"\s*test\s+(\w+)")


def engine_guess(lines: Sequence[str]) -> str:
    """The engine a file's ``test`` lines would choose: "interpreter" unless only ``test run``."""
    names = {m.group(1) for m in map(_TEST_RE.match, lines) if m}
    return "interpreter" if "interpret" in names or "run" not in names else "native"
