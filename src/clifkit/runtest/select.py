"""Names of run-test items (``-k`` chooses items by them: `keyword_expr.py`).

Every run line, once per engine and target that runs it, is one *item*. Its
name is the call as written followed by the engine in brackets, the same in
`clifkit test -k`, the pytest plugin and the JUnit report::

    %load_store(1, 2)[interpreter]
    %load_store(1, 2)[native x86_64 has_avx]

When one file calls the same thing twice on the same engine (``%f(1) == 2``
and ``%f(1) != 3``), each of those items carries its line: ``%f(1)@14[interpreter]``.
A run line that cannot be read is named by what it seems to call, else by its
line (``line 14[interpreter]``). Within a file, a name is unique. The full
name of an item adds the file in front: ``heap.clif::%load_store(1, 2)[interpreter]``.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Callable, Optional, Sequence

    from .plans import RunItem

_CALL = r"%[A-Za-z0-9_]+\s*\([^)]*\)"  # (compiled by `re` on first use: few run lines need it)


def engine_label(engine: str, target: Optional[str]) -> str:
    """``interpreter``, ``native x86_64 has_avx``: what the brackets of an item name hold."""
    return f"{engine} {target}" if target else engine


def run_label(call: Optional[str], line: int, source_line: Optional[str] = None) -> str:
    """What names a run line: its call as written, else the call its text seems to hold, else its line."""
    if call:
        return call
    if source_line:
        m = re.search(_CALL, source_line)
        if m is not None:
            return m.group(0)
    return f"line {line}"


def item_names(entries: Sequence[tuple[str, int, str, Optional[str]]]) -> list[str]:
    """Names for a file's items, given (label, line, engine, target) for each: unique within the file."""
    plain = [f"{label}[{engine_label(engine, target)}]" for label, _, engine, target in entries]
    seen: dict[str, int] = {}
    for name in plain:
        seen[name] = seen.get(name, 0) + 1
    out = []
    for name, (label, line, engine, target) in zip(plain, entries):
        if seen[name] > 1:
            name = f"{label}@{line}[{engine_label(engine, target)}]"
        out.append(name)
    return out


def full_name(path: str, name: str) -> str:
    return f"{path}::{name}"


def item_key(item: RunItem) -> tuple:
    """(line, engine, target): what names a run line in a report (and tells apart items of one name)."""
    if item.plan is not None:
        return (item.line, item.plan.engine, item.plan.target)
    return (item.line, item.settled.engine, item.settled.target)


def matcher(pattern: Optional[str]) -> Optional[Callable[[str], bool]]:
    """`keyword_expr.compile_keyword(pattern)` (which raises its `KeywordError`), or None when
    there is no pattern (everything is selected)."""
    if pattern is None or not pattern.strip():
        return None
    from .keyword_expr import compile_keyword

    return compile_keyword(pattern)
