"""The files `clifkit test` runs and how their text is read.

`discover` finds them (each path as given, directories searched for ``*.clif``, sorted, each file
once); `read_lines` reads one as the reader does, so that the line numbers the harness shows for a
file that does not parse are the reader's. The whole-file and segment-at-a-time paths share both."""

from __future__ import annotations

import os

from ..reader.parser import read_clif

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional, Sequence


def discover(paths: Sequence[str]) -> list[tuple[str, Optional[str]]]:
    """(path, problem) pairs: every *.clif under each directory (sorted), each file as given."""
    out: list[tuple[str, Optional[str]]] = []
    seen: set[str] = set()
    for path in paths:
        if os.path.isdir(path):
            found = []
            for root, dirs, files in os.walk(path):
                dirs.sort()
                # (a FIFO or socket named *.clif would block the run: only files, or broken links,
                # which then say they cannot be read)
                found.extend(p for p in (os.path.join(root, f) for f in files if f.endswith(".clif"))
                             if os.path.isfile(p) or not os.path.exists(p))
            for f in sorted(found):
                if f not in seen:
                    seen.add(f)
                    out.append((f, None))
        elif os.path.isfile(path):
            if path not in seen:
                seen.add(path)
                out.append((path, None))
        elif os.path.exists(path):  # a pipe (`<(...)`): a run reads its file more than once, in any process
            out.append((path, "not a regular file (a pipe?): clifkit test reads a file more than once, "
                              "so write it to a file first"))
        else:
            out.append((path, "no such file or directory"))
    return out


def read_lines(path: str) -> tuple[str, list[str]]:
    """The text of the file at `path` (without a byte order mark, as the reader reads it) and its
    lines as the reader numbers them: split at newlines only (not at form feeds and the like), a
    trailing carriage return dropped. Raises ClifError, located, when it cannot be read."""
    source = read_clif(path)
    return source, [line[:-1] if line.endswith("\r") else line for line in source.split("\n")]
