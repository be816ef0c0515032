"""`clifkit reduce`: shrink a failing run test while it keeps failing the same way.

Like Cranelift's old bugpoint, the reducer tries one simplification after
another and keeps each that leaves the failure intact:

- keep only the failing run line (and turn it into a ``print`` line while
  reducing, so that changing the results does not make it ill-formed);
- remove whole functions (calls to them become constants);
- replace branches by jumps to one of their (forward) targets, then drop
  unreachable blocks and merge straight-line blocks;
- remove instructions, in chunks then one by one, each result replaced by a
  constant of its type (zero);
- remove block parameters, function parameters and return values;
- simplify constants and run-line arguments to 0 or 1;
- drop what nothing uses: dead pure instructions, stack slots, global
  values, heaps and tables, signatures, function references.

"The same way" is the failing run line's *outcome class*, checked by running
the harness in-process on every candidate:

- ``compare`` mode (two engines, the first the reference): the engines still
  disagree (under the named rules, `compare.judge`) and each still gives the
  same kind of outcome as before: results, a trap with the same code, a
  failure;
- ``expect`` mode (one engine): the engine still gives exactly the same wrong
  outcome against the run line's expectation.

A candidate that does not read, verify or bind is simply rejected, and one on
which the reference interpreter runs out of fuel is never given to the other
engine. The result is a minimal `.clif` file; in compare mode its run line
expects the reference engine's result, so ``clifkit test --compare`` fails
on it as long as the bug is there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Sequence, TextIO

from ..diagnostics import ClifError
from ..ir.function import BlockCall, Directive, Function, Inst, TestFile
from ..ir.opcodes import OPCODES
from ..ir.types import I64, I128, Type
from ..printer import format_test_file
from ..runtest.engines import EngineOptions, EngineUnavailable
from ..runtest.values import format_value, values_equal
from .compare import Harness, InvalidProgram, LineResult, Observed
from .invariants import nan_leaks, wide_load_hazards

DEFAULT_FUEL = 5_000_000


class ReduceError(Exception):
    """The file cannot be reduced: it does not read, does not fail, or no engine can run it."""


@dataclass
class Reduction:
    text: str
    klass: tuple
    instructions: int
    original_instructions: int
    checks: int


# -- the oracle ----------------------------------------------------------------------------------


class Oracle:
    """Runs candidates and says whether they fail the same way."""

    def __init__(self, mode: str, engines: Sequence[str], fuel: int = DEFAULT_FUEL, path: str = "<reduce>"):
        if mode not in ("compare", "expect"):
            raise ValueError(mode)
        self.mode = mode
        self.engines = list(engines[:2] if mode == "compare" else engines[:1])
        self.harness = Harness(self.engines, EngineOptions(fuel=fuel))
        self.path = path
        self.checks = 0

    def run(self, text: str) -> Optional[list[LineResult]]:
        self.checks += 1
        try:
            return self.harness.run_text(text, self.path)
        except InvalidProgram:
            return None

    def classify(self, r: LineResult) -> Optional[tuple]:
        """The failure class of one run line's results, or None when it does not fail."""
        if self.mode == "compare":
            a, b = r.outcomes
            if r.verdict(self.engines).status != "disagree":
                return None
            return ("disagree", a.klass, b.klass)
        o = r.outcomes[0]
        if not _fails_expectation(r, o):
            return None
        return ("expect", o.describe(r.return_types))


def _fails_expectation(r: LineResult, o: Observed) -> bool:
    cmd = r.bound.command
    if cmd.kind == "print" or o.kind == "skipped":
        return False
    if o.kind == "failed":
        return True
    if cmd.expected_trap is not None:
        return not (o.kind == "trap" and o.code == cmd.expected_trap)
    if o.kind == "trap":
        return True
    if r.bound.expected is None:
        values = o.values or []
        return not (values and values[0] != 0)
    equal = values_equal(o.values or [], r.bound.expected)
    return not equal if cmd.comparison == "==" else equal


# -- IR helpers ----------------------------------------------------------------------------------


def _parse(text: str, path: str = "<reduce>") -> TestFile:
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


