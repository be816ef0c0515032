"""The per-function verifier: reporting, layout, SSA definitions, aliases and dominance.

The checks of the preamble and of instructions live in `preamble.py` and
`insts.py` as mixins of `FunctionVerifier`.
"""

from __future__ import annotations

from .. import lazy
from ..diagnostics import Diagnostic, Location
from ..dialect import CURRENT, Dialect
from ..ir.function import Function, Inst, Signature
from ..ir.types import Type
from .common import TargetInfo, plural
from .insts import InstChecks

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional


class FunctionVerifier(InstChecks):
    """Verifies one function: `run()` returns its diagnostics in source order of discovery."""

    def __init__(self, func: Function, source: Optional[dict[int, str]], target: TargetInfo,
                 dialect: Dialect = CURRENT):
        self.func = func
        self.dialect = dialect  # the era's rules (`clifkit.dialect`): today's unless asked
        self.source = source
        self.target = target
        self.path = func.loc.path if func.loc else "<input>"
        self.diags: list[Diagnostic] = []
        self._seen: set[tuple[Location, str]] = set()
        self.entry = func.entry.number if func.blocks else None

    # -- reporting ----------------------------------------------------------

    def report(self, loc: Optional[Location], message: str) -> None:
        if loc is None:
            loc = self.func.loc or Location(self.path, 1, 1)
        key = (loc, message)
        if key in self._seen:
            return
        self._seen.add(key)
        line = self.source.get(loc.line) if self.source is not None and loc.path == self.path else None
        self.diags.append(Diagnostic(loc, message, source_line=line))

    def decl_loc(self, name: str) -> Optional[Location]:
        """Where a preamble entity (``gv1``, ``heap0``, ...) or a value alias (``v5``) is declared."""
        return self.func.entity_locs.get(name) or self.func.loc

    def inst_loc(self, inst: Inst, block_number: int) -> Optional[Location]:
        if inst.loc is not None:
            return inst.loc
        block = self.func.blocks.get(block_number)
        return block.loc if block is not None and block.loc is not None else self.func.loc

    # -- values ---------------------------------------------------------------

    def resolve(self, v: int) -> int:
        aliases = self.func.aliases
        n = 0
        while v in aliases and n <= len(aliases):
            v = aliases[v]
            n += 1
        return v

    def type_of(self, v: int) -> Optional[Type]:
        types = self.func.value_types
        t = types.get(v)
        if t is None and v in self.func.aliases:
            t = types.get(self.resolve(v))
        return t

    # -- driver ---------------------------------------------------------------

    def check_signature(self, sig: Signature, what: str, loc: Optional[Location]) -> None:
        for i, p in enumerate(sig.params):
            if p.extension and not (p.type.is_int and p.type.is_scalar):
                self.report(loc, f"Parameter at position {i} has invalid extension {p.extension.title()}: "
                                 f"{what}: parameter {i} has type {p.type}, which cannot take the {p.extension} extension")
        for i, r in enumerate(sig.returns):
            if r.extension and not (r.type.is_int and r.type.is_scalar):
                self.report(loc, f"Return value at position {i} has invalid extension {r.extension.title()}: "
                                 f"{what}: return value {i} has type {r.type}, which cannot take the {r.extension} extension")
            if r.purpose == "sarg" or (r.purpose or "").startswith("sarg("):
                self.report(loc, f"Return value at position {i} can't be an struct argument: "
                                 f"{what}: return value {i} cannot be a struct argument")
        if sig.call_conv == "preserve_all" and sig.returns:  # Cranelift 0.125 on
            self.report(loc, f"Signature with `preserve_all` ABI cannot have return values: "
                             f"{what} returns {len(sig.returns)}")


    def run(self) -> list[Diagnostic]:
        func = self.func
        self.check_signature(func.signature, "function signature", func.loc)
        if (func.global_values or func.stack_limit is not None or func.stack_slots or func.dynamic_types
                or func.dynamic_stack_slots or func.signatures or func.func_refs or func.heaps or func.tables
                or func.alias_regions or func.memory_types):
            lazy.module("clifkit.verifier.preamble").check_preamble(self)  # (a function with a preamble)
        if not func.blocks:
            self.report(func.loc, f"function {func.name} has no blocks")
            return self.diags
        self.check_layout()
        self.collect_definitions()
        self.check_aliases()
        self.compute_dominators()
        for block in func.blocks.values():
            for index, inst in enumerate(block.insts):
                self.check_inst(inst, block.number, index)
        return self.diags

    # -- layout, definitions, aliases, dominators -------------------------------

    def check_layout(self) -> None:
        func = self.func
        entry = func.entry
        params = func.signature.params
        if len(entry.params) != len(params):
            self.report(entry.loc, f"entry block parameters ({len(entry.params)}) must match function signature "
                                   f"({len(params)}): entry block{entry.number} has "
                                   f"{plural(len(entry.params), 'parameter')}, but the function signature has {len(params)}")
        else:
            for i, (v, p) in enumerate(zip(entry.params, params)):
                t = self.type_of(v)
                if t is not p.type:
                    self.report(entry.loc, f"entry block parameter {i} expected to have type {p.type}, got {t}: "
                                           f"entry block parameter {i} (v{v}) has type {t}, "
                                           f"but the function signature says {p.type}")
        if entry.cold:
            self.report(entry.loc, f"entry block cannot be marked as cold: entry block{entry.number} cannot be cold")
        for block in func.blocks.values():
            if not block.insts:
                self.report(block.loc, f"block{block.number} is empty")
                continue
            last = len(block.insts) - 1
            for index, inst in enumerate(block.insts):
                if inst.opcode.is_terminator and index != last:
                    self.report(self.inst_loc(inst, block.number),
                                f"a terminator instruction was encountered before the end of block{block.number}: "
                                f"terminator {inst.opcode.name} before the end of block{block.number}")
            self.check_basic(block)
            tail = block.insts[last]
            if not tail.opcode.is_terminator:
                self.report(self.inst_loc(tail, block.number),
                            f"block{block.number} does not end with a terminator ({tail.opcode.name} is last)")

    def check_basic(self, block) -> None:
        """A heap-era `brz`/`brnz` may only be followed by the block's closing `jump`, so that every
        block stays a basic block: what comes after a branch would not dominate its target."""
        insts = block.insts  # (a terminator before the end is reported by check_layout, once)
        first = next((i for i, inst in enumerate(insts) if inst.opcode.is_branch and not inst.opcode.is_terminator),
                     None)
        if first is not None and first + 1 < len(insts) and insts[first + 1].opcode.name != "jump":
            after = insts[first + 1]
            self.report(self.inst_loc(after, block.number),
                        f"post-branch instruction not jump: {after.opcode.name} follows "
                        f"{insts[first].opcode.name} in block{block.number}, where only a jump may")

    def collect_definitions(self) -> None:
        """Map each value to its definition (block, position; -1 for a block parameter)."""
        defs: dict[int, tuple[int, int, Optional[Location]]] = {}

        def define(v: int, block: int, pos: int, loc: Optional[Location]) -> None:
            if v in defs:
                where = defs[v][2]
                at = f" (first defined at line {where.line})" if where is not None else ""
                self.report(loc, f"v{v} is defined more than once{at}")
                return
            defs[v] = (block, pos, loc)
            if v not in self.func.value_types:
                self.report(loc, f"v{v} has no type")

        for block in self.func.blocks.values():
            for v in block.params:
                define(v, block.number, -1, block.loc)
            for pos, inst in enumerate(block.insts):
                loc = self.inst_loc(inst, block.number)
                for v in inst.results:
                    define(v, block.number, pos, loc)
        self.defs = defs

    def check_aliases(self) -> None:
        aliases = self.func.aliases
        reported: set[int] = set()
        for a in aliases:
            loc = self.decl_loc(f"v{a}")
            if a in self.defs:
                self.report(loc, f"v{a} is both an alias and a defined value")
            chain, cur = [a], aliases[a]
            while cur in aliases:
                if cur in chain:
                    cycle = chain[chain.index(cur):]
                    if not reported.intersection(cycle):
                        self.report(loc, "alias cycle: " + " -> ".join(f"v{v}" for v in cycle + [cur]))
                        reported.update(cycle)
                    break
                chain.append(cur)
                cur = aliases[cur]
            else:
                if cur not in self.defs:
                    self.report(loc, f"alias v{a} refers to v{cur}, which is never defined")

    def compute_dominators(self) -> None:
        """Immediate dominators over the CFG of branch targets, and a numbering that answers
        "a dominates b" at once."""
        blocks = self.func.blocks
        succs: dict[int, list[int]] = {}
        for b, block in blocks.items():
            out: list[int] = []
            for inst in block.insts:
                if inst.opcode.is_branch:
                    for bc in inst.branch_targets():
                        if bc.block in blocks and bc.block not in out:
                            out.append(bc.block)
            succs[b] = out
        # Reverse postorder from the entry.
        entry = self.entry
        order: list[int] = []
        visited = {entry}
        stack = [(entry, iter(succs[entry]))]
        while stack:
            b, it = stack[-1]
            for s in it:
                if s not in visited:
                    visited.add(s)
                    stack.append((s, iter(succs[s])))
                    break
            else:
                stack.pop()
                order.append(b)
        order.reverse()
        rpo = {b: i for i, b in enumerate(order)}
        idom = immediate_dominators(entry, succs)
        # Pre/post numbering of the dominator tree answers "a dominates b" in O(1).
        children: dict[int, list[int]] = {b: [] for b in order}
        for b in order[1:]:
            children[idom[b]].append(b)
        pre: dict[int, int] = {}
        post: dict[int, int] = {}
        counter = 0
        stack2 = [(entry, False)]
        while stack2:
            b, done = stack2.pop()
            if done:
                post[b] = counter
                counter += 1
                continue
            pre[b] = counter
            counter += 1
            stack2.append((b, True))
            stack2.extend((c, False) for c in reversed(children[b]))
        self.reachable = rpo
        self.dom_pre, self.dom_post = pre, post

    def dominates(self, a: int, b: int) -> bool:
        pre, post = self.dom_pre, self.dom_post
        if a not in pre or b not in pre:
            return False
        return pre[a] <= pre[b] and post[b] <= post[a]

    def check_use(self, v: int, inst: Inst, block: int, pos: int, loc: Optional[Location]) -> Optional[Type]:
        """Check that `v` is defined and its definition dominates this use; return its type."""
        real = self.resolve(v) if self.func.aliases else v  # (few functions have aliases)
        d = self.defs.get(real)
        if d is None:
            if real == v:
                self.report(loc, f"v{v} is used but never defined")
            else:
                self.report(loc, f"v{v} is an alias of v{real}, which is never defined")
            return None
        if block in self.reachable:
            def_block, def_pos, def_loc = d
            if def_block == block and def_pos == pos:
                self.report(loc, f"uses value v{v} from itself: {inst.opcode.name} uses its own result v{v}")
            elif (def_block == block and def_pos > pos) or (def_block != block and not self.dominates(def_block, block)):
                where = f"line {def_loc.line}" if def_loc is not None else f"block{def_block}"
                what = "arg" if def_pos < 0 else f"v{v}"
                self.report(loc, f"uses value {what} from non-dominating definition: "
                                 f"use of v{v} is not dominated by its definition ({where})")
        return self.func.value_types.get(real)


