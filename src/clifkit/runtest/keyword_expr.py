"""Choosing run-test items by name: ``-k`` expressions (the names: `select.py`).

``-k`` takes a pytest-style expression over full names: words match as
case-insensitive substrings and combine with ``and``, ``or``, ``not`` and
parentheses (``-k "load and not native"``); words side by side are one phrase
(``-k "not 1, 2"``). A pattern without those words is one plain substring, so
``-k "%add(1, 2)"`` works as it reads. (A run without ``-k`` does not import this module.)
"""

from __future__ import annotations

import re

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Callable, Optional


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
