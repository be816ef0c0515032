"""Reading proof-carrying-code facts and memory types (`ir/pcc.py`), as Cranelift v33's reader
(``parse_fact``, ``parse_expr``, ``parse_memory_type_decl``) reads them: functions of the
instruction parser `p` (its tokens, and its `ref_entity` for entity references), imported by
the parser at its first ``!`` or memory type, so that a file without proof-carrying code (nearly
all) does without this module."""

from __future__ import annotations

from ..ir.immediates import INTCC
from ..ir.numbers import NumberError, parse_imm64

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it

# `ir.pcc` is imported by the methods that build facts and memory types: a file without proof-
# carrying code (nearly all) does without it.
if TYPE_CHECKING:
    from typing import Optional
    from ..ir.pcc import Fact, MemoryTypeData
    from .instructions import InstructionParser


def optional_fact(p: InstructionParser) -> Optional[Fact]:
    """``! fact`` after a value or global value, or None."""
    return fact(p) if p.accept("!") else None


def fact(p: InstructionParser) -> Fact:
    from ..ir.pcc import Fact

    i = p.pos
    word = p.vals[i] if p.kinds[i] == "word" else None
    if word == "conflict":
        p.pos += 1
        return Fact("conflict")
    if word not in ("range", "dynamic_range", "mem", "dynamic_mem", "def", "compare"):
        p.fail("a `range`, `dynamic_range`, `mem`, `dynamic_mem`, `def`, `compare` or `conflict` fact")
    p.pos += 1
    p.expect("(", f"'(' after `{word}`")
    args = _FACTS[word](p, i)
    p.expect(")", f"')' to close the `{word}` fact")
    return Fact(word, args)


def _u64(p: InstructionParser, what: str) -> int:
    return p.uimm(64, what)  # type: ignore[attr-defined]


def _fact_range(p: InstructionParser, at: int) -> tuple[str, ...]:
    bits = _u64(p, "the bit width of a `range` fact")
    p.expect(",", "',' after the bit width")
    lo = _u64(p, "the min value of a `range` fact")
    p.expect(",", "',' after the min value")
    hi = _u64(p, "the max value of a `range` fact")
    from ..ir.pcc import rust_hex

    if bits > 64:
        raise p.error("bitwidth must be <= 64 bits on a `range` fact", at)
    if lo > hi:
        raise p.error("min value must be less than or equal to max value on a `range` fact", at)
    if hi > (1 << bits) - 1:
        raise p.error("max value is out of range for bitwidth on a `range` fact", at)
    return (str(bits), rust_hex(lo), rust_hex(hi))


def _fact_dynamic_range(p: InstructionParser, at: int) -> tuple[str, ...]:
    bits = _u64(p, "the bit width of a `dynamic_range` fact")
    if bits >> 16:
        raise p.error("the bit width of a `dynamic_range` fact must fit in 16 bits", at)
    p.expect(",", "',' after the bit width")
    lo = expr(p)
    p.expect(",", "',' after the min expression")
    return (str(bits), lo, expr(p))


def _mem_args(p: InstructionParser, word: str, bound) -> tuple[str, ...]:
    mt = f"mt{p.ref_entity('mt')}"
    p.expect(",", f"',' after the memory type in a `{word}` fact")
    lo = bound()
    p.expect(",", f"',' after the min offset in a `{word}` fact")
    hi = bound()
    nullable = ()
    if p.accept(","):
        if not p.accept_word("nullable"):
            p.fail(f"`nullable` in the last field of a `{word}` fact")
        nullable = ("nullable",)
    return (mt, lo, hi, *nullable)


def _fact_mem(p: InstructionParser, at: int) -> tuple[str, ...]:
    from ..ir.pcc import rust_hex

    return _mem_args(p, "mem", lambda: rust_hex(_u64(p, "an offset of a `mem` fact")))


def _fact_dynamic_mem(p: InstructionParser, at: int) -> tuple[str, ...]:
    return _mem_args(p, "dynamic_mem", lambda: expr(p))


