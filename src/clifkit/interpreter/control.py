"""Control flow: traps, the opcodes the compiler lowers itself, and Cranelift's libcalls.

Branches, returns and calls shape the generated code (blocks, parameter
passing, the call protocol, tail-call trampolines), so `compiler.py` lowers
them directly (`registry.COMPILER_LOWERED`). Traps are ordinary statement templates.

Libcalls are the routines Cranelift names in `ir::LibCall` (``%CeilF32`` ...).
Each is a Python function with the calling convention of generated code,
``fn(machine, depth, *args)``, so that ``call``, ``call_indirect`` (through
its func_addr address) and ``return_call`` reach them all alike.
"""

from __future__ import annotations

from .registry import OpContext, by_shape, impl

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Callable


@impl("trap")
@by_shape
def _trap(ctx: OpContext):
    return f"raise _Trap({ctx.inst.code!r})"


@impl("trapz")
@by_shape
def _trapz(ctx: OpContext):
    return f"if not {{0}}: raise _Trap({ctx.inst.code!r})"


@impl("trapnz")
@by_shape
def _trapnz(ctx: OpContext):
    return f"if {{0}}: raise _Trap({ctx.inst.code!r})"


# -- libcalls ---------------------------------------------------------------------

def _float_libcall(op: str, bits: int) -> Callable:
    from . import softfloat

    fn = softfloat.fma_fn(bits) if op == "fma" else softfloat.unary_fn(op, bits)
    if op == "fma":
        return lambda _m, _d, a, b, c: fn(a, b, c)
    return lambda _m, _d, a: fn(a)


def _memcpy(machine, _d, dst, src, n):
    machine.memory.write(dst, machine.memory.read(src, n))
    return dst


def _memset(machine, _d, dst, ch, n):
    machine.memory.fill(dst, ch, n)
    return dst


def _memcmp(machine, _d, a, b, n):
    x, y = machine.memory.read(a, n), machine.memory.read(b, n)
    for p, q in zip(x, y):
        if p != q:
            return (p - q) & 0xFFFFFFFF
    return 0


def _pshufb(_m, _d, a, b):
    return tuple(0 if sel & 0x80 else a[sel & 0x0F] for sel in b)


def libcall_function(name: str) -> Callable:
    """The implementation of libcall `name` (without ``%``); NotImplementedError where it has no meaning here."""
    table = {
        "CeilF32": ("ceil", 32), "CeilF64": ("ceil", 64), "FloorF32": ("floor", 32),
        "FloorF64": ("floor", 64), "TruncF32": ("trunc", 32), "TruncF64": ("trunc", 64),
        "NearestF32": ("nearest", 32), "NearestF64": ("nearest", 64), "FmaF32": ("fma", 32),
        "FmaF64": ("fma", 64),
    }  # fmt: skip
    if name in table:
        return _float_libcall(*table[name])
    if name in ("Memcpy", "Memmove"):
        return _memcpy
    if name == "Memset":
        return _memset
    if name == "Memcmp":
        return _memcmp
    if name == "X86Pshufb":
        return _pshufb
    raise NotImplementedError(f"libcall %{name} has no meaning in the interpreter")
