"""The CLIF reader: a recursive-descent parser from tokens to a `TestFile`.

The grammar is Cranelift 0.120's (``cranelift-reader/src/parser.rs``) plus the
heap-era declarations (``heapN``, ``tableN``) that Cranelift removed in 2022::

    file      ::= header-line* function*
    header    ::= "test" words | "set" words | "target" words | "feature" words
    function  ::= "function" name signature "{" preamble block* "}" trailer
    preamble  ::= (ss | dss | dt | gv | heap | table | sig | fn | const | stack_limit)*
    block     ::= blockN ["(" vN ":" type, ... ")"] ["cold"] ":" instruction*

Comments are kept where they stand: the comment on an item's line belongs to
the item, comment lines before an item belong to it, comment lines after a
function's closing brace are its trailer (holding the ``; run:`` style
directives), except that a block of plain comment lines directly above the
next ``function`` introduces that function.

After an error inside a function the parser records it and resumes at the
next ``function`` at the start of a line, so one run reports every broken
function; `parse_text` then raises one `ClifError` holding them all.
"""

from __future__ import annotations

import os
import re

from .. import lazy
from ..diagnostics import ClifError, Diagnostic, Location, remember_source
from ..ir.function import (
    AbiParam, Block, Directive, ExternalName, Function, FunctionDetails, IsaSpec, Signature, TestCommand, TestFile,
)  # fmt: skip
from .cursor import ParseError
from .directives import RUN_KINDS, directive_at, fill
from .instructions import ENTITY_NAMES, ENTITY_TABLES, InstructionParser
from .lexer import Comment, tokenize
from ..ir.numbers import NumberError, parse_uint

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional, Union

CALL_CONVS = frozenset(
    {"fast", "cold", "tail", "system_v", "windows_fastcall", "apple_aarch64", "probestack", "winch", "preserve_all",
     "wasmtime_system_v"}  # the last one: heap era (2022)
)
ABI_PURPOSES = frozenset({"sret", "vmctx", "stack_limit"})
HEADER_WORDS = ("test", "set", "target", "feature")
# Structured comments after a function: run-test directives and filecheck directives.
DIRECTIVE_KINDS = ("run", "print", "heap", "table", "check", "sameln", "nextln", "unordered", "not", "regex")
READ_KINDS = frozenset({"run", "print", "heap", "table"})  # the directives read when the file is read
_PREAMBLE_KINDS = frozenset({"ss", "dss", "dt", "gv", "sig", "fn", "const", "heap", "table", "mt", "jt", "region"})


def _word_offsets(text: str) -> list[int]:
    """Where each whitespace-separated word of `text` starts (0-based)."""
    return [m.start() for m in re.finditer(r"\S+", text)]