def immediate_dominators(entry: int, succs: dict[int, list[int]]) -> dict[int, int]:
    """The immediate dominator of every block reachable from `entry` (the entry's is itself).

    Semi-NCA (Georgiadis; as LLVM computes it): semidominators by Lengauer and Tarjan's
    path-compressing `eval` over a depth-first preorder, then each idom as the nearest common
    ancestor of the block's DFS parent and its semidominator. Near-linear, with no recursion: the
    iterative Cooper-Harvey-Kennedy scheme takes quadratic time on a block with thousands of
    predecessors at the end of a chain (a 20,000-block function took half a minute)."""
    number = {entry: 0}
    vertex = [entry]
    parent = [0]
    stack = [(entry, iter(succs[entry]))]
    while stack:
        b, it = stack[-1]
        for s in it:
            if s not in number:
                number[s] = len(vertex)
                vertex.append(s)
                parent.append(number[b])
                stack.append((s, iter(succs[s])))
                break
        else:
            stack.pop()
    n = len(vertex)
    preds: list[list[int]] = [[] for _ in range(n)]
    for b, i in number.items():
        for s in succs[b]:
            preds[number[s]].append(i)
    semi = list(range(n))
    label = list(range(n))
    ancestor = [-1] * n  # the forest of blocks already handled (numbers above the current one)
    for w in range(n - 1, 0, -1):
        best = semi[w]
        for v in preds[w]:
            if v > w:
                # eval(v): compress the path to the forest root, then its lowest semidominator.
                path = []
                x = v
                while ancestor[x] != -1 and ancestor[ancestor[x]] != -1:
                    path.append(x)
                    x = ancestor[x]
                for y in reversed(path):
                    a = ancestor[y]
                    if semi[label[a]] < semi[label[y]]:
                        label[y] = label[a]
                    ancestor[y] = ancestor[a]
                v = semi[label[v]]
            if v < best:
                best = v
        semi[w] = best
        ancestor[w] = parent[w]
    idom = [0] * n
    for w in range(1, n):
        x = parent[w]
        while x > semi[w]:
            x = idom[x]
        idom[w] = x
    return {vertex[i]: vertex[idom[i]] for i in range(n)}
