"""What the reducer's passes share: reading a candidate, small queries and rewrites of
functions (uses, reachability, predecessors, constants standing in for removed values), and
the failing run line kept structured (`RunLine`) so that edits can change its arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

from ..ir.function import Block, Directive, Function, Inst, TestFile
from ..ir.opcodes import OPCODES
from ..ir.types import I64, I128, Type
from ..ir.values import format_value


def parse_candidate(text: str, path: str = "<reduce>") -> TestFile:
    from ..reader import parse_text

    return parse_text(text, path)


def count_instructions(tf: TestFile) -> int:
    return sum(len(b.insts) for d in tf.functions for b in d.function.blocks.values())


def _next_value(func: Function) -> int:
    return max(list(func.value_types) + list(func.aliases) + [-1]) + 1


def _const_insts(func: Function, v: int, ty: Type) -> Optional[list[Inst]]:
    """Instructions defining `v` as a zero of type `ty` (None if no constant form exists)."""
    if ty.dynamic:
        return None
    if ty.is_vector:
        return [Inst(OPCODES["vconst"], ty, [], [v], imm=bytes(ty.bytes))]
    if ty.is_float:
        if ty.bits == 128:
            return [Inst(OPCODES["f128const"], None, [], [v], imm=bytes(16))]
        return [Inst(OPCODES[f"f{ty.bits}const"], None, [], [v], imm=0)]
    if ty is I128:
        u = _next_value(func)
        func.value_types[u] = I64
        return [Inst(OPCODES["iconst"], I64, [], [u], imm=0), Inst(OPCODES["uextend"], I128, [u], [v])]
    return [Inst(OPCODES["iconst"], ty, [], [v], imm=0)]


def consts_for(func: Function, values: Sequence[int]) -> Optional[list[Inst]]:
    out: list[Inst] = []
    for v in values:
        insts = _const_insts(func, v, func.value_types[v])
        if insts is None:
            return None
        out.extend(insts)
    return out


def zero_return(func: Function) -> Optional[list[Inst]]:
    """A `return` of zeros of `func`'s return types, with the constants it returns (None if a type
    has no constant form): what a removed tail call is replaced by."""
    values = []
    for param in func.signature.returns:
        v = _next_value(func)
        func.value_types[v] = param.type
        values.append(v)
    consts = consts_for(func, values)
    return None if consts is None else consts + [Inst(OPCODES["return"], None, values, [])]


def use_counts(func: Function) -> dict[int, int]:
    counts: dict[int, int] = {}
    for inst in func.instructions():
        for a in inst.args:
            counts[a] = counts.get(a, 0) + 1
        for bc in inst.branch_targets():
            for a in bc.args:
                if isinstance(a, int):
                    counts[a] = counts.get(a, 0) + 1
    for alias, target in func.aliases.items():
        counts[target] = counts.get(target, 0) + 1
    return counts


def replace_uses(func: Function, old: int, new: int) -> None:
    for inst in func.instructions():
        inst.args = [new if a == old else a for a in inst.args]
        for bc in inst.branch_targets():
            bc.args = [new if a == old else a for a in bc.args]
    for alias, target in list(func.aliases.items()):
        if target == old:
            func.aliases[alias] = new


def layout_index(func: Function) -> dict[int, int]:
    return {b: i for i, b in enumerate(func.blocks)}


def reachable(func: Function) -> list[int]:
    entry = func.entry
    if entry is None:
        return []
    seen = {entry.number}
    work = [entry.number]
    while work:
        b = work.pop()
        for inst in func.blocks[b].insts:
            for bc in inst.branch_targets():
                if bc.block not in seen and bc.block in func.blocks:
                    seen.add(bc.block)
                    work.append(bc.block)
    return [b for b in func.blocks if b in seen]


def predecessors(func: Function) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {b: [] for b in func.blocks}
    for b, block in func.blocks.items():
        for inst in block.insts:
            for bc in inst.branch_targets():
                out.setdefault(bc.block, []).append(b)
    return out


def is_pure(inst: Inst) -> bool:
    return inst.opcode.is_pure


def function_named(tf: TestFile, name: str) -> Optional[Function]:
    """The function of `tf` called `name`, or None."""
    return next((d.function for d in tf.functions if d.function.name == name), None)


def inst_at(tf: TestFile, fi: int, b: int, k: int) -> Optional[tuple[Function, Block, Inst]]:
    """Instruction k of block b of function fi, with its function and block; None if there is none."""
    func = tf.functions[fi].function
    block = func.blocks.get(b)
    if block is None or k >= len(block.insts):
        return None
    return func, block, block.insts[k]


def strip_comments(tf: TestFile) -> None:
    tf.preamble_comments = []
    for c in tf.commands:
        c.comments_before, c.comment = [], None
    for s in tf.isa_specs:
        s.comments_before, s.comment = [], None
    for d in tf.functions:
        d.comments_before = []
        d.comments_after = []
        d.trailer = [t for t in d.trailer if isinstance(t, Directive)]


# -- the run line --------------------------------------------------------------------------------


@dataclass
class RunLine:
    """The failing run line, kept structured: the function it calls and its arguments."""

    function: str
    args: list
    arg_types: list[Type]
    tail: str  # the expectation as written ("== 3"), kept in expect mode
    kind: str = "run"
    arg_hex: list = field(default_factory=list)  # per argument: written in hex (kept so)

    def text(self, print_only: bool) -> str:
        hexes = self.arg_hex if len(self.arg_hex) == len(self.args) else [False] * len(self.args)
        args = ", ".join(format_value(a, t, h) for a, t, h in zip(self.args, self.arg_types, hexes))
        if print_only:
            return f"print: {self.function}({args})"
        return f"{self.kind}: {self.function}({args})" + (f" {self.tail}" if self.tail else "")


def set_run_line(tf: TestFile, run: RunLine, print_only: bool) -> None:
    """Put `run` after its function, alone: every other run and print line is removed."""
    for d in tf.functions:
        d.trailer = [t for t in d.trailer if not (isinstance(t, Directive) and t.kind in ("run", "print"))]
        d.directives = [t for t in d.directives if t.kind not in ("run", "print")]
    for d in tf.functions:
        if d.function.name == run.function:
            text = run.text(print_only)
            kind, _, rest = text.partition(": ")
            directive = Directive(kind, rest, d.function.loc)
            d.trailer.append(directive)
            d.directives.append(directive)
            return
