"""The operand grammars of the rarer instruction formats (try_call and its exception tables,
atomics, dynamic stack slots, the heap era's heap and table instructions), constants written
as lanes or bytes, stack maps and debug tags: `instructions.InstructionParser` loads them on
first need (`RARE_FORMATS`, by format name, for the formats it has no ``_fmt_`` method of)."""

from __future__ import annotations

from ..ir.try_call import ExceptionTableData
from ..ir.immediates import ATOMIC_RMW_OPS
from ..ir.floats import parse_float
from ..ir.numbers import HexBytes, NumberError, parse_hex_bytes, parse_int, parse_uint

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it

if TYPE_CHECKING:
    from typing import Optional

    from ..ir.function import BlockCall, Inst
    from ..ir.types import Type
    from .instructions import InstructionParser


def constant_bytes(lane_values: list[int], lane_bytes: int) -> bytes:
    mask = (1 << (8 * lane_bytes)) - 1
    return b"".join((v & mask).to_bytes(lane_bytes, "little") for v in lane_values)


def stack_map(p: "InstructionParser") -> list[tuple[Type, int, int]]:
    """``= [T @ ssN+OFF, ...]``: where the call's live GC references are spilled."""
    p.expect("=", "'=' after stack_map")
    p.expect("[", "'[' before the stack map entries")
    entries = []
    while p.kinds[p.pos] == "type":
        ty = p.vals[p.pos]
        p.pos += 1
        p.expect("@", "'@' between the type and the stack slot")
        slot = p.entity("ss")
        entries.append((ty, slot, p.optional_offset()))
        if not p.accept(","):
            break
    p.expect("]", "',' or ']' in the stack map")
    return entries  # type: ignore[return-value]


def constant_literal(p: "InstructionParser", ty: Type) -> bytes:
    """The bytes of a `ty` constant: ``[lane lane ...]`` or one hexadecimal number."""
    size = ty.bytes
    if p.accept("["):
        lane = ty.lane_type
        if lane.is_float and lane.bits not in (16, 32, 64) or lane.bits == 128:
            raise p.error(f"{lane} lanes cannot be written as a list; write the constant in hexadecimal")
        what = f"{lane} lane"
        values = []
        for n in range(ty.lanes):
            if p.kinds[p.pos] != "num":
                if p.kinds[p.pos] == "]":
                    raise p.error(f"expected {ty.lanes} lanes for {ty}, found {n}")
                p.fail(f"a {what}")
            i, text = p.number(what)
            try:
                if lane.is_float:
                    values.append(parse_float(text, lane.bits))
                else:
                    values.append(parse_int(text, lane.bits))
            except NumberError as e:
                raise p.number_error(i, what, e) from None
        p.expect("]", f"']' after the {ty.lanes} lanes of {ty}")
        return constant_bytes(values, lane.bytes)
    i, text = p.number(f"a {ty} constant ([lanes] or 0x...)")
    try:
        data = parse_hex_bytes(text)
    except NumberError as e:
        raise p.number_error(i, f"{ty} constant", e) from None
    if len(data) > size:
        raise p.error(f"constant {text} has {len(data)} bytes, more than the {size} of {ty}", i)
    return HexBytes(data + bytes(size - len(data)))


def debug_tags(p: "InstructionParser") -> Optional[list]:
    """``<0, ss1, 2>`` before an instruction (Cranelift 0.124 on): u32 user values and stack
    slots, in the order written; None when there are none."""
    if not p.accept("<"):
        return None
    tags: list = []
    while not p.accept(">"):
        if p.kinds[p.pos] == "ss":
            tags.append(f"ss{p.vals[p.pos]}")
            p.pos += 1
        elif p.kinds[p.pos] == "num":
            i, text = p.number("a debug tag")
            try:
                tags.append(parse_uint(text, 32))
            except NumberError as e:
                raise p.number_error(i, "debug tag (a u32)", e) from None
        else:
            p.fail("an integer user value or stack slot in debug tags")
        if not p.accept(","):
            p.expect(">", "',' or '>' in the debug tags")
            break
    return tags


