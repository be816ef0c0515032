"""The declarations of a function's preamble (``ss0 = explicit_slot 8``, ``gv0 = vmctx``,
``sig0 = ...``, ``fn0 = ...``, heap-era ``heap0``/``table0``/``jt0``...): one reader per entity
kind in `DECLARATIONS`, which `parser.Parser.preamble` loads at the first declaration."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..ir.entities import (
    DynamicStackSlotData, DynamicTypeData, ExtFuncData, GlobalValueData, HeapData, StackSlotData, TableData,
)  # fmt: skip
from ..ir.numbers import NumberError, parse_hex_bytes, parse_uint
from ..ir.types import Type

if TYPE_CHECKING:
    from .parser import Parser


def decl_mt(p: "Parser", n: int) -> None:
    p.func.memory_types[n] = p.memory_type()

def decl_ss(p: "Parser", n: int) -> None:
    kind = p.word_from(("explicit_slot",), "stack slot kind")
    i, text = p.number("the stack slot size")
    size = u32(p, i, text, "stack slot size")
    align = key = None
    while p.accept(","):
        if p.accept_word("align") and align is None:
            p.expect("=", "'=' after align")
            i, text = p.number("the alignment in bytes")
            align = u32(p, i, text, "stack slot alignment")
            if align & (align - 1) or not align:
                raise p.error(f"stack slot alignment {align} is not a power of two", i)
        elif p.accept_word("key") and key is None:
            p.expect("=", "'=' after key")
            key = p.uimm(64, "stack slot key")
        else:
            p.fail("'align' or 'key' (the stack slot flags, once each)")
    p.func.stack_slots[n] = StackSlotData(kind, size, align, key)

def u32(p: "Parser", i: int, text: str, what: str) -> int:
    try:
        return parse_uint(text, 32)
    except NumberError as e:
        raise p.number_error(i, what, e) from None

def decl_dss(p: "Parser", n: int) -> None:
    kind = p.word_from(("explicit_dynamic_slot",), "dynamic stack slot kind")
    p.func.dynamic_stack_slots[n] = DynamicStackSlotData(kind, p.ref("dt"))

def decl_dt(p: "Parser", n: int) -> None:
    i = p.pos
    base: Type = p.expect("type", "the base vector type")
    if not base.is_vector or base.dynamic:
        raise p.error(f"the base of a dynamic type must be a fixed vector type, not {base}", i)
    p.expect("*", "'*' between the base type and the scale")
    p.func.dynamic_types[n] = DynamicTypeData(base, p.ref("gv"))

def decl_gv(p: "Parser", n: int) -> None:
    i = p.pos
    kind = p.word_from(("vmctx", "load", "iadd_imm", "symbol", "dyn_scale_target_const"), "global value kind")
    if kind == "vmctx":
        data = GlobalValueData("vmctx")
    elif kind == "load":
        p.expect(".", "'.' and a type after load")
        ty = p.expect("type", "the loaded type")
        flags = p.memflags()
        base = p.ref("gv")
        offset = p.optional_offset()
        if not (flags.notrap and flags.aligned):
            raise p.error("a global value load must be notrap and aligned", i)
        data = GlobalValueData("load", base=base, offset=offset, type=ty, flags=flags)
    elif kind == "iadd_imm":
        p.expect(".", "'.' and a type after iadd_imm")
        ty = p.expect("type", "the result type")
        base = p.ref("gv")
        p.comma()
        data = GlobalValueData("iadd_imm", base=base, offset=p.imm64("offset"), type=ty)
    elif kind == "symbol":
        colocated = p.accept_word("colocated")
        tls = p.accept_word("tls")
        name = p.external_name()
        offset = 0
        if p.kinds[p.pos] == "num" and p.vals[p.pos][0] in "+-":  # type: ignore[index]
            offset = p.imm64("symbol offset")
        data = GlobalValueData("symbol", offset=offset, name=name, colocated=colocated, tls=tls)
    else:
        p.expect(".", "'.' and a vector type after dyn_scale_target_const")
        j = p.pos
        vector = p.expect("type", "a vector type")
        if not vector.is_vector:
            raise p.error(f"expected a vector type, found {vector}", j)
        data = GlobalValueData("dyn_scale_target_const", vector_type=vector)
    p.func.global_values[n] = data

def decl_sig(p: "Parser", n: int) -> None:
    p.func.signatures[n] = p.signature()

def decl_fn(p: "Parser", n: int) -> None:
    colocated = p.accept_word("colocated")
    patchable = p.accept_word("patchable")
    name = p.external_name()
    data = ExtFuncData(name, -1, colocated, patchable)
    if p.kinds[p.pos] == "(":
        data.inline_signature = True
        p.inline_sigs.append((n, p.signature()))
    elif p.kinds[p.pos] == "sig":
        data.signature = p.ref("sig")
    else:
        p.fail("a signature: sigN or (params) -> returns")
    p.func.func_refs[n] = data

def decl_const(p: "Parser", n: int) -> None:
    i = p.pos
    if p.kinds[i] == "type":
        p.pos += 1
        data = p.constant_literal(p.vals[i])  # type: ignore[arg-type]
    else:
        i, text = p.number("a constant: 0x... or a type and [lanes]")
        try:
            data = parse_hex_bytes(text)
        except NumberError as e:
            raise p.number_error(i, "constant", e) from None
    p.func.constants[n] = bytes(data)

def decl_stack_limit(p: "Parser", n: object) -> None:
    p.func.stack_limit = p.ref("gv")

def decl_heap(p: "Parser", n: int) -> None:
    """``heapN = static|dynamic gvB, min M, bound B|gvX, offset_guard G, index_type T``."""
    style = p.word_from(("static", "dynamic"), "heap style")
    heap = HeapData(style, p.ref("gv"))
    attributes(p, heap, "heap attribute", {
        "min": ("min_size", lambda: p.uimm(64, "heap minimum size")),
        "bound": ("bound", lambda: p.ref("gv") if style == "dynamic" else p.uimm(64, "heap bound")),
        "offset_guard": ("offset_guard", lambda: p.uimm(64, "offset guard size")),
        "index_type": ("index_type", lambda: p.expect("type", "the index type")),
    })  # fmt: skip
    p.func.heaps[n] = heap

def attributes(p: "Parser", entity, what: str, attributes: dict) -> None:
    """``, NAME VALUE`` pairs after a heap or table declaration: `attributes` maps each name to
    (the field it sets, the parser of its value); the names are kept in the order written."""
    written = []
    while p.accept(","):
        attr = p.word_from(tuple(attributes), what)
        field, parse = attributes[attr]
        setattr(entity, field, parse())
        written.append(attr)
    entity.written = tuple(written)

def decl_region(p: "Parser", n: int) -> None:
    """``regionN = USER_ID "name"``: an alias region memory accesses name (``load region0 v1``)."""
    user_id = p.uimm(32, "alias region user id")
    name = p.expect("string", 'the alias region\'s name ("...")')
    p.func.alias_regions[n] = (user_id, name)  # type: ignore[assignment]

def decl_jt(p: "Parser", n: int) -> None:
    """Heap era: ``jtN = jump_table [blockA, blockB, ...]``, used by ``br_table v, blockD, jtN``."""
    p.word_from(("jump_table",), "jump table declaration")
    p.expect("[", "'[' before the jump table's blocks")
    blocks = []
    while p.kinds[p.pos] == "block":
        p.block_uses.append((p.vals[p.pos], p.pos))  # type: ignore[arg-type]
        blocks.append(p.vals[p.pos])
        p.pos += 1
        if not p.accept(","):
            break
    p.expect("]", "',' or ']' in the jump table")
    p.func.jump_tables[n] = blocks  # type: ignore[assignment]

def decl_table(p: "Parser", n: int) -> None:
    """``tableN = dynamic gvB, min M, bound gvX, element_size S, index_type T``."""
    p.word_from(("dynamic",), "table style")
    table = TableData(p.ref("gv"))
    attributes(p, table, "table attribute", {
        "min": ("min_size", lambda: p.uimm(64, "table minimum size")),
        "bound": ("bound", lambda: p.ref("gv")),
        "element_size": ("element_size", lambda: p.uimm(64, "table element size")),
        "index_type": ("index_type", lambda: p.expect("type", "the index type")),
    })  # fmt: skip
    p.func.tables[n] = table


DECLARATIONS = {
    "mt": decl_mt,
    "ss": decl_ss,
    "dss": decl_dss,
    "dt": decl_dt,
    "gv": decl_gv,
    "sig": decl_sig,
    "fn": decl_fn,
    "const": decl_const,
    "stack_limit": decl_stack_limit,
    "heap": decl_heap,
    "region": decl_region,
    "jt": decl_jt,
    "table": decl_table,
}
