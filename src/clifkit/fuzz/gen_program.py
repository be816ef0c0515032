"""What the generator produces: a `Program` (functions, heap/table plans, run-line arguments)
and how it prints as a self-contained run-test file.

Kept apart from the generator so that the driver and the reproducer writer, which only
consume programs, need not know how they are built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..diagnostics import Location
from ..ir.function import Directive, Function
from ..ir.types import I64, Type
from ..printer import format_function
from ..ir.values import format_value
from ..reader.directives import Call, ListNode, Literal, RunCommand
from ..reader.fields import DirectiveFields
from .features import DEFAULT, opt_level_settings


# -- heaps -------------------------------------------------------------------------------


@dataclass
class HeapPlan:
    """One `; heap:` or `; table:` directive and how functions declare it."""

    index: int  # position among the directives (the %heap_grow index)
    style: str  # static, dynamic, table
    size: int  # bytes (tables: elements * element_size)
    max_size: int
    ptr: int  # vmctx offset of the base slot
    bound_slot: int  # vmctx offset of the bound slot
    index_type: Type
    decl_bound: int = 0  # static heaps: the declared bound (inside the reservation)
    guard: int = 0
    element_size: int = 0  # tables
    # The width its bound slot is loaded in: a dynamic heap with i32 indices may load it as i32
    # (docs/heaps.md: the harness then writes the size in that width at the slot's offset).
    bound_type: Type = I64

    @property
    def elements(self) -> int:
        return self.size // self.element_size if self.element_size else 0

    def directive(self) -> str:
        return self._fields()[0]

    def _fields(self) -> tuple[str, list[tuple[str, str, int]]]:
        """The directive's text, and its fields: (key, value as written, value)."""
        if self.style == "table":
            fields = [("elements", str(self.elements), self.elements),
                      ("element_size", str(self.element_size), self.element_size)]
        else:
            fields = [("size", f"{self.size:#x}", self.size)]
        fields += [("ptr", f"vmctx+{self.ptr}", self.ptr), ("bound", f"vmctx+{self.bound_slot}", self.bound_slot)]
        if self.style != "table" and self.max_size != self.size:
            fields.append(("max", f"{self.max_size:#x}", self.max_size))
        parts = [f"{key}={text}" for key, text, _ in fields]
        kind = "table" if self.style == "table" else "heap"
        return f"{kind}: " + ", ".join(parts if self.style == "table" else [self.style, *parts]), fields

    def read_directive(self, path: str, line: int) -> Directive:
        """The `Directive` the reader reads from this directive's line `line` of `path`, already
        read (its `DirectiveFields`), without reading its text back."""
        text, fields = self._fields()
        kind, _, rest = text.partition(": ")
        loc = Location(path, line, len(kind) + 5)  # after "; heap: "
        out = DirectiveFields(kind, loc, None if kind == "table" else self.style, source_line=f"; {text}")
        at = 0 if kind == "table" else len(self.style) + 2
        for key, written, value in fields:
            out.values[key] = value
            out.cols[key] = at + len(key) + 1
            at += len(key) + 1 + len(written) + 2
        return Directive(kind, rest, loc, parsed=out, read=True, word_loc=Location(path, line, 3))


@dataclass
class HeapTable:
    """A table over a heap directive's memory (only under the 2022 rules): no directive of its
    own; functions declare it from the heap's ptr and bound slots, and its bound is the heap's
    byte count read as an element count."""

    index: int  # key in a function's heap_refs (1000 + n: apart from the directives' indices)
    heap: HeapPlan
    element_size: int


@dataclass
class HeapView:
    """One heap declaration (`heapN`) of one function. Every function declares the heaps it wants:
    a directive's heap from its base, or from `disp` bytes past it (a derived base,
    ``gv2 = iadd_imm.i64 gv1, disp``), or the vmctx struct itself (``plan`` None, base ``gv0``)."""

    number: int  # heapN
    plan: Optional[HeapPlan]  # None: the heap over vmctx
    disp: int  # bytes past the directive's base
    bound: int  # static: the declared bound
    guard: int
    index_type: Type
    style: str = "static"

    @property
    def elided(self) -> bool:
        """Whether native code may leave this heap's bounds checks out (docs/native.md, static
        case 2: i32 indices whose every value lands in bound + offset_guard): then only an access
        of exactly a `heap_addr`'s size traps as the interpreter's `heap_addr` does."""
        return self.style == "static" and self.index_type.bits == 32 and self.bound + self.guard >= 0xFFFF_FFFF

    def limit(self, vmctx_size: int = 0) -> int:
        """Bytes from this base that are accessible when the run starts (and stay so)."""
        if self.plan is None:
            return max(0, min(self.bound, vmctx_size - self.disp))
        if self.style == "dynamic":
            return self.plan.size
        return max(0, min(self.bound, self.plan.size - self.disp))