def _consts_for(func: Function, values: Sequence[int]) -> Optional[list[Inst]]:
    out: list[Inst] = []
    for v in values:
        insts = _const_insts(func, v, func.value_types[v])
        if insts is None:
            return None
        out.extend(insts)
    return out


def _uses(func: Function) -> dict[int, int]:
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


def _replace_uses(func: Function, old: int, new: int) -> None:
    for inst in func.instructions():
        inst.args = [new if a == old else a for a in inst.args]
        for bc in inst.branch_targets():
            bc.args = [new if a == old else a for a in bc.args]
    for alias, target in list(func.aliases.items()):
        if target == old:
            func.aliases[alias] = new


def _layout_index(func: Function) -> dict[int, int]:
    return {b: i for i, b in enumerate(func.blocks)}


def _reachable(func: Function) -> list[int]:
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


def _preds(func: Function) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {b: [] for b in func.blocks}
    for b, block in func.blocks.items():
        for inst in block.insts:
            for bc in inst.branch_targets():
                out.setdefault(bc.block, []).append(b)
    return out


_PURE_EXCLUDE = ("trap", "load", "store", "call", "side_effects", "branch", "return", "terminator")


def _is_pure(inst: Inst) -> bool:
    return not (inst.opcode.flags & set(_PURE_EXCLUDE))


def dce(tf: TestFile) -> bool:
    """Remove pure instructions whose results nothing uses (semantics-preserving)."""
    changed = False
    for d in tf.functions:
        func = d.function
        while True:
            uses = _uses(func)
            removed = False
            for block in func.blocks.values():
                keep = []
                for inst in block.insts:
                    if inst.results and _is_pure(inst) and not any(uses.get(r) for r in inst.results):
                        removed = True
                        continue
                    keep.append(inst)
                block.insts = keep
            if not removed:
                break
            changed = True
    return changed


_CONSTANTS = ("iconst", "f16const", "f32const", "f64const", "f128const", "vconst")


def dedupe_constants(tf: TestFile) -> bool:
    """Within a block, a constant equal to an earlier one is replaced by it (semantics-preserving)."""
    changed = False
    for d in tf.functions:
        func = d.function
        for block in func.blocks.values():
            seen: dict = {}
            keep = []
            for inst in block.insts:
                if inst.opcode.name in _CONSTANTS and len(inst.results) == 1:
                    imm = bytes(inst.imm) if isinstance(inst.imm, (bytes, bytearray)) else inst.imm
                    key = (inst.opcode.name, str(inst.ctrl_type), imm)
                    first = seen.get(key)
                    if first is not None:
                        _replace_uses(func, inst.results[0], first)
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
        live = set(_reachable(func))
        for b in list(func.blocks):
            if b not in live:
                del func.blocks[b]
                changed = True
    return changed


def merge_blocks(tf: TestFile) -> bool:
    """Fold a block into its only predecessor when that one ends with a plain jump to it."""
    changed = False
    for d in tf.functions:
        func = d.function
        progress = True
        while progress:
            progress = False
            preds = _preds(func)
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
                    _replace_uses(func, p, a)
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
        for n in list(func.func_refs):
            if n not in used_fn:
                del func.func_refs[n]
                changed = True
        used_sig |= {f.signature for f in func.func_refs.values()}
        for n in list(func.signatures):
            if n not in used_sig:
                del func.signatures[n]
                changed = True
        for n in list(func.stack_slots):
            if n not in used_ss:
                del func.stack_slots[n]
                changed = True
        for n in list(func.heaps):
            if n not in used_heap:
                del func.heaps[n]
                changed = True
        for n in list(func.tables):
            if n not in used_table:
                del func.tables[n]
                changed = True
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
        for n in list(func.global_values):
            if n not in used_gv:
                del func.global_values[n]
                changed = True
    return changed


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

    def text(self, print_only: bool) -> str:
        args = ", ".join(format_value(a, t) for a, t in zip(self.args, self.arg_types))
        if print_only:
            return f"print: {self.function}({args})"
        return f"{self.kind}: {self.function}({args})" + (f" {self.tail}" if self.tail else "")


def _set_run_line(tf: TestFile, run: RunLine, print_only: bool) -> None:
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


# -- candidates -----------------------------------------------------------------------------------

# A candidate edits a freshly parsed TestFile (and the run line) in place; it returns False when it
# does not apply.
Edit = Callable[[TestFile, RunLine], bool]


