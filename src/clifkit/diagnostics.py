"""Located errors: every problem clifkit reports about input points at a file, line and column.

An error prints as ``file:line:col: error: message`` followed by the offending
source line and a caret under the column, the form compilers use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Location:
    path: str
    line: int  # 1-based
    col: int = 1  # 1-based

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


@dataclass
class Diagnostic:
    loc: Location
    message: str
    severity: str = "error"
    source_line: Optional[str] = None

    def format(self) -> str:
        head = f"{self.loc}: {self.severity}: {self.message}"
        if self.source_line is None:
            return head
        line = self.source_line.rstrip("\n")
        caret = " " * (self.loc.col - 1) + "^"
        return f"{head}\n{line}\n{caret}"


class ClifError(Exception):
    """One or more located problems with input. `str()` gives them formatted, one after another."""

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic):
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics = diagnostics
        super().__init__(self.format())

    def format(self) -> str:
        return "\n".join(d.format() for d in self.diagnostics)

    @property
    def first(self) -> Diagnostic:
        return self.diagnostics[0]


# The texts the reader read, by path (the last few): diagnostics show the line the IR came from,
# without reading the file again (which may have changed since, or be no file at all).
_READ: dict[str, object] = {}  # path -> (text, first line), or its lines by number once asked for
_READ_KEPT = 16


def remember_source(path: str, text: str, first_line: int = 1) -> None:
    """Keep `text` (line `first_line` of `path` onwards) as what the reader read from `path`."""
    _READ.pop(path, None)
    if len(_READ) >= _READ_KEPT:
        del _READ[next(iter(_READ))]
    _READ[path] = (text, first_line)


def read_source(path: str) -> Optional[dict[int, str]]:
    """The lines of `path` by line number (to show under diagnostics): those the reader read, else
    the file's, or None if unreadable."""
    kept = _READ.get(path)
    if isinstance(kept, tuple):
        text, first = kept
        kept = _READ[path] = {i: line.rstrip("\r") for i, line in enumerate(text.split("\n"), first)}
    if kept is not None:
        return kept
    try:
        if not os.path.isfile(path):
            return None
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            return {i: line.rstrip("\n") for i, line in enumerate(f, 1)}
    except OSError:
        return None


def source_line(loc: Location) -> Optional[str]:
    """The source line `loc` points into (as the reader read it, else from its file), or None."""
    lines = read_source(loc.path)
    if lines and loc.line not in lines and isinstance(_READ.get(loc.path), dict):
        _READ.pop(loc.path)  # the reader kept another part of the file (a segment): read it all
        lines = read_source(loc.path)
    return lines.get(loc.line) if lines else None
