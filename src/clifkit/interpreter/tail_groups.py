"""Tail-call groups: a function compiled together with the functions it tail-calls directly.

A ``return_call`` normally returns the `TAIL_CALL` marker to the caller's
trampoline, which makes the call: one Python call per tail call.  Functions
that tail-call each other (a state machine, mutual recursion in tail
position) pay that on every step.  Here the compiler is given, instead of
function F alone, a *merged* function: F's blocks followed by the blocks of
every function F reaches through direct ``return_call``s, renumbered, with
each such ``return_call`` rewritten as a ``jump`` to the callee's entry
block.  A tail call then costs a jump.

The merged code behaves as the separate functions: a tail call does not
deepen the call stack either way, a ``return`` in a callee's block returns to
F's caller (where the trampoline would have delivered it), and a jump counts
one instruction as the ``return_call`` did.  Only a fuel-exhaustion message
names F rather than the callee.

Members are simple functions: no stack frame, global values, heaps, tables,
constants or exception tables (whose numbering would have to be merged), a
callee's parameter types equal to the call's arguments and its return types
equal to F's.  Anything else stays an ordinary trampoline tail call.
"""

from __future__ import annotations

import copy

from ..ir.function import Block, BlockCall, Function, Inst, JumpTableData
from ..ir.opcodes import OPCODES

MAX_MEMBERS = 8
MAX_BLOCKS = 256


def _simple(func: Function) -> bool:
    if (func.stack_slots or func.dynamic_stack_slots or func.global_values or func.heaps or func.tables
            or func.constants or func.stack_limit is not None or not func.blocks):
        return False
    for block in func.blocks.values():
        for inst in block.insts:
            if inst.exception is not None or any(
                    getattr(inst, f) is not None for f in ("stack_slot", "global_value", "heap", "table")):
                return False
    return True


def _tail_callee(interp, func: Function, inst: Inst):
    """The index of the function `inst` (a return_call) calls when it is a mergeable one, else None."""
    if inst.opcode.name != "return_call":
        return None
    ext = func.func_refs.get(inst.func_ref)
    if ext is None:
        return None
    resolved = interp.resolve_callee(ext.name.text)
    if resolved is None or resolved[0] != "func":
        return None
    callee = interp.functions[resolved[1]]
    args = [func.value_types.get(func.resolve(a)) for a in inst.args]
    if args != [p.type for p in callee.signature.params]:
        return None
    if [p.type for p in callee.signature.returns] != [p.type for p in func.signature.returns]:
        return None
    return resolved[1]


def merged(interp, index: int) -> Function:
    """Function `index` with its tail-call group merged in (itself when there is none)."""
    base = interp.functions[index]
    if not _simple(base):
        return base
    group, order = {index: 0}, [index]
    blocks = 0
    for i in order:
        func = interp.functions[i]
        blocks += len(func.blocks)
        for block in func.blocks.values():
            last = block.insts[-1] if block.insts else None
            j = _tail_callee(interp, func, last) if last is not None else None
            if j is None or j in group:
                continue
            if len(order) >= MAX_MEMBERS or blocks + len(interp.functions[j].blocks) > MAX_BLOCKS:
                continue
            if _simple(interp.functions[j]) and interp.functions[j].blocks:
                group[j] = len(order)
                order.append(j)
    if len(order) == 1:
        return base
    return _merge(interp, [interp.functions[i] for i in order], group)


def _merge(interp, funcs: list[Function], group: dict[int, int]) -> Function:
    base = funcs[0]
    out = copy.copy(base)
    out.blocks, out.value_types, out.aliases = {}, {}, {}
    out.func_refs, out.signatures = {}, {}
    next_value = next_block = next_fn = next_sig = 0
    entries: list[int] = []
    shifts = []
    for func in funcs:
        values = set(func.value_types) | set(func.aliases)
        shifts.append((next_value, next_block, next_fn, next_sig))
        entries.append(next(iter(func.blocks)) + next_block)
        next_value += max(values, default=0) + 1
        next_block += max(func.blocks) + 1
        next_fn += max(func.func_refs, default=-1) + 1
        next_sig += max(func.signatures, default=-1) + 1
    jump = OPCODES["jump"]
    for member, (func, (dv, db, df, ds)) in enumerate(zip(funcs, shifts)):
        out.value_types.update((v + dv, t) for v, t in func.value_types.items())
        out.aliases.update((a + dv, t + dv) for a, t in func.aliases.items())
        out.func_refs.update((f + df, ext) for f, ext in func.func_refs.items())
        out.signatures.update((s + ds, sig) for s, sig in func.signatures.items())
        # func_refs name their signature by number: keep those in step.
        for f, ext in func.func_refs.items():
            if ds:
                out.func_refs[f + df] = copy.copy(ext)
                out.func_refs[f + df].signature = ext.signature + ds

        def call(bc: BlockCall) -> BlockCall:
            return BlockCall(bc.block + db, [a + dv if isinstance(a, int) else a for a in bc.args])

        for number, block in func.blocks.items():
            insts = []
            for inst in block.insts:
                callee = _tail_callee(interp, func, inst)
                if callee in group:
                    new = Inst(jump, None, [], [], dests=[BlockCall(entries[group[callee]],
                                                                     [a + dv for a in inst.args])])
                    new.loc = inst.loc
                    insts.append(new)
                    continue
                new = copy.copy(inst)
                new.args = [a + dv for a in inst.args]
                new.results = [r + dv for r in inst.results]
                if inst.dests is not None:
                    new.dests = [call(bc) for bc in inst.dests]
                if inst.jump_table is not None:
                    jt = inst.jump_table
                    new.jump_table = JumpTableData(call(jt.default), [call(bc) for bc in jt.targets])
                if inst.func_ref is not None:
                    new.func_ref = inst.func_ref + df
                if inst.sig_ref is not None:
                    new.sig_ref = inst.sig_ref + ds
                insts.append(new)
            out.blocks[number + db] = Block(number + db, [p + dv for p in block.params], insts, block.cold, block.loc)
    return out
