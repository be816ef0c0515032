"""Located errors: every problem clifkit reports about input points at a file, line and column.

An error prints as ``file:line:col: error: message`` followed by the offending
source line and a caret under the column, the form compilers use.
"""

from __future__ import annotations

from dataclasses import dataclass

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional


@dataclass(frozen=True)
class Location:
    """Where something is in a source file (line and column 1-based)."""

    path: str
    line: int  # 1-based
    col: int = 1  # 1-based

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


@dataclass
class Diagnostic:
    """One located message about the input, with the source line it points into."""

    loc: Location
    message: str
    severity: str = "error"
    source_line: Optional[str] = None

    def format(self) -> str:
        head = f"{self.loc}: {self.severity}: {self.message}"
        if self.source_line is None:
            return head
        line = self.source_line.rstrip("\n")
        # Tabs before the column are kept, so that the caret lines up where a tab is widened.
        before = line[: max(self.loc.col - 1, 0)]  # (a column of 0, none known: no slice from the end)
        caret = "".join(c if c == "\t" else " " for c in before) + " " * (self.loc.col - 1 - len(before)) + "^"
        return f"{head}\n{line}\n{caret}"


class ClifError(Exception):
    """One or more located problems with input. `str()` gives them formatted, one after another."""

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic):
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics = diagnostics
        super().__init__(self.format())

    def __reduce__(self):
        # Pickled and copied with its diagnostics (the reader keeps errors on directives it read).
        return self.__class__, (self.diagnostics,)

    def format(self) -> str:
        return "\n".join(d.format() for d in self.diagnostics)

    @property
    def first(self) -> Diagnostic:
        return self.diagnostics[0]


# The texts the reader read, by path (the last few): diagnostics show the line the IR came from,
# as it was read. A file is never read again for it (it may have changed since, or be no file at
# all): a location outside what the reader kept is shown without its line.
_READ: dict[str, object] = {}  # path -> (text, first line), or its lines by number once asked for
_READ_KEPT = 16


def remember_source(path: str, text: str, first_line: int = 1) -> None:
    """Keep `text` (line `first_line` of `path` onwards) as what the reader read from `path`."""
    _READ.pop(path, None)
    if len(_READ) >= _READ_KEPT:
        del _READ[next(iter(_READ))]
    _READ[path] = (text, first_line)


def read_source(path: str) -> Optional[dict[int, str]]:
    """The lines of `path` by line number, as the reader last read them (to show under
    diagnostics), or None when the reader kept none."""
    kept = _READ.get(path)
    if isinstance(kept, tuple):
        text, first = kept
        kept = _READ[path] = {i: line.rstrip("\r") for i, line in enumerate(text.split("\n"), first)}
    return kept


def source_line(loc: Location) -> Optional[str]:
    """The source line `loc` points into, as the reader read it, or None."""
    lines = read_source(loc.path)
    return lines.get(loc.line) if lines else None
