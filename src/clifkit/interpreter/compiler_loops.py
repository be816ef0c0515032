"""The compiler's rarer control flow (`compiler.FunctionCompiler` loads it at the first loop
header or br_table it compiles): loop-carried values written in place, and br_table dispatch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..ir.function import BlockCall, Inst
from .compiler import LINEAR_DISPATCH, PURE, edge_values

if TYPE_CHECKING:
    from .compiler import FunctionCompiler


def coalesce(fc: "FunctionCompiler", number: int) -> None:
    """In a loop whose header `number` branches back to itself, write a value the back edge
    passes straight into its parameter (`FunctionCompiler.coalesced`), which saves the edge's copy.
    Only where the parameter's old value is dead by then: it is read in this block alone
    (never in a block it dominates), and no read comes after the value's definition (a
    read folded into a later instruction counts where that one is). The value is a pure
    integer op's only result, not folded, so it is written at its definition."""
    func, block = fc.func, fc.blocks[number]
    insts = block.insts
    last = insts[-1]
    if last.opcode.name not in ("jump", "brif") or any(i.opcode.is_branch for i in insts[:-1]):
        return
    back = [bc for bc in last.dests if bc.block == number]
    if len(back) != 1 or not all(isinstance(a, int) for a in back[0].args):
        return
    params = [func.resolve(p) for p in block.params]
    where: dict[int, int] = {}  # a folded value -> the position its expression is evaluated at
    defined: dict[int, int] = {}
    reads: dict[int, int] = {}  # parameter -> last position reading it
    for j in range(len(insts) - 1, -1, -1):
        inst = insts[j]
        if fc.dead_inst(inst):
            continue  # (emits nothing: reads nothing)
        at = j
        if len(inst.results) == 1 and inst.results[0] in fc.foldable:
            at = where.get(inst.results[0], j)
        args = list(inst.args) + edge_values(inst)
        for a in args:
            a = func.resolve(a)
            if a in fc.foldable:
                where.setdefault(a, at)
            if a in params:
                reads[a] = max(reads.get(a, -1), at)
        for r in inst.results:
            defined[r] = j
    outside: set[int] = set()
    for other in fc.reachable:
        if other == number:
            continue
        for inst in fc.blocks[other].insts:
            for a in list(inst.args) + edge_values(inst):
                outside.add(func.resolve(a))
    taken: set[int] = set()
    for p, a in zip(params, back[0].args):
        a = func.resolve(a)
        j = defined.get(a)
        if (j is None or a in taken or a in fc.foldable or p in outside or p in fc.floats
                or reads.get(p, -1) > j):
            continue
        inst = insts[j]
        t = func.value_types.get(a)
        if (inst.opcode not in PURE or len(inst.results) != 1 or t is None or t.is_vector
                or not t.name.startswith("i") or a in fc.floats
                or any(not fc.vtype(x).name.startswith("i") or fc.vtype(x).is_vector for x in inst.args)):
            continue
        fc.coalesced[a] = f"v{p}"
        taken.add(a)


def emit_br_table(fc: "FunctionCompiler", inst: Inst, ind: int, out, root: int, in_while: bool) -> None:
    jt = inst.jump_table
    index = fc.val(inst.args[0])
    edges: list[BlockCall] = []
    keys: dict[tuple, int] = {}

    def edge_id(bc: BlockCall) -> int:
        key = (bc.block, tuple(repr(a) for a in bc.args))
        if key not in keys:
            keys[key] = len(edges)
            edges.append(bc)
        return keys[key]

    default = edge_id(jt.default)
    table = [edge_id(bc) for bc in jt.targets]
    if len(edges) == 1:
        fc.emit_edge(edges[0], ind, out, root, in_while)
        return
    if not any(table[i] != default for i in range(len(table))):
        fc.emit_edge(edges[0], ind, out, root, in_while)
        return
    if len(edges) == 2 and len(set(table)) == 1:
        out.append((ind, f"if {index} < {len(table)}:"))
        fm = fc.fuel_state()
        fc.emit_edge(edges[table[0]], ind + 1, out, root, in_while)
        fc.set_fuel_state(fm)
        fc.emit_edge(edges[default], ind, out, root, in_while)
        return
    out.append((ind, f"_e = {tuple(table)!r}[{index}] if {index} < {len(table)} else {default}"))
    emit_edge_switch(fc, list(range(len(edges))), edges, ind, out, root, in_while)

def emit_edge_switch(fc: "FunctionCompiler", ids: list[int], edges, ind: int, out, root: int, in_while: bool) -> None:
    fm = fc.fuel_state()
    if len(ids) <= LINEAR_DISPATCH:
        for i, e in enumerate(ids[:-1]):
            out.append((ind, f"if _e == {e}:"))
            fc.emit_edge(edges[e], ind + 1, out, root, in_while)
            fc.set_fuel_state(fm)
        fc.emit_edge(edges[ids[-1]], ind, out, root, in_while)
        return
    mid = len(ids) // 2
    out.append((ind, f"if _e < {ids[mid]}:"))
    emit_edge_switch(fc, ids[:mid], edges, ind + 1, out, root, in_while)
    fc.set_fuel_state(fm)
    emit_edge_switch(fc, ids[mid:], edges, ind, out, root, in_while)
