"""The reducer's shrinking edits: each builds an `Edit` that changes a freshly parsed
candidate (and its run line) in place, or says it does not apply. Removing instructions,
functions, block/function parameters and return values, simplifying branches, constants and
arguments, dropping the heap/table environment. Whether an edit is kept is the driver's
decision (reduce.py), by the oracle (reduce_oracle.py).
"""

from __future__ import annotations

from typing import Callable, Iterator, Sequence

from ..ir.function import Block, BlockCall, Directive, Function, Inst, TestFile
from ..ir.opcodes import OPCODES
from .reduce_ir import RunLine, consts_for, function_named, inst_at, layout_index, replace_uses, zero_return

# A candidate edits a freshly parsed TestFile (and the run line) in place; it returns False when it
# does not apply.
Edit = Callable[[TestFile, RunLine], bool]


def inst_sites(tf: TestFile) -> list[tuple[int, int, int]]:
    """(function index, block number, instruction index) of every non-terminator instruction."""
    out = []
    for fi, d in enumerate(tf.functions):
        for b, block in d.function.blocks.items():
            for k, inst in enumerate(block.insts):
                if not inst.opcode.is_terminator:
                    out.append((fi, b, k))
    return out


def remove_insts(sites: Sequence[tuple[int, int, int]]) -> Edit:
    def edit(tf: TestFile, run: RunLine) -> bool:
        by_block: dict[tuple[int, int], set[int]] = {}
        for fi, b, k in sites:
            by_block.setdefault((fi, b), set()).add(k)
        for (fi, b), ks in by_block.items():
            func = tf.functions[fi].function
            block = func.blocks.get(b)
            if block is None:
                return False
            out: list[Inst] = []
            for k, inst in enumerate(block.insts):
                if k not in ks:
                    out.append(inst)
                    continue
                if inst.opcode.name in SETTABLE_CONSTANTS and _is_zero_const(inst):
                    return False  # already as simple as it gets
                consts = consts_for(func, inst.results)
                if consts is None:
                    return False
                out.extend(consts)
            block.insts = out
        return True

    return edit


def ancestor_values(func: Function, inst: Inst, depth: int = 3) -> list[int]:
    """Values `inst` is computed from, nearest first: its operands, theirs, ... (`depth` levels).
    Each dominates `inst`, so `inst`'s users may read any of them instead."""
    defs = {r: i for i in func.instructions() for r in i.results}
    out: list[int] = []
    level = list(inst.args)
    for _ in range(depth):
        nxt: list[int] = []
        for v in level:
            if v not in out:
                out.append(v)
                d = defs.get(v)
                if d is not None:
                    nxt.extend(d.args)
        level = nxt
    return out


def bypass(fi: int, b: int, k: int, choice: int) -> Edit:
    """Remove instruction k and let its users read the `choice`-th of its same-typed ancestors."""

    def change(func: Function, block: Block, inst: Inst) -> bool:
        if len(inst.results) != 1 or inst.opcode.is_terminator:
            return False
        r = inst.results[0]
        same = [a for a in ancestor_values(func, inst) if func.value_types.get(a) is func.value_types.get(r) and a != r]
        if choice >= len(same):
            return False
        del block.insts[k]
        replace_uses(func, r, same[choice])
        return True

    return _at_inst(fi, b, k, change)


def _at_inst(fi: int, b: int, k: int, change: Callable[[Function, Block, Inst], bool]) -> Edit:
    """An edit that applies `change` to instruction k of block b of function fi (when it is there)."""

    def edit(tf: TestFile, run: RunLine) -> bool:
        site = inst_at(tf, fi, b, k)
        return site is not None and change(*site)

    return edit


def _is_zero_const(inst: Inst) -> bool:
    imm = inst.imm
    if isinstance(imm, (bytes, bytearray)):
        return not any(imm)
    return imm == 0


