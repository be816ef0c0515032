"""What `clifkit test` shows while it runs: result lines, a progress bar, colours.

On a terminal, a progress bar at the bottom counts files and run lines as
they finish, and statuses are coloured. Anywhere else (a pipe, a file, CI
logs) the output is plain lines only, exactly as without this module: the
lines of each file's failures and notes, then the summary. Colours follow
``--color``: ``auto`` (the default) colours a terminal unless ``NO_COLOR`` is
set to anything non-empty or ``TERM`` is ``dumb``; ``always`` and ``never``
decide outright. The summary line's text is always exactly
``N passed, N failed, N skipped``.
"""

from __future__ import annotations

import os
import time

from .results import ERROR, FAILED, PASSED, SKIPPED

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional, TextIO

RESET = "\x1b[0m"
COLOURS = {PASSED: "\x1b[32m", FAILED: "\x1b[31m", ERROR: "\x1b[31m", SKIPPED: "\x1b[33m", "bold": "\x1b[1m"}
CLEAR_LINE = "\r\x1b[K"


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def wants_colour(stream: TextIO, mode: str = "auto", environ: Optional[dict] = None) -> bool:
    env = os.environ if environ is None else environ
    if mode == "always":
        return True
    if mode == "never":
        return False
    if env.get("NO_COLOR"):
        return False
    return _isatty(stream) and env.get("TERM") != "dumb"


def wants_progress(stream: TextIO, environ: Optional[dict] = None) -> bool:
    env = os.environ if environ is None else environ
    return _isatty(stream) and env.get("TERM") != "dumb"


class Console:
    """Writes result lines to `out`; on a terminal keeps a progress bar below them."""

    def __init__(self, out: TextIO, colour: bool = False, progress: bool = False):
        self.out = out
        self.colour = colour
        self.progress_enabled = progress
        self._bar_shown = False
        self._last_draw = 0.0

    @classmethod
    def for_stream(cls, out: TextIO, colour_mode: str = "auto") -> "Console":
        return cls(out, wants_colour(out, colour_mode), wants_progress(out))

    def paint(self, text: str, status: Optional[str]) -> str:
        if not self.colour or status not in COLOURS or not text:
            return text
        return f"{COLOURS[status]}{text}{RESET}"

    def _clear_bar(self) -> None:
        if self._bar_shown:
            self.out.write(CLEAR_LINE)
            self._bar_shown = False

    def line(self, text: str, status: Optional[str] = None) -> None:
        """One line of output (several, if `text` holds newlines): the first painted by `status`."""
        self._clear_bar()
        first, sep, rest = text.partition("\n")
        self.out.write(self.paint(first, status) + sep + rest + "\n")

    def progress(self, files_done: int, files_total: int, counts: dict[str, int], force: bool = False) -> None:
        """Redraw the progress bar (at most 20 times a second, unless `force`)."""
        if not self.progress_enabled:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < 0.05:
            return
        self._last_draw = now
        import shutil  # here: a run that draws no progress bar does without it

        width = shutil.get_terminal_size((80, 24)).columns
        failed = counts.get(FAILED, 0) + counts.get(ERROR, 0)
        words = [
            self.paint(f"{counts.get(PASSED, 0)} passed", PASSED if counts.get(PASSED) else None),
            self.paint(f"{failed} failed", FAILED if failed else None),
            self.paint(f"{counts.get(SKIPPED, 0)} skipped", SKIPPED if counts.get(SKIPPED) else None),
        ]
        plain_tail = f" {files_done}/{files_total} files  {counts.get(PASSED, 0)} passed, {failed} failed, {counts.get(SKIPPED, 0)} skipped"
        tail = f" {files_done}/{files_total} files  " + ", ".join(words)
        bar_width = max(10, min(40, width - len(plain_tail) - 3))
        filled = bar_width * files_done // files_total if files_total else bar_width
        bar = "[" + "#" * filled + "." * (bar_width - filled) + "]"
        if len(bar) + len(plain_tail) >= width:
            tail = f" {files_done}/{files_total}"
        self.out.write(CLEAR_LINE + bar + tail)
        self.out.flush()
        self._bar_shown = True

    def finish(self) -> None:
        """Remove the progress bar, before the summary."""
        self._clear_bar()
        self.out.flush()

    def summary(self, text: str, counts: dict[str, int]) -> None:
        """The last line, ``N passed, N failed, N skipped``; on a colour terminal each nonzero count is painted."""
        self._clear_bar()
        if self.colour:
            failed = counts.get(FAILED, 0) + counts.get(ERROR, 0)
            parts = text.split(", ")
            statuses = [PASSED if counts.get(PASSED) else None, FAILED if failed else None,
                        SKIPPED if counts.get(SKIPPED) else None]
            if len(parts) == 3:
                text = ", ".join(self.paint(p, s) for p, s in zip(parts, statuses))
        self.out.write(text + "\n")
        self.out.flush()
