"""Cranelift's libcalls (`ir::LibCall`): their names and signatures, which the interpreter
implements and the native lowering checks declarations against."""

from __future__ import annotations

from .types import F32, F64, I32, I64, Type

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional

# Cranelift 0.120's LibCall::all_libcalls(), in order (the order fixes their addresses).
LIBCALL_NAMES = (
    "Probestack", "CeilF32", "CeilF64", "FloorF32", "FloorF64", "TruncF32", "TruncF64",
    "NearestF32", "NearestF64", "FmaF32", "FmaF64", "Memcpy", "Memset", "Memmove", "Memcmp",
    "ElfTlsGetAddr", "ElfTlsGetOffset", "X86Pshufb",
)  # fmt: skip


def libcall_signature(name: str, pointer: Type = I64) -> Optional[tuple[tuple[Type, ...], tuple[Type, ...]]]:
    """(params, returns) as LibCall::signature gives them; None where Cranelift has none."""
    if name in ("CeilF32", "FloorF32", "TruncF32", "NearestF32"):
        return (F32,), (F32,)
    if name in ("CeilF64", "FloorF64", "TruncF64", "NearestF64"):
        return (F64,), (F64,)
    if name == "FmaF32":
        return (F32, F32, F32), (F32,)
    if name == "FmaF64":
        return (F64, F64, F64), (F64,)
    if name in ("Memcpy", "Memmove"):
        return (pointer, pointer, pointer), (pointer,)
    if name == "Memset":
        return (pointer, I32, pointer), (pointer,)
    if name == "Memcmp":
        return (pointer, pointer, pointer), (I32,)
    if name == "X86Pshufb":
        i8x16 = Type.get("i", 8, 16)
        return (i8x16, i8x16), (i8x16,)
    return None
