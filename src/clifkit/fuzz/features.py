"""Feature groups: which parts of CLIF the generator draws on.

``--features`` takes a comma-separated list. Each item is a group name, ``all``
(every group), ``+name`` (add a group) or ``-name`` (remove one); a list that
starts with ``+``/``-`` edits the default set (all groups). Examples::

    --features int,float,control      only these
    --features -simd,-heap            everything but vectors and heaps
"""

from __future__ import annotations

import random

from ..environment import GROW_FUNCTION
from ..ir.types import I128

FEATURES: dict[str, str] = {
    "int": "integer arithmetic, bit operations, shifts, rotates, comparisons, selects, extensions, overflow ops",
    "i128": "128-bit integers (with int)",
    "float": "f32/f64 arithmetic (NaN-producing cases included), fcmp, rounding, fpromote/fdemote",
    "conv": "float<->int conversions (saturating and trapping), bitcasts",
    "control": "several blocks: jump, brif, block parameters",
    "loops": "counter-bounded loops (back edges carrying a counter block parameter)",
    "br_table": "br_table with block arguments",
    "calls": "calls between generated functions (acyclic), func_addr + call_indirect; a quarter of the "
             "programs use the tail calling convention and return_call/return_call_indirect",
    "stack": "explicit stack slots: stack_load/stack_store/stack_addr",
    "heap": "heaps from `; heap:` directives: heap_addr/heap_load/heap_store, explicit bounds checks, %heap_grow",
    "table": "tables from `; table:` directives: table_addr",
    "simd": "128-bit vectors: lane ops, shuffles, widening/narrowing, vector arithmetic",
    "traps": "trap/trapz/trapnz/uadd_overflow_trap, unguarded division and conversions, out-of-bounds accesses",
}

DEFAULT = frozenset(FEATURES)


class FeatureError(ValueError):
    pass


def parse_features(text: str | None) -> frozenset[str]:
    """The feature set a ``--features`` argument names (None or "" gives every group)."""
    if not text:
        return DEFAULT
    items = [t.strip() for t in text.split(",") if t.strip()]
    chosen: set[str] = set(DEFAULT) if items and items[0][0] in "+-" else set()
    for item in items:
        sign, name = (item[0], item[1:]) if item[0] in "+-" else ("+", item)
        names = set(FEATURES) if name == "all" else {name}
        for n in names:
            if n not in FEATURES:
                known = ", ".join(FEATURES)
                raise FeatureError(f"unknown feature '{n}' (known: all, {known})")
        if sign == "+":
            chosen |= names
        else:
            chosen -= names
    if not chosen & {"int", "float", "simd"}:
        raise FeatureError("the features must include at least one of int, float, simd")
    return frozenset(chosen)


# Cranelift's opt_level values a campaign compiles with (``--opt-level``). Each program draws one,
# so that the mid-end's rewrites (the e-graph, at speed) are fuzzed beside the plain lowering.
# speed_and_size runs the same passes as speed in Cranelift 0.120; it is there to be chosen.
OPT_LEVELS = ("none", "speed", "speed_and_size")
DEFAULT_OPT_LEVELS = ("none", "speed")
_OPT_LEVEL_SALT = 0x6F70745F6C6576  # draws apart from the generator's own stream of the same seed


def parse_opt_levels(text: str | None) -> tuple[str, ...]:
    """The opt levels an ``--opt-level`` argument names: a comma-separated list, in which ``all``
    stands for every level (as in ``--features``); None gives the default."""
    if text is None:
        return DEFAULT_OPT_LEVELS
    items: list[str] = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        if item != "all" and item not in OPT_LEVELS:
            raise FeatureError(f"unknown opt level '{item}' (known: {', '.join(OPT_LEVELS)}, all)")
        items.extend(OPT_LEVELS if item == "all" else [item])
    if not items:
        raise FeatureError("--opt-level names no opt level")
    return tuple(dict.fromkeys(items))


def opt_level_settings(level: str) -> tuple[tuple[str, str], ...]:
    """The Cranelift settings that compile at `level`: none for ``none``, Cranelift's default (so
    a program at that level reads and compiles as before opt levels were drawn)."""
    return () if level == "none" else (("opt_level", level),)