def simplify_branch(fi: int, b: int, choice: int) -> Edit:
    def edit(tf: TestFile, run: RunLine) -> bool:
        func = tf.functions[fi].function
        block = func.blocks.get(b)
        if block is None or not block.insts:
            return False
        last = block.insts[-1]
        targets = last.branch_targets()
        if last.opcode.name not in ("brif", "br_table") or choice >= len(targets):
            return False
        order = layout_index(func)
        dest = targets[choice]
        if dest.block not in order:
            return False
        if order[dest.block] <= order[b] and _reaches(func, dest.block, b):
            return False  # keeping a backward edge alone could loop forever (unless it closes no loop)
        block.insts[-1] = Inst(OPCODES["jump"], None, [], [], dests=[BlockCall(dest.block, list(dest.args))])
        return True

    return edit


def _reaches(func: Function, start: int, goal: int) -> bool:
    """Whether block `goal` can be reached from block `start` along the function's branches."""
    seen, todo = {start}, [start]
    while todo:
        here = todo.pop()
        if here == goal:
            return True
        block = func.blocks.get(here)
        if block is None or not block.insts:
            continue
        for bc in block.insts[-1].branch_targets():
            if bc.block not in seen:
                seen.add(bc.block)
                todo.append(bc.block)
    return False


def thread_jump(fi: int, b: int, choice: int) -> Edit:
    """`jump X(...)` at the end of block `b` made a jump straight to target `choice` of X's
    branch, when that target lies after `b` and takes no arguments: a loop whose body the bug
    needs but whose repetition it does not is left without testing again (then
    `simplify_branch` can enter the body with a plain jump, and the blocks merge)."""
    def edit(tf: TestFile, run: RunLine) -> bool:
        func = tf.functions[fi].function
        block = func.blocks.get(b)
        if block is None or not block.insts or block.insts[-1].opcode.name != "jump":
            return False
        order = layout_index(func)
        via = func.blocks.get(block.insts[-1].dests[0].block)
        if via is None or not via.insts:
            return False
        targets = via.insts[-1].branch_targets()
        if choice >= len(targets):
            return False
        dest = targets[choice]
        if dest.args or dest.block not in order or order[dest.block] <= order[b]:
            return False  # (a forward edge: it makes no new loop)
        block.insts[-1] = Inst(OPCODES["jump"], None, [], [], dests=[BlockCall(dest.block, [])])
        return True

    return edit


def remove_function(name: str) -> Edit:
    def edit(tf: TestFile, run: RunLine) -> bool:
        if name == run.function:
            return False
        keep = [d for d in tf.functions if d.function.name != name]
        if len(keep) == len(tf.functions):
            return False
        for d in keep:
            func = d.function
            refs = {n for n, f in func.func_refs.items() if str(f.name) == name}
            if not refs:
                continue
            addr_values = set()
            for block in func.blocks.values():
                out: list[Inst] = []
                for inst in block.insts:
                    name_op = inst.opcode.name
                    if name_op == "func_addr" and inst.func_ref in refs:
                        addr_values.update(inst.results)
                        consts = consts_for(func, inst.results)
                    elif name_op == "call" and inst.func_ref in refs:
                        consts = consts_for(func, inst.results)
                    elif name_op == "call_indirect" and inst.args and inst.args[0] in addr_values:
                        consts = consts_for(func, inst.results)
                    elif (name_op == "return_call" and inst.func_ref in refs) or (
                            name_op == "return_call_indirect" and inst.args and inst.args[0] in addr_values):
                        consts = zero_return(func)  # the tail call's results are the caller's
                    else:
                        out.append(inst)
                        continue
                    if consts is None:
                        return False
                    out.extend(consts)
                block.insts = out
        tf.functions = keep
        return True

    return edit


def retarget_run(name: str) -> Edit:
    """Call function `name` in the run line instead, with the same arguments: when the difference
    lies in a callee, the caller (and its call or tail call) can then go."""

    def edit(tf: TestFile, run: RunLine) -> bool:
        func = function_named(tf, name)
        if func is None or name == run.function:
            return False
        types = [p.type for p in func.signature.params if p.purpose != "vmctx"]
        if types != run.arg_types:
            return False
        run.function = name
        return True

    return edit


