"""Names of run-test items, and choosing items by name (``-k``).

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

``-k`` takes a pytest-style expression over full names: words match as
case-insensitive substrings and combine with ``and``, ``or``, ``not`` and
parentheses (``-k "load and not native"``); words side by side are one phrase
(``-k "not 1, 2"``). A pattern without those words is one plain substring, so
``-k "%add(1, 2)"`` works as it reads.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Callable, Optional, Sequence

_CALL_RE = re.compile(r"%[A-Za-z0-9_]+\s*\([^)]*\)")


def engine_label(engine: str, target: Optional[str]) -> str:
    """``interpreter``, ``native x86_64 has_avx``: what the brackets of an item name hold."""
    return f"{engine} {target}" if target else engine


def run_label(call: Optional[str], line: int, source_line: Optional[str] = None) -> str:
    """What names a run line: its call as written, else the call its text seems to hold, else its line."""
    if call:
        return call
    if source_line:
        m = _CALL_RE.search(source_line)
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


# -- -k expressions ---------------------------------------------------------------------


class KeywordError(ValueError):
    """A ``-k`` expression that does not parse. The message says where."""


_WORDS = ("and", "or", "not")
_TOKEN_RE = re.compile(r"\s*(\(|\)|[^\s()]+)")


def _tokens(pattern: str) -> list[str]:
    out = []
    pos = 0
    while True:
        m = _TOKEN_RE.match(pattern, pos)
        if m is None:
            break
        out.append(m.group(1))
        pos = m.end()
    return out


def compile_keyword(pattern: str) -> Callable[[str], bool]:
    """A predicate over full item names for ``-k PATTERN``. Raises `KeywordError`."""
    tokens = _tokens(pattern)
    if not tokens:
        return lambda name: True
    if not any(t in _WORDS for t in tokens):
        needle = pattern.strip().lower()
        return lambda name: needle in name.lower()
    pos = 0

    def peek() -> Optional[str]:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        t = tokens[pos]
        pos += 1
        return t

    def fail(what: str) -> KeywordError:
        where = f"'{tokens[pos]}'" if pos < len(tokens) else "the end"
        return KeywordError(f"-k {pattern!r}: expected {what}, got {where}")

    def chain(word: str, operand, combine):
        """`operand` (`word` `operand`)*, combined from the left."""
        left = operand()
        while peek() == word:
            take()
            left = combine(left, operand())
        return left

    def expr():
        return chain("or", conj, lambda a, b: lambda n: a(n) or b(n))

    def conj():
        return chain("and", neg, lambda a, b: lambda n: a(n) and b(n))

    def neg():
        t = peek()
        if t == "not":
            take()
            inner = neg()
            return lambda n: not inner(n)
        if t == "(":
            take()
            inner = expr()
            if peek() != ")":
                raise fail("')'")
            take()
            return inner
        if t is None or t in _WORDS or t == ")":
            raise fail("a word to match")
        words = [take()]
        while peek() is not None and peek() not in _WORDS and peek() not in "()":
            words.append(take())  # words side by side are one phrase: "not 2, 2"
        phrase = " ".join(words).lower()
        return lambda n: phrase in n.lower()

    predicate = expr()
    if pos != len(tokens):
        raise fail("'and', 'or' or the end")
    return predicate


def matcher(pattern: Optional[str]) -> Optional[Callable[[str], bool]]:
    """`compile_keyword(pattern)`, or None when there is no pattern (everything is selected)."""
    if pattern is None or not pattern.strip():
        return None
    return compile_keyword(pattern)