class Parser(InstructionParser):
    """Reads one source text; `parse()` returns the `TestFile` or raises `ClifError`."""

    def __init__(self, text: str, path: str, first_line: int = 1):
        super().__init__(tokenize(text, first_line))
        self.path = path
        # Line N of the file is source_lines[N - 1] (padded when `text` starts further down).
        self.source_lines = _Lines(text.split("\n"), first_line)
        self.diagnostics: list[Diagnostic] = []
        self.shapes: dict[tuple[int, int], Optional[Directive]] = {}  # (line, col) of a comment -> its directive

    # -- the file ---------------------------------------------------------------------
    def parse(self) -> TestFile:
        tf = TestFile(self.path)
        self.header(tf)
        pending_before = self.comments_above_function(tf.preamble_comments, trailer=False)
        while self.kinds[self.pos] != "eof":
            start = self.pos
            try:
                if not self.at_word("function"):
                    if self.kinds[self.pos] == "word" and self.vals[self.pos] in HEADER_WORDS:
                        raise self.error(f"'{self.vals[self.pos]}' lines must come before the first function")
                    self.fail("'function'")
                details = self.function(pending_before)
                tf.functions.append(details)
                pending_before = self.comments_above_function(details.trailer, trailer=True)
            except ParseError as e:
                self.report(e)
                self.skip_to_function(start)
                self.take_comments(self.pos)
                pending_before = []
        if self.diagnostics:
            raise ReadError(self.diagnostics, self.all_directives())
        for details in tf.functions:
            details.directives = [x for x in details.trailer if isinstance(x, Directive)]
            details.comments_after = [x for x in details.trailer if isinstance(x, str) and x]
        tf.directives = self.all_directives()
        self.mark_above(tf)
        return tf

    def all_directives(self) -> list[Directive]:
        """Every directive-shaped comment of the text, in order (those attached to functions included)."""
        return [d for d in map(self.shaped, self.comments) if d is not None]

    def mark_above(self, tf: TestFile) -> None:
        """Note, on each directive with only comment lines between it and a function, that function."""
        starts = {d.function.loc.line: d.function.name for d in tf.functions if d.function.loc is not None}
        comment_lines = {c.line for c in self.comments if not c.trailing}
        code_after: dict[int, int] = {}  # a comment line -> the first line below it that is no comment

        def first_code(n: int) -> int:
            stack = []
            while n in comment_lines and n not in code_after:
                stack.append(n)
                n += 1
            end = code_after.get(n, n)
            for m in stack:
                code_after[m] = end
            return end

        for d in tf.directives:
            if not d.after_code:
                d.above = starts.get(first_code(d.line + 1))

    def shaped(self, c: Comment) -> Optional[Directive]:
        """The directive comment `c` is (any word: near misses too), read once; None when it is none."""
        key = (c.line, c.col)
        if key not in self.shapes:
            line = self.source_lines[c.line - 1]
            d = directive_at(line, c.col, self.path, c.line, after_code=c.trailing)
            self.shapes[key] = d if d is None or d.kind not in READ_KINDS else fill(d, line)
        return self.shapes[key]

    def report(self, e: ParseError) -> None:
        line = self.source_lines[e.line - 1].rstrip("\r") if 0 < e.line <= len(self.source_lines) else ""
        self.diagnostics.append(Diagnostic(Location(self.path, e.line, e.col), e.message, source_line=line))

    def skip_to_function(self, start: int) -> None:
        """Move to the next ``function`` that begins a line, after token `start`."""
        i = max(self.pos, start + 1)
        kinds, vals, lines = self.kinds, self.vals, self.tlines
        while kinds[i] != "eof" and not (kinds[i] == "word" and vals[i] == "function" and lines[i - 1] < lines[i]):
            i += 1
        self.pos = i

    def header(self, tf: TestFile) -> None:
        """``test``, ``set``, ``target`` and ``feature`` lines, taken as whole lines of words."""
        seen_isa = False
        while self.kinds[self.pos] == "word" and self.vals[self.pos] in HEADER_WORDS:
            i = self.pos
            keyword: str = self.vals[i]  # type: ignore[assignment]
            line = self.tlines[i]
            leading = self.take_leading(i)
            rest = self.source_lines[line - 1][self.tcols[i] - 1 + len(keyword) :]
            words = rest.split(";", 1)[0].split()
            bad = None
            while self.kinds[self.pos] != "eof" and self.tlines[self.pos] == line:
                if self.kinds[self.pos] == "error" and bad is None:
                    bad = self.pos
                self.pos += 1
            comment = self.take_trailing()
            loc = self.loc(i)
            try:
                if bad is not None:
                    raise self.error(self.vals[bad], bad)  # type: ignore[arg-type]
                if keyword == "test":
                    if seen_isa:
                        raise self.error("'test' lines must come before 'set' and 'target' lines", i)
                    if not words:
                        raise self.error("expected a test name after 'test'", i)
                    tf.commands.append(TestCommand(words[0], words[1:], loc, leading, comment))
                else:
                    if not words:
                        raise self.error(f"expected words after '{keyword}'", i)
                    # (a file without set or target lines needs none; `lazy`: a fuzz program has some)
                    unknown = lazy.module("clifkit.ir.settings").unknown_word(keyword, words)
                    if unknown is not None:
                        at = self.tcols[i] + len(keyword) + _word_offsets(rest)[unknown[0]]
                        raise ParseError(unknown[1], line, at)
                    seen_isa = True
                    tf.isa_specs.append(IsaSpec(keyword, words, loc, leading, comment))
            except ParseError as e:
                self.report(e)
        specs = tf.isa_specs
        if specs and specs[-1].kind == "set" and any(s.kind == "target" for s in specs):
            # (as Cranelift's reader: the settings of a target are the set lines before it)
            last = specs[-1].loc
            self.report(ParseError("a 'set' line after the last 'target' line has no effect: "
                                   "set lines apply to the targets after them", last.line, last.col))

    def comments_above_function(self, rest: list, trailer: bool) -> list[str]:
        """Split the comments before the current token: the plain comment lines directly above a
        ``function`` are returned (they introduce it); the others are added to `rest`, which is
        the previous function's `trailer` (with directives parsed and blank-line gaps kept as "")
        or else the file's preamble comments."""
        comments = self.take_comments(self.pos)
        split = len(comments)
        if self.at_word("function"):
            line = self.tlines[self.pos]
            while split and comments[split - 1].line == line - 1 and not comments[split - 1].trailing:
                if trailer and self.directive(comments[split - 1]) is not None:
                    break
                split -= 1
                line -= 1
        if not trailer:
            rest.extend(c.text for c in comments[:split])
            return [c.text for c in comments[split:]]
        prev_line = None
        for c in comments[:split]:
            if prev_line is not None and c.line > prev_line + 1:
                rest.append("")
            rest.append(self.directive(c) or c.text)
            prev_line = c.line
        return [c.text for c in comments[split:]]

    def directive(self, c: Comment) -> Optional[Directive]:
        """The directive comment `c` is, of a kind a function's trailer keeps, or None."""
        d = self.shaped(c)
        if d is None or d.kind not in DIRECTIVE_KINDS or not (d.has_colon or d.kind in RUN_KINDS):
            return None
        return d

    # -- a function -----------------------------------------------------------------------
    def function(self, comments_before: list[str]) -> FunctionDetails:
        fn_i = self.pos
        self.pos += 1
        name = self.function_name()
        sig = self.signature()
        self.expect("{", "'{' before the function body")
        func = Function(name, sig, loc=self.loc(fn_i))
        func.comment = self.take_trailing()
        self.last_item = "function header"
        self.func = func
        self.value_lines = {}
        self.value_uses = []
        self.block_uses = []
        self.preamble()
        while self.kinds[self.pos] == "block":
            self.block()
        if self.kinds[self.pos] != "}":
            if self.kinds[self.pos] == "eof" or self.at_word("function"):
                raise self.error(f"expected '}}' to close function {name}")
            self.fail_after_item("a block (blockN:) or '}'")
        func.end_comments = self.take_leading(self.pos)
        self.pos += 1
        self.check_references()
        return FunctionDetails(func, comments_before=comments_before)

    def fail_after_item(self, what: str) -> None:
        """Fail at a token that cannot come next; on the line of the last item, it is stray text after it."""
        if self.kinds[self.pos] != "error" and self.tlines[self.pos] == self.tlines[self.pos - 1]:
            raise self.error(f"unexpected {self.describe(self.pos)} after the {self.last_item}")
        self.fail(what)

    def check_references(self) -> None:
        """Every value used in the function is defined somewhere in it. A block that is used but
        never defined is the verifier's to report ("invalid block reference"), as in Cranelift,
        whose reader creates a block wherever one is named."""
        func = self.func
        for v, i in self.value_uses:
            if v not in func.value_types:
                raise self.error(f"undefined value v{v}", i)

    def function_name(self) -> str:
        kind = self.kinds[self.pos]
        if kind == "name":
            self.pos += 1
            return self.vals[self.pos - 1]  # type: ignore[return-value]
        if kind == "u":
            return self.user_name()
        self.fail("a function name (%name or uN:M)")

    def user_name(self) -> str:
        """``u0:1``: a namespace and an index."""
        namespace = self.expect("u", "a user name (uN:M)")
        self.expect(":", "':' in a user name (uN:M)")
        i, text = self.number("the index of a user name (uN:M)")
        try:
            index = parse_uint(text, 32)
        except NumberError as e:
            raise self.number_error(i, "user name index", e) from None
        return f"u{namespace}:{index}"

    def external_name(self) -> ExternalName:
        kind = self.kinds[self.pos]
        if kind == "name":
            self.pos += 1
            return ExternalName(self.vals[self.pos - 1])  # type: ignore[arg-type]
        if kind == "userextname":
            self.pos += 1
            return ExternalName(f"userextname{self.vals[self.pos - 1]}")
        if kind == "u":
            return ExternalName(self.user_name())
        self.fail("an external name (%name, uN:M or userextnameN)")

    def signature(self) -> Signature:
        """``(params) [-> returns] [callconv]``."""
        self.expect("(", "'(' before the parameters")
        params = [] if self.kinds[self.pos] == ")" else self.abi_params("parameter")
        self.expect(")", "',' or ')' in the parameter list")
        returns = self.abi_params("return") if self.accept("->") else []
        sig = Signature(params, returns, call_conv_written=False)
        i = self.pos
        if self.kinds[i] == "word":
            if self.vals[i] in CALL_CONVS:
                sig.call_conv = self.vals[i]  # type: ignore[assignment]
                sig.call_conv_written = True
                self.pos += 1
            elif self.tlines[i] == self.tlines[i - 1]:
                raise self.error(f"unknown calling convention '{self.vals[i]}'")
        return sig

    def abi_params(self, what: str) -> list[AbiParam]:
        params = [self.abi_param(what)]
        while self.accept(","):
            params.append(self.abi_param(what))
        return params

    def abi_param(self, what: str) -> AbiParam:
        ty = self.expect("type", f"a {what} type")
        extension = purpose = None
        while self.kinds[self.pos] == "word":
            word = self.vals[self.pos]
            if word in ("uext", "sext"):
                extension = word
            elif word in ABI_PURPOSES:
                purpose = word
            elif word == "sarg":
                self.pos += 1
                self.expect("(", "'(' after sarg")
                size = self.uimm(32, "sarg size")
                self.expect(")", "')' after the sarg size")
                purpose = f"sarg({size})"
                continue
            elif word != "normal":
                break
            self.pos += 1
        return AbiParam(ty, extension, purpose)  # type: ignore[arg-type]

    # -- the preamble ------------------------------------------------------------------------
    def preamble(self) -> None:
        func = self.func
        self.entity_lines: dict[str, int] = {}
        self.entity_refs: list[tuple[str, int, int]] = []  # (kind, number, token index)
        self.in_preamble = True
        self.inline_sigs: list[tuple[int, Signature]] = []
        while True:
            i = self.pos
            kind = self.kinds[i]
            if kind in _PREAMBLE_KINDS:
                key = f"{kind}{self.vals[i]}"
            elif self.at_word("stack_limit"):
                key = "stack_limit"
            else:
                break
            leading = self.take_leading(i)
            if key in self.entity_lines:
                raise self.error(f"{key} is already defined on line {self.entity_lines[key]}")
            self.entity_lines[key] = self.tlines[i]
            func.entity_locs[key] = self.loc(i)
            self.pos += 1
            if kind == "gv" and self.kinds[self.pos] == "!":
                self.pos += 1
                func.global_value_facts[self.vals[i]] = self.fact()  # type: ignore[index]
            self.expect("=", f"'=' after {key}")
            # (declarations on first need: a function with a preamble)
            declarations = lazy.module("clifkit.reader.declarations").DECLARATIONS
            declarations[kind if key != "stack_limit" else key](self, self.vals[i])
            if leading:
                func.entity_comments_before[key] = leading
            comment = self.take_trailing()
            if comment:
                func.entity_comments[key] = comment
            self.last_item = f"declaration of {key}"
        next_sig = max(func.signatures, default=-1) + 1
        for fn, sig in self.inline_sigs:
            func.signatures[next_sig] = sig
            func.func_refs[fn].signature = next_sig
            next_sig += 1
        for kind, n, i in self.entity_refs:
            if n not in getattr(func, ENTITY_TABLES[kind]):
                raise self.error(f"undefined {ENTITY_NAMES[kind]} {kind}{n}", i)
        self.in_preamble = False

    def ref(self, kind: str) -> int:
        """A reference from one preamble entity to another (checked at the end of the preamble)."""
        i = self.pos
        n = self.expect(kind, f"a {ENTITY_NAMES[kind]} ({kind}N)")
        self.entity_refs.append((kind, n, i))
        return n

    def ref_entity(self, kind: str) -> int:
        return self.ref(kind) if self.in_preamble else self.entity(kind)

    # -- blocks ----------------------------------------------------------------------------------
    def block(self) -> None:
        func = self.func
        i = self.pos
        leading = self.take_leading(i)
        number: int = self.vals[i]  # type: ignore[assignment]
        if number in func.blocks:
            first = func.blocks[number].loc
            raise self.error(f"block{number} is already defined on line {first.line if first else '?'}")
        block = Block(number, loc=self.loc(i), comments=leading)
        func.blocks[number] = block
        self.pos += 1
        if self.accept("(") and not self.accept(")"):
            while True:
                j = self.pos
                v = self.expect("value", "a block parameter (vN: type)")
                fact = self.optional_fact()
                if fact is not None:
                    func.facts[v] = fact
                self.expect(":", "':' after the block parameter")
                self.define_value(v, self.expect("type", "the block parameter's type"), j)
                block.params.append(v)
                if not self.accept(","):
                    break
            self.expect(")", "',' or ')' in the block parameters")
        block.cold = self.accept_word("cold")
        self.expect(":", "':' after the block header")
        block.comment = self.take_trailing()
        self.last_item = "block header"
        kinds, vals, lines = self.kinds, self.vals, self.tlines
        while True:
            i = self.pos
            kind = kinds[i]
            if not (kind in ("value", "srcloc", "<") or (kind == "word" and vals[i] != "function")):
                break
            if block.insts and lines[i] == lines[i - 1]:
                self.fail_after_item("")
            self.instruction(block)
            self.last_item = "instruction"


