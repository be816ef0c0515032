"""The caps on what a run test may ask for and how long a run line may run: all in one place.

A test is input, and input may be hostile: a heap directive asking for a
terabyte, a stack slot of 4 GiB, a vmctx slot at offset 2^40, a loop that
never ends. Each such request is refused with a located error (never a
`MemoryError`, never a machine brought to its knees), and each run line ends
within its time limit. The defaults sit well under the memory of the
machines clifkit runs on; `clifkit test` sets every cap::

    clifkit test --max-memory 8G --max-reservation 16G --max-stack-frame 2M --timeout 5 PATHS

========================  ===========  ==============================================================
cap (`Limits` field)      default      what it bounds
========================  ===========  ==============================================================
``max_memory``            4 GiB        the bytes one heap may ever hold (``max=`` plus ``guard=``),
                                       one table (``elements`` x ``element_size``), the vmctx
                                       struct (its furthest slot), and the interpreter memory one
                                       run line may touch (pages are allocated on first touch)
``max_reservation``       8 GiB        the address space one static heap reserves: the larger of
                                       its ``max=`` and its declaration's ``bound`` +
                                       ``offset_guard``, plus ``guard=`` (the classic Wasm layout,
                                       4 GiB bound + 2 GiB guard, fits)
``max_stack_frame``       1 GiB        the stack slots of one function, laid out as the engines lay
                                       them out
``timeout``               60 s         one run line on one engine: native code is killed, the
                                       interpreter stops at its next fuel check (every
                                       ``interpreter.machine.FUEL_SLICE`` instructions)
========================  ===========  ==============================================================

Address space is cheap and memory is not: both engines reserve a heap's span
without committing it (the interpreter's memory is sparse; the native engine
maps ``PROT_NONE`` with ``MAP_NORESERVE``), so only what a test touches costs
memory. The caps are there so that what a test *asks* for stays sane.

The messages (each located: file, line and column, with the source line)::

    t.clif:7:9: error: heap of 0x200000000 bytes exceeds the limit of 0x100000000 bytes
    t.clif:7:10: error: table of 0x1000000000 bytes exceeds the limit of 0x100000000 bytes
    t.clif:7:30: error: vmctx struct of 0x100000008 bytes exceeds the limit of 0x100000000 bytes
    t.clif:5:5: error: heap0 reservation of 0x180000000 bytes (bound 0x100000000 + offset_guard
                0x80000000) exceeds the limit of 0x100000000 bytes
    t.clif:7:9: error: heap reservation of 0x80001000 bytes exceeds the limit of 0x40000000 bytes
    t.clif:4:5: error: stack frame of %big (ss0, ss1) of 0x100010 bytes exceeds the limit of 0x10000 bytes
    t.clif:9: %sweep(0xbf000): %sweep touched more than 0x100000 bytes of memory (--max-memory raises the limit)
    t.clif:16: %spin(0): timed out: %spin ran longer than 60 s and was stopped in %spin (--timeout raises the limit)
    t.clif:11: %spin(0): timed out: %spin ran longer than 60.0 s and was killed (run line 11)

A stack frame is checked for the function a run line calls and every function of the file it
may call; the run lines that would need it are errors, the others run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
TiB = 1 << 40

DEFAULT_MAX_MEMORY = 4 * GiB
DEFAULT_MAX_RESERVATION = 8 * GiB
DEFAULT_MAX_STACK_FRAME = 1 * GiB
DEFAULT_TIMEOUT = 60.0  # seconds per run line and engine


@dataclass(frozen=True)
class Limits:
    """The resource caps one run is held to (`clifkit test`'s --max-* and --timeout options)."""

    max_memory: int = DEFAULT_MAX_MEMORY
    max_reservation: int = DEFAULT_MAX_RESERVATION
    max_stack_frame: int = DEFAULT_MAX_STACK_FRAME
    timeout: float = DEFAULT_TIMEOUT

    def with_(self, **changes) -> "Limits":
        """A copy with the given fields changed (None leaves a field as it is)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


DEFAULT_LIMITS = Limits()

# (compiled by `re` on first use, and kept in its cache: only a --max-* option is parsed with it)
_SIZE = r"\s*(0x[0-9a-fA-F_]+|\d[\d_]*)\s*([kmgt]?)(i?b?)\s*\Z"
_UNITS = {"": 1, "k": KiB, "m": MiB, "g": GiB, "t": TiB}


def parse_size(text: str) -> int:
    """Bytes from ``4G``, ``512M``, ``64KiB``, ``1_000_000``, ``0x1_0000_0000``. Units are
    binary (K = 1024). Raises ValueError with a message for people."""
    m = re.match(_SIZE, text or "", re.IGNORECASE)
    if m is None or (m.group(3) and not m.group(2) and m.group(3).lower() != "b"):
        raise ValueError(f"not a size: {text!r} (examples: 4G, 512M, 64K, 0x1000, 4096)")
    digits = m.group(1).replace("_", "")
    n = int(digits, 16) if digits.lower().startswith("0x") else int(digits)
    if m.group(1).lower().startswith("0x") and m.group(2):
        raise ValueError(f"not a size: {text!r} (a hex number takes no unit)")
    return n * _UNITS[m.group(2).lower()]


def parse_seconds(text: str) -> float:
    """Seconds from ``60``, ``2.5``, ``500ms``, ``2m``, ``1h`` (more than 0)."""
    t = (text or "").strip().lower()
    scale = 1.0
    for suffix, factor in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if t.endswith(suffix) and t[: -len(suffix)].strip():
            t, scale = t[: -len(suffix)].strip(), factor
            break
    try:
        value = float(t) * scale
    except ValueError:
        raise ValueError(f"not a duration: {text!r} (examples: 60, 2.5, 500ms, 2m)") from None
    if not 0 < value < 1e9:
        raise ValueError(f"not a duration: {text!r} (it must be more than 0 seconds, and finite)")
    return value


def format_size(n: int) -> str:
    """``4 GiB``, ``1.5 MiB``, ``100 bytes``: for people (messages keep the exact hex)."""
    for unit, size in (("TiB", TiB), ("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} byte{'' if n == 1 else 's'}"


def over(what: str, size: int, limit: int) -> str:
    """The message for a request of `size` bytes over `limit`: ``heap of 0x... bytes exceeds the
    limit of 0x... bytes``."""
    return f"{what} of 0x{size:x} bytes exceeds the limit of 0x{limit:x} bytes"


# -- stack frames ------------------------------------------------------------------------------


def slot_alignment(size: int, align: Optional[int]) -> int:
    """A stack slot's alignment: the written one, at least natural up to 16 bytes."""
    natural = 1
    while natural < min(size, 16):
        natural *= 2
    return max(align or 1, natural)


def explicit_slots(stack_slots: dict) -> tuple[dict[int, int], int, int]:
    """The one layout of a function's explicit stack slots, which the interpreter's frames use and
    the frame cap counts: (offset of each slot by number, bytes up to the end of the last, the
    largest slot alignment), each slot at its `slot_alignment` in declaration order."""
    offsets: dict[int, int] = {}
    top = 0
    largest = 1
    for ss, data in stack_slots.items():
        align = slot_alignment(data.size, data.align)
        largest = max(largest, align)
        top = (top + align - 1) // align * align
        offsets[ss] = top
        top += data.size
    return offsets, top, largest


def frame_bytes(func) -> int:
    """The bytes of `func`'s explicit stack slots, laid out as the interpreter lays them out."""
    return explicit_slots(func.stack_slots)[1]


def stack_frame_error(func, by_name: Optional[dict] = None, limit: int = DEFAULT_MAX_STACK_FRAME):
    """A located `ClifError` when `func`, or a function of `by_name` it calls (directly or not),
    has a stack frame over `limit` bytes, at the declaration of its largest slot; else None."""
    seen: set[int] = set()
    todo = [func]
    while todo:
        f = todo.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        size = frame_bytes(f)
        if size > limit:
            return _frame_error(f, size, limit)
        for ext in f.func_refs.values():
            callee = (by_name or {}).get(str(ext.name))
            if callee is not None:
                todo.append(callee)
    return None


def _frame_error(func, size: int, limit: int):
    from .diagnostics import ClifError, Diagnostic, Location, source_line

    slots = sorted(func.stack_slots.items(), key=lambda kv: (-kv[1].size, kv[0]))
    biggest = slots[0][0] if slots else None
    names = ", ".join(f"ss{n}" for n in sorted(func.stack_slots))
    message = f"stack frame of {func.name} ({names}) of 0x{size:x} bytes exceeds the limit of 0x{limit:x} bytes"
    loc = (func.entity_locs.get(f"ss{biggest}") if biggest is not None else None) or func.loc
    if loc is None:
        return ClifError(Diagnostic(Location("<input>", 1, 1), message))
    return ClifError(Diagnostic(loc, message, source_line=source_line(loc)))