def _inst_sites(tf: TestFile) -> list[tuple[int, int, int]]:
    """(function index, block number, instruction index) of every non-terminator instruction."""
    out = []
    for fi, d in enumerate(tf.functions):
        for b, block in d.function.blocks.items():
            for k, inst in enumerate(block.insts):
                if not inst.opcode.is_terminator:
                    out.append((fi, b, k))
    return out


def _remove_insts(sites: Sequence[tuple[int, int, int]]) -> Edit:
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
                if inst.opcode.name in ("iconst", "f32const", "f64const", "vconst") and _is_zero_const(inst):
                    return False  # already as simple as it gets
                consts = _consts_for(func, inst.results)
                if consts is None:
                    return False
                out.extend(consts)
            block.insts = out
        return True

    return edit


def _ancestors(func: Function, inst: Inst, depth: int = 3) -> list[int]:
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


def _bypass(fi: int, b: int, k: int, choice: int) -> Edit:
    """Remove instruction k and let its users read the `choice`-th of its same-typed ancestors."""

    def edit(tf: TestFile, run: RunLine) -> bool:
        func = tf.functions[fi].function
        block = func.blocks.get(b)
        if block is None or k >= len(block.insts):
            return False
        inst = block.insts[k]
        if len(inst.results) != 1 or inst.opcode.is_terminator:
            return False
        r = inst.results[0]
        same = [a for a in _ancestors(func, inst) if func.value_types.get(a) is func.value_types.get(r) and a != r]
        if choice >= len(same):
            return False
        del block.insts[k]
        _replace_uses(func, r, same[choice])
        return True

    return edit


def _is_zero_const(inst: Inst) -> bool:
    imm = inst.imm
    if isinstance(imm, (bytes, bytearray)):
        return not any(imm)
    return imm == 0


def _simplify_branch(fi: int, b: int, choice: int) -> Edit:
    def edit(tf: TestFile, run: RunLine) -> bool:
        func = tf.functions[fi].function
        block = func.blocks.get(b)
        if block is None or not block.insts:
            return False
        last = block.insts[-1]
        targets = last.branch_targets()
        if last.opcode.name not in ("brif", "br_table") or choice >= len(targets):
            return False
        order = _layout_index(func)
        dest = targets[choice]
        if dest.block not in order or order[dest.block] <= order[b]:
            return False  # keeping a backward edge alone could loop forever
        block.insts[-1] = Inst(OPCODES["jump"], None, [], [], dests=[BlockCall(dest.block, list(dest.args))])
        return True

    return edit


def _remove_function(name: str) -> Edit:
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
                        consts = _consts_for(func, inst.results)
                    elif name_op == "call" and inst.func_ref in refs:
                        consts = _consts_for(func, inst.results)
                    elif name_op == "call_indirect" and inst.args and inst.args[0] in addr_values:
                        consts = _consts_for(func, inst.results)
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


def _remove_block_param(fi: int, b: int, k: int) -> Edit:
    def edit(tf: TestFile, run: RunLine) -> bool:
        func = tf.functions[fi].function
        block = func.blocks.get(b)
        if block is None or k >= len(block.params) or func.entry is block:
            return False
        p = block.params.pop(k)
        consts = _consts_for(func, [p])
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


def _remove_param(fname: str, k: int) -> Edit:
    """Remove parameter k of a function (not a vmctx): its uses become a constant."""

    def edit(tf: TestFile, run: RunLine) -> bool:
        target = next((d.function for d in tf.functions if d.function.name == fname), None)
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
        consts = _consts_for(target, [p])
        if consts is None:
            return False
        entry.insts = consts + entry.insts
        for func, refs, sigs in _callers(tf, fname):
            for s in sigs:
                sig = func.signatures[s]
                if k >= len(sig.params):
                    return False
                del sig.params[k]
            for inst, first in _call_sites(func, refs, sigs):
                del inst.args[first + k]
        if is_main:
            del run.args[k - skip]
            del run.arg_types[k - skip]
        return True

    return edit


