"""Instruction traces: `clifkit interpret --trace`.

A traced interpreter compiles each function with a call after every
instruction (before a terminator) that hands the tracer the operand values and
the results. The tracer writes one line per executed instruction:

    %f  block0  v3 = iadd v1, v2            v1=0x5 v2=0x7 -> v3=0xc
    %f  block0  v4 = load.i32 v3+8          v3=0x100000010 [addr 0x100000018] -> v4=0x0

A call's line is written when it starts (its callee's lines follow), and a
line of its results when it returns:

    %g  block0  v2 = call fn0(v1)              v1=0x4
    %f  block0  return v0                      v0=0x4
    %g  block0  v2 = call fn0(v1)              -> v2=0x4

Values are shown as the interpreter holds them: integers as hex bit patterns,
vectors lane by lane. Loads and stores also show the address they touch.
Tracing is off unless asked for, and an untraced function's code has no trace
calls at all.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

from ..ir.function import Function, Inst


def format_value(value) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return "[" + " ".join(format_value(v) for v in value) + "]"
    return repr(value)


def _address_operand(inst: Inst) -> Optional[int]:
    """Which operand is the address of a load or store with an offset (None: not one): the
    table's `addr` column, as the verifier reads it."""
    if inst.offset is None:
        return None
    return inst.opcode.addr


class Tracer:
    """Collects trace lines, up to `limit`; what goes past it is counted, not written."""

    def __init__(self, write: Callable[[str], None], limit: int = 10_000):
        self.write = write
        self.limit = limit
        self.count = 0
        # The instruction that may trap now, with its operands (told before it runs): when it
        # traps, this is where.
        self.pending: Optional[str] = None
        # Whether `pending` is owed to the trace even if it does not trap: a call, or a terminator
        # that may trap, is written before what runs after it (a callee's lines), or by `finish`.
        self.owed = False

    def start(self) -> None:
        """Before a run: nothing counted, nothing pending."""
        self.count, self.pending, self.owed = 0, None, False

    def finish(self, trapped: bool) -> Optional[str]:
        """After a run: the line of the instruction that trapped (None if unknown); else the
        line still owed (a last call that ran out of fuel) is written."""
        line, self.pending = self.pending, None
        owed, self.owed = self.owed, False
        if trapped:
            return line
        if owed:
            self._emit(line)
        return None

    def _flush(self) -> None:
        """Write the owed line: what runs next shows that it did not trap."""
        if self.owed:
            self.owed = False
            line, self.pending = self.pending, None
            self._emit(line)

    def _emit(self, text: str, counted: bool = True) -> None:
        if counted:
            self.count += 1
        if self.count <= self.limit:
            self.write(text)

    @property
    def dropped(self) -> int:
        return max(0, self.count - self.limit)

    def probe(self, func: Function, block: int, inst: Inst, text: str) -> Callable[..., None]:
        """The function generated code calls for `inst`: ``probe(operand values)`` before an
        instruction that may trap (noted as pending, not written), ``probe(operand values, result
        values)`` after it, or before a terminator (written)."""
        operands = [f"v{func.resolve(a)}" for a in inst.args]
        results = [f"v{r}" for r in inst.results]
        addr_at = _address_operand(inst)
        where = f"{func.name}  block{block}  {text}"

        def line(args: Sequence) -> str:
            parts = [f"{n}={format_value(v)}" for n, v in zip(operands, args)]
            if addr_at is not None and addr_at < len(args) and isinstance(args[addr_at], int):
                parts.append(f"[addr {hex((args[addr_at] + inst.offset) & (1 << 64) - 1)}]")
            return f"{where:<48} {' '.join(parts)}".rstrip()

        # A call is written when it starts, before its callee's lines (its results on a line of
        # their own when it returns); so is a terminator that calls or may trap, unless it traps.
        owes = inst.opcode.is_call or (inst.opcode.is_terminator and inst.opcode.can_trap)

        def shown(values: Sequence) -> str:
            return " -> " + " ".join(f"{n}={format_value(v)}" for n, v in zip(results, values))

        def probe(args: Sequence, values: Optional[Sequence] = None) -> None:
            if values is None or (owes and inst.opcode.is_terminator):
                self._flush()
                self.pending, self.owed = line(args), owes
                return
            if owes and not self.owed:  # a call whose line went out before its callee's
                self.pending = None
                if values:
                    self._emit(f"{where:<48}{shown(values)}", counted=False)
                return
            self._flush()
            self.pending, self.owed = None, False
            self._emit(line(args) + (shown(values) if values else ""))

        return probe
