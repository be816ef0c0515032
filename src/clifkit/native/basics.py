"""What the lowering, the trampolines and the replay of a recorded lowering share, without the
lowering's imports: an emulated worker that replays what the harness lowered (`replay.py`)
never imports `translate.py` nor the IR.

`NativeUnsupported`, the lowering's report (`Check`, `LoweringReport`), binding signatures
(`new_signature`, which a recording needs to see), 64-bit immediates, trap codes, `gc_paused`.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Optional

import cranelift as cl

from ..ir.numbers import sign_extend


class NativeUnsupported(Exception):
    """Something the native engine cannot lower. `function` names the function, when known."""

    def __init__(self, reason: str, function: Optional[str] = None):
        super().__init__(reason)
        self.reason = reason
        self.function = function


# While a lowering is recorded (`replay.py`), each Signature built: the binding cannot tell a
# Signature's calling convention, so the recording keeps what each was built from.
SIGNATURE_SPECS: Optional[dict] = None  # id(signature) -> (signature, conv, params, returns)


def new_signature(conv, params: list, returns: list = ()):
    """A binding Signature of convention `conv`, binding parameter and return types."""
    out = cl.Signature(conv)
    for p in params:
        out.add_param(p)
    for r in returns:
        out.add_return(r)
    if SIGNATURE_SPECS is not None:
        SIGNATURE_SPECS[id(out)] = (out, conv, tuple(params), tuple(returns))
    return out


_TRUSTED: dict = {}  # readonly -> the binding's flags


def trusted_memflags(readonly: bool = False):
    """The binding's flags of a trusted load (constants, the function table, global values),
    read-only or not: one object each, shared (the builder copies what it is given)."""
    found = _TRUSTED.get(readonly)
    if found is None:
        found = _TRUSTED[readonly] = cl.MemFlags.trusted()
        if readonly:
            found.set_readonly()
    return found


def signed64(value: int) -> int:
    """`value` as the signed 64-bit immediate the builder calls take."""
    return sign_extend(value, 64)


@dataclass
class Check:
    """A bounds or trap check the lowering emitted (or decided not to emit)."""

    kind: str  # "heap_bound", "heap_elided", "heap_always_traps", "table_bound", "div_zero", ...
    code: Optional[str]  # the trap code it reports, None for an elided check
    detail: str = ""


@dataclass
class LoweringReport:
    """What lowering one function did: emitted checks and workarounds (for tests and docs)."""

    function: str
    checks: list[Check] = field(default_factory=list)
    workarounds: set[str] = field(default_factory=set)
    callees: set[str] = field(default_factory=set)  # functions of the file it refers to

    def kinds(self) -> list[str]:
        return [c.kind for c in self.checks]


def native_trap_code(code: str):
    """The binding's TrapCode for CLIF trap `code` (heap_oob for one it has no equivalent of)."""
    named = {
        "heap_oob": cl.TrapCode.HEAP_OUT_OF_BOUNDS, "int_ovf": cl.TrapCode.INTEGER_OVERFLOW,
        "int_divz": cl.TrapCode.INTEGER_DIVISION_BY_ZERO, "bad_toint": cl.TrapCode.BAD_CONVERSION_TO_INTEGER,
        "stk_ovf": cl.TrapCode.STACK_OVERFLOW,
    }  # fmt: skip
    if code in named:
        return named[code]
    if code.startswith("user") and code[4:].isdigit():
        try:
            return cl.TrapCode(int(code[4:]))
        except (ValueError, OverflowError):
            pass
    return cl.TrapCode.HEAP_OUT_OF_BOUNDS


@contextmanager
def gc_paused():
    """No cyclic garbage collection in the block: a recording, a replay, a load of the fuzzer's
    IR and its lowering make tens of thousands of small acyclic objects, whose allocation would
    otherwise start collections that walk everything the process holds (a third of the
    lowering's time in the fuzzer)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