def _remove_return(fname: str, k: int) -> Edit:
    def edit(tf: TestFile, run: RunLine) -> bool:
        target = next((d.function for d in tf.functions if d.function.name == fname), None)
        if target is None or k >= len(target.signature.returns) or len(target.signature.returns) < 2:
            return False
        del target.signature.returns[k]
        for inst in target.instructions():
            if inst.opcode.is_return and not inst.opcode.is_call:
                if k >= len(inst.args):
                    return False
                del inst.args[k]
        for func, refs, sigs in _callers(tf, fname):
            for s in sigs:
                sig = func.signatures[s]
                if k >= len(sig.returns):
                    return False
                del sig.returns[k]
            for block in func.blocks.values():
                out: list[Inst] = []
                for inst in block.insts:
                    out.append(inst)
                    is_site = (inst.opcode.name == "call" and inst.func_ref in refs) or (
                        inst.opcode.name == "call_indirect" and inst.sig_ref in sigs)
                    if is_site and k < len(inst.results):
                        v = inst.results.pop(k)
                        consts = _consts_for(func, [v])
                        if consts is None:
                            return False
                        out.extend(consts)
                block.insts = out
        return True

    return edit


def _set_const(fi: int, b: int, k: int, value: int) -> Edit:
    def edit(tf: TestFile, run: RunLine) -> bool:
        func = tf.functions[fi].function
        block = func.blocks.get(b)
        if block is None or k >= len(block.insts):
            return False
        inst = block.insts[k]
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

    return edit


def _set_arg(i: int, value: int) -> Edit:
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


def _drop_environment(tf: TestFile, run: RunLine) -> bool:
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
            func.entry.insts = _consts_for(func, [p]) + func.entry.insts
        for fn_n, f in func.func_refs.items():
            sig = func.signatures.get(f.signature)
            if sig is not None and sig.params and sig.params[0].purpose == "vmctx":
                del sig.params[0]
                for inst, first in _call_sites(func, {fn_n}, {f.signature}):
                    del inst.args[first]
    return True


# -- the reducer ----------------------------------------------------------------------------------


