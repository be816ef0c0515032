"""Random, valid, terminating CLIF programs for differential testing.

    gen = Generator(GenConfig(features=parse_features("all")))
    program = gen.program(seed)          # reproducible from the seed alone
    program.text()                       # a `test run` file with `; run:` lines (no expectations)

A program is a few functions (``%main`` last; each calls only functions
generated before it, so calls are acyclic), heap and table directives when it
uses them, and a few run lines with generated arguments. Everything random
comes from one ``random.Random(seed)`` (`gen_values.GenRandom`); nothing iterates a set or a dict keyed
by identity, so the same seed gives the same text on every run.

Termination: blocks are laid out so that ordinary branches only go forward;
the only backward branches are loop back edges, taken while a counter block
parameter is nonzero and passing it decremented. Calls are acyclic. So every
run executes a bounded number of instructions.

Validity: instructions are built from the opcode table (`ir/opcodes.py`) and
the fuzzing table (`specs.py`), values come from a pool of values that
dominate the insertion point (the block's parameters, and everything defined in
the block and in its dominators), and every program is checked with clifkit's
verifier before it runs (`compare.Harness.run_text`).

This module is the program-level scaffolding (`GenConfig`, `ProgramGen`: features, types,
heap plans, signatures, the mix of actions) and the entry point (`Generator`). One function
is built by `gen_function.FuncGen`, whose per-feature emitters live in `gen_ops` (opcodes),
`gen_memory` (stack, heaps, tables), `gen_calls` and `gen_control` (blocks and terminators);
random values come from `gen_values`, and the result is a `gen_program.Program`.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Optional

from ..environment.guarantee import grown_in_place_extent
from ..dialect import dialect
from ..ir.entities import GlobalValueData, HeapData, TableData
from ..ir.function import AbiParam, Function, Signature
from ..ir.types import I8, I16, I32, I64, I128, Type
from .features import DEFAULT, DEFAULT_OPT_LEVELS, opt_level
from .gen_function import Callee, FuncGen
from .gen_memory import NOTRAP_ALIGNED, READONLY
from .gen_program import HeapPlan, HeapTable, HeapView, Program
from .gen_values import GenRandom, plain_param, random_value
from .specs import FLOAT_SCALARS, FLOAT_VECTORS, INT_SCALARS, INT_VECTORS, SPECS, lowering_gap

@dataclass
class GenConfig:
    features: frozenset = DEFAULT
    max_functions: int = 3  # %main included
    max_blocks: int = 6
    max_insts: int = 12  # per block, besides constants, guards and the terminator
    max_params: int = 7  # enough to pass some on the stack
    max_returns: int = 4  # more than two: returned through memory
    loop_limit: int = 5  # largest initial loop counter
    runs: int = 3  # run lines per program
    target: str = "x86_64"
    # Every target the program will run on (empty: `target` alone).
    targets: tuple = ()
    # Pick a random subset of the features for each program (varied, smaller programs).
    vary_features: bool = True
    # Whose rules the programs follow (`clifkit.dialect`): "2022" adds the shapes only that era
    # allows (shuffle lanes 32-255, tables over a heap directive); today's never draw for them, so
    # a seed's programs are the same as before the option existed.
    cranelift: str = "current"
    # Cranelift's opt_level values the backends compile with: each program draws one (`opt_level`).
    opt_levels: tuple = DEFAULT_OPT_LEVELS


# The share of programs (with calls) whose functions all use the tail calling convention.
TAIL_SHARE = 0.25
_TAIL_SALT = 0x7461696C5F6363
_SHAPES_SALT = 0x7368617065735F

# Heap sizes: powers of two, and ends that are not multiples of 16 or of the page.
_ACTIONS: dict[frozenset, tuple[list, list]] = {}  # features -> (actions, cumulative weights)
_GAPS: dict[tuple, dict] = {}  # targets -> (opcode, controlling type, *operand types) -> lowering_gap
_CTRLS: dict[tuple, dict] = {}  # the program's types -> opcode -> its controlling types (FuncGen.ctrl_candidates)
_OPERAND_PLANS: dict[tuple, dict] = {}  # the program's types -> (opcode, controlling type) -> operand plan
_CHOICES: dict[tuple, dict] = {}  # (the program's types, targets) -> ProgramGen.choices
_SORTED: dict[frozenset, list] = {}  # a campaign's features -> them sorted (choose_features)
HEAP_SIZES = (1, 0x11, 0x100, 0x1001, 0x1000, 0x10000)
# Rarer shapes of docs/heaps.md, each drawn seldom so that the mix keeps its character: the share
# of heaps that are empty, of static i32 heaps with the elided-check layout below 4 GiB, of
# dynamic i32 heaps whose bound slot is loaded as i32, of tables with odd element sizes or no
# elements, and of programs whose vmctx slots are scattered.
ZERO_HEAP_SHARE = 0.02
ELIDED_SHARE = 0.15
NARROW_BOUND_SHARE = 0.3
ODD_ELEMENT_SHARE = 0.15
ODD_ELEMENT_SIZES = (1, 3, 12, 24)
EMPTY_TABLE_SHARE = 0.015
SCATTERED_SLOTS_SHARE = 0.15
READONLY_SHARE = 0.2  # of static heap and table base (and table bound) loads
DYNAMIC_EXTRAS_SHARE = 0.2  # of dynamic heap declarations with a nonzero min and offset_guard
OVERLAY_SHARE = 0.1  # of dynamic heap and table declarations with a static declaration over them
DEEP_CHAIN_SHARE = 0.3  # of derived bases reached by two iadd_imm steps
FOUR_GIB = 0x1_0000_0000


def elided_bound(reach: int) -> tuple[int, int]:
    """A static i32 heap's (bound, offset_guard) with the bound below 4 GiB and the guard making
    every 32-bit index land in bound + guard (docs/native.md, case 2: no checks natively). The
    bound covers `reach`, the furthest the heap is ever accessible from the declaration's base,
    as docs/heaps.md ("Reservations") requires of such a heap."""
    bound = max(reach, 1)
    return bound, FOUR_GIB - bound + 0x1000

BIG_ENDIAN_TARGETS = ("s390x",)

# How much of a block each feature group makes, relative to the others.
GROUP_SHARES = {"int": 5.0, "float": 3.0, "conv": 1.0, "simd": 3.0, "traps": 0.4, "stack": 1.0, "heap": 1.8,
                "table": 0.6, "calls": 0.8}


_DRAWN: dict = {}  # group -> ([(index in SPECS, name, weight, needs)], every feature its specs need)
_GROUP_ACTIONS: dict = {}  # (group, the features its specs need that a program has) -> its actions


def _group_actions(group: str, feats: frozenset) -> Optional[tuple]:
    """(index in SPECS of its first, [("op", name)], [weight]) of the opcodes of `group` a program
    with `feats` draws, each weighted by its share of the group's (GROUP_SHARES); None if none.
    Remembered by what decides it: most programs have a feature set of their own, but few
    differ in the features one group's opcodes need (filtering the whole table for each program
    was a measurable part of generating)."""
    if not _DRAWN:
        for i, (name, spec) in enumerate(SPECS.items()):
            if spec.emitter is None:
                _DRAWN.setdefault(spec.group, []).append((i, name, spec.weight, spec.needs))
        for drawn_group, drawn in _DRAWN.items():
            _DRAWN[drawn_group] = (drawn, frozenset(n for *_, needs in drawn for n in needs))
    specs, needed = _DRAWN.get(group, ((), frozenset()))
    key = (group, needed & feats)
    if key not in _GROUP_ACTIONS:
        members = [(i, name, w) for i, name, w, needs in specs if all(n in feats for n in needs)]
        total = sum(w for _, _, w in members)
        _GROUP_ACTIONS[key] = (members[0][0], [("op", name) for _, name, _ in members],
                               [GROUP_SHARES[group] * w / total for _, _, w in members]) if members else None
    return _GROUP_ACTIONS[key]


# -- whole programs ------------------------------------------------------------------------------


class ProgramGen:
    """State shared by the functions of one program."""

    def __init__(self, cfg: GenConfig, seed: int):
        self.cfg = cfg
        self.seed = seed
        self.rng = GenRandom(seed)
        self.features = self.choose_features()
        self.types = self.choose_types()
        self.int_scalars = [t for t in self.types if t.is_int and not t.is_vector]
        if not self.int_scalars:
            self.int_scalars = [I32]
        self.heaps: list[HeapPlan] = []
        self.dialect = dialect(cfg.cranelift)
        self.heap_tables: list[HeapTable] = []  # 2022: tables over a heap directive's memory
        self.actions, self.action_cum_weights = self.choose_actions()
        self.targets = tuple(t.split()[0] for t in (cfg.targets or (cfg.target,)))
        # Remembered across programs with the same targets and types (a few dozen sets of each).
        self.gaps: dict = _GAPS.setdefault(self.targets, {})
        self.type_key = tuple(self.types)
        self.ctrl_lists: dict[str, list[Type]] = _CTRLS.setdefault(self.type_key, {})
        # (opcode, controlling type) -> gen_ops.OpEmitters.operand_plan, by the program's types too
        self.operand_plans: dict[tuple, list] = _OPERAND_PLANS.setdefault(self.type_key, {})
        # a maker's choices that depend on nothing but the program's types and targets (gen_ops)
        self.choices: dict = _CHOICES.setdefault((self.type_key, self.targets), {})
        # Whether every function uses the tail calling convention, so that returns may become
        # return_call: drawn apart from the generator's stream, which is then the same as before
        # for the programs that do not (their texts do not change).
        self.tail = "calls" in self.features and random.Random(seed ^ _TAIL_SALT).random() < TAIL_SHARE
        # The rarer heap, table and vmctx shapes are drawn from a stream of their own, so that a
        # program that draws none of them is the one it was before they existed.
        self.shapes = random.Random(seed ^ _SHAPES_SALT)

    def choose_features(self) -> frozenset:
        base = self.cfg.features
        if not self.cfg.vary_features:
            return frozenset(base)
        rng = self.rng
        ordered = _SORTED.get(base)
        if ordered is None:
            ordered = _SORTED[base] = sorted(base)
        picked = [f for f in ordered if rng.random() < 0.7]
        if not set(picked) & {"int", "float", "simd"}:
            picked.append(rng.choice(sorted(set(base) & {"int", "float", "simd"})))
        return frozenset(picked)

    def choose_types(self) -> list[Type]:
        feats = self.features
        types: list[Type] = []
        if "int" in feats or "float" not in feats:
            types += INT_SCALARS
            if "i128" in feats:
                types.append(I128)
        else:
            types += [I8, I32, I64]  # conditions, indices, counters
        if "float" in feats:
            types += FLOAT_SCALARS
        if "simd" in feats:
            types += INT_VECTORS
            if "float" in feats:
                types += FLOAT_VECTORS
        return types

    def choose_actions(self) -> tuple[list, list]:
        """What a block's body is made of: each feature group gets its share (GROUP_SHARES), split
        among its opcodes by their weights, so that a group with few opcodes (heaps) is not drowned
        by one with many (integers). The weights are cumulative (`random.choices`' cum_weights,
        which draws as the weights themselves would), and remembered per feature set."""
        found = _ACTIONS.get(self.features)
        if found is None:
            actions, weights = self._actions()
            found = _ACTIONS[self.features] = actions, list(itertools.accumulate(weights))
        return found

    def _actions(self) -> tuple[list, list]:
        feats = self.features
        # Groups in the order the table first names one of their opcodes the program may use.
        groups = sorted(found for found in (_group_actions(g, feats) for g in sorted(feats)) if found is not None)
        actions, weights = [], []
        for _, group_actions, group_weights in groups:
            actions += group_actions
            weights += group_weights
        for feat, name in (("stack", "stack"), ("heap", "heap"), ("table", "table"), ("calls", "call")):
            if feat in feats:
                actions.append(("gen", name))
                weights.append(GROUP_SHARES[feat])
        return actions, weights

    def gap(self, name: str, ctrl: Optional[Type], types: list[Type]) -> bool:
        """Is this opcode/type combination one a chosen target cannot compile (or compiles wrongly)?"""
        key = (name, ctrl, *types)
        found = self.gaps.get(key)
        if found is None:
            found = self.gaps[key] = lowering_gap(name, ctrl, types, self.targets)
        return found

    def ctrls(self, name: str, fg: FuncGen) -> list[Type]:
        found = self.ctrl_lists.get(name)
        if found is None:
            found = self.ctrl_lists[name] = fg.ctrl_candidates(name)
        return found

    def plan_heaps(self) -> None:
        rng, shapes, feats = self.rng, self.shapes, self.features
        slot = 0
        if "heap" in feats:
            for i in range(rng.randint(1, 2)):
                style = rng.choice(("static", "dynamic"))
                # Sizes that are not multiples of 16 or of the page too: a heap's end is exact.
                # Now and then an empty heap (every access traps until it grows).
                size = rng.choice(HEAP_SIZES)
                max_size = size * rng.choice((1, 2, 4))
                if shapes.random() < ZERO_HEAP_SHARE:
                    size, max_size = 0, shapes.choice((0, 0x1000))
                index_type = rng.choice((I32, I64))
                decl_bound = rng.choice((size, max_size, max_size * 2)) if style == "static" else 0
                guard = rng.choice((0, 0, 0x1000)) if style == "static" else 0
                bound_type = I64
                if style == "static" and index_type is I32 and shapes.random() < ELIDED_SHARE:
                    # A bound below 4 GiB whose guard covers every 32-bit index: native code
                    # leaves the checks out, so the bound reaches as far as the heap ever will be
                    # readable natively (grown in place: to the end of the page max ends in).
                    decl_bound, guard = elided_bound(grown_in_place_extent(size, max_size))
                elif style == "dynamic" and index_type is I32 and shapes.random() < NARROW_BOUND_SHARE:
                    bound_type = I32  # the bound slot loaded as i32 (docs/heaps.md)
                self.heaps.append(HeapPlan(len(self.heaps), style, size, max_size, slot, slot + 8, index_type,
                                           decl_bound=decl_bound, guard=guard, bound_type=bound_type))
                slot += 16
        if "table" in feats and rng.random() < 0.7:
            esize = rng.choice((8, 16, 32))
            if shapes.random() < ODD_ELEMENT_SHARE:
                esize = shapes.choice(ODD_ELEMENT_SIZES)
            elements = rng.choice((1, 4, 16, 100))
            if shapes.random() < EMPTY_TABLE_SHARE:
                elements = 0
            index_type = rng.choice((I8, I16, I32, I64))
            self.heaps.append(HeapPlan(len(self.heaps), "table", elements * esize, elements * esize, slot, slot + 8,
                                       index_type,
                                       element_size=esize))
        if self.heaps and shapes.random() < SCATTERED_SLOTS_SHARE:
            self.scatter_slots()
        if self.dialect.tables_over_heaps and "table" in feats:
            # 2022: a table over a heap directive's memory; its bound reads the heap's byte count
            # as an element count (docs/heaps.md). The bound slot is loaded as i64, the width a
            # dynamic heap's bound loads, so the slot has one width whatever declares it.
            for plan in [h for h in self.heaps if h.style != "table" and h.bound_type is I64]:
                if rng.random() < 0.6:
                    self.heap_tables.append(HeapTable(1000 + len(self.heap_tables), plan, rng.choice((4, 8, 16))))

    def scatter_slots(self) -> None:
        """Lay the directives' vmctx slots out apart from the usual 0/8, 16/24, ...: any 8-byte
        aligned offsets (docs/heaps.md), in any order, with gaps between them."""
        count = 2 * len(self.heaps)
        offsets = self.shapes.sample(range(0, 8 * (count + 3), 8), count)
        for n, plan in enumerate(self.heaps):
            plan.ptr, plan.bound_slot = offsets[2 * n], offsets[2 * n + 1]

    @property
    def vmctx_size(self) -> int:
        return max((max(h.ptr, h.bound_slot) + 8 for h in self.heaps), default=0)

    def declare_heaps(self, func: Function, fg: FuncGen, main: bool) -> None:
        """gv0 = vmctx, and the declarations this function wants: a table per table plan; for heap
        plans, the heaps it declares itself (a heap may be declared only in a callee), some from a
        derived base (`iadd_imm` on the loaded base, sometimes in two steps), static declarations
        over a dynamic heap's or a table's memory, and sometimes a heap over vmctx (from gv0 or
        from a base derived from it). Bases that never move (static heaps', tables') are
        sometimes loaded `readonly`."""
        rng, shapes = self.rng, self.shapes
        heaps = "heap" in self.features
        gvs = func.global_values
        gvs[0] = GlobalValueData("vmctx")
        for plan in self.heaps:
            if plan.style != "table" and rng.random() >= (0.55 if main else 0.85):
                continue
            base = len(gvs)
            still = plan.style != "dynamic" and shapes.random() < READONLY_SHARE
            gvs[base] = GlobalValueData("load", base=0, offset=plan.ptr, type=I64,
                                        flags=READONLY if still else NOTRAP_ALIGNED)
            if plan.style == "table":
                bound = len(gvs)
                # The bound has the index type; the harness writes a slot in the width its
                # declarations load (`environment.slot_writes`), in the target's byte order.
                gvs[bound] = GlobalValueData("load", base=0, offset=plan.bound_slot, type=plan.index_type,
                                             flags=READONLY if still else NOTRAP_ALIGNED)
                n = len(func.tables)
                func.tables[n] = TableData(base, 0, bound, plan.element_size, plan.index_type,
                                           ("min", "bound", "element_size", "index_type"))
                fg.heap_refs[plan.index] = n
                if heaps and plan.size and shapes.random() < OVERLAY_SHARE:
                    self.declare_overlay(fg, plan, base)
                continue
            if plan.style == "dynamic":
                bound = len(gvs)
                gvs[bound] = GlobalValueData("load", base=0, offset=plan.bound_slot, type=plan.bound_type,
                                             flags=NOTRAP_ALIGNED)
                min_size, guard = 0, 0
                if shapes.random() < DYNAMIC_EXTRAS_SHARE:
                    # A promised minimum (at most its size) and a guard: neither changes a check.
                    min_size = shapes.choice((1, 0x10, plan.size)) if plan.size else 0
                    guard = shapes.choice((0x10, 0x1000, 0x8000_0000))
                self.add_heap(fg, HeapView(len(func.heaps), plan, 0, 0, guard, plan.index_type, "dynamic"),
                              base, bound, min_size)
                if shapes.random() < OVERLAY_SHARE:
                    self.declare_overlay(fg, plan, base)
                continue
            self.add_heap(fg, HeapView(len(func.heaps), plan, 0, plan.decl_bound, plan.guard, plan.index_type), base)
            if rng.random() < 0.35:
                # A derived base: the same heap seen from `disp` bytes in, with its own bound.
                disp = rng.choice([d for d in (1, 0x10, 0x100, 0x1001) if d < plan.size] or [0])
                derived = self.derive(gvs, base, disp)
                # (With no checks natively, the bound must reach as far as a static heap grown in
                # place is readable: to the end of the page its max ends in.)
                readable = grown_in_place_extent(plan.size, plan.max_size) if plan.style == "static" else plan.max_size
                bound, guard, index_type = self.static_bound(plan.max_size - disp if plan.max_size > disp else 1,
                                                             elided_reach=max(readable - disp, 1))
                self.add_heap(fg, HeapView(len(func.heaps), plan, disp, bound, guard, index_type), derived)
        for table in self.heap_tables:
            if rng.random() < (0.8 if main else 0.5):
                self.declare_heap_table(func, fg, table)
        if any(h.style != "table" for h in self.heaps) and rng.random() < 0.2:
            # A heap over the vmctx struct itself (`heapN = static gv0`, or a base derived from
            # gv0): only its bound slots are read.
            disp = shapes.choice((8, 16)) if shapes.random() < 0.25 and self.vmctx_size > 16 else 0
            bound, guard, index_type = self.static_bound(self.vmctx_size - disp)
            self.add_heap(fg, HeapView(len(func.heaps), None, disp, bound, guard, index_type),
                          self.derive(gvs, 0, disp) if disp else 0)

    def derive(self, gvs: dict, base: int, disp: int) -> int:
        """A global value `disp` bytes past global value `base`: one `iadd_imm`, or a chain of two."""
        shapes = self.shapes
        if disp > 1 and shapes.random() < DEEP_CHAIN_SHARE:
            first = shapes.randrange(1, disp)
            step = len(gvs)
            gvs[step] = GlobalValueData("iadd_imm", base=base, offset=first, type=I64)
            base, disp = step, disp - first
        derived = len(gvs)
        gvs[derived] = GlobalValueData("iadd_imm", base=base, offset=disp, type=I64)
        return derived

    def declare_overlay(self, fg: FuncGen, plan: HeapPlan, base: int) -> None:
        """A static heap declaration over a dynamic heap's or a table's memory (docs/heaps.md,
        "Reservations": a region reserves what its declarations need, whatever its directive)."""
        bound, guard, index_type = self.static_bound(plan.max_size or 1, self.shapes)
        self.add_heap(fg, HeapView(len(fg.func.heaps), plan, 0, bound, guard, index_type), base)

    @staticmethod
    def declare_heap_table(func: Function, fg: FuncGen, table: HeapTable) -> None:
        """`tableN = dynamic gvB, bound gvL, element_size E, index_type i64` whose base and bound
        load the heap directive's ptr and bound slots (2022 rules)."""
        gvs = func.global_values
        base, bound = len(gvs), len(gvs) + 1
        gvs[base] = GlobalValueData("load", base=0, offset=table.heap.ptr, type=I64, flags=NOTRAP_ALIGNED)
        gvs[bound] = GlobalValueData("load", base=0, offset=table.heap.bound_slot, type=I64, flags=NOTRAP_ALIGNED)
        n = len(func.tables)
        func.tables[n] = TableData(base, 0, bound, table.element_size, I64,
                                   ("min", "bound", "element_size", "index_type"))
        fg.heap_refs[table.index] = n

    def static_bound(self, size: int, rng: Optional[random.Random] = None,
                     elided_reach: Optional[int] = None) -> tuple[int, int, Type]:
        """A static declaration's bound, offset_guard and index type over `size` bytes: exact, with
        room, the classic Wasm layout (4 GiB bound, 2 GiB guard, i32 indices: no bounds checks),
        or, now and then, a bound of `elided_reach` (default `size`: how far the memory is ever
        readable natively) with a guard that covers every 32-bit index (no checks either). Drawn
        from `rng` (by default the program's stream)."""
        rng = rng or self.rng
        r = rng.random()
        if r < 0.15:
            found = 0x1_0000_0000, rng.choice((0, 0x8000_0000)), I32
        else:
            bound = size if r < 0.6 else size * 2 + 0x100
            found = bound, rng.choice((0, 0, 0x1000)), rng.choice((I32, I64))
        if self.shapes.random() < ELIDED_SHARE / 3:
            return (*elided_bound(size if elided_reach is None else elided_reach), I32)
        return found

    @staticmethod
    def add_heap(fg: FuncGen, view: HeapView, base: int, bound: int = 0, min_size: int = 0) -> None:
        func = fg.func
        if view.style == "dynamic":
            func.heaps[view.number] = HeapData("dynamic", base, min_size, bound, view.guard, view.index_type,
                                               ("min", "bound", "offset_guard", "index_type"))
        else:
            size = view.limit(fg.p.vmctx_size)
            func.heaps[view.number] = HeapData("static", base, size, view.bound, view.guard, view.index_type,
                                               ("min", "bound", "offset_guard", "index_type"))
        fg.heap_views.append(view)

    def signature(self, vmctx: bool, main: bool = False, callees: tuple = ()) -> Signature:
        rng, cfg = self.rng, self.cfg
        low = 1 if main else 0  # %main takes arguments: its results should depend on the run line
        count = rng.randint(low, cfg.max_params if rng.random() < 0.3 else min(cfg.max_params, 3))
        params = [plain_param(rng.choice(self.types)) for _ in range(count)]
        if vmctx:
            params.insert(0, AbiParam(I64, purpose="vmctx"))
        if self.tail and callees and rng.random() < 0.8:
            # A callee's return types, so that a return may become a tail call to it.
            return Signature(params, list(rng.choice(callees).signature.returns), call_conv="tail")
        count = rng.randint(1, cfg.max_returns if rng.random() < 0.3 else min(cfg.max_returns, 2))
        returns = [plain_param(rng.choice(self.types)) for _ in range(count)]
        if self.tail:
            return Signature(params, returns, call_conv="tail")
        return Signature(params, returns, call_conv="fast", call_conv_written=False)

    def build(self) -> Program:
        rng, cfg = self.rng, self.cfg
        self.plan_heaps()
        vmctx = bool(self.heaps)
        count = rng.randint(2 if self.tail else 1, cfg.max_functions) if "calls" in self.features else 1
        functions: list[Function] = []
        callees: list[Callee] = []
        for i in range(count):
            last = i == count - 1
            name = "%main" if last else f"%f{count - 1 - i}"
            sig = self.signature(vmctx, main=last, callees=tuple(callees))
            fg = FuncGen(self, name, sig, list(callees))
            if vmctx:
                self.declare_heaps(fg.func, fg, last)
            functions.append(fg.generate())
            callees.append(Callee(name, sig))
        main = functions[-1]
        types = [p.type for p in main.signature.params[1 if vmctx else 0 :]]
        runs = [[random_value(rng, t) for t in types] for _ in range(cfg.runs)]
        return Program(self.seed, functions, self.heaps, runs, cfg.target, self.features,
                       opt_level(self.seed, cfg.opt_levels))


class Generator:
    def __init__(self, cfg: Optional[GenConfig] = None):
        self.cfg = cfg or GenConfig()

    def program(self, seed: int) -> Program:
        return ProgramGen(self.cfg, seed).build()