def remove_block_param(fi: int, b: int, k: int) -> Edit:
    def edit(tf: TestFile, run: RunLine) -> bool:
        func = tf.functions[fi].function
        block = func.blocks.get(b)
        if block is None or k >= len(block.params) or func.entry is block:
            return False
        p = block.params.pop(k)
        consts = consts_for(func, [p])
        if consts is None:
            return False
        block.insts = consts + block.insts
        for inst in func.instructions():
            for bc in inst.branch_targets():
                if bc.block == b and k < len(bc.args):
                    del bc.args[k]
        return True

    return edit


def _callers(tf: TestFile, name: str) -> Iterator[tuple[Function, set[int], set[int]]]:
    """(caller, its fn refs naming `name`, the signatures of those refs)."""
    for d in tf.functions:
        func = d.function
        refs = {n for n, f in func.func_refs.items() if str(f.name) == name}
        if refs:
            yield func, refs, {func.func_refs[n].signature for n in refs}


def _call_sites(func: Function, refs: set[int], sigs: set[int]) -> Iterator[tuple[Inst, int]]:
    """Calls through `refs` or indirect calls with `sigs`: (instruction, index of the first argument)."""
    for inst in func.instructions():
        if inst.opcode.name in ("call", "return_call") and inst.func_ref in refs:
            yield inst, 0
        elif inst.opcode.name in ("call_indirect", "return_call_indirect") and inst.sig_ref in sigs:
            yield inst, 1


def _drop_from_signatures(func: Function, sigs: set[int], part: str, k: int) -> bool:
    """Remove item k of the params or returns (`part`) of each of `func`'s signatures `sigs`;
    False when one has no item k (the edit does not apply)."""
    for s in sigs:
        items = getattr(func.signatures[s], part)
        if k >= len(items):
            return False
        del items[k]
    return True


def remove_param(fname: str, k: int) -> Edit:
    """Remove parameter k of a function (not a vmctx): its uses become a constant."""

    def edit(tf: TestFile, run: RunLine) -> bool:
        target = function_named(tf, fname)
        if target is None or target.entry is None:
            return False
        params = target.signature.params
        if k >= len(params) or params[k].purpose is not None:
            return False
        is_main = fname == run.function
        skip = len(params) - len(run.arg_types)  # the implicit vmctx
        if is_main and not 0 <= k - skip < len(run.args):
            return False
        del params[k]
        entry = target.entry
        p = entry.params.pop(k)
        consts = consts_for(target, [p])
        if consts is None:
            return False
        entry.insts = consts + entry.insts
        for func, refs, sigs in _callers(tf, fname):
            if not _drop_from_signatures(func, sigs, "params", k):
                return False
            for inst, first in _call_sites(func, refs, sigs):
                del inst.args[first + k]
        if is_main:
            del run.args[k - skip]
            del run.arg_types[k - skip]
            if len(run.arg_hex) > k - skip:
                del run.arg_hex[k - skip]
        return True

    return edit


def remove_return(fname: str, k: int) -> Edit:
    def edit(tf: TestFile, run: RunLine) -> bool:
        target = function_named(tf, fname)
        if target is None or k >= len(target.signature.returns) or len(target.signature.returns) < 2:
            return False
        del target.signature.returns[k]
        for inst in target.instructions():
            if inst.opcode.is_return and not inst.opcode.is_call:
                if k >= len(inst.args):
                    return False
                del inst.args[k]
        for func, refs, sigs in _callers(tf, fname):
            if not _drop_from_signatures(func, sigs, "returns", k):
                return False
            sites = {id(inst) for inst, _ in _call_sites(func, refs, sigs)}
            for block in func.blocks.values():
                out: list[Inst] = []
                for inst in block.insts:
                    out.append(inst)
                    if id(inst) in sites and k < len(inst.results):  # a tail call has none
                        v = inst.results.pop(k)
                        consts = consts_for(func, [v])
                        if consts is None:
                            return False
                        out.extend(consts)
                block.insts = out
        return True

    return edit