def exception_table(p: "InstructionParser") -> ExceptionTableData:
    """``sigN, block1(ret0), [ tag0: block2(exn0), default: block3 ]``."""
    sig = p.entity("sig")
    p.comma()
    normal = p.block_call()
    p.comma()
    p.expect("[", "'[' before the exception handlers")
    handlers: list[tuple[Optional[str], BlockCall]] = []
    contexts: list[tuple[int, int]] = []
    while p.kinds[p.pos] != "]":
        if p.at_word("context"):  # `context vN` (Cranelift 0.124 on)
            p.pos += 1
            contexts.append((len(handlers), p.use("the exception-handler context value")))
            if not p.accept(","):
                break
            continue
        if p.kinds[p.pos] == "tag":
            tag: Optional[str] = f"tag{p.vals[p.pos]}"
        elif p.at_word("default"):
            tag = None
        else:
            p.fail("an exception tag (tagN), 'default' or 'context'")
        p.pos += 1
        p.expect(":", "':' after the exception tag")
        handlers.append((tag, p.block_call()))
        if not p.accept(","):
            break
    p.expect("]", "',' or ']' in the exception handlers")
    return ExceptionTableData(sig, normal, handlers, contexts)


def fmt_TryCall(p: "InstructionParser", inst: Inst) -> None:
    inst.func_ref = p.entity("fn")
    inst.args = p.call_args(inst)
    p.comma()
    inst.exception = exception_table(p)


def fmt_TryCallIndirect(p: "InstructionParser", inst: Inst) -> None:
    callee = p.use("the callee value")
    inst.args = [callee, *p.call_args(inst)]
    p.comma()
    inst.exception = exception_table(p)


def fmt_ExceptionHandlerAddress(p: "InstructionParser", inst: Inst) -> None:
    i = p.pos
    inst.block = p.expect("block", "the block of a try_call (blockN)")
    p.block_uses.append((inst.block, i))
    p.comma()
    inst.imm = p.imm64("exception handler index")


def fmt_AtomicRmw(p: "InstructionParser", inst: Inst) -> None:
    inst.flags = p.memflags()
    inst.rmw_op = p.word_from(ATOMIC_RMW_OPS, "atomic operation")
    p._fmt_Binary(inst)


def fmt_AtomicCas(p: "InstructionParser", inst: Inst) -> None:
    inst.flags = p.memflags()
    p._fmt_Ternary(inst)


def fmt_DynamicStackLoad(p: "InstructionParser", inst: Inst) -> None:
    inst.stack_slot = p.entity("dss")


def fmt_DynamicStackStore(p: "InstructionParser", inst: Inst) -> None:
    inst.args = p.operands(1, more=True)
    inst.stack_slot = p.entity("dss")


# -- heap era (Cranelift 2021-2022) ----------------------------------------------------
def fmt_HeapAddr(p: "InstructionParser", inst: Inst) -> None:
    """``heap_addr.T heapN, idx, offset, size``, or the older ``heap_addr.T heapN, idx, size``."""
    inst.heap = p.entity("heap")
    p.comma()
    inst.args = [p.use("the heap index")]
    p.comma()
    first = p.uimm(32, "heap access offset or size")
    if p.accept(","):
        inst.offset, inst.size = first, p.uimm(8, "heap access size")
    else:
        inst.offset, inst.size = None, first


def heap_offset(p: "InstructionParser") -> int:
    """An optional ``+N`` unsigned 32-bit offset."""
    i = p.pos
    if p.kinds[i] == "num" and p.vals[i][0] == "+":  # type: ignore[index]
        p.pos = i + 1
        try:
            return parse_uint(p.vals[i][1:], 32)  # type: ignore[index]
        except NumberError as e:
            raise p.number_error(i, "heap offset", e) from None
    return 0


def fmt_HeapLoad(p: "InstructionParser", inst: Inst) -> None:
    inst.heap = p.entity("heap")
    inst.flags = p.memflags()
    inst.args = [p.use("the heap index")]
    inst.offset = heap_offset(p)


def fmt_HeapStore(p: "InstructionParser", inst: Inst) -> None:
    inst.heap = p.entity("heap")
    inst.flags = p.memflags()
    index = p.use("the heap index")
    inst.offset = heap_offset(p)
    p.comma()
    inst.args = [index, p.use("the value to store")]


def fmt_TableAddr(p: "InstructionParser", inst: Inst) -> None:
    inst.table = p.entity("table")
    p.comma()
    inst.args = [p.use("the table index")]
    p.comma()
    inst.offset = p.optional_offset()


RARE_FORMATS = {
    "TryCall": fmt_TryCall,
    "TryCallIndirect": fmt_TryCallIndirect,
    "ExceptionHandlerAddress": fmt_ExceptionHandlerAddress,
    "AtomicRmw": fmt_AtomicRmw,
    "AtomicCas": fmt_AtomicCas,
    "DynamicStackLoad": fmt_DynamicStackLoad,
    "DynamicStackStore": fmt_DynamicStackStore,
    "HeapAddr": fmt_HeapAddr,
    "HeapLoad": fmt_HeapLoad,
    "HeapStore": fmt_HeapStore,
    "TableAddr": fmt_TableAddr,
}
