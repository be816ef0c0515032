"""Proof-carrying-code annotations of Cranelift 0.103 to 0.133 (wasmtime v16 to v33): facts on
values and global values (``v1 ! range(32, 0, 0xff)``) and memory types (``mt0 = struct 8 {...}``).

Cranelift checks them only when it compiles with ``set enable_pcc=true``; they change nothing a
function computes. clifkit reads, verifies (the structure of memory types, as Cranelift's verifier
does) and prints them, and every engine ignores them. Texts follow Cranelift's ``Display``
(``codegen/src/ir/pcc.rs`` and ``memtype.rs`` at v33.0.0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .types import Type


@dataclass(frozen=True)
class Fact:
    """One fact: its kind and its arguments, each already in Cranelift's printed form."""

    kind: str  # range, dynamic_range, mem, dynamic_mem, def, compare, conflict
    args: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.kind}({', '.join(self.args)})" if self.args else self.kind


def rust_hex(value: int) -> str:
    """Rust's ``{:#x}``: ``0x`` and lowercase digits, no separators."""
    return f"{value:#x}"


def format_expr(base: str, offset: int) -> str:
    """A dynamic expression (``gv2``, ``v1+0x10``, ``max-0x1``, ``0x8``) as Cranelift writes it."""
    if offset > 0:
        return f"{base}+{offset:#x}" if base else f"{offset:#x}"
    if offset < 0:
        return f"{base}-{-offset:#x}"
    return base or "0"


@dataclass(frozen=True)
class MemoryTypeField:
    offset: int
    type: Type
    readonly: bool = False
    fact: Optional[Fact] = None


@dataclass
class MemoryTypeData:
    kind: str  # struct, memory, dynamic_memory, empty
    size: int = 0
    fields: list[MemoryTypeField] = field(default_factory=list)
    gv: Optional[int] = None  # dynamic_memory: the global value holding the bound

    def __str__(self) -> str:
        if self.kind == "struct":
            items = []
            for f in self.fields:
                text = f" {f.offset}: {f.type}" + " readonly" * f.readonly
                items.append(text + (f" ! {f.fact}" if f.fact is not None else ""))
            return f"struct {self.size} {{{','.join(items)} }}"
        if self.kind == "memory":
            return f"memory {rust_hex(self.size)}"
        if self.kind == "dynamic_memory":
            return f"dynamic_memory gv{self.gv}+{rust_hex(self.size)}"
        return "empty"
