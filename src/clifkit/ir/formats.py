"""Instruction formats: the operand layout shared by a group of opcodes.

A format fixes how many value operands an instruction has, whether it takes a
variable list of values, which immediate fields it carries (by name, as stored
on `Inst`), and which value operand controls the type variable. The reader and
the printer each have one routine per format; the opcode table names the
format of every opcode.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True)
class Format:
    """An instruction format: its value operands, varargs and immediate fields."""

    name: str
    num_values: int = 0
    varargs: bool = False
    immediates: tuple[str, ...] = ()  # names of `Inst` fields this format fills
    typevar_operand: int | None = None  # default: the first value operand, if any

    @cached_property  # (asked for every instruction the printer and the reader meet; a format is immutable)
    def ctrl_operand(self) -> int | None:
        if self.typevar_operand is not None:
            return self.typevar_operand
        return 0 if self.num_values > 0 else None


def _formats(*fs: Format) -> dict[str, Format]:
    return {f.name: f for f in fs}


# Field names on `Inst`: imm (integer/float/lane/constant immediate), cond,
# flags, offset, code, func_ref, sig_ref, stack_slot, global_value,
# jump_table, dests, rmw_op, mask, exception, heap, table, size, block.
FORMATS = _formats(
    Format("Nullary"),
    Format("Unary", 1),
    Format("UnaryImm", 0, immediates=("imm",)),
    Format("UnaryIeee16", 0, immediates=("imm",)),
    Format("UnaryIeee32", 0, immediates=("imm",)),
    Format("UnaryIeee64", 0, immediates=("imm",)),
    Format("UnaryConst", 0, immediates=("imm",)),
    Format("UnaryGlobalValue", 0, immediates=("global_value",)),
    Format("Binary", 2),
    Format("BinaryImm8", 1, immediates=("imm",)),
    Format("BinaryImm64", 1, immediates=("imm",)),
    Format("Ternary", 3, typevar_operand=1),
    Format("TernaryImm8", 2, immediates=("imm",)),
    Format("Multiary", 0, varargs=True),
    Format("Shuffle", 2, immediates=("mask",)),
    Format("IntCompare", 2, immediates=("cond",)),
    Format("IntCompareImm", 1, immediates=("cond", "imm")),
    Format("FloatCompare", 2, immediates=("cond",)),
    Format("Jump", 0, immediates=("dests",)),
    Format("Brif", 1, immediates=("dests",)),
    Format("BranchTable", 1, immediates=("jump_table",)),
    Format("Call", 0, varargs=True, immediates=("func_ref",)),
    Format("CallIndirect", 1, varargs=True, immediates=("sig_ref",)),
    Format("TryCall", 0, varargs=True, immediates=("func_ref", "exception")),
    Format("TryCallIndirect", 1, varargs=True, immediates=("exception",)),
    Format("FuncAddr", 0, immediates=("func_ref",)),
    Format("ExceptionHandlerAddress", 0, immediates=("block", "imm")),
    Format("AtomicRmw", 2, immediates=("flags", "rmw_op")),
    Format("AtomicCas", 3, immediates=("flags",), typevar_operand=2),
    Format("Load", 1, immediates=("flags", "offset")),
    Format("LoadNoOffset", 1, immediates=("flags",)),
    Format("Store", 2, immediates=("flags", "offset")),
    Format("StoreNoOffset", 2, immediates=("flags",)),
    Format("StackLoad", 0, immediates=("stack_slot", "offset")),
    Format("StackStore", 1, immediates=("stack_slot", "offset")),
    Format("DynamicStackLoad", 0, immediates=("stack_slot",)),
    Format("DynamicStackStore", 1, immediates=("stack_slot",)),
    Format("Trap", 0, immediates=("code",)),
    Format("CondTrap", 1, immediates=("code",)),
    Format("IntAddTrap", 2, immediates=("code",)),
    # Heap-era formats (Cranelift 2021-2022).
    Format("HeapAddr", 1, immediates=("heap", "offset", "size")),
    Format("HeapLoad", 1, immediates=("heap", "flags", "offset")),
    Format("HeapStore", 2, immediates=("heap", "flags", "offset")),
    Format("TableAddr", 1, immediates=("table", "offset")),
    Format("Branch", 1, immediates=("dests",)),  # brz/brnz: one target, falls through otherwise
)