def compile_settings(level: str, sampled: bool) -> tuple[tuple[str, str], ...]:
    """The settings a campaign's backends compile a program with: its opt level's, and Cranelift's
    own IR verifier only for the programs in the verify sample (`in_verify_sample`). The verifier
    checks the CLIF clifkit's lowering hands to Cranelift; it changes no machine code, and costs a
    quarter of Cranelift's compile time (a third of the emulated worker's time under QEMU), so the
    rest of the programs compile without it, as Wasmtime compiles by default. A reproducer compiles
    with it (Cranelift's default), so it can only fail sooner."""
    return opt_level_settings(level) + (() if sampled else (("enable_verifier", "false"),))


def in_verify_sample(index: int, verify_every: int) -> bool:
    """Whether program `index` is one of the campaign's checked sample (``--verify-every``): read
    back from its text and verified by clifkit, and compiled with Cranelift's verifier."""
    return verify_every <= 1 or index % verify_every == 0


def opt_level(program_seed: int, levels: tuple[str, ...]) -> str:
    """The opt level program `program_seed` is compiled with: from its seed alone, by a draw of its
    own, so that the program's text does not depend on `levels`."""
    if len(levels) == 1:
        return levels[0]
    return random.Random(program_seed ^ _OPT_LEVEL_SALT).choice(levels)


def features_text(features: frozenset[str]) -> str:
    if features == DEFAULT:
        return "all"
    return ",".join(f for f in FEATURES if f in features)


# Instructions the interpreter may run per run line of a generated program.
DEFAULT_FUEL = 20_000_000


_GROUPS_OF: dict = {}  # opcode name -> the groups an instruction of it alone shows (features_hit)
_FEATURE_SET = frozenset(FEATURES)


def _groups_of(name: str) -> frozenset:
    """The feature groups one instruction of opcode `name` shows whatever its operands: its
    spec's group when it is drawn by weight, br_table, traps for one that may trap (but the heap
    era's bounds-checked accesses, which count as heap and table), calls for call_indirect."""
    found = _GROUPS_OF.get(name)
    if found is None:
        from ..ir.opcodes import HEAP_ERA_OPCODES, OPCODES
        from .specs import SPECS

        spec, op = SPECS.get(name), OPCODES[name]
        groups = {spec.group} if spec is not None and spec.emitter is None else set()
        if name in ("br_table", "call_indirect"):
            groups.add("br_table" if name == "br_table" else "calls")
        if op.can_trap and name not in HEAP_ERA_OPCODES:
            groups.add("traps")
        found = _GROUPS_OF[name] = frozenset(groups)
    return found


def _has_back_edge(blocks: dict) -> bool:
    """Whether a branch goes to its own block or one laid out before it (a loop)."""
    layout = {number: i for i, number in enumerate(blocks)}
    for here, block in enumerate(blocks.values()):
        # A branch ends its block (a terminator), so only a block's last instruction is one.
        last = block.insts[-1] if block.insts else None
        if last is not None and last.opcode.is_branch:
            for bc in last.branch_targets():
                if bc.block in layout and layout[bc.block] <= here:
                    return True
    return False


def features_hit(functions, heap_styles) -> set[str]:
    """The feature groups a generated program actually uses, read off its IR (for the statistics
    that `clifkit fuzz` prints): `functions` are its Functions, `heap_styles` its directives' styles."""
    hit: set[str] = set()
    if any(style in ("static", "dynamic") for style in heap_styles):
        hit.add("heap")
    if "table" in heap_styles:
        hit.add("table")
    shown: set[str] = set()  # the program's opcode names (their groups are added once, at the end)
    # (each question below is asked only until a function answers it: a program has up to three)
    for func in functions:
        if func.stack_slots:
            hit.add("stack")
        blocks = func.blocks
        if len(blocks) > 1:
            hit.add("control")
        names = {inst.opcode.name for block in blocks.values() for inst in block.insts}
        shown |= names
        if "loops" not in hit and _has_back_edge(blocks):
            hit.add("loops")
        if "calls" not in hit and "call" in names and any(
                inst.opcode.name == "call" and func.func_refs[inst.func_ref].name.text != GROW_FUNCTION
                for block in blocks.values() for inst in block.insts):
            hit.add("calls")  # a call of a generated function, not of the harness's %heap_grow
        if "simd" not in hit or "i128" not in hit:
            types = set(func.value_types.values())
            for t in types:  # (a loop: `any` of a generator made a function and a frame per program)
                if t.is_vector:
                    hit.add("simd")
                    break
            if I128 in types:
                hit.add("i128")
    for name in shown:
        hit |= _GROUPS_OF[name] if name in _GROUPS_OF else _groups_of(name)
    return hit & _FEATURE_SET