class _Lines(list):
    """Source lines numbered from `first`: index N - 1 is line N; lines before `first` are empty."""

    def __init__(self, lines: list[str], first: int):
        super().__init__(lines)
        self.first = first

    def __getitem__(self, i):
        if isinstance(i, int) and self.first != 1:
            i -= self.first - 1
            return super().__getitem__(i) if 0 <= i < super().__len__() else ""
        return super().__getitem__(i)

    def __len__(self) -> int:
        return super().__len__() + self.first - 1


class ReadError(ClifError):
    """The reader's located errors, with the directives it found all the same (`TestFile.directives`):
    the harness names the run lines that could not run."""

    def __init__(self, diagnostics: list[Diagnostic], directives: Optional[list[Directive]] = None):
        super().__init__(diagnostics)
        self.directives = directives or []

    def __reduce__(self):
        return self.__class__, (self.diagnostics, self.directives)


def parse_text(text: str, path: str = "<string>", first_line: int = 1) -> TestFile:
    """Read CLIF `text` (named `path` in messages; it starts at line `first_line` of that file).
    Raises `ClifError` listing every problem. A leading byte order mark (U+FEFF, as some editors
    write) is not part of the text."""
    text = text.removeprefix("\ufeff")
    remember_source(path, text, first_line)
    tf = Parser(text, path, first_line).parse()
    tf.source, tf.first_line = text, first_line
    return tf


def read_clif(path: Union[str, "os.PathLike[str]"]) -> str:
    """The text of the file at `path` (UTF-8; a byte order mark is not part of it). Raises `ClifError`
    when it cannot be read, located at the first byte that is not UTF-8."""
    try:
        # (open, not pathlib: a run of one small file should not pay for importing pathlib)
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ClifError(Diagnostic(Location(str(path), 1, 1), f"cannot read file: {e.strerror or e}")) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        line_text = data[data.rfind(b"\n", 0, e.start) + 1:].split(b"\n", 1)[0].decode("utf-8", "replace")
        raise ClifError(Diagnostic(Location(str(path), line, col), f"the file is not UTF-8: byte 0x{data[e.start]:02x} "
                                   "cannot be decoded", source_line=line_text)) from None


def parse_file(path: Union[str, "os.PathLike[str]"]) -> TestFile:
    """Read the CLIF file at `path`. Raises `ClifError` when it cannot be read or parsed."""
    return parse_text(read_clif(path), str(path))