class Reducer:
    def __init__(self, oracle: Oracle, log: Optional[TextIO] = None):
        self.oracle = oracle
        self.log = log
        self.text = ""
        self.run: Optional[RunLine] = None
        self.klass: Optional[tuple] = None
        # When the original keeps rule nan-bits (as generated programs do), every candidate must:
        # otherwise deleting a canonicalisation can swap the failure for a NaN-bits artefact.
        self.keep_nan_invariant = False
        self.keep_load_invariant = False  # likewise for the load widening of rule cranelift-bug

    def say(self, message: str) -> None:
        if self.log is not None:
            print(message, file=self.log)
            self.log.flush()

    # -- state -----------------------------------------------------------------------------------
    def render(self, tf: TestFile, run: RunLine) -> str:
        _set_run_line(tf, run, print_only=self.oracle.mode == "compare")
        return format_test_file(tf)

    def fails_same(self, text: str) -> bool:
        if self.keep_nan_invariant or self.keep_load_invariant:
            tf = _parse(text)
            if self.keep_nan_invariant and nan_leaks(tf):
                return False  # an artefact of rule nan-bits, not the failure we are after
            if self.keep_load_invariant and wide_load_hazards(tf):
                return False  # a known Cranelift bug (rule cranelift-bug), not the failure we are after
        results = self.oracle.run(text)
        if not results:
            return False
        return self.oracle.classify(results[0]) == self.klass

    def attempt(self, edit: Edit, what: str = "") -> bool:
        tf = _parse(self.text)
        run = RunLine(self.run.function, list(self.run.args), list(self.run.arg_types), self.run.tail, self.run.kind)
        try:
            if not edit(tf, run):
                return False
            tidy(tf)
            text = self.render(tf, run)
        except (ClifError, KeyError, IndexError, ValueError, AttributeError, TypeError):
            return False
        if text == self.text or not self.fails_same(text):
            return False
        self.text, self.run = text, run
        if what:
            self.say(f"  {what}: {count_instructions(_parse(text))} instructions")
        return True

    # -- start --------------------------------------------------------------------------------------
    def start(self, text: str, line: Optional[int] = None) -> None:
        results = self.oracle.run(text)
        if results is None:
            raise ReduceError("the file does not read, verify or bind")
        failing = [r for r in results if self.oracle.classify(r) is not None]
        if line is not None:
            failing = [r for r in failing if r.line == line]
        if not failing:
            what = f"line {line}" if line is not None else "no run line"
            engines = " and ".join(self.oracle.engines)
            raise ReduceError(f"{what} fails on {engines} ({'engines agree' if self.oracle.mode == 'compare' else 'as expected'})")
        r = failing[0]
        self.klass = self.oracle.classify(r)
        cmd = r.bound.command
        tail = ""
        if cmd.comparison is not None and cmd.call is not None:
            tail = cmd.source_line[cmd.call.end_col - 1 : cmd.end_col - 1].strip()
        self.run = RunLine(r.function.name, list(r.bound.args), list(r.bound.arg_types), tail, cmd.kind)
        tf = _parse(text)
        self.keep_nan_invariant = self.oracle.mode == "compare" and not nan_leaks(tf)
        self.keep_load_invariant = self.oracle.mode == "compare" and not wide_load_hazards(tf)
        strip_comments(tf)
        single = self.render(tf, self.run)
        if not self.fails_same(single):
            raise ReduceError(f"line {r.line} does not fail the same way when it is the only run line")
        self.text = single
        self.say(f"reducing line {r.line} ({r.call}): {' '.join(self.klass)}")

    # -- passes -------------------------------------------------------------------------------------
    def reduce(self) -> None:
        for round_ in range(20):
            before = self.text
            self.pass_functions()
            self.pass_branches()
            self.pass_instructions()
            self.pass_block_params()
            self.pass_signatures()
            self.pass_environment()
            self.pass_constants()
            if self.text == before:
                break

    def pass_functions(self) -> None:
        tf = _parse(self.text)
        for d in list(tf.functions):
            name = d.function.name
            if name != self.run.function:
                self.attempt(_remove_function(name), f"removed {name}")

    def pass_branches(self) -> None:
        tf = _parse(self.text)
        sites = []
        for fi, d in enumerate(tf.functions):
            for b, block in d.function.blocks.items():
                if block.insts and block.insts[-1].opcode.name in ("brif", "br_table"):
                    sites.append((fi, b, len(block.insts[-1].branch_targets())))
        for fi, b, n in sites:
            for choice in range(n):
                if self.attempt(_simplify_branch(fi, b, choice), f"branch in block{b} made a jump"):
                    break

    def pass_instructions(self) -> None:
        sites = _inst_sites(_parse(self.text))
        chunk = max(1, len(sites) // 2)
        while True:
            i = 0
            sites = _inst_sites(_parse(self.text))
            # From the end: later instructions depend on earlier ones, not the other way round.
            sites.reverse()
            while i < len(sites):
                group = sites[i : i + chunk]
                if chunk == 1 and self.try_bypass(*group[0]):
                    sites = _inst_sites(_parse(self.text))
                    sites.reverse()
                    continue
                if self.attempt(_remove_insts(group), f"removed {len(group)} instruction{'s' if len(group) > 1 else ''}"):
                    sites = _inst_sites(_parse(self.text))
                    sites.reverse()
                    continue  # the same position now holds other instructions
                i += chunk
            if chunk == 1:
                break
            chunk //= 2

    def try_bypass(self, fi: int, b: int, k: int) -> bool:
        tf = _parse(self.text)
        block = tf.functions[fi].function.blocks.get(b)
        if block is None or k >= len(block.insts):
            return False
        func = tf.functions[fi].function
        inst = block.insts[k]
        if len(inst.results) != 1:
            return False
        t = func.value_types.get(inst.results[0])
        count = sum(1 for a in _ancestors(func, inst) if func.value_types.get(a) is t)
        for choice in range(min(count, 6)):
            if self.attempt(_bypass(fi, b, k, choice), "replaced an instruction by a value it is computed from"):
                return True
        return False

    def pass_block_params(self) -> None:
        tf = _parse(self.text)
        for fi, d in enumerate(tf.functions):
            for b in list(d.function.blocks)[1:]:
                k = 0
                while True:
                    cur = _parse(self.text).functions[fi].function.blocks.get(b)
                    if cur is None or k >= len(cur.params):
                        break
                    if not self.attempt(_remove_block_param(fi, b, k), f"removed a parameter of block{b}"):
                        k += 1

    def pass_signatures(self) -> None:
        tf = _parse(self.text)
        for d in tf.functions:
            name = d.function.name
            k = 0
            while True:
                cur = next((x.function for x in _parse(self.text).functions if x.function.name == name), None)
                if cur is None or k >= len(cur.signature.params):
                    break
                if not self.attempt(_remove_param(name, k), f"removed parameter {k} of {name}"):
                    k += 1
            if self.oracle.mode == "expect" and name == self.run.function:
                continue  # the expectation names the returns
            k = 0
            while True:
                cur = next((x.function for x in _parse(self.text).functions if x.function.name == name), None)
                if cur is None or k >= len(cur.signature.returns):
                    break
                if not self.attempt(_remove_return(name, k), f"removed return value {k} of {name}"):
                    k += 1

    def pass_environment(self) -> None:
        self.attempt(_drop_environment, "removed the heap and table directives")

    def pass_constants(self) -> None:
        def sites() -> list[tuple[int, int, int]]:
            tf = _parse(self.text)
            return [(fi, b, k) for fi, d in enumerate(tf.functions) for b, block in d.function.blocks.items()
                    for k, inst in enumerate(block.insts)
                    if inst.opcode.name in ("iconst", "f32const", "f64const", "vconst")]

        i = 0
        found = sites()
        while i < len(found):
            if any(self.attempt(_set_const(*found[i], value)) for value in (0, 1)):
                found = sites()  # an edit may have removed instructions: positions moved
            i += 1
        for i in range(len(self.run.args)):
            for value in (0, 1):
                if self.attempt(_set_arg(i, value), f"argument {i + 1} set to {value}"):
                    break

    # -- the end ------------------------------------------------------------------------------------
    def finish(self) -> str:
        """The reduced file, its run line expecting the reference engine's outcome (compare mode)."""
        tf = _parse(self.text)
        results = self.oracle.run(self.text)
        run = self.run
        if self.oracle.mode == "compare" and results:
            r = results[0]
            expected = r.outcomes[0].expectation(r.return_types) or r.outcomes[1].expectation(r.return_types)
            if expected is not None:
                run = RunLine(run.function, run.args, run.arg_types, f"== {expected}", "run")
            header = [f"reduced by clifkit reduce: {self.oracle.engines[0]} and {self.oracle.engines[1]} disagree",
                      f"{r.call}: " + "; ".join(f"{n}: {o.describe(r.return_types)}"
                                                   for n, o in zip(self.oracle.engines, r.outcomes))]
        else:
            header = [f"reduced by clifkit reduce: {self.oracle.engines[0]} gives {self.klass[-1]}"]
        _set_run_line(tf, run, print_only=False)
        if tf.commands:
            tf.commands[0].comments_before = [f"; {h}" for h in header]
        return format_test_file(tf)


def tidy(tf: TestFile) -> None:
    """Semantics-preserving clean-up after an edit."""
    remove_unreachable(tf)
    merge_blocks(tf)
    dedupe_constants(tf)
    dce(tf)
    cleanup_entities(tf)


def reduce_text(text: str, mode: str = "compare", engines: Sequence[str] = ("interpreter", "native"),
                fuel: int = DEFAULT_FUEL, line: Optional[int] = None, path: str = "<reduce>",
                log: Optional[TextIO] = None) -> Reduction:
    try:
        oracle = Oracle(mode, engines, fuel, path)
    except EngineUnavailable as e:
        raise ReduceError(str(e)) from None
    try:
        original = count_instructions(_parse(text, path))
    except ClifError as e:
        raise ReduceError(e.format()) from None
    reducer = Reducer(oracle, log)
    reducer.start(text, line)
    reducer.reduce()
    out = reducer.finish()
    return Reduction(out, reducer.klass, count_instructions(_parse(out)), original, oracle.checks)


def reduce_file(path: str, mode: str = "compare", engines: Sequence[str] = ("interpreter", "native"),
                fuel: int = DEFAULT_FUEL, line: Optional[int] = None, log: Optional[TextIO] = None) -> Reduction:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ReduceError(f"cannot read {path}: {e}") from None
    return reduce_text(text, mode, engines, fuel, line, path, log)
