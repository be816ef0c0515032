"""Immediate operand kinds: condition codes, trap codes, memory flags, atomic ops.

Each is a small immutable value with a canonical text form, so the printer can
write it back exactly as the reader took it in.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class MemFlags:
    """Flags of a memory access. `trap_code` is None for ``notrap``."""

    trap_code: Optional[str] = "heap_oob"
    aligned: bool = False
    readonly: bool = False
    can_move: bool = False
    endianness: Optional[str] = None  # "big", "little" or None (native)
    checked: bool = False
    alias_region: Optional[str] = None  # "heap", "table", "vmctx"
    region: Optional[int] = None  # N of a declared alias region ``regionN`` (Cranelift 0.121 on)

    def __str__(self) -> str:
        words = []
        if self.trap_code is None:
            words.append("notrap")
        elif self.trap_code != "heap_oob":
            words.append(self.trap_code)
        if self.aligned:
            words.append("aligned")
        if self.readonly:
            words.append("readonly")
        if self.can_move:
            words.append("can_move")
        if self.endianness:
            words.append(self.endianness)
        if self.checked:
            words.append("checked")
        if self.alias_region:
            words.append(self.alias_region)
        if self.region is not None:
            words.append(f"region{self.region}")
        return " ".join(words)

    @property
    def notrap(self) -> bool:
        return self.trap_code is None


MEMFLAG_WORDS = ("notrap", "aligned", "readonly", "can_move", "big", "little", "checked", "heap", "table", "vmctx")


def add_memflag(flags: MemFlags, word: str) -> tuple[Optional[MemFlags], Optional[str]]:
    """Flags with `word` added: (flags, None), (None, error) when it conflicts, (None, None) if `word` is no flag."""
    from dataclasses import replace

    if word == "notrap":
        return replace(flags, trap_code=None), None
    if word in ("aligned", "readonly", "can_move", "checked"):
        return replace(flags, **{word: True}), None
    if word in ("big", "little"):
        if flags.endianness and flags.endianness != word:
            return None, "cannot set both big and little endian bits"
        return replace(flags, endianness=word), None
    if word in ("heap", "table", "vmctx"):
        if flags.alias_region:
            return None, "cannot set more than one alias region"
        return replace(flags, alias_region=word), None
    code = parse_trap_code(word)
    if code is not None:
        return replace(flags, trap_code=code), None
    return None, None
