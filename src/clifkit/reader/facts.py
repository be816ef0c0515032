"""Reading proof-carrying-code facts and memory types (`ir/pcc.py`), as Cranelift v33's reader
(``parse_fact``, ``parse_expr``, ``parse_memory_type_decl``) reads them."""

from __future__ import annotations

from ..ir.immediates import INTCC
from .cursor import Cursor
from ..ir.numbers import NumberError, parse_imm64

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it

# `ir.pcc` is imported by the methods that build facts and memory types: a file without proof-
# carrying code (nearly all) does without it.
if TYPE_CHECKING:
    from typing import Optional
    from ..ir.pcc import Fact, MemoryTypeData


class FactParser(Cursor):
    """The fact and memory-type grammar; entity references go through `ref_entity`."""

    def ref_entity(self, kind: str) -> int:
        """A reference to a preamble entity (the parser checks it now, or at the preamble's end)."""
        raise NotImplementedError

    def optional_fact(self) -> Optional[Fact]:
        """``! fact`` after a value or global value, or None."""
        return self.fact() if self.accept("!") else None

    def fact(self) -> Fact:
        from ..ir.pcc import Fact

        i = self.pos
        word = self.vals[i] if self.kinds[i] == "word" else None
        if word == "conflict":
            self.pos += 1
            return Fact("conflict")
        if word not in ("range", "dynamic_range", "mem", "dynamic_mem", "def", "compare"):
            self.fail("a `range`, `dynamic_range`, `mem`, `dynamic_mem`, `def`, `compare` or `conflict` fact")
        self.pos += 1
        self.expect("(", f"'(' after `{word}`")
        args = getattr(self, "_fact_" + word)(i)
        self.expect(")", f"')' to close the `{word}` fact")
        return Fact(word, args)

    def _u64(self, what: str) -> int:
        return self.uimm(64, what)  # type: ignore[attr-defined]

    def _fact_range(self, at: int) -> tuple[str, ...]:
        bits = self._u64("the bit width of a `range` fact")
        self.expect(",", "',' after the bit width")
        lo = self._u64("the min value of a `range` fact")
        self.expect(",", "',' after the min value")
        hi = self._u64("the max value of a `range` fact")
        from ..ir.pcc import rust_hex

        if bits > 64:
            raise self.error("bitwidth must be <= 64 bits on a `range` fact", at)
        if lo > hi:
            raise self.error("min value must be less than or equal to max value on a `range` fact", at)
        if hi > (1 << bits) - 1:
            raise self.error("max value is out of range for bitwidth on a `range` fact", at)
        return (str(bits), rust_hex(lo), rust_hex(hi))

    def _fact_dynamic_range(self, at: int) -> tuple[str, ...]:
        bits = self._u64("the bit width of a `dynamic_range` fact")
        if bits >> 16:
            raise self.error("the bit width of a `dynamic_range` fact must fit in 16 bits", at)
        self.expect(",", "',' after the bit width")
        lo = self.expr()
        self.expect(",", "',' after the min expression")
        return (str(bits), lo, self.expr())

    def _mem_args(self, word: str, bound) -> tuple[str, ...]:
        mt = f"mt{self.ref_entity('mt')}"
        self.expect(",", f"',' after the memory type in a `{word}` fact")
        lo = bound()
        self.expect(",", f"',' after the min offset in a `{word}` fact")
        hi = bound()
        nullable = ()
        if self.accept(","):
            if not self.accept_word("nullable"):
                self.fail(f"`nullable` in the last field of a `{word}` fact")
            nullable = ("nullable",)
        return (mt, lo, hi, *nullable)

    def _fact_mem(self, at: int) -> tuple[str, ...]:
        from ..ir.pcc import rust_hex

        return self._mem_args("mem", lambda: rust_hex(self._u64("an offset of a `mem` fact")))

    def _fact_dynamic_mem(self, at: int) -> tuple[str, ...]:
        return self._mem_args("dynamic_mem", self.expr)

    def _fact_def(self, at: int) -> tuple[str, ...]:
        return (f"v{self.expect('value', 'a value in a `def` fact')}",)

    def _fact_compare(self, at: int) -> tuple[str, ...]:
        cc = self.expect("word", "an intcc condition code in a `compare` fact")
        if cc not in INTCC:
            raise self.error(f"unknown condition code '{cc}' in a `compare` fact", self.pos - 1)
        self.expect(",", "',' after the condition code")
        lhs = self.expr()
        self.expect(",", "',' after the left-hand side")
        return (cc, lhs, self.expr())

    def expr(self) -> str:
        """``imm64`` or ``[gvN | vN | max] [+uimm64 | -uimm64]``, printed as Cranelift prints it."""
        from ..ir.pcc import format_expr

        kind = self.kinds[self.pos]
        if kind == "num" and self.vals[self.pos][0] != "+":  # type: ignore[index]
            return format_expr("", self._signed("an expression offset"))
        base = ""
        if kind == "gv":
            base = f"gv{self.ref_entity('gv')}"
        elif kind == "value":
            base = f"v{self.vals[self.pos]}"
            self.pos += 1
        elif self.accept_word("max"):
            base = "max"
        offset = 0
        if self.accept("+"):
            offset = self._u64("an expression offset")
            if offset >> 63:
                raise self.error("integer offset in dynamic expression is out of range", self.pos - 1)
        elif self.kinds[self.pos] == "num" and self.vals[self.pos][0] in "+-":  # type: ignore[index]
            offset = self._signed("an expression offset")
        return format_expr(base, offset)

    def _signed(self, what: str) -> int:
        i, text = self.number(what)  # type: ignore[attr-defined]
        try:
            return parse_imm64(text.removeprefix("+"))
        except NumberError as e:
            raise self.number_error(i, what, e) from None

    def memory_type(self) -> MemoryTypeData:
        """``struct SIZE { OFFSET: TYPE [readonly] [! fact], ... }``, ``memory SIZE``,
        ``dynamic_memory gvN + SIZE`` or ``empty``."""
        from ..ir.pcc import MemoryTypeData, MemoryTypeField

        kind = self.expect("word", "a memory type kind (struct, memory, dynamic_memory or empty)")
        if kind == "empty":
            return MemoryTypeData("empty")
        if kind == "memory":
            return MemoryTypeData("memory", self._u64("the size of a memory"))
        if kind == "dynamic_memory":
            gv = self.ref_entity("gv")
            if self.kinds[self.pos] == "num" and self.vals[self.pos][0] == "+":  # type: ignore[index]
                size = self._signed("the size offset of a dynamic memory")
                if size < 0:
                    raise self.error("the size offset of a dynamic memory is out of range", self.pos - 1)
            else:
                self.expect("+", "'+' after the global value of a dynamic memory")
                size = self._u64("the size offset of a dynamic memory")
            return MemoryTypeData("dynamic_memory", size, gv=gv)
        if kind != "struct":
            raise self.error(f"unknown memory type kind '{kind}'", self.pos - 1)
        size = self._u64("the size of a struct")
        self.expect("{", "'{' before the struct fields")
        fields = []
        while self.kinds[self.pos] != "}":
            offset = self._u64("a field offset")
            self.expect(":", "':' after the field offset")
            ty = self.expect("type", "the field's type")
            readonly = self.accept_word("readonly")
            fields.append(MemoryTypeField(offset, ty, readonly, self.optional_fact()))
            if not self.accept(","):
                break
        self.expect("}", "',' or '}' in the struct fields")
        return MemoryTypeData("struct", size, fields)