def _fact_def(p: InstructionParser, at: int) -> tuple[str, ...]:
    return (f"v{p.expect('value', 'a value in a `def` fact')}",)


def _fact_compare(p: InstructionParser, at: int) -> tuple[str, ...]:
    cc = p.expect("word", "an intcc condition code in a `compare` fact")
    if cc not in INTCC:
        raise p.error(f"unknown condition code '{cc}' in a `compare` fact", p.pos - 1)
    p.expect(",", "',' after the condition code")
    lhs = expr(p)
    p.expect(",", "',' after the left-hand side")
    return (cc, lhs, expr(p))


def expr(p: InstructionParser) -> str:
    """``imm64`` or ``[gvN | vN | max] [+uimm64 | -uimm64]``, printed as Cranelift prints it."""
    from ..ir.pcc import format_expr

    kind = p.kinds[p.pos]
    if kind == "num" and p.vals[p.pos][0] != "+":  # type: ignore[index]
        return format_expr("", _signed(p, "an expression offset"))
    base = ""
    if kind == "gv":
        base = f"gv{p.ref_entity('gv')}"
    elif kind == "value":
        base = f"v{p.vals[p.pos]}"
        p.pos += 1
    elif p.accept_word("max"):
        base = "max"
    offset = 0
    if p.accept("+"):
        offset = _u64(p, "an expression offset")
        if offset >> 63:
            raise p.error("integer offset in dynamic expression is out of range", p.pos - 1)
    elif p.kinds[p.pos] == "num" and p.vals[p.pos][0] in "+-":  # type: ignore[index]
        offset = _signed(p, "an expression offset")
    return format_expr(base, offset)


def _signed(p: InstructionParser, what: str) -> int:
    i, text = p.number(what)  # type: ignore[attr-defined]
    try:
        return parse_imm64(text.removeprefix("+"))
    except NumberError as e:
        raise p.number_error(i, what, e) from None


def memory_type(p: InstructionParser) -> MemoryTypeData:
    """``struct SIZE { OFFSET: TYPE [readonly] [! fact], ... }``, ``memory SIZE``,
    ``dynamic_memory gvN + SIZE`` or ``empty``."""
    from ..ir.pcc import MemoryTypeData, MemoryTypeField

    kind = p.expect("word", "a memory type kind (struct, memory, dynamic_memory or empty)")
    if kind == "empty":
        return MemoryTypeData("empty")
    if kind == "memory":
        return MemoryTypeData("memory", _u64(p, "the size of a memory"))
    if kind == "dynamic_memory":
        gv = p.ref_entity("gv")
        if p.kinds[p.pos] == "num" and p.vals[p.pos][0] == "+":  # type: ignore[index]
            size = _signed(p, "the size offset of a dynamic memory")
            if size < 0:
                raise p.error("the size offset of a dynamic memory is out of range", p.pos - 1)
        else:
            p.expect("+", "'+' after the global value of a dynamic memory")
            size = _u64(p, "the size offset of a dynamic memory")
        return MemoryTypeData("dynamic_memory", size, gv=gv)
    if kind != "struct":
        raise p.error(f"unknown memory type kind '{kind}'", p.pos - 1)
    size = _u64(p, "the size of a struct")
    p.expect("{", "'{' before the struct fields")
    fields = []
    while p.kinds[p.pos] != "}":
        offset = _u64(p, "a field offset")
        p.expect(":", "':' after the field offset")
        ty = p.expect("type", "the field's type")
        readonly = p.accept_word("readonly")
        fields.append(MemoryTypeField(offset, ty, readonly, optional_fact(p)))
        if not p.accept(","):
            break
    p.expect("}", "',' or '}' in the struct fields")
    return MemoryTypeData("struct", size, fields)


_FACTS = {"range": _fact_range, "dynamic_range": _fact_dynamic_range, "mem": _fact_mem,
          "dynamic_mem": _fact_dynamic_mem, "def": _fact_def, "compare": _fact_compare}