# The constants set_const rewrites: every constant but f16/f128, which the generator never makes.
SETTABLE_CONSTANTS = frozenset(op.name for op in OPCODES.values() if op.is_constant) - {"f16const", "f128const"}


def set_const(fi: int, b: int, k: int, value: int) -> Edit:
    def change(func: Function, block: Block, inst: Inst) -> bool:
        name = inst.opcode.name
        if name == "iconst":
            if inst.imm == value or inst.imm in (0, 1):  # only ever simpler: x -> 0 or 1, 1 -> 0
                if not (inst.imm == 1 and value == 0):
                    return False
            inst.imm = value
            return True
        if name in ("f32const", "f64const"):
            one = 0x3F80_0000 if name == "f32const" else 0x3FF0_0000_0000_0000
            bits = 0 if value == 0 else one
            if inst.imm == bits or (value == 1 and inst.imm == 0):
                return False
            inst.imm = bits
            return True
        if name == "vconst" and isinstance(inst.imm, (bytes, bytearray)) and value == 0:
            if not any(inst.imm):
                return False
            inst.imm = bytes(len(inst.imm))
            return True
        return False

    return _at_inst(fi, b, k, change)


def set_arg(i: int, value: int) -> Edit:
    def edit(tf: TestFile, run: RunLine) -> bool:
        t = run.arg_types[i]
        new = tuple([value] * t.lanes) if t.is_vector else value
        if t.is_float and value == 1:
            one = {32: 0x3F80_0000, 64: 0x3FF0_0000_0000_0000}.get(t.lane_bits)
            if one is None:
                return False
            new = tuple([one] * t.lanes) if t.is_vector else one
        zero = tuple([0] * t.lanes) if t.is_vector else 0
        if run.args[i] == new or (value == 1 and run.args[i] == zero):
            return False
        run.args[i] = new
        return True

    return edit


def drop_last_directive(fi: int) -> Edit:
    """Remove the last heap or table directive below function `fi`, while another stays: the
    last, so that no other directive's index (what ``%heap_grow`` names) changes."""

    def edit(tf: TestFile, run: RunLine) -> bool:
        d = tf.functions[fi]
        found = [t for t in d.directives if t.kind in ("heap", "table")]
        if len(found) < 2:
            return False  # (the last one goes with the vmctx parameters: `drop_environment`)
        last = found[-1]
        d.directives = [t for t in d.directives if t is not last]
        d.trailer = [t for t in d.trailer if t is not last]
        return True

    return edit


def drop_environment(tf: TestFile, run: RunLine) -> bool:
    """Remove every heap and table directive (and vmctx parameters nothing else needs)."""
    found = False
    for d in tf.functions:
        before = len(d.trailer)
        d.trailer = [t for t in d.trailer if not (isinstance(t, Directive) and t.kind in ("heap", "table"))]
        d.directives = [t for t in d.directives if t.kind not in ("heap", "table")]
        found |= len(d.trailer) != before
    if not found:
        return False
    # Every function loses its vmctx parameter; its uses (if any) become 0, so a candidate that
    # still touches memory through it fails to be "the same" and is rejected.
    for d in tf.functions:
        func = d.function
        params = func.signature.params
        if params and params[0].purpose == "vmctx" and func.entry is not None:
            del params[0]
            p = func.entry.params.pop(0)
            func.entry.insts = consts_for(func, [p]) + func.entry.insts
        for fn_n, f in func.func_refs.items():
            sig = func.signatures.get(f.signature)
            if sig is not None and sig.params and sig.params[0].purpose == "vmctx":
                del sig.params[0]
                for inst, first in _call_sites(func, {fn_n}, {f.signature}):
                    del inst.args[first]
    return True


# -- the reducer ----------------------------------------------------------------------------------
