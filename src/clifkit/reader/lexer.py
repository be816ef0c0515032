"""Lexical analysis of CLIF text: source → parallel token arrays plus a comment list.

The rules follow Cranelift's lexer (``cranelift-reader/src/lexer.rs``): words
ending in a number name entities (``v7``, ``block3``, ``gv0``, ``fn1``...),
words that spell a type are types, a number token is any run of
alphanumerics, ``_``, ``.`` and ``-`` that starts like a number (so
``0x1.8p-3``, ``-0x0.0p0``, ``+16``, ``NaN:0x1`` are single tokens) and is
only given a meaning by the parser, which knows what kind of number belongs
where.

Tokens are kept in parallel lists (`kinds`, `values`, `lines`, `cols`) rather
than objects: the whole reference corpus is re-read on every test run, and
plain lists indexed by position are the cheapest structure Python offers.

Comments are not tokens. Each is recorded with its *anchor*, the index of
the first token after it, and whether code precedes it on its line, which is
all the parser needs to attach it to the entity, block or instruction it
belongs to (see `parser.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..ir.types import parse_type

# Token kinds that carry a number: the entity prefixes of CLIF (``v`` gives kind ``value``).
ENTITY_PREFIXES = frozenset(
    {
        "v", "block", "ss", "dss", "dt", "gv", "mt", "const", "fn", "sig", "u", "userextname",
        "extable", "tag", "ret", "exn", "heap", "table", "jt", "region",
    }
)  # fmt: skip

# Each match is one token with the blanks before it: matching blanks on their own would double
# the turns of the loop in `tokenize`, whose cost is per match. Lines lose their trailing blanks
# first, so that a match always ends with a token. The commonest tokens are tried first:
# punctuation that starts nothing longer, then words (one that starts like ``NaN``, ``sNaN`` or
# ``Inf`` is left to the number rule); ``-``, ``+`` and ``@`` come last, after the numbers and
# source locations they may start.
_BLANKS = " \t\r\f\v"
_TOKEN_RE = re.compile(
    r"""
    [ \t\r\f\v]*
    (?:
        (?P<punct>[(){}\[\],.:=!*<>])
      | (?P<word>(?!s?NaN|Inf)[A-Za-z_][A-Za-z0-9_]*)
      | (?P<comment>;.*)
      | (?P<num>[-+]?(?:s?NaN:[-_.0-9A-Za-z]*|(?:NaN|Inf|sNaN)[-_.0-9A-Za-z]*|[0-9][-_.0-9A-Za-z]*)|[-+]\.[-_.0-9A-Za-z]*)
      | (?P<name>%[A-Za-z0-9_]*)
      | (?P<srcloc>@[0-9A-Fa-f]+)
      | (?P<prefix>->|[-+@])
      | (?P<string>"[^"]*")
      | (?P<bad>[^ \t\r\f\v])
    )
    """,
    re.VERBOSE,
)
_ENTITY_RE = re.compile(r"([a-z]+)(0|[1-9][0-9]*)\Z")


@dataclass(frozen=True)
class Comment:
    """A ``;`` comment: its text (``;`` included, trailing blanks removed) and where it stands."""

    text: str
    line: int
    col: int
    anchor: int  # index of the first token after the comment
    trailing: bool  # True when code precedes the comment on its line


class Tokens:
    """The tokens of one source text, in parallel lists, ending with an ``eof`` token. (A plain
    class: nothing compares or prints one, and a dataclass costs the import a compile.)"""

    def __init__(self) -> None:
        self.kinds: list[str] = []
        self.values: list[object] = []
        self.lines: list[int] = []
        self.cols: list[int] = []
        self.comments: list[Comment] = []


_word_cache: dict[str, tuple[str, object]] = {}
_WORD_CACHE_LIMIT = 100_000


def classify_word(word: str) -> tuple[str, object]:
    """(kind, value) of a word: an entity (``("gv", 3)``), a type, or a plain ``word``."""
    found = _word_cache.get(word)
    if found is None:
        m = _ENTITY_RE.match(word)
        # An entity number is a u32 in Cranelift: more digits make a plain word (as there), and
        # spare Python the conversion of thousands of digits.
        if m and m.group(1) in ENTITY_PREFIXES and len(m.group(2)) <= 10:
            prefix = m.group(1)
            found = ("value" if prefix == "v" else prefix, int(m.group(2)))
        else:
            ty = parse_type(word)
            found = ("type", ty) if ty is not None else ("word", word)
        if len(_word_cache) >= _WORD_CACHE_LIMIT:
            _word_cache.clear()
        _word_cache[word] = found
    return found


def tokenize(text: str, first_line: int = 1) -> Tokens:
    """Split `text` into tokens and comments. Never fails: a character that starts no
    token becomes an ``error`` token, reported by the parser if it reaches it. `text` starts at
    line `first_line` of its file (a part of a file read on its own)."""
    toks = Tokens()
    kinds, values, lines, cols = toks.kinds, toks.values, toks.lines, toks.cols
    comments = toks.comments
    finditer = _TOKEN_RE.finditer
    word_cache = _word_cache
    for lineno, line in enumerate(text.split("\n"), first_line):
        first = len(kinds)  # the line's first token (its line numbers are added at its end)
        for m in finditer(line.rstrip(_BLANKS)):
            kind = m.lastgroup
            group = m.lastindex  # (the token's group: the match itself starts with the blanks)
            value: object = m[group]
            if kind == "word":
                kind, value = word_cache.get(value) or classify_word(value)  # type: ignore[arg-type]
            elif kind == "punct" or kind == "prefix":
                kind = value  # type: ignore[assignment]
            elif kind == "comment":
                code_on_line = len(kinds) > first
                comments.append(Comment(value.rstrip(), lineno, m.start(group) + 1, len(kinds), code_on_line))  # type: ignore[union-attr]
                continue
            elif kind == "string":
                value = value[1:-1]  # type: ignore[index]
            elif kind == "bad":
                kind = "error"
                value = "unterminated string" if value == '"' else f"invalid character {value!r}"
            kinds.append(kind)  # type: ignore[arg-type]
            values.append(value)
            cols.append(m.start(group) + 1)
        lines += [lineno] * (len(kinds) - first)
    last = text.count("\n") + first_line
    kinds.append("eof")
    values.append(None)
    lines.append(last)
    cols.append(len(text) - text.rfind("\n"))
    return toks
