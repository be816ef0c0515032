"""``test verifier`` and ``test cat``: checks of a file that run no code.

``test verifier``: each ``; error: TEXT`` comment marks the line where
Cranelift's verifier reports an error whose message contains TEXT (a comment
on a line of its own belongs to the line of code above it). clifkit's verifier
must report an error on exactly those lines, one per comment, with TEXT in its
message, and no other error in the function. Each expected error is one
result, and a function expecting none gives one result, on its first line.

``test cat``: each function is printed as Cranelift's printer writes it
(`printer.format_function_as_cranelift`: no comments, so that a directive
never matches its own text) and the ``filecheck`` directives between its
``function`` line and the next function's (`filecheck.py`) are matched against
the text: one result per function that has directives.

The results are `RunResult`s of engine "verifier" or "cat", so reports,
counts and exit status treat them as run lines.
"""

from __future__ import annotations

from typing import Sequence

from ..ir.function import TestFile
from ..dialect import CURRENT, Dialect
from .plans import command_names
from .results import FAILED, PASSED, RunResult


def _comments(tf: TestFile, kinds: Sequence[str], first: int, last: int) -> list[tuple[int, str, str]]:
    """(line, kind, text) of the file's ``; KIND: text`` comments of `kinds` on lines first..last,
    as the reader found them (`TestFile.directives`)."""
    return [(d.line, d.kind, d.text.strip()) for d in tf.directives
            if d.kind in kinds and d.has_colon and first <= d.line <= last]


def _ranges(tf: TestFile, lines: Sequence[str]) -> list[tuple[object, int, int]]:
    """(function details, first line, last line) of each function: up to the next function."""
    starts = [(d, d.function.loc.line if d.function.loc else 1) for d in tf.functions]
    out = []
    for k, (d, start) in enumerate(starts):
        end = starts[k + 1][1] - 1 if k + 1 < len(starts) else len(lines)
        out.append((d, start, end))
    return out


def static_results(tf: TestFile, lines: Sequence[str], path: str, dialect: Dialect = CURRENT) -> list[RunResult]:
    """The results of the file's ``test verifier`` and ``test cat`` commands (none if it has
    neither); ``test verifier`` checks by the rules of `dialect`."""
    names = set(command_names(tf))
    out: list[RunResult] = []
    if "verifier" in names:
        out += _verifier(tf, lines, path, dialect)
    if "cat" in names:
        out += _cat(tf, lines, path)
    return out


def _code_line(lines: Sequence[str], line: int) -> int:
    """The line a comment on `line` belongs to: its own, or the nearest line of code above (blank
    lines between do not count, so `clifkit cat`, which moves blank lines, keeps what a file means)."""
    k = line
    while k > 1 and (not lines[k - 1].strip() or lines[k - 1].lstrip().startswith(";")):
        k -= 1
    return k


def _verifier(tf: TestFile, lines: Sequence[str], path: str, dialect: Dialect) -> list[RunResult]:
    from ..verifier import verify_test_file

    source = "\n".join(lines)
    diags = [d for d in verify_test_file(tf, source, dialect=dialect) if d.severity == "error"]
    out = []
    ranges = _ranges(tf, lines)
    first = ranges[0][1] if ranges else len(lines) + 1
    # Above the first function nothing can be expected: an error there fails the file, and so
    # does an expectation (Cranelift ignores it, which would hide a misplaced comment).
    for d in diags:
        if d.loc.line < first:
            msg = f"unexpected error: {d.message}"
            out.append(RunResult(d.loc.line, "", "verifier", None, FAILED, msg, kind="verifier",
                                 report=f"{path}:{d.loc.line}: {msg}"))  # fmt: skip
    for n, _, _ in _comments(tf, ("error",), 1, first - 1):
        msg = "an `; error:` comment above the first function belongs to no function"
        out.append(RunResult(n, "", "verifier", None, FAILED, msg, kind="verifier", report=f"{path}:{n}: {msg}"))
    for details, start, end in ranges:
        name = details.function.name
        expected = [(_code_line(lines, n), n, text) for n, _, text in _comments(tf, ("error",), start, end)]
        mine = [d for d in diags if start <= d.loc.line <= end]
        for code, n, text in expected:
            hit = next((d for d in mine if d.loc.line == code and text in d.message), None)
            if hit is not None:
                mine.remove(hit)
                out.append(RunResult(n, name, "verifier", None, PASSED, kind="verifier", expected=text,
                                     actual=hit.message, report=f"{path}:{n}: {name}: {hit.message}"))  # fmt: skip
                continue
            there = [d.message for d in mine if d.loc.line == code]
            got = f"clifkit reports: {'; '.join(there)}" if there else "clifkit reports no error there"
            msg = f"expected an error containing {text!r} on line {code}; {got}"
            out.append(RunResult(n, name, "verifier", None, FAILED, msg, kind="verifier", expected=text,
                                 report=f"{path}:{n}: {name}: {msg}"))  # fmt: skip
        for d in mine:
            if any(d.loc.line == code for code, _, _ in expected):
                continue  # already reported with the expectation on its line
            msg = f"unexpected error: {d.message}"
            out.append(RunResult(d.loc.line, name, "verifier", None, FAILED, msg, kind="verifier",
                                 report=f"{path}:{d.loc.line}: {name}: {msg}"))  # fmt: skip
        if not expected and not mine:
            out.append(RunResult(start, name, "verifier", None, PASSED, kind="verifier", expected="no error",
                                 report=f"{path}:{start}: {name}: no error, as expected"))  # fmt: skip
    return out


def _cat(tf: TestFile, lines: Sequence[str], path: str) -> list[RunResult]:
    from ..printer import format_function_as_cranelift
    from .filecheck import KINDS as CHECK_KINDS
    from .filecheck import Directive, FileCheckError, check

    def directives_in(first: int, last: int) -> list[Directive]:
        return [Directive(kind, text, n) for n, kind, text in _comments(tf, CHECK_KINDS, first, last)]

    out = []
    ranges = _ranges(tf, lines)
    # As in Cranelift, directives above the first function apply to every function, and a
    # function with none passes.
    preamble = directives_in(1, ranges[0][1] - 1) if ranges else []
    for details, start, end in ranges:
        directives = preamble + directives_in(start, end)
        name = details.function.name
        try:
            check(format_function_as_cranelift(details.function), directives)
        except FileCheckError as e:
            out.append(RunResult(start, name, "cat", None, FAILED, str(e), kind="cat",
                                 report=f"{path}:{start}: {name}: {e}"))  # fmt: skip
            continue
        matched = f"{len(directives)} filecheck directives match" if directives else "no filecheck directives"
        out.append(RunResult(start, name, "cat", None, PASSED, kind="cat", expected=f"{len(directives)} directives",
                             report=f"{path}:{start}: {name}: {matched}"))  # fmt: skip
    return out