# -- programs ----------------------------------------------------------------------------


@dataclass
class Program:
    seed: int
    functions: list[Function]  # callees first, %main last
    heaps: list[HeapPlan]
    runs: list[list]  # argument values per run line (without the implicit vmctx)
    target: str = "x86_64"
    features: frozenset = DEFAULT
    opt_level: str = "none"  # Cranelift's opt_level the backends compile it with (`OPT_LEVELS`)
    _text: Optional[str] = field(default=None, repr=False, compare=False)  # text(), printed once

    @property
    def main(self) -> Function:
        return self.functions[-1]

    @property
    def arg_types(self) -> list[Type]:
        params = self.main.signature.params
        skip = 1 if self.heaps else 0
        return [p.type for p in params[skip:]]

    def run_line(self, args: list, expected: Optional[str] = None) -> str:
        """A run line expecting `expected`; without one, a print line (it only calls)."""
        text = ", ".join(format_value(a, t) for a, t in zip(args, self.arg_types))
        if expected is None:
            return f"; print: {self.main.name}({text})"
        return f"; run: {self.main.name}({text}) == {expected}"

    def text(self, expectations: Optional[list[Optional[str]]] = None, header: str = "",
             targets: Optional[list[str]] = None) -> str:
        """The program as a run-test file; `expectations` gives each run line's `== ...` text,
        `targets` its target lines (default: its own target). Without any, printed once and
        kept (the fuzzer prints a program only when it needs the text: a sampled verification,
        a reproducer)."""
        if expectations is None and not header and not targets:
            if self._text is None:
                self._text = self._print(None, "")
            return self._text
        return self._print(expectations, header, targets)

    def directives_text(self) -> str:
        """Just the file's directives after its functions (heaps, tables, run lines), as `text`
        prints them: what running the program from its IR needs of the text."""
        return "\n".join(self._directive_lines(None)) + "\n"

    def heap_directives(self, path: str) -> list[Directive]:
        """The heap and table directives as the reader reads them from `directives_text` at
        `path`, read (`HeapPlan.read_directive`)."""
        return [h.read_directive(path, n) for n, h in enumerate(self.heaps, 1)]

    def run_commands(self, path: str) -> list[tuple[RunCommand, list]]:
        """The run lines as the reader reads them from `directives_text` at `path` (print lines:
        a `RunCommand` each, columns and all), each with its arguments as values: what running
        the program from its IR needs, without printing its run lines and reading them back (the
        verify sample still reads them from its text). The lines follow the heap directives."""
        types = self.arg_types
        out = []
        for n, args in enumerate(self.runs, len(self.heaps) + 1):
            col = len("; print: ") + 1
            nodes, texts, at = [], [], col + len(self.main.name) + 1  # after "("
            for value, ty in zip(args, types):
                if texts:
                    at += 2  # ", "
                if ty.is_vector:
                    lanes, lane_at = [], at + 1
                    for lane in value:
                        text = format_value(lane, ty.lane_type)
                        lanes.append(Literal(text, lane_at))
                        lane_at += len(text) + 1
                    nodes.append(ListNode(lanes, at, lane_at, False))
                    texts.append("[" + " ".join(lane.text for lane in lanes) + "]")  # as format_value writes it
                    at = lane_at
                else:
                    texts.append(format_value(value, ty))
                    nodes.append(Literal(texts[-1], at))
                    at += len(texts[-1])
            line = f"; print: {self.main.name}({', '.join(texts)})"  # (run_line's)
            call = Call(self.main.name, col, nodes, line[col - 1 : at], at + 1)
            out.append((RunCommand("print", Location(path, n, 3), call, source_line=line, end_col=len(line) + 1),
                        list(args)))
        return out

    def _directive_lines(self, expectations: Optional[list[Optional[str]]]) -> list[str]:
        out = [f"; {h.directive()}" for h in self.heaps]
        for i, args in enumerate(self.runs):
            expected = expectations[i] if expectations is not None else None
            out.append(self.run_line(args, expected))
        return out

    def _print(self, expectations: Optional[list[Optional[str]]], header: str,
               targets: Optional[list[str]] = None) -> str:
        out = []
        if header:
            out.extend(f"; {line}".rstrip() for line in header.splitlines())
        out += ["test interpret", "test run"]
        out += [f"set {name}={value}" for name, value in opt_level_settings(self.opt_level)]
        out += [f"target {t}" for t in targets or [self.target]] + [""]
        for f in self.functions:
            out.append(format_function(f))
        out += self._directive_lines(expectations)
        return "\n".join(out) + "\n"
