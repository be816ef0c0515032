"""The token cursor the parser is built on: position, expectations, errors, comments.

Errors are raised as `ParseError` carrying the line and column of the token
at fault; the parser turns them into located `Diagnostic`s and skips to the
next function, so one file reports one error per broken function.

Comments are handed out in file order. An item (an entity, a block header, an
instruction) takes the whole-line comments before it with `take_leading` and,
once parsed, the comment on its last line with `take_trailing`. Because the
lexer anchored every comment to the token after it, both are a walk forward
over the comment list: nothing is searched and nothing is lost.
"""

from __future__ import annotations

from .lexer import Comment, Tokens
from ..ir.numbers import NumberError

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import NoReturn, Optional


class ParseError(Exception):
    """A problem at a token: its message, line and column."""

    def __init__(self, message: str, line: int, col: int):
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col


class Cursor:
    """Position in a token stream, with the helpers every grammar rule uses."""

    def __init__(self, toks: Tokens):
        self.kinds = toks.kinds
        self.vals = toks.values
        self.tlines = toks.lines
        self.tcols = toks.cols
        self.comments: list[Comment] = toks.comments
        self.ci = 0  # next unclaimed comment
        self.pos = 0

    # -- errors ----------------------------------------------------------
    def error(self, message: str, at: Optional[int] = None) -> ParseError:
        """A `ParseError` at token `at` (default: the current token)."""
        i = self.pos if at is None else at
        return ParseError(message, self.tlines[i], self.tcols[i])

    def text(self, i: int) -> str:
        """Token `i` as written (near enough for messages)."""
        kind, val = self.kinds[i], self.vals[i]
        if kind in ("word", "num", "name", "srcloc"):
            return val  # type: ignore[return-value]
        if kind == "type":
            return str(val)
        if kind == "string":
            return f'"{val}"'
        if isinstance(val, int):
            return f"{'v' if kind == 'value' else kind}{val}"
        return kind

    def describe(self, i: int) -> str:
        kind = self.kinds[i]
        if kind == "eof":
            return "end of file"
        return f"'{self.text(i)}'"

    def fail(self, what: str) -> NoReturn:
        """Raise "expected `what`, found <current token>" (or the lexer's own complaint)."""
        if self.kinds[self.pos] == "error":
            raise self.error(self.vals[self.pos])  # type: ignore[arg-type]
        raise self.error(f"expected {what}, found {self.describe(self.pos)}")

    def number_error(self, at: int, what: str, e: NumberError) -> ParseError:
        return self.error(f"invalid {what} '{self.vals[at]}': {e}", at)

    # -- consuming tokens ---------------------------------------------------
    def expect(self, kind: str, what: str):
        """The value of the current token if it is a `kind`, advancing; else fail."""
        if self.kinds[self.pos] != kind:
            self.fail(what)
        self.pos += 1
        return self.vals[self.pos - 1]

    def accept(self, kind: str) -> bool:
        if self.kinds[self.pos] == kind:
            self.pos += 1
            return True
        return False

    def accept_word(self, word: str) -> bool:
        if self.kinds[self.pos] == "word" and self.vals[self.pos] == word:
            self.pos += 1
            return True
        return False

    def at_word(self, word: str) -> bool:
        return self.kinds[self.pos] == "word" and self.vals[self.pos] == word

    # -- comments ---------------------------------------------------------------
    def take_comments(self, upto: int) -> list[Comment]:
        """The unclaimed comments that stand before token `upto`."""
        cs, ci = self.comments, self.ci
        start = ci
        while ci < len(cs) and cs[ci].anchor <= upto:
            ci += 1
        self.ci = ci
        return cs[start:ci]

    def take_leading(self, upto: int) -> list[str]:
        """Texts of the comment lines before token `upto` (an item's first token)."""
        if self.ci == len(self.comments) or self.comments[self.ci].anchor > upto:
            return []  # (most items have none: asked for every instruction)
        return [c.text for c in self.take_comments(upto)]

    def take_trailing(self) -> Optional[str]:
        """The comment(s) inside and on the last line of the item just parsed, or None."""
        cs, ci, end = self.comments, self.ci, self.pos
        if ci == len(cs) or cs[ci].anchor > end:
            return None  # (as for `take_leading`)
        texts = []
        while ci < len(cs) and (cs[ci].anchor < end or (cs[ci].anchor == end and cs[ci].trailing)):
            texts.append(cs[ci].text)
            ci += 1
        self.ci = ci
        return " ".join(texts) if texts else None
