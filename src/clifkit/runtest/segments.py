"""Files of many standalone functions, read and run a segment at a time.

A file of thousands of small functions (a generated test suite, 50 MB of it)
would otherwise be parsed whole, planned whole and run whole: its IR, bound
run lines and compiled code all alive at once (some 12 KB a function), and
nothing printed until the end. When the functions stand alone, nothing needs
them all at once: a file of more than `SEGMENT_FUNCTIONS` functions is cut at
``function`` lines into segments of that many, and each is read (with the
file's header lines), planned, run and let go before the next; its results
are added to the file's result as they come (`Options.on_runs` shows them).

A file is cut only when no function can reach another: no function
references (``fnN = ...``, which calls, ``func_addr`` and the like need), and
every function a run or print line names is in that line's segment. Anything
else is read whole, as before. Differences from reading whole: a function
that does not parse makes the run lines of its segment errors (the other
segments still run), and item names are unique within a segment.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..diagnostics import ClifError
from ..reader import ReadError
from .plans import Options, collect_directives, select_plans
from .results import FileResult

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional

SEGMENT_FUNCTIONS = 2000

_FUNCTION_LINE = re.compile(r"function[ \t]")
_FUNCTION_NAME = re.compile(r"function[ \t]+(%[^\s(]+)")
_FUNCTION_REFERENCE = re.compile(r"^[ \t]*fn[0-9]+[ \t]*=", re.M)
_DIRECTIVE = re.compile(r";+[ \t]*(?:run|print)\b")
_CALLED = re.compile(r"%[^\s(),\[\]=!]+")


class _Window(Sequence[str]):
    """The file's lines up to line `end` (a view, not a copy): a segment's last function's
    directives end at the segment's end, not the file's."""

    def __init__(self, lines: list[str], end: int):
        self.lines, self.end = lines, end

    def __len__(self) -> int:
        return self.end

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self.lines[: self.end][i]
        if not -self.end <= i < self.end:
            raise IndexError(i)
        return self.lines[i % self.end]


def cut(lines: list[str], size: Optional[int] = None) -> Optional[list[tuple[int, int]]]:
    """(first line, last line) of each segment, the first one after the header; None when the
    file has no more than `size` (`SEGMENT_FUNCTIONS`) functions or its functions may reach each other."""
    size = size or SEGMENT_FUNCTIONS
    starts = [n for n, line in enumerate(lines, 1) if _FUNCTION_LINE.match(line)]
    if len(starts) <= size:
        return None
    bounds = starts[::size] + [len(lines) + 1]
    segments = [(bounds[k], bounds[k + 1] - 1) for k in range(len(bounds) - 1)]
    for first, last in segments:
        names: set[str] = set()
        for n in range(first, last + 1):
            line = lines[n - 1]
            m = _FUNCTION_NAME.match(line)
            if m is not None:
                names.add(m.group(1))
            elif _FUNCTION_REFERENCE.match(line):
                return None
            elif ";" in line:
                d = _DIRECTIVE.search(line)
                if d is not None and any(c not in names for c in _CALLED.findall(line, d.end())):
                    return None  # calls a function of another segment (or a later one)
    return segments


def run_in_segments(path: str, lines: list[str], options: Options, result: FileResult) -> bool:
    """Run the file at `path` (its `lines`) a segment at a time, adding to `result`; False (nothing
    done) when it is not to be cut (small, functions reaching each other, a header that does not parse)."""
    from ..reader.parser import parse_text
    from .runner import PreparedFile, choose_items, file_items, finish_file, run_items

    segments = cut(lines)
    if segments is None:
        return False
    header_end = segments[0][0] - 1
    try:
        header = parse_text("\n".join(lines[:header_end]), path)
    except ClifError:
        return False
    plans, not_runtest = select_plans(header, options)
    if not plans:
        return False  # not a run test: the whole-file path says so
    on_runs = getattr(options, "on_runs", None)
    for first, last in segments:
        shown = len(result.runs)
        window = _Window(lines, last)
        try:
            tf = parse_text("\n".join(lines[first - 1 : last]), path, first_line=first)
        except ClifError as e:
            _segment_error(result, lines, path, first, last, e)
        else:
            tf.commands, tf.isa_specs = header.commands, header.isa_specs
            prepared = PreparedFile(path, window, tf, plans, collect_directives(tf),
                                    {d.function.name: d.function for d in tf.functions}, None, options.limits, options)
            items = choose_items(file_items(prepared, result), path, options, result)
            stop = run_items(prepared, items, options, result)
            del tf, prepared, items
            if stop:
                break
        if on_runs is not None and len(result.runs) > shown:
            on_runs(result, shown)
    finish_file(plans, path, result)
    return True


def _segment_error(result: FileResult, lines: list[str], path: str, first: int, last: int, e: ClifError) -> None:
    """A segment that does not parse: the file is an error, and each run line of the segment says
    why it did not run (the first one with the located messages)."""
    from .unparsed import engine_guess, record_error

    record_error(result, lines, path, e.format(), e.first.message, e.first.loc,
                 directives=e.directives if isinstance(e, ReadError) else (),
                 engine=engine_guess(lines[:64]), engine_known=True)
