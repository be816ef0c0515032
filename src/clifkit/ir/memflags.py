"""The flags of a memory access (`MemFlags`): its trap code, alignment, read-only and can-move
bits, endianness, checked bit and alias region, read word by word (`add_memflag`) and written
back in the order the printer gives them. Apart from `immediates.py`: only files with memory
accesses (or global values loaded from memory) need them."""

from __future__ import annotations

from dataclasses import dataclass

from .immediates import parse_trap_code

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional


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


DEFAULT_FLAGS = MemFlags()  # no flag written

MEMFLAG_WORDS = ("notrap", "aligned", "readonly", "can_move", "big", "little", "checked", "heap", "table", "vmctx")


def add_memflag(flags: MemFlags, word: str) -> tuple[Optional[MemFlags], Optional[str]]:
    """Flags with `word` added: (flags, None), (None, error) when it conflicts, (None, None) if `word` is no flag.
    (Remembered: a file repeats a few combinations, and each new `MemFlags` costs a `replace`.)"""
    key = (flags, word)
    found = _added.get(key)
    if found is None:
        if len(_added) >= _ADDED_LIMIT:  # (any word is asked: keep the memory bounded)
            _added.clear()
        found = _added[key] = _add_memflag(flags, word)
    return found


_added: dict[tuple[MemFlags, str], tuple[Optional[MemFlags], Optional[str]]] = {}
_ADDED_LIMIT = 10_000


def _add_memflag(flags: MemFlags, word: str) -> tuple[Optional[MemFlags], Optional[str]]:
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
