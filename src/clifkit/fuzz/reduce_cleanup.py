"""Semantics-preserving clean-ups the reducer applies after every edit (`tidy`): drop
unreachable blocks, merge straight-line blocks, fold duplicate constants, remove dead pure
instructions and entities nothing refers to. They never change what a run computes, so they
need no check of their own.
"""

from __future__ import annotations

from ..ir.function import TestFile
from .reduce_ir import is_pure, predecessors, reachable, replace_uses, use_counts

def dce(tf: TestFile) -> bool:
    """Remove pure instructions whose results nothing uses (semantics-preserving)."""
    changed = False
    for d in tf.functions:
        func = d.function
        while True:
            uses = use_counts(func)
            removed = False
            for block in func.blocks.values():
                keep = []
                for inst in block.insts:
                    if inst.results and is_pure(inst) and not any(uses.get(r) for r in inst.results):
                        removed = True
                        continue
                    keep.append(inst)
                block.insts = keep
            if not removed:
                break
            changed = True
    return changed


def dedupe_constants(tf: TestFile) -> bool:
    """Within a block, a constant equal to an earlier one is replaced by it (semantics-preserving)."""
    changed = False
    for d in tf.functions:
        func = d.function
        for block in func.blocks.values():
            seen: dict = {}
            keep = []
            for inst in block.insts:
                if inst.opcode.is_constant and len(inst.results) == 1:
                    imm = bytes(inst.imm) if isinstance(inst.imm, (bytes, bytearray)) else inst.imm
                    key = (inst.opcode.name, str(inst.ctrl_type), imm)
                    first = seen.get(key)
                    if first is not None:
                        replace_uses(func, inst.results[0], first)
                        changed = True
                        continue
                    seen[key] = inst.results[0]
                keep.append(inst)
            block.insts = keep
    return changed


def remove_unreachable(tf: TestFile) -> bool:
    changed = False
    for d in tf.functions:
        func = d.function
        changed |= _keep_only(func.blocks, set(reachable(func)))
    return changed


def merge_blocks(tf: TestFile) -> bool:
    """Fold a block into its only predecessor when that one ends with a plain jump to it."""
    changed = False
    for d in tf.functions:
        func = d.function
        progress = True
        while progress:
            progress = False
            preds = predecessors(func)
            entry = func.entry.number if func.entry else None
            for b, block in func.blocks.items():
                if not block.insts:
                    continue
                last = block.insts[-1]
                if last.opcode.name != "jump":
                    continue
                target = last.dests[0]
                t = target.block
                if t == b or t == entry or preds.get(t) != [b]:
                    continue
                if any(not isinstance(a, int) for a in target.args):
                    continue
                tblock = func.blocks[t]
                for p, a in zip(tblock.params, target.args):
                    replace_uses(func, p, a)
                block.insts = block.insts[:-1] + tblock.insts
                del func.blocks[t]
                progress = changed = True
                break
    return changed


def cleanup_entities(tf: TestFile) -> bool:
    """Drop preamble entities nothing refers to (not heaps or global values a directive needs)."""
    changed = False
    for d in tf.functions:
        func = d.function
        used_fn, used_sig, used_ss, used_heap, used_table, used_gv = set(), set(), set(), set(), set(), set()
        for inst in func.instructions():
            if inst.func_ref is not None:
                used_fn.add(inst.func_ref)
            if inst.sig_ref is not None:
                used_sig.add(inst.sig_ref)
            if inst.exception is not None:
                used_sig.add(inst.exception.sig_ref)
            if inst.stack_slot is not None:
                used_ss.add(inst.stack_slot)
            if inst.heap is not None:
                used_heap.add(inst.heap)
            if inst.table is not None:
                used_table.add(inst.table)
            if inst.global_value is not None:
                used_gv.add(inst.global_value)
        changed |= _keep_only(func.func_refs, used_fn)
        used_sig |= {f.signature for f in func.func_refs.values()}
        changed |= _keep_only(func.signatures, used_sig)
        changed |= _keep_only(func.stack_slots, used_ss)
        changed |= _keep_only(func.heaps, used_heap)
        changed |= _keep_only(func.tables, used_table)
        # Global values: those used, and their bases, transitively.
        for h in func.heaps.values():
            used_gv.add(h.base)
            if h.style == "dynamic":
                used_gv.add(h.bound)
        for t in func.tables.values():
            used_gv.add(t.base)
            if t.bound is not None:
                used_gv.add(t.bound)
        if func.stack_limit is not None:
            used_gv.add(func.stack_limit)
        for dt in func.dynamic_types.values():
            used_gv.add(dt.scale)
        work = list(used_gv)
        while work:
            gv = func.global_values.get(work.pop())
            if gv is not None and gv.base is not None and gv.base not in used_gv:
                used_gv.add(gv.base)
                work.append(gv.base)
        changed |= _keep_only(func.global_values, used_gv)
    return changed


def _keep_only(entities: dict, used: set) -> bool:
    """Drop the entries of `entities` not in `used`; whether any was dropped."""
    dropped = [n for n in entities if n not in used]
    for n in dropped:
        del entities[n]
    return bool(dropped)


def tidy(tf: TestFile) -> None:
    """Semantics-preserving clean-up after an edit."""
    remove_unreachable(tf)
    merge_blocks(tf)
    dedupe_constants(tf)
    dce(tf)
    cleanup_entities(tf)
