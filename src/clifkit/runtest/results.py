"""What running a file's run lines produced: per run line and per file."""

from __future__ import annotations

from dataclasses import dataclass, field

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Iterable, Optional

# Statuses of a run line and of a file.
PASSED, FAILED, SKIPPED, ERROR = "passed", "failed", "skipped", "error"
# A run line that ran past its time limit (`--timeout`) and was stopped: counted as failed.
TIMEOUT = "timeout"


@dataclass
class RunResult:
    """The outcome of one run line on one engine."""

    line: int
    function: Optional[str]  # the function called ("%f"), when known
    engine: str  # "interpreter", "native"
    target: Optional[str]  # the ISA a native engine ran on; None for the interpreter
    status: str  # passed, failed, skipped, error, timeout
    message: str = ""
    col: Optional[int] = None  # for errors: the column the message points at
    kind: str = "run"  # "run" or "print"
    call: Optional[str] = None  # the call as written: "%f(1, 2)"
    expected: Optional[str] = None  # printed expected results ("!= 0" style for != lines)
    actual: Optional[str] = None  # printed actual results, or "trap CODE"
    report: str = ""  # the text shown to people for this run (a located, formatted message)
    name: str = ""  # the item name, unique in its file: "%f(1, 2)[interpreter]" (see `select`)
    # False for the runs of a file that no engine ran (it cannot be read, parsed or verified):
    # `engine` is then a guess from its test lines, which the console does not show.
    engine_known: bool = True


@dataclass
class FileResult:
    """The outcome of one file: its status and its run lines."""

    path: str
    status: str = SKIPPED
    message: str = ""
    runs: list[RunResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # printed once for the file (skips, ignored commands)
    seconds: float = 0.0
    deselected: int = 0  # run lines left out by `-k` (not counted, not reported)
    # Engines and targets that could not run this file at all ("native aarch64" -> why): said once
    # for the whole run, in the summary of engines, rather than once per file.
    engine_skips: dict[str, str] = field(default_factory=dict)
    # A part of a file (`clifkit test -j N`, `lanes`): each plan it ran as (plan index, that plan's
    # result), and, from the part that finishes the file, all its plans; `lanes.merge_parts`
    # makes the file's result of them. Never in a report.
    pieces: list = field(default_factory=list)
    plans: Optional[list] = None

    def counts(self) -> dict[str, int]:
        c = {PASSED: 0, FAILED: 0, SKIPPED: 0, ERROR: 0, TIMEOUT: 0}
        for r in self.runs:
            c[r.status] += 1
        return c

    def settle(self) -> None:
        """Set the file's status and message from its runs (unless it is already an error)."""
        c = self.counts()
        if self.status != ERROR:
            if c[FAILED] or c[ERROR] or c[TIMEOUT]:
                self.status = FAILED
            elif c[PASSED]:
                self.status = PASSED
            else:
                self.status = SKIPPED
        if not self.message:
            parts = [f"{c[k]} {'timed out' if k == TIMEOUT else k}" for k in (PASSED, FAILED, ERROR, TIMEOUT, SKIPPED) if c[k]]
            self.message = ", ".join(parts) if parts else "no run lines"


def file_problem(path: str, message: str) -> FileResult:
    """The result of a file that could not be run at all (not found, a harness bug, a dead
    worker): an error, with one run (line 0) that says why."""
    fr = FileResult(path, ERROR, f"{path}: error: {message}")
    fr.runs.append(RunResult(0, None, "interpreter", None, ERROR, message, report=f"{path}: error: {message}",
                             engine_known=False))
    return fr


def total_counts(results: Iterable[FileResult]) -> dict[str, int]:
    """The run lines of all `results` by status."""
    total = {PASSED: 0, FAILED: 0, SKIPPED: 0, ERROR: 0, TIMEOUT: 0}
    for fr in results:
        for k, v in fr.counts().items():
            total[k] = total.get(k, 0) + v
    return total
