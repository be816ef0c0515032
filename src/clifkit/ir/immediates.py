"""Immediate operand kinds: condition codes, trap codes, atomic ops (memory flags: `memflags.py`).

Each is a small immutable value with a canonical text form, so the printer can
write it back exactly as the reader took it in.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional

INTCC = ("eq", "ne", "slt", "sge", "sgt", "sle", "ult", "uge", "ugt", "ule")
FLOATCC = ("ord", "uno", "eq", "ne", "one", "ueq", "lt", "le", "gt", "ge", "ult", "ule", "ugt", "uge")
ATOMIC_RMW_OPS = ("add", "sub", "and", "nand", "or", "xor", "xchg", "umin", "umax", "smin", "smax")

# Trap codes Cranelift 0.120 names, then those of the heap era (kept so that
# heap-era tests and trap expectations such as `table_oob` read back unchanged).
TRAP_CODES = ("stk_ovf", "heap_oob", "int_ovf", "int_divz", "bad_toint")
HEAP_ERA_TRAP_CODES = ("table_oob", "icall_null", "bad_sig", "unreachable", "interrupt")


def parse_trap_code(text: str) -> Optional[str]:
    """The canonical trap code for `text`, or None. User codes are ``user1`` .. ``user255`` (and the heap era's ``user0``)."""
    if text in TRAP_CODES or text in HEAP_ERA_TRAP_CODES:
        return text
    if (text.startswith("user") and text[4:].isdigit() and len(text) <= 7
            and (text == "user0" or not text[4:].startswith("0"))):
        n = int(text[4:])
        if 0 <= n <= 255:  # user0: heap era (2022 codes were User(u16)); 0.120 starts at user1
            return text
    return None
