"""The contract between compiled code and the native worker that runs it.

Every CLIF function is reached through a generated *trampoline* with one
fixed signature, ``tramp(args: *u8, results: *u8, callee: *u8)`` in the
host's C calling convention, so the worker calls any function the same way
through ctypes (``callee``: the function's address; one trampoline serves all
functions of a signature).
Arguments and results sit in 16-byte slots (slot i at byte 16*i), each value
in the target's byte order, lanes of a vector in lane order.

Traps do not unwind: compiled code calls the host's trap handler (at an
address the worker supplies, signature ``(i32 code_id) -> ()``), which records
the code and never returns: it jumps back into the trampoline (`recover.py`),
or, without that, ends the process that ran the code. Codes are numbered below.
"""

from __future__ import annotations

from typing import Optional

SLOT_BYTES = 16

TRAP_SYMBOL = "clifkit_trap"  # host symbol compiled code calls to trap: (i32 code id) -> ()

_NAMED = ("stk_ovf", "heap_oob", "int_ovf", "int_divz", "bad_toint", "table_oob", "icall_null", "bad_sig",
          "unreachable", "interrupt", "heap_misaligned")
USER_BASE = 256


def trap_code_id(code: str) -> int:
    """The number compiled code passes for trap `code` (``heap_oob``, ``user7``...)."""
    if code.startswith("user") and code[4:].isdigit():
        return USER_BASE + int(code[4:])
    return 1 + _NAMED.index(code)


def trap_code_name(code_id: int) -> Optional[str]:
    if code_id >= USER_BASE:
        return f"user{code_id - USER_BASE}"
    if 1 <= code_id <= len(_NAMED):
        return _NAMED[code_id - 1]
    return None
