"""Run-line directives: ``; run:`` and ``; print:`` comments, read into located commands.

Grammar (Cranelift's run commands, ``cranelift-reader``'s ``run_command.rs``)::

    directive  ::= ";"+ "run" ":" call [("==" | "!=") values]
                 | ";"+ "run"                      (call the function above, expect nonzero)
                 | ";"+ "print" ":" call
                 | ";"+ "print"                    (call the function above, print its results)
    call       ::= "%" name "(" [value {"," value}] ")"
    value      ::= literal | "[" [value {[","] value}] "]"

``; run: %f(args)`` with no comparison expects one integer result that is
nonzero, like a bare ``; run``. ``; heap:`` and ``; table:`` directives are read
into their fields (`fields.py`); other kinds (``; check:``) are kept as text.

Reading is in two steps. The reader reads every directive once, as it reads the
file (`directive_at`, `fill`): a run or print line's syntax (split into tokens
by the CLIF lexer, `lexer.tokenize`, as Cranelift's run commands are), into a tree of
literals with their columns (a `RunCommand`, kept as the `Directive`'s
`parsed`, or the `ClifError` that stopped it as its `error`); later stages ask
with `read`. `bind` reads that tree at the types of a function's signature,
giving argument and expected bit patterns. Every problem is a `ClifError`
pointing at ``file:line:col``. `parse_directive_line` reads one line on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .. import lazy
from ..diagnostics import ClifError, Diagnostic, Location
from ..ir.function import Directive, Function
from ..ir.immediates import parse_trap_code
from ..ir.types import Type
from .lexer import ENTITY_PREFIXES, tokenize
from ..ir.values import (
    Value,
    ValueSyntaxError,
    is_hex_int_literal,
    parse_scalar,
    parse_vector_hex,
)

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional, Sequence, Union

RUN_KINDS = ("run", "print")

_DIRECTIVE_RE = re.compile(r"[ \t]*;+[ \t]*([A-Za-z_][A-Za-z0-9_-]*)[ \t]*(?::|\Z)")


# -- syntax tree ---------------------------------------------------------------


@dataclass
class Literal:
    """A number, boolean or other literal argument of a run line, as written."""

    text: str
    col: int  # 1-based column in the source line


@dataclass
class ListNode:
    """A bracketed list of run-line arguments (vector lanes or bytes)."""

    items: list["Node"]
    col: int  # column of "["
    end_col: int  # column just after "]"
    commas: bool = False


Node = Literal | ListNode


@dataclass
class Call:
    """A call in a run line: the function and its arguments."""

    name: str  # "%f"
    col: int  # column of the name
    args: list[Node]
    text: str  # the call as written: "%f(1, 2)"
    end_col: int  # column just after ")"


@dataclass
class RunCommand:
    """A ``run`` or ``print`` directive, syntax checked, not yet read at any types."""

    kind: str  # "run" or "print"
    loc: Location  # of the word "run" / "print"
    call: Optional[Call]  # None: bare "; run" / "; print", calling the function above with no arguments
    comparison: Optional[str] = None  # "==", "!=", or None (run: expect nonzero; print: print)
    expected: Optional[Node] = None
    expected_trap: Optional[str] = None  # "== trap heap_oob": the call must trap with this code
    source_line: Optional[str] = None
    end_col: int = 0  # column just after the directive's last token

    @property
    def line(self) -> int:
        return self.loc.line

    def error(self, col: int, message: str) -> ClifError:
        return ClifError(
            Diagnostic(Location(self.loc.path, self.loc.line, max(col, 1)), message, source_line=self.source_line)
        )


@dataclass
class OtherDirective:
    """A ``; kind: text`` comment this module does not interpret (``heap``, ``note``, ...)."""

    kind: str
    text: str
    loc: Location  # of the first character of `text`


# -- lexing --------------------------------------------------------------------


class _Token:
    """One token of a run line."""

    __slots__ = ("kind", "text", "col")  # (a run line makes about ten: the corpus's 12,000 lines, 130,000)

    def __init__(self, kind: str, text: str, col: int):
        self.kind = kind  # "lit", "name", "[", "]", "(", ")", ",", "==", "!=", "end"
        self.text = text
        self.col = col  # 1-based


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORD_KINDS = frozenset({"word", "type", "value"}) | ENTITY_PREFIXES  # a word, whatever it names in CLIF
_PUNCT = frozenset("[](),")


def _tokens(line: str, start: int, loc: Location, source_line: str) -> list[_Token]:
    """The tokens of line[start:], from the CLIF lexer (`lexer.tokenize`): numbers and words are
    literals (their meaning depends on the type they are read at), ``==`` and ``!=`` are two
    adjacent punctuation tokens. Columns are 1-based positions in `line`."""
    toks = tokenize(line[start:])
    kinds, vals, cols = toks.kinds, toks.values, toks.cols
    out: list[_Token] = []

    def fail(col: int, message: str) -> ClifError:
        return ClifError(Diagnostic(Location(loc.path, loc.line, col), message, source_line=source_line))

    k = 0
    while kinds[k] != "eof":
        kind, col = kinds[k], start + cols[k]
        if kind in _PUNCT:
            out.append(_Token(kind, kind, col))
        elif kind in ("=", "!"):
            if kinds[k + 1] == "=" and start + cols[k + 1] == col + 1:
                out.append(_Token(kind + "=", kind + "=", col))
                k += 1
            else:
                raise fail(col, f"expected '==' or '!=', got '{line[col - 1 : col + 1].strip()}'")
        elif kind == "name":
            if vals[k] == "%":
                raise fail(col, "expected a function name after '%'")
            out.append(_Token("name", vals[k], col))  # type: ignore[arg-type]
        elif kind == "num":
            text: str = vals[k]  # type: ignore[assignment]
            last = out[-1] if out else None
            if (last is not None and last.kind == "lit" and text[0] == "+" and last.col + len(last.text) == col
                    and last.text[-1:] in ("e", "E", "p", "P") and _exponent_sign_ok(last.text)):
                last.text += text  # "1.5e" "+3": an exponent's sign, which the CLIF lexer stops at
            else:
                out.append(_Token("lit", text, col))
        elif kind == "." and kinds[k + 1] == "num" and start + cols[k + 1] == col + 1:
            out.append(_Token("lit", "." + vals[k + 1], col))  # type: ignore[operator]
            k += 1  # ".5": a decimal float (an extension; the CLIF lexer reads "-.5" alone whole)
        elif kind in _WORD_KINDS:
            out.append(_Token("lit", _WORD.match(line, col - 1).group(), col))  # type: ignore[union-attr]
        elif kind in ("+", "-", "->"):
            raise fail(col, f"expected a number after '{line[col - 1]}'")
        else:
            raise fail(col, f"unexpected character '{line[col - 1]}'")
        k += 1
    end = toks.comments[0].col if toks.comments else cols[k]  # a trailing comment ends the line
    out.append(_Token("end", "", start + end))
    return out


def _exponent_sign_ok(before: str) -> bool:
    """May a sign follow `before` (which ends in p/P/e/E) as an exponent sign?"""
    body = before.lstrip("+-")
    if body[:2] in ("0x", "0X"):
        return before[-1] in "pP"
    return before[-1] in "eE" and (body[:1].isdigit() or body[:1] == ".")


# -- parsing -------------------------------------------------------------------


class _Parser:
    def __init__(self, tokens: list[_Token], cmd: RunCommand):
        self.toks = tokens
        self.pos = 0
        self.cmd = cmd

    @property
    def tok(self) -> _Token:
        return self.toks[self.pos]

    def next(self) -> _Token:
        t = self.toks[self.pos]
        if t.kind != "end":
            self.pos += 1
        return t

    def fail(self, tok: _Token, message: str) -> ClifError:
        return self.cmd.error(tok.col, message)

    @staticmethod
    def describe(tok: _Token) -> str:
        return "the end of the line" if tok.kind == "end" else f"'{tok.text}'"

    def call(self, line: str) -> Call:
        t = self.tok
        if t.kind != "name":
            if t.kind == "end":
                raise self.fail(t, f"expected a function call such as %f(1, 2) after '{self.cmd.kind}:'")
            raise self.fail(t, f"expected a function name such as %f, got {self.describe(t)}")
        self.next()
        if self.tok.kind != "(":
            raise self.fail(self.tok, f"expected '(' after {t.text}, got {self.describe(self.tok)}")
        self.next()
        args: list[Node] = []
        if self.tok.kind == ")":
            close = self.next()
        else:
            while True:
                args.append(self.value())
                sep = self.tok
                if sep.kind == ",":
                    self.next()
                    continue
                if sep.kind == ")":
                    close = self.next()
                    break
                raise self.fail(sep, f"expected ',' or ')' after argument {len(args)} of {t.text}, got {self.describe(sep)}")
        end = close.col + 1
        return Call(t.text, t.col, args, line[t.col - 1 : end - 1], end)

    def value(self, depth: int = 0) -> Node:
        t = self.tok
        if t.kind == "lit":
            self.next()
            return Literal(t.text, t.col)
        if t.kind == "[":
            if depth >= MAX_LIST_DEPTH:  # no value nests (a vector is one list): refuse before recursing
                raise self.fail(t, f"lists nest too deeply (more than {MAX_LIST_DEPTH} levels)")
            self.next()
            items: list[Node] = []
            commas = False
            while True:
                if self.tok.kind == "]":
                    if commas and items and self.toks[self.pos - 1].kind == ",":
                        raise self.fail(self.tok, "expected a value after ','")
                    close = self.next()
                    return ListNode(items, t.col, close.col + 1, commas)
                if self.tok.kind == "," and items and self.toks[self.pos - 1].kind != ",":
                    commas = True
                    self.next()
                    continue
                if self.tok.kind in ("lit", "["):
                    items.append(self.value(depth + 1))
                    continue
                if self.tok.kind == "end":
                    raise self.fail(self.tok, f"expected ']' to close the '[' at column {t.col}")
                raise self.fail(self.tok, f"expected a value or ']', got {self.describe(self.tok)}")
        raise self.fail(t, f"expected a value, got {self.describe(t)}")


MAX_LIST_DEPTH = 16


def parse_directive_line(line: str, path: str, lineno: int) -> Optional[Union[RunCommand, OtherDirective]]:
    """The directive on source line `line` (number `lineno`), or None when it holds none: for a
    line read on its own (the reader reads a file's directives as it reads the file: `read`).

    A directive is a comment ``; word:`` (or a bare ``; run`` / ``; print``). Raises
    `ClifError` for a malformed run or print directive."""
    line = line.rstrip("\r\n")
    m = _DIRECTIVE_RE.match(line)
    if m is None:
        return None
    kind = m.group(1)
    has_colon = m.group(0).rstrip().endswith(":")
    rest_start = m.end()
    if not has_colon:
        if kind not in RUN_KINDS:
            return None
    if kind not in RUN_KINDS:
        text = line[rest_start:]
        lead = len(text) - len(text.lstrip())
        return OtherDirective(kind, text.strip(), Location(path, lineno, rest_start + lead + 1))
    return _run_command(kind, line, Location(path, lineno, m.start(1) + 1), rest_start, has_colon)


def _run_command(kind: str, source_line: str, loc: Location, rest_start: int, has_colon: bool) -> RunCommand:
    """The run or print command whose word `kind` is at `loc` on `source_line`; its call starts at
    index `rest_start` of the line (after the colon). Raises `ClifError`."""
    cmd = RunCommand(kind, loc, None, source_line=source_line)
    toks = _tokens(source_line, rest_start, cmd.loc, source_line)
    p = _Parser(toks, cmd)
    if not has_colon:
        cmd.end_col = loc.col + len(kind)
        return cmd
    cmd.call = p.call(source_line)
    if kind == "run":
        t = p.tok
        if t.kind in ("==", "!="):
            p.next()
            cmd.comparison = t.kind
            if p.tok.kind == "end":
                raise p.fail(p.tok, f"expected the expected value after '{t.kind}'")
            if p.tok.kind == "lit" and p.tok.text == "trap":
                cmd.expected_trap = _trap_expectation(p, t.kind)
            else:
                cmd.expected = p.value()
        elif t.kind != "end":
            raise p.fail(t, f"expected '==', '!=' or the end of the line after {cmd.call.text}, got {p.describe(t)}")
    if p.tok.kind != "end":
        what = "the expected value" if cmd.expected is not None or cmd.expected_trap else cmd.call.text
        raise p.fail(p.tok, f"unexpected {p.describe(p.tok)} after {what}")
    cmd.end_col = toks[-1].col
    return cmd


def _trap_expectation(p: "_Parser", comparison: str) -> str:
    """Read ``trap CODE`` after ``==``; returns the canonical trap code."""
    word = p.next()
    if comparison != "==":
        raise p.fail(word, "a trap can only be expected with '==', as in '== trap heap_oob'")
    code_tok = p.tok
    if code_tok.kind != "lit":
        raise p.fail(code_tok, f"expected a trap code after 'trap' (such as heap_oob or user1), got {p.describe(code_tok)}")
    code = parse_trap_code(code_tok.text)
    if code is None:
        raise p.fail(code_tok, f"unknown trap code '{code_tok.text}' (expected stk_ovf, heap_oob, int_ovf, int_divz, "
                               "bad_toint, table_oob, unreachable, userN, ...)")
    p.next()
    return code


# -- directives as the reader keeps them (`ir.function.Directive`) -------------------------------


def directive_at(line: str, col: int, path: str, lineno: int, after_code: bool = False) -> Optional[Directive]:
    """The directive-shaped comment (``; word:`` or a bare ``; word``) that starts at column `col`
    of source line `line`, as a `Directive` not yet read (`fill`), or None. Any word: the reader
    keeps near misses (``; HEAP:``) too, for the verifier to name."""
    line = line.rstrip("\r\n")
    m = _DIRECTIVE_RE.match(line, col - 1)
    if m is None:
        return None
    rest = line[m.end() :]
    lead = len(rest) - len(rest.lstrip())
    return Directive(m.group(1), rest.strip(), Location(path, lineno, m.end() + lead + 1),
                     word_loc=Location(path, lineno, m.start(1) + 1),
                     has_colon=m.group(0).rstrip().endswith(":"), after_code=after_code)


def fill(d: Directive, source_line: Optional[str] = None) -> Directive:
    """Read `d` once, keeping what it says (`d.parsed`) or why it cannot be read (`d.error`).
    `source_line` is the line it stands on (a directive built in code has none: one is written)."""
    if d.read:
        return d
    d.read = True
    if not d.has_colon and d.kind not in RUN_KINDS:
        return d
    try:
        if d.kind in RUN_KINDS:
            if source_line is None:
                prefix = f"; {d.kind}: " if d.has_colon else f"; {d.kind}"
                source_line = " " * max(0, d.loc.col - 1 - len(prefix)) + prefix + d.text
                word_col = source_line.index(";") + 3
            else:
                source_line = source_line.rstrip("\r\n")
                word_col = d.word_loc.col if d.word_loc is not None else d.loc.col
            rest_start = word_col - 1 + len(d.kind) + (source_line[word_col - 1 + len(d.kind) :].index(":") + 1
                                                       if d.has_colon else 0)
            d.parsed = _run_command(d.kind, source_line, Location(d.loc.path, d.loc.line, word_col), rest_start,
                                    d.has_colon)
        else:
            fields = lazy.module("clifkit.reader.fields")  # (heap and table directives: most files have none)
            if d.kind in fields.KEYS:
                d.parsed = fields.read_fields(d.kind, d.text, d.loc,
                                              source_line.rstrip("\r\n") if source_line else None)
    except ClifError as e:
        d.error = e
    return d


def read(d: Directive):
    """What directive `d` says, read once (`fill`): a `RunCommand`, the `DirectiveFields` of a heap
    or table, or None for another kind. Raises its `ClifError` when it cannot be read."""
    fill(d)
    if d.error is not None:
        raise d.error
    return d.parsed


def directives_in(text: str, path: str) -> list[Directive]:
    """The directives on the lines of `text` that are directives (not a whole file's reading: the
    fuzzer's own programs, whose functions it already has as IR), each read (`fill`)."""
    found = []
    for n, line in enumerate(text.split("\n"), 1):
        if line.startswith(";"):
            d = directive_at(line, 1, path, n)
            if d is not None:
                found.append(fill(d, line))
    return found


# -- binding to a signature -------------------------------------------------------


@dataclass
class BoundRun:
    """A run or print command read at the types of the function it calls."""

    command: RunCommand
    function: Function  # the callee
    args: list[Value]
    arg_types: list[Type]
    return_types: list[Type]
    expected: Optional[list[Value]] = None  # None: print, or expect one nonzero integer
    expected_hex: list[bool] = field(default_factory=list)  # per return: written in hex?
    # The callee's first parameter is a vmctx the run line leaves out: the harness passes the
    # address of the environment's vmctx struct (heap-era run tests). `args` omit it.
    implicit_vmctx: bool = False

    @property
    def call_text(self) -> str:
        if self.command.call is not None:
            return self.command.call.text
        return f"{self.function.name}()"


def _types_text(types: Sequence[Type]) -> str:
    return ", ".join(t.name for t in types)


def bind_value(cmd: RunCommand, node: Node, ty: Type, what: str) -> Value:
    """Read `node` at type `ty`; `what` names it in messages ("argument 2 of %f")."""
    try:
        if ty.is_vector:
            if isinstance(node, Literal):
                return parse_vector_hex(node.text, ty)
            if len(node.items) != ty.lanes:
                raise cmd.error(
                    node.col, f"{what} is {ty.name}, which has {ty.lanes} lanes, but {len(node.items)} are given"
                )
            lanes = []
            lane_type = ty.lane_type
            for i, item in enumerate(node.items):
                if isinstance(item, ListNode):
                    raise cmd.error(item.col, f"lane {i} of {what} ({ty.name}) must be a single {lane_type.name}, not a list")
                try:
                    lanes.append(parse_scalar(item.text, lane_type))
                except ValueSyntaxError as e:
                    raise cmd.error(item.col, f"lane {i} of {what}: {e}") from None
            return tuple(lanes)
        if isinstance(node, ListNode):
            raise cmd.error(node.col, f"{what} is a single {ty.name}, not a list")
        return parse_scalar(node.text, ty)
    except ValueSyntaxError as e:
        raise cmd.error(node.col, f"{what}: {e}") from None


def _is_hex(node: Node) -> bool:
    if isinstance(node, Literal):
        return is_hex_int_literal(node.text)
    return any(_is_hex(item) for item in node.items)


def takes_vmctx(function: Function) -> bool:
    params = function.signature.params
    return bool(params) and params[0].purpose == "vmctx"


def no_environment_message(callee: Function) -> str:
    """Why a run line that leaves out `callee`'s vmctx argument cannot be given one."""
    return (f"{callee.name} takes a vmctx first, which the harness passes only when the test has `; heap:` or "
            f"`; table:` directives or {callee.name} declares heaps or tables to lay one out from, and it has "
            "neither: write directives (docs/heaps.md), or pass the vmctx argument yourself")


def bind(cmd: RunCommand, callee: Function, implicit_vmctx: bool = False) -> BoundRun:
    """Read `cmd`'s arguments and expected results at the types of `callee`'s signature.

    With `implicit_vmctx` (the run line has an environment, and `callee` takes a vmctx first),
    the run line leaves the vmctx argument out, as heap-era Cranelift run tests do."""
    implicit_vmctx = implicit_vmctx and takes_vmctx(callee)
    params = [p.type for p in callee.signature.params][1 if implicit_vmctx else 0 :]
    returns = [r.type for r in callee.signature.returns]
    name = callee.name
    call = cmd.call
    arg_nodes = call.args if call is not None else []
    if len(arg_nodes) != len(params):
        where = call.col if call is not None else cmd.loc.col
        if implicit_vmctx and len(arg_nodes) == len(params) + 1:
            raise cmd.error(
                where,
                f"the test environment (heap directives) supplies {name}'s vmctx argument: leave it out and "
                + (f"pass only ({_types_text(params)})" if params else "pass no arguments"),
            )
        if not implicit_vmctx and takes_vmctx(callee) and len(arg_nodes) == len(params) - 1:
            raise cmd.error(where, no_environment_message(callee))
        plural = "argument" if len(params) == 1 else "arguments"
        sig = f" ({_types_text(params)})" if params else ""
        if call is None:
            raise cmd.error(
                where,
                f"a bare '{cmd.kind}' calls {name} with no arguments, but {name} takes {len(params)} {plural}{sig}; "
                f"write '{cmd.kind}: {name}(...)" + (" == ...'" if cmd.kind == "run" else "'"),
            )
        raise cmd.error(where, f"{name} takes {len(params)} {plural}{sig}, but {len(arg_nodes)} are given")
    args = [bind_value(cmd, node, ty, f"argument {i + 1} of {name}") for i, (node, ty) in enumerate(zip(arg_nodes, params))]
    bound = BoundRun(cmd, callee, args, params, returns, implicit_vmctx=implicit_vmctx)
    if cmd.kind == "print":
        return bound
    if cmd.comparison is None:
        if len(returns) != 1 or not returns[0].is_int or returns[0].is_vector:
            got = f"returns {_types_text(returns)}" if returns else "returns nothing"
            where = call.col if call is not None else cmd.loc.col
            raise cmd.error(
                where,
                f"a run line without '==' or '!=' expects {name} to return one integer (passing when nonzero), "
                f"but {name} {got}",
            )
        return bound
    if cmd.expected_trap is not None:
        return bound
    node = cmd.expected
    assert node is not None
    if len(returns) == 1:
        bound.expected = [bind_value(cmd, node, returns[0], f"the result of {name}")]
        bound.expected_hex = [_is_hex(node)]
        return bound
    if not isinstance(node, ListNode):
        raise cmd.error(
            node.col,
            f"{name} returns {len(returns)} values ({_types_text(returns)}); write them in brackets: "
            f"[{', '.join('...' for _ in returns)}]" if returns else f"{name} returns nothing; write []",
        )
    if len(node.items) != len(returns):
        what = f"{len(returns)} values ({_types_text(returns)})" if returns else "nothing"
        raise cmd.error(node.col, f"{name} returns {what}, but {len(node.items)} are given")
    bound.expected = [
        bind_value(cmd, item, ty, f"result {i + 1} of {name}") for i, (item, ty) in enumerate(zip(node.items, returns))
    ]
    bound.expected_hex = [_is_hex(item) for item in node.items]
    return bound
