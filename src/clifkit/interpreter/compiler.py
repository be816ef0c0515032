"""The compiler: one CLIF function → one Python function, built once and run many times.

Shape of the generated code for ``function %f(i32, i32) -> i32``::

    def _F3(_m, _d, v0, v1):             # machine, call depth, then the entry block's params
        _f = _m.fuel                     # fuel left, a local; written back around calls
        _b = 1
        while True:                      # only when there is more than one dispatch root
            if _b == 1:                  # a root: its tree of inlined blocks follows
                while True:              # only for loop headers: a back edge is `continue`
                    _f -= 6              # the block's instruction count, checked at entry
                    if _f < 0: _f = _nofuel(_m, '%f', _f)   # next fuel slice (or FuelExhausted)
                    v4 = ((v4 * 0x1f) & 0xffffffff)       # inlined templates (this value goes
                                                          # straight into its loop parameter v4)
                    v9 = _k12(v4, v3)                     # callables, bound as globals
                    if v9:
                        v3 = v8                           # other block params: (parallel) assignment
                        continue
                    _b = 2
                    break
            ...

Code that runs once per call (`OpContext.once`) in a function with no code on a cycle keeps the
fuel in ``_m.fuel`` instead, charged and checked by one call per block (``_fuel3(_m, 6)``,
`short_fuel`), and makes each call, tail call and frame entry one line (`machine`'s helpers).

Blocks become *dispatch roots* (the entry, loop headers found by a DFS from
the entry, and blocks with several predecessors); every other block has one
predecessor and is inlined at its single incoming edge, so a root carries a
tree of code. Roots are dispatched by an if/elif chain on ``_b`` (a binary
search for many roots). A branch to the root being run is ``continue`` of
the root's own loop; to another root, ``_b = N`` then ``break``/``continue``.
In a loop whose header branches to itself, a value the back edge passes is
written straight into its parameter where the parameter's old value is dead
by then (`coalesce`), so the edge copies nothing for it.

Calls pass the machine and the depth: ``v5 = _F7(_m, _d + 1, v1)`` (``_d1``,
computed at entry, in a function with loops). The caller checks the depth
(``if _d >= 2000: _stk_ovf(_d + 1)``, `max_call_depth`), once on each path to
its calls; `Interpreter.call` checks the outermost call, and a tail call stays
at its caller's depth. Fuel is
handed over in ``_m.fuel`` around a call; a callee's last block, when pure,
may leave it below 0, for the caller to check before it next does anything
observable (`check_after_call`). ``return_call`` returns
the marker `TAIL_CALL` (``_TC``) after leaving the callee and its arguments
in ``_m.tail_fn`` / ``_m.tail_args``; the caller's trampoline
(``while _r is _TC``) makes the call, so tail calls run in constant Python stack; a function tail-calling itself instead jumps
back to its entry block. ``call_indirect`` looks the address up in ``_IND``
(address → [function, signature key]).
"""

from __future__ import annotations

import collections
import linecache
import re
import struct

from ..ir.function import Block, BlockCall, Function, Inst, Signature
from ..ir.opcodes import OPCODES, opcode
from ..ir.types import Type
from ..lazy import module
from .integer_ops import compile_template
from .machine import Unsupported, frame_layout, fuel_charger
from .memory import PAGE_MASK, PAGE_SIZE, RUNTIME_MEMORY
from .registry import (BY_SHAPE, BY_SHAPE_ONCE, COMPILER_LOWERED, CONSTANT_TEXTS, UNSUPPORTED, OpContext, lookup,
                       remember)

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional


# The families below are imported by the first function that needs them (`lazy.module`: no import
# machinery on every call): memory, value ranges (a loop or recursion), floats held as floats.
def _memory_ops():
    return module("clifkit.interpreter.memory_ops")


def _analyse_ranges(fc):
    return module("clifkit.interpreter.ranges").analyse(fc)


def _float_repr():
    return module("clifkit.interpreter.float_repr")


def _has_scalar_floats(func: Function) -> bool:
    """Has the function an f32 or f64 value (the only ones `float_repr` may hold as floats)?"""
    return any(t is not None and not t.is_vector and t.name in ("f32", "f64") for t in func.value_types.values())

# Instructions that cannot trap, touch memory or call: a block of these (ending in a branch) may
# leave its fuel charge unchecked to the next block that checks (see emit_block), and an integer
# one may be folded into its use (find_foldable). A speed device's choice among the table's pure
# opcodes (`Opcode.is_pure`, checked here): the cheap scalar ones whose lowering is an expression.
PURE = frozenset(opcode(name) for name in """
    nop iconst f32const f64const iadd isub imul iadd_imm imul_imm irsub_imm ineg iabs
    band bor bxor bnot band_not bor_not bxor_not band_imm bor_imm bxor_imm
    ishl ushr sshr rotl rotr ishl_imm ushr_imm sshr_imm rotl_imm rotr_imm
    icmp icmp_imm select uextend sextend ireduce bmask smin smax umin umax umulhi smulhi
    clz ctz cls popcnt bitrev bswap fadd fsub fmul fdiv fmin fmax sqrt fneg fabs fcopysign fcmp
    extractlane
""".split())
assert all(op.is_pure for op in PURE), sorted(op.name for op in PURE if not op.is_pure)
# The branches that end a block without calling (a deferred fuel check waits for their target).
PLAIN_BRANCHES = frozenset(op.name for op in OPCODES.values() if op.is_branch and op.is_terminator and not op.is_call)
_PURE_NAMES = frozenset(op.name for op in PURE)  # (names hash faster than opcodes)
# The opcodes whose result `find_foldable` may write into its use: PURE's and the other pure
# expressions of vectors and floats (lane moves, bitcasts, conversions: no trap, no memory).
# Not in PURE: that one also decides where fuel is checked, which stays as it is.
FOLDABLE = frozenset(opcode(name) for name in """
    vconst bitcast splat insertlane scalar_to_vector swizzle shuffle bitselect vselect iconcat
    swiden_low swiden_high uwiden_low uwiden_high snarrow unarrow uunarrow iadd_pairwise
    vany_true vall_true vhigh_bits uadd_sat sadd_sat usub_sat ssub_sat avg_round
    fma ceil floor trunc nearest fpromote fdemote fcvt_from_uint fcvt_from_sint
""".split()) | PURE
assert all(op.is_pure for op in FOLDABLE), sorted(op.name for op in FOLDABLE if not op.is_pure)
_FOLDABLE_NAMES = frozenset(op.name for op in FOLDABLE)
# The instructions whose code is left out when nothing live reads their results (`find_dead`):
# FOLDABLE's and the other pure ones whose lowering reads its operands alone (not udiv_imm and
# the like, whose lowering traps on a zero divisor, nor addresses, which read the machine).
DEAD_CODE = frozenset(opcode(name) for name in """
    uadd_overflow usub_overflow sadd_overflow ssub_overflow umul_overflow smul_overflow
    uadd_overflow_cin sadd_overflow_cin usub_overflow_bin ssub_overflow_bin
    iadd_cin isub_bin iadd_cout iadd_carry isub_bout isub_borrow isplit
    fcvt_to_uint_sat fcvt_to_sint_sat select_spectre_guard fvdemote fvpromote_low sqmul_round_sat
""".split()) | FOLDABLE
assert all(op.is_pure for op in DEAD_CODE), sorted(op.name for op in DEAD_CODE if not op.is_pure)
_DEAD_CODE_NAMES = frozenset(op.name for op in DEAD_CODE)
MAX_FOLD_DEPTH = 6  # pure expressions nested into their use at most this deep
_NAME = re.compile(r"\bv\d+\b")
_PLAIN = re.compile(r"v\d+")  # a value's variable (`alias`)
MAX_INLINE_INDENT = 48  # deeper blocks become dispatch roots (Python allows 100 indentation levels)
# Longer chains of inlined blocks become dispatch roots too: inlining recurses (emit_block, goto,
# ...), and a straight chain of thousands of jumps must not exhaust the Python stack.
MAX_INLINE_CHAIN = 64
# The names of the opcodes the compiler lowers itself (`registry.COMPILER_LOWERED`).
_OWN_NAMES = frozenset(op.name for op in COMPILER_LOWERED)
LINEAR_DISPATCH = 4  # up to this many roots: an if/elif chain; more: a binary search
# Scalar integer templates that evaluate both operands, left to right (see foldable_calls).
IN_ORDER = frozenset("iadd isub imul band bor bxor".split())
# In code that runs once per call (`OpContext.once`), a template longer than this becomes a call
# of one function compiled from it, shared by all the functions using it (`shared`).
SHARED_TEMPLATE = 64
# In compact code (`Interpreter(compact=True)`, the fuzzer's, whose code runs a few times), from
# this length on: a lane template such as ``(v1[0] | (v1[1] << 32)), (v1[2] | (v1[3] << 32)),``
# (27 tokens) compiles in four times the time of the call ``_sh12(v1)``; shorter ones gain little.
COMPACT_SHARED_TEMPLATE = 24
# Whether code that runs once per call is compiled short (`OpContext.once`); tests turn it off to
# give straight-line code the fast paths loops get.
COMPACT_ONCE = True
SHARED_MAX = 4096  # templates `shared` remembers (a fuzz campaign makes new ones forever)
_SHARED: dict[tuple[str, int], object] = {}
# What the compiler keeps of a lowering's result: (semantics: a template or a callable; the
# template, or None, or COPY for ``({0})`` and ``{0}``; the operands it reads other than once,
# which are not folded into it; and `enclosed` of the template, 1 for a callable or a copy).
Plan = tuple
# A copy of its operand (a no-op bitcast, a shift by 0): its value is the operand's text itself,
# without parentheses round it, folded, read from the operand's variable (`alias`) or assigned.
COPY = ""
# An instruction's shape (see `emit_inst`) -> the Plan of a lowering in `registry.BY_SHAPE`.
_SHAPES: dict[tuple, Plan] = {}
_CHARGERS: dict[tuple[str, int], object] = {}  # (function name, depth limit) -> its fuel_charger
_STACK_STORE = opcode("stack_store")
# A store of a constant to the frame's page (`memory_ops.frame_store`): packer, offset, value.
_FRAME_STORE = re.compile(r"(_s(?:1|2|4|8|16)[lb])\(_fpg, _fo(?: \+ (\d+))?, (0x[0-9a-f]+|\d+)\)")


def shared(template: str, arity: int):
    """A function of `arity` arguments evaluating `template`, compiled once per text; None when the
    template is not one expression of its operands alone (it names a helper or a local of the
    generated code, or is a statement)."""
    key = (template, arity)
    fn = _SHARED.get(key, key)
    if fn is key:
        fn = None
        if all(w in _KEYWORDS for w in _WORD.findall(template)):  # (else it names something)
            try:
                fn = compile_template(template, arity)
            except SyntaxError:
                pass
            else:
                if _names_globals(fn.__code__):
                    fn = None
        remember(_SHARED, key, fn, SHARED_MAX)
    return fn


_WORD = re.compile(r"(?<![.\w])[A-Za-z_]\w*")  # names, not attributes or hex digits
_KEYWORDS = frozenset("if else and or not is in None True False".split())


def _names_globals(code) -> bool:
    """Whether compiled code may read a global: it names anything (co_names holds globals and
    attributes alike, so a template calling a method counts too: it is then not shared)."""
    return bool(code.co_names) or any(_names_globals(c) for c in code.co_consts if hasattr(c, "co_code"))


def sig_types(sig: Signature) -> tuple[tuple[Type, ...], tuple[Type, ...]]:
    return tuple(p.type for p in sig.params), tuple(p.type for p in sig.returns)


def tail_calls_other(func: Function) -> bool:
    """Whether `func` may return TAIL_CALL (a return_call to another function, or an indirect one)."""
    for block in func.blocks.values():
        for inst in block.insts:
            name = inst.opcode.name
            if name == "return_call_indirect":
                return True
            if name == "return_call":
                ext = func.func_refs.get(inst.func_ref)
                if ext is None or ext.name.text != func.name:
                    return True
    return False


def edge_values(inst: Inst) -> list[int]:
    """The values a branch passes to its targets' parameters (none for other instructions)."""
    if not inst.opcode.is_branch:
        return []
    return [a for bc in inst.branch_targets() for a in bc.args if isinstance(a, int)]


def predicate(expr: str) -> Optional[str]:
    """X when `expr` is ``(1 if X else 0)`` (a comparison's template, or a statement's right-hand
    side ``1 if X else 0``, see `bare`), else None."""
    if expr.startswith("1 if "):
        expr = f"({expr})"
    if not (expr.startswith("(1 if ") and expr.endswith(" else 0)")):
        return None
    inner = expr[6:-8]
    depth = 0
    for i, c in enumerate(inner):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth < 0:
                return None
        elif depth == 0 and (inner.startswith(" if ", i) or inner.startswith(" else ", i) or c in "'\""):
            return None
    return f"({inner})" if depth == 0 else None


# Parentheses cost the parser dearly (Python's parser tries a parenthesised expression as a tuple
# first, then again as a group: each level of nesting doubles the work for what is inside), and
# compiling the generated code costs more than running it in a fuzz program. The templates are
# fully parenthesised, so their operands and right-hand sides leave out the parentheses they
# would repeat (`enclosed`, `bare`).
_ENCLOSED: dict[str, int] = {}  # template -> enclosed(template), remembered (up to SHARED_MAX)
_UNSAFE_BARE = re.compile(r":=|\bfor\b|\blambda\b|\byield\b|['\"]|^\(\*")  # (kept in parentheses)
# A name or an operand, subscripted or not (`{0}[3]`), or a hex literal (`5.real` would not read).
_ATOM = re.compile(r"(?:[A-Za-z_]\w*|\{\d+\})(?:\[\d+\])*|0x[0-9a-f]+")


def enclosed(text: str) -> int:
    """How `text` (a template, whose placeholders stand for operands needing no parentheses) reads
    as an operand: 2 when it is one parenthesised whole, ``(...)``, whose parenthesis opened first
    closes last, 1 when it is a name or a literal, 0 otherwise (where in doubt: a string literal
    might hold parentheses)."""
    found = _ENCLOSED.get(text)
    if found is None:
        found = 1 if _ATOM.fullmatch(text) else 0
        if text[:1] == "(" and text[-1:] == ")" and len(text) > 2 and _UNSAFE_BARE.search(text) is None:
            depth = 0
            for i, c in enumerate(text):
                if c == "(":
                    depth += 1
                elif c == ")":
                    depth -= 1
                    if depth == 0:
                        found = 2 if i == len(text) - 1 else 0
                        break
        remember(_ENCLOSED, text, found, SHARED_MAX)
    return found


def bare(expr: str, enclosing: int) -> str:
    """A statement's right-hand side: `expr` without the outer parentheses of a template whose
    `enclosed` is `enclosing`."""
    return expr[1:-1] if enclosing == 2 else expr


class FunctionCompiler:
    """Generates the Python source of one function. `interp` resolves callees and binds globals."""

    def __init__(self, interp, index: int, func: Function):
        self.interp = interp
        self.index = index
        self.func = func
        self.name = func.name
        self.blocks: dict[int, Block] = func.blocks
        self.layout = frame_layout(func)
        self.has_frame = self.layout.size > 0
        self.floats: dict[int, int] = {}  # values held as Python floats: value -> 32 or 64
        self.fr = None  # the `float_repr` module, for a function with scalar float values
        self.folded: dict[int, str] = {}  # pure expressions not yet emitted, waiting for their use
        self.enclosed: set[int] = set()  # folded values whose expression needs no parentheses round it
        self.fold_depth: dict[int, int] = {}
        self.max_fold_depth = MAX_FOLD_DEPTH
        # Value -> the name holding it when that is not its own: the loop parameter it is written
        # to (`coalesce`), the value it copies (`alias`), or a constant's text (`constant`).
        self.coalesced: dict[int, str] = {}
        self.pinned: set[str] = set()  # names values are coalesced into: they change mid-loop
        self.constants: set[str] = set()  # the texts constants are read as (`constant`)
        self.aliasing = interp.tracer is None  # (a traced function shows every value by its name)
        self.big_endian = interp.byteorder == "big"
        self.charger_name: Optional[str] = None  # (see `charger`)

    # -- helpers -------------------------------------------------------------
    def unsupported(self, what: str) -> Unsupported:
        return Unsupported(f"{what} (in {self.name})")

    def val(self, v: int) -> str:
        """Value `v` as its bit pattern (converted when it is held as a float, see float_repr; its
        expression itself when it is folded into this, its only use, see `foldable`)."""
        v = self.func.resolve(v)
        expr = self.folded.pop(v, None)
        if expr is None:
            name = self.coalesced.get(v, f"v{v}")
        else:
            name = expr if v in self.enclosed else f"({expr})"
        bits = self.floats.get(v)
        return name if bits is None else _float_repr().to_bits(name, bits)

    def fval(self, v: int) -> str:
        """Value `v` (a scalar f32/f64) as a Python float."""
        v = self.func.resolve(v)
        expr = self.folded.pop(v, None)
        name = self.coalesced.get(v, f"v{v}") if expr is None else f"({expr})"
        if v in self.floats:
            return name
        return _float_repr().to_float(name, self.vtype(v).bits)

    def alias(self, v: int, name: str) -> bool:
        """Let value `v`, a copy of the value whose variable is `name`, be read from that variable:
        the copy (a no-op conversion, an inlined block's parameter) then costs no statement, which
        matters where compiling the code costs more than running it. Sound in SSA: a value's
        variable is written only where the value is defined (or an edge to its block passes it),
        which dominates `v`'s definition, so it cannot change between that and a use of `v`;
        not so for a name other values are coalesced into (`pinned`), written mid-loop."""
        if not self.aliasing or v in self.coalesced:
            return False
        if name not in self.constants and (name in self.pinned or not _PLAIN.fullmatch(name)):
            return False
        self.coalesced[v] = name
        return True

    def constant(self, v: int, text: str) -> bool:
        """Let value `v`, a constant whose expression `text` is a literal or a bound global name,
        be read as that text wherever it is used (and a copy of it, see `alias`): a constant read
        by several instructions then costs no statement. Exact anywhere: the text reads the same
        value at any point of the function. Not a value held as a float (`float_repr`), and not in
        a traced function, which shows every value by its name."""
        if not self.aliasing or v in self.coalesced or v in self.floats:
            return False
        self.coalesced[v] = text
        self.constants.add(text)
        return True

    def inlined(self, target: int, ind: int) -> bool:
        """Whether `goto` will inline block `target` here (rather than make it a dispatch root)."""
        return target not in self.roots and ind <= MAX_INLINE_INDENT and self.chain < MAX_INLINE_CHAIN

    def vtype(self, v: int) -> Type:
        t = self.func.value_types.get(self.func.resolve(v))
        if t is None:
            raise self.unsupported(f"v{v} has no type")
        return t

    def is_self_tail_call(self, inst: Inst) -> bool:
        if inst.opcode.name != "return_call":
            return False
        ext = self.func.func_refs.get(inst.func_ref)
        return ext is not None and ext.name.text == self.name and self.interp.resolve_callee(self.name) == ("func", self.index)

    # -- control-flow analysis ---------------------------------------------------
    def analyse(self) -> None:
        func = self.func
        if not self.blocks:
            raise self.unsupported("the function has no blocks")
        self.entry = next(iter(self.blocks))
        if len(self.blocks[self.entry].params) != len(func.signature.params):
            raise self.unsupported("the entry block's parameters do not match the signature")
        # Successors as (block, branch index, edge index); -1 for a self tail call to the entry.
        succ: dict[int, list[tuple[int, int, int]]] = {}
        for number, block in self.blocks.items():
            if not block.insts or not block.insts[-1].opcode.is_terminator:
                succ[number] = []  # checked when (and only if) the block is reachable
                continue
            last = block.insts[-1]
            # Heap-era brz/brnz branch from inside the block, before its terminator.
            targets = [(bc.block, j, e) for j, inst in enumerate(block.insts) if inst.opcode.is_branch
                       for e, bc in enumerate(inst.branch_targets())]
            if self.is_self_tail_call(last):
                targets.append((self.entry, len(block.insts) - 1, -1))
            for t, _, _ in targets:
                if t not in self.blocks:
                    raise self.unsupported(f"block{number} branches to undefined block{t}")
            succ[number] = targets
        # Iterative DFS from the entry: reachable blocks, back-edge targets (loop headers), the
        # postorder and the edges into each block (for `ranges`).
        headers: set[int] = set()
        back: list[tuple[int, int]] = []  # back edges (source, header)
        preds: dict[int, list[tuple[int, int, int]]] = {}
        postorder: list[int] = []
        state: dict[int, int] = {self.entry: 1}  # 1: on the DFS stack, 2: done
        stack = [(self.entry, iter(succ[self.entry]))]
        while stack:
            node, it = stack[-1]
            advanced = False
            for t, j, e in it:
                preds.setdefault(t, []).append((node, j, e))
                s = state.get(t)
                if s is None:
                    state[t] = 1
                    stack.append((t, iter(succ[t])))
                    advanced = True
                    break
                if s == 1:
                    headers.add(t)
                    back.append((node, t))
            if not advanced:
                state[node] = 2
                postorder.append(node)
                stack.pop()
        self.reachable = set(state)
        self.postorder, self.preds = postorder, preds
        self.uses, self.dead = self.find_dead()
        for number in self.reachable:
            block = self.blocks[number]
            if not block.insts or not block.insts[-1].opcode.is_terminator:
                raise self.unsupported(f"block{number} does not end in a terminator")
        self.headers = headers
        # A function calling itself runs its code once per level of recursion: all of it is hot.
        # With `Interpreter(compact=True)` none is: its loops run a few times (a fuzz program's).
        if self.interp.compact:
            self.looped: set[int] = set()
        else:
            self.looped = set(self.reachable) if self.calls_itself() else self.loop_blocks(back)
        self.roots = {self.entry} | headers | {b for b in self.reachable if len(preds.get(b, ())) != 1}
        # Code on no cycle runs once per call: there floats held as floats and masks left out save
        # less running than their analyses cost compiling, so a function with no loop (and no
        # recursion) does without both; the bit-pattern path and the masks are exact anyway.
        once = COMPACT_ONCE and not self.looped
        # There the fuel stays in _m.fuel, charged and checked by one call (`short_fuel`).
        self.short_fuel = once and self.interp.tracer is None
        # (a function without scalar float values holds none as a float: float_repr is not needed)
        self.fr = _float_repr() if not once and _has_scalar_floats(func) else None
        self.floats, self.nan_unchecked = self.fr.analyse(self) if self.fr is not None else ({}, set())
        self.ranges = None if once else _analyse_ranges(self)  # None: every mask stays
        # A traced function shows every value, so none is folded into its use.
        self.foldable = self.find_foldable() if self.interp.tracer is None else set()
        if self.interp.tracer is None:
            for h in headers:
                self.coalesce(h)
            self.pinned = set(self.coalesced.values())

    def find_dead(self) -> tuple["collections.Counter[int]", set[int]]:
        """The reads of each value by live code, and the results of dead code: instructions of
        `DEAD_CODE` whose results nothing live reads (directly, or through other dead ones). A
        dead instruction emits no code (`emit_inst`), which saves generating, compiling and running
        it; it still counts in its block's fuel charge, and its lowering is still looked up, so
        that one the interpreter has no semantics for makes the function Unsupported as before.
        A traced function keeps all: its trace shows every instruction."""
        func, blocks, reachable = self.func, self.blocks, self.reachable
        read = [v for number in reachable for inst in blocks[number].insts
                for v in (edge_values(inst) + inst.args if inst.opcode.is_branch else inst.args)]
        resolve = func.resolve if func.aliases else None
        # Uses per value (collections.Counter counts in C; a missing value's `get` is None).
        uses = collections.Counter(read if resolve is None else map(resolve, read))
        dead: set[int] = set()
        if self.interp.tracer is not None:
            return uses, dead
        # The results of DEAD_CODE instructions -> the instruction
        producers = {r: inst for number in reachable for inst in blocks[number].insts
                     if inst.opcode.name in _DEAD_CODE_NAMES for r in inst.results}
        work = [inst for r, inst in producers.items() if r not in uses]
        while work:
            inst = work.pop()
            results = inst.results
            if results[0] in dead or len(results) > 1 and any(r in uses for r in results):
                continue
            dead.update(results)
            for a in (inst.args if resolve is None else map(resolve, inst.args)):
                n = uses[a] - 1
                if n:
                    uses[a] = n
                else:
                    del uses[a]  # (read by nothing live: not in `uses`, as a value never read)
                    if a in producers:
                        work.append(producers[a])
        return uses, dead

    def dead_inst(self, inst: Inst) -> bool:
        """Whether `inst` is dead code (`find_dead`): no analysis of what code reads counts it."""
        return bool(inst.results) and inst.results[0] in self.dead

    def calls_itself(self) -> bool:
        for number in self.reachable:
            for inst in self.blocks[number].insts:
                if inst.opcode.name == "call":
                    ext = self.func.func_refs.get(inst.func_ref)
                    if ext is not None and self.interp.resolve_callee(ext.name.text) == ("func", self.index):
                        return True
        return False

    def loop_blocks(self, back: list[tuple[int, int]]) -> set[int]:
        """The blocks on some cycle: for each back edge n -> h, h and the blocks reaching n without
        passing h (its natural loop; in an irreducible graph possibly more, which only costs speed).
        Code in the other blocks runs at most once per call: there the compiler prefers short code
        (cheaper to compile) to fast code (`OpContext.once`)."""
        looped: set[int] = set()
        for n, h in back:
            body = {h}
            stack = [n]
            while stack:
                b = stack.pop()
                if b not in body:
                    body.add(b)
                    stack.extend(p for p, _, _ in self.preds.get(b, ()))
            looped |= body
        return looped

    def coalesce(self, number: int) -> None:
        module("clifkit.interpreter.compiler_loops").coalesce(self, number)  # (on first need: a loop)

    def find_foldable(self) -> set[int]:
        """Values a pure instruction defines (an integer, or an f64 sum, difference or product held
        as a float that needs no NaN check) and one later instruction of the same block
        reads once, as an operand, a jump or brif argument or a returned value: their expression
        can be written into that use (Python evaluates one expression faster than a statement
        per instruction). Pure instructions cannot trap, so evaluating them later is unobservable."""
        func = self.func
        types, fr, floats, uses, dead = func.value_types, self.fr, self.floats, self.uses, self.dead
        resolve = func.resolve if func.aliases else None
        pure: set[int] = set()
        calls = False
        for number in self.reachable:
            local: set[int] = set()  # values defined above in this block, which could be folded
            for inst in self.blocks[number].insts:
                results = inst.results
                if dead and results and results[0] in dead:
                    continue  # (emits nothing: its operands' uses are elsewhere)
                opcode = inst.opcode
                name = opcode.name
                if local:  # (the read of a value read once, below its definition in its block)
                    if name == "jump" or name == "brif":
                        sites = [a for bc in inst.dests for a in bc.args if isinstance(a, int)]
                    elif not (opcode.is_terminator or opcode.is_call) or name in ("return", "call", "return_call"):
                        sites = inst.args
                    else:
                        sites = ()
                    for a in (sites if resolve is None else map(resolve, sites)):
                        if a in local and uses.get(a) == 1:
                            pure.add(a)
                if name in _FOLDABLE_NAMES and len(results) == 1:
                    t = types.get(results[0])
                    if t is not None and (t.is_int or t.is_float and results[0] not in floats):
                        local.add(results[0])
                    elif fr is not None and fr.foldable(inst, self):
                        local.add(results[0])
                elif name == "call":
                    calls = True
        return pure | self.foldable_calls(pure) if calls else pure

    def foldable_calls(self, pure: set[int]) -> set[int]:
        return module("clifkit.interpreter.compiler_calls").foldable_calls(self, pure)  # (on first need: calls)

    # -- code emission --------------------------------------------------------------
    def compile(self) -> str:
        self.analyse()
        arms: dict[int, list[tuple[int, str]]] = {}
        # Roots in reverse postorder, each followed by the roots its own arm made (`late_roots`):
        # a block's dominators first. A value read by its name or text (`alias`, `constant`, the
        # loop parameter it is written to) is so from where its definition is compiled on, and
        # the arms it dominates, which read it, come after that.
        pending = [b for b in reversed(self.postorder) if b in self.roots]
        while pending:
            root = pending.pop(0)
            if root in arms:
                continue
            out: list[tuple[int, str]] = []
            header = root in self.headers
            if header:
                out.append((0, "while True:"))
            self.late_roots: list[int] = []
            self.chain = 0  # blocks inlined into the one being emitted, along the current path
            # True while the fuel left is in _m.fuel (at entry, after a call) rather than in _f.
            self.fm = self.short_fuel or root == self.entry and not header
            self.pending = 0  # instructions charged by no code yet (see emit_block)
            self.depth_ok = False  # whether code here has checked that a call may go one level deeper
            # True after a call, until checked: a callee may return with its last charge unchecked
            # (see emit_block), so _m.fuel may be below 0 (see check_after_call).
            self.unchecked = False
            loop = None
            if header:
                counted_loops = module("clifkit.interpreter.counted_loops")  # (only a function with loops)
                loop = counted_loops.counted(self, root)
            if loop is not None:
                counted_loops.emit(self, root, loop, out)
            else:
                self.emit_block(root, 1 if header else 0, out, root, header)
            arms[root] = out
            pending[:0] = self.late_roots
        lines = self.prologue(arms)
        body: list[tuple[int, str]] = []
        if len(arms) == 1:
            body = arms[self.entry]
        else:
            body.append((0, f"_b = {self.entry}"))
            body.append((0, "while True:"))
            order = [r for r in self.blocks if r in arms and r in self.headers and r != self.entry]
            order += [r for r in self.blocks if r in arms and r not in self.headers and r != self.entry]
            order.append(self.entry)
            body += self.dispatch(order, arms, 1)
        text = "\n".join(lines + ["    " * (ind + 1) + line for ind, line in body]) + "\n"
        return text

    def dispatch(self, roots: list[int], arms, ind: int) -> list[tuple[int, str]]:
        out: list[tuple[int, str]] = []
        if len(roots) <= LINEAR_DISPATCH:
            for i, r in enumerate(roots):
                if i == len(roots) - 1:
                    head = "else:" if i else None
                else:
                    head = f"{'if' if i == 0 else 'elif'} _b == {r}:"
                if head is None:
                    out += [(ind + d, s) for d, s in arms[r]]
                else:
                    out.append((ind, head))
                    out += [(ind + 1 + d, s) for d, s in arms[r]]
            return out
        ordered = sorted(roots)
        mid = len(ordered) // 2
        out.append((ind, f"if _b < {ordered[mid]}:"))
        out += self.dispatch(ordered[:mid], arms, ind + 1)
        out.append((ind, "else:"))
        out += self.dispatch(ordered[mid:], arms, ind + 1)
        return out

    def prologue(self, arms) -> list[str]:
        entry = self.blocks[self.entry]
        params = ", ".join(["_m", "_d"] + [f"v{p}" for p in entry.params])
        text = "\n".join(s for arm in arms.values() for _, s in arm)
        lines = [f"def _F{self.index}({params}):"]
        # (short code enters a frame of up to a page with one call, `Machine.enter_frame`)
        enter = self.has_frame and self.short_fuel and self.layout.size <= PAGE_SIZE
        if self.has_frame and not enter:
            # Pushing the frame may trap stk_ovf before the entry block checks its fuel, and a
            # caller calls with a charge left unchecked by its last callee (`returns_unobserved`):
            # that charge runs out first.
            lines.append(f"    {self.charger()}(_m, 0)" if self.short_fuel
                         else f"    if _m.fuel < 0: _m.fuel = _nofuel(_m, {self.name!r}, _m.fuel)")
        if self.entry in self.headers and not self.short_fuel:
            lines.append("    _f = _m.fuel")
        if "_d1" in text:
            lines.append("    _d1 = _d + 1")
        if "_pg" in text:
            lines.append("    _pg = _m.pages")
        if self.fr is not None:
            lines += self.fr.prologue(text)
        if enter:
            lines.append(f"    _osp, _sp, _fpg, _fo = _m.enter_frame({self.charger()}, "
                         f"{self.layout.size}, {self.layout.align})")
        elif self.has_frame:
            lines.append("    _osp = _m.sp")
            lines.append(f"    _sp, _fpg = _m.push_frame({self.layout.size}, {self.layout.align})")
            if self.layout.size <= PAGE_SIZE:
                lines.append(f"    _fo = _sp & {PAGE_MASK}")
        elif "_sp" in text:
            lines.append("    _sp = _m.sp")
        return lines

    def emit_block(self, number: int, ind: int, out, root: int, in_while: bool) -> None:
        block = self.blocks[number]
        self.last_access = None  # see memory_ops.access_key
        count, self.pending = len(block.insts) + self.pending, 0
        if number not in self.headers and self.deferrable(block):
            # Nothing here can be observed before the next check (every cycle passes a loop
            # header, which checks): running out of fuel there instead is indistinguishable.
            self.pending = count
            return self.emit_block_body(block, number, ind, out, root, in_while)
        if self.returns_unobserved(block):
            # Nor here: the caller checks before it next does anything that could be observed
            # (check_after_call), and `Interpreter.call` after the outermost call returns.
            if self.fm:
                out.append((ind, f"_m.fuel -= {count}"))
            else:
                out.append((ind, f"_f -= {count}"))
            return self.emit_block_body(block, number, ind, out, root, in_while)
        self.charge_and_check(count, ind, out)
        self.unchecked = False
        self.emit_block_body(block, number, ind, out, root, in_while)

    def deferrable(self, block: Block) -> bool:
        return block.insts[-1].opcode.name in PLAIN_BRANCHES and self.unobserved_body(block)

    def returns_unobserved(self, block: Block) -> bool:
        """A block of pure instructions ending in a plain return (not a loop's: its header checks)."""
        return block.insts[-1].opcode.name == "return" and self.unobserved_body(block)

    def unobserved_body(self, block: Block) -> bool:
        """Whether nothing before the block's terminator can be observed: its instructions are pure,
        and no trace shows them (a trace shows what ran, and a block runs only if its fuel was there)."""
        return self.interp.tracer is None and all(inst.opcode.name in _PURE_NAMES for inst in block.insts[:-1])

    def fuel_check(self) -> str:
        """The check of the fuel in ``_f`` (a call's depth check right after it joins it, see
        `compiler_calls.emit_call`)."""
        return f"if _f < 0: _f = _nofuel(_m, {self.name!r}, _f)"

    def charger(self) -> str:
        """The name of this function's charge in short code (`machine.fuel_charger`)."""
        if self.charger_name is None:
            key = (self.name, self.interp.max_call_depth)
            fn = _CHARGERS.get(key)
            if fn is None:
                fn = fuel_charger(*key)
                remember(_CHARGERS, key, fn, SHARED_MAX)
            self.charger_name = self.interp.bind_shared(fn, "fuel")
        return self.charger_name

    def charge_and_check(self, count: int, ind: int, out) -> None:
        """Charge `count` instructions and check the fuel (with `short_fuel`: one call, the fuel
        in _m.fuel; else in the local _f)."""
        if self.short_fuel:
            out.append((ind, f"{self.charger()}(_m, {count})"))
            return
        self.charge(count, ind, out)
        out.append((ind, self.fuel_check()))

    def check_after_call(self, ind: int, out) -> None:
        """Before code that could be observed (a trap, memory, a depth check) follows a call in
        its block: the callee may have left its last charge unchecked (`returns_unobserved`)."""
        if not self.unchecked:
            return
        if self.short_fuel:
            self.charge_and_check(0, ind, out)
            self.unchecked = False
            return
        if self.fm:
            out.append((ind, "_f = _m.fuel"))
            self.fm = False
        out.append((ind, self.fuel_check()))
        self.unchecked = False

    def charge(self, count: int, ind: int, out) -> None:
        if self.short_fuel:
            out.append((ind, f"_m.fuel -= {count}"))
        elif self.fm:
            out.append((ind, f"_f = _m.fuel - {count}"))
            self.fm = False
        else:
            out.append((ind, f"_f -= {count}"))

    def fuel_state(self) -> tuple[bool, int, bool, bool]:
        """What the code at this point knows (kept across a branch's other edge): where the fuel
        is, the charge pending, whether the call depth is checked, whether a call since the last
        check may have left the fuel below 0."""
        return self.fm, self.pending, self.depth_ok, self.unchecked

    def set_fuel_state(self, state: tuple[bool, int, bool, bool]) -> None:
        self.fm, self.pending, self.depth_ok, self.unchecked = state

    def emit_block_body(self, block: Block, number: int, ind: int, out, root: int, in_while: bool) -> None:
        traced = self.interp.tracer is not None
        self.frame_run = None  # see merge_frame_store
        for inst in block.insts[:-1]:
            self.block = number  # (again after an inlined heap-era branch: ranges are per block)
            op = inst.opcode
            if op.is_terminator:
                raise self.unsupported(f"block{number}: terminator {op.name} before the end of the block")
            if op.is_branch:
                self.emit_probe(number, inst, ind, out, "terminator")
                self.emit_inner_branch(inst, ind, out, root, in_while)
                continue
            if self.unchecked and not op.is_call and inst.opcode.name not in _PURE_NAMES:
                self.check_after_call(ind, out)
            if traced and (op.can_trap or op.can_load or op.can_store or op.is_call):
                self.emit_probe(number, inst, ind, out, "before")
            self.emit_inst(inst, ind, out)
            if traced:
                self.emit_probe(number, inst, ind, out, "after")
            elif op is _STACK_STORE:
                self.merge_frame_store(ind, out)
        self.block = number
        self.emit_probe(number, block.insts[-1], ind, out, "terminator")
        self.emit_terminator(block.insts[-1], ind, out, root, in_while)

    def merge_frame_store(self, ind: int, out) -> None:
        """Stores of constants to the frame's page one after the other (a fuzz program fills its
        stack slots so at entry) become one write of their bytes, ``_fpg[_fo + 0:_fo + 16] =
        b'...'``, where they cover one range: the bytes the stores' own `struct` packers write,
        in order, and nothing between them runs (an instruction without code is pure)."""
        line = out[-1]
        found = _FRAME_STORE.fullmatch(line[1]) if line[0] == ind else None
        if found is None:
            self.frame_run = None
            return
        packer, at, value = found.group(1), int(found.group(2) or 0), int(found.group(3), 0)
        size = int(packer[2:-1])
        run = self.frame_run
        merged = run is not None and run[0] == len(out) - 2 and run[1] <= at + size and at <= run[2]
        image = run[3] if merged else bytearray(self.layout.size)
        try:
            RUNTIME_MEMORY[packer](image, at, value)
        except (struct.error, OverflowError):  # (a value its width cannot hold: left as written)
            self.frame_run = None
            return
        lo, hi = (min(run[1], at), max(run[2], at + size)) if merged else (at, at + size)
        if merged:
            out.pop()
            out[-1] = line  # (this store alone, when it covers the whole run: rewritten below otherwise)
        self.frame_run = (len(out) - 1, lo, hi, image)
        if hi - lo > size:
            start = f"_fo + {lo}" if lo else "_fo"
            out[-1] = (ind, f"_fpg[{start}:_fo + {hi}] = {bytes(image[lo:hi])!r}")

    def emit_probe(self, number: int, inst: Inst, ind: int, out, when: str) -> None:
        """With a tracer: hand it the operands, before an instruction that may trap (`when`
        "before"), after one with its results ("after"), or before a terminator."""
        tracer = self.interp.tracer
        if tracer is None:
            return
        if not hasattr(self, "inst_texts"):
            from ..printer import instruction_texts

            self.inst_texts = instruction_texts(self.func)
        probe = self.interp.bind(tracer.probe(self.func, number, inst, self.inst_texts[id(inst)]), "tr")
        args = "".join(f"{self.val(a)}, " for a in inst.args)
        if when == "before":
            out.append((ind, f"{probe}(({args}))"))
        else:
            results = "".join(f"{self.val(r)}, " for r in inst.results) if when == "after" else ""
            out.append((ind, f"{probe}(({args}), ({results}))"))

    def assign(self, dsts: list[str], srcs: list[str], ind: int, out) -> None:
        pairs = [(d, s) for d, s in zip(dsts, srcs) if d != s]
        if not pairs:
            return
        targets = {d for d, _ in pairs}
        if len(pairs) == 1 or not any(set(_NAME.findall(s)) & targets for _, s in pairs):
            for d, s in pairs:
                out.append((ind, f"{d} = {s}"))
        else:
            out.append((ind, f"{', '.join(d for d, _ in pairs)} = {', '.join(s for _, s in pairs)}"))

    def emit_edge(self, bc: BlockCall, ind: int, out, root: int, in_while: bool, rets: Optional[list[str]] = None) -> None:
        target = bc.block
        params = self.blocks[target].params
        if len(params) != len(bc.args):
            raise self.unsupported(f"block{target} takes {len(params)} arguments, given {len(bc.args)}")
        srcs = []
        for p, a in zip(params, bc.args):
            if isinstance(a, int):
                srcs.append(self.fval(a) if p in self.floats else self.val(a))
                continue
            from ..ir.try_call import TryCallRet  # (only a try_call's edges take anything else)

            if isinstance(a, TryCallRet):
                if rets is None or a.index >= len(rets):
                    raise self.unsupported(f"{a} outside a try_call's normal-return edge")
                srcs.append(rets[a.index])
            else:
                raise self.unsupported(f"block argument {a} on an edge that cannot take it")
        dsts = [f"v{p}" for p in params]
        if srcs and self.aliasing and self.inlined(target, ind):
            # The target has this edge alone: a parameter copying a variable just reads that one.
            kept = [(d, s) for p, d, s in zip(params, dsts, srcs) if not self.alias(p, s)]
            dsts, srcs = [d for d, _ in kept], [s for _, s in kept]
        self.assign(dsts, srcs, ind, out)
        self.goto(target, ind, out, root, in_while)

    def goto(self, target: int, ind: int, out, root: int, in_while: bool) -> None:
        if target not in self.roots and (ind > MAX_INLINE_INDENT or self.chain >= MAX_INLINE_CHAIN):
            self.roots.add(target)
            self.late_roots.append(target)
        if target in self.roots:
            if self.pending:
                self.charge(self.pending, ind, out)
                self.pending = 0
            elif self.fm and not self.short_fuel:
                out.append((ind, "_f = _m.fuel"))
                self.fm = False
            if target == root and in_while:
                out.append((ind, "continue"))
            else:
                out.append((ind, f"_b = {target}"))
                out.append((ind, "break" if in_while else "continue"))
        else:
            self.chain += 1
            try:
                self.emit_block(target, ind, out, root, in_while)
            finally:
                self.chain -= 1

    # -- terminators ----------------------------------------------------------------------
    def emit_terminator(self, inst: Inst, ind: int, out, root: int, in_while: bool) -> None:
        op = inst.opcode.name
        if op == "jump":
            self.emit_edge(inst.dests[0], ind, out, root, in_while)
        elif op == "brif":
            then, other = inst.dests
            cond = self.val(inst.args[0])
            # `v9 = (1 if X else 0)` just before, and v9 used only here: branch on X itself.
            last = out[-1][1] if out and out[-1][0] == ind else ""
            v = self.func.resolve(inst.args[0])
            if last.startswith(cond + " = ") and cond == f"v{v}" and self.uses.get(v) == 1:
                pred = predicate(last[len(cond) + 3 :])
                if pred is not None:
                    out.pop()
                    cond = pred
            if then.block == other.block and list(then.args) == list(other.args):
                self.emit_edge(then, ind, out, root, in_while)
            else:
                out.append((ind, f"if {cond}:"))
                fm = self.fuel_state()
                self.emit_edge(then, ind + 1, out, root, in_while)
                self.set_fuel_state(fm)
                self.emit_edge(other, ind, out, root, in_while)
        elif op == "br_table":
            self.emit_br_table(inst, ind, out, root, in_while)
        elif op == "return":
            self.emit_return([self.val(a) for a in inst.args], ind, out)
        elif op in ("return_call", "return_call_indirect"):
            self.emit_call(inst, ind, out, root, in_while)
        elif op in ("try_call", "try_call_indirect"):
            self.emit_call(inst, ind, out, root, in_while)
        elif inst.opcode.is_branch:
            raise self.unsupported(f"branch {op}")
        else:
            self.check_after_call(ind, out)
            self.emit_inst(inst, ind, out)  # trap and other lowered terminators

    def emit_inner_branch(self, inst: Inst, ind: int, out, root: int, in_while: bool) -> None:
        """Heap era: ``brz``/``brnz`` take their edge or go on with the rest of the block."""
        cond = self.val(inst.args[0])
        out.append((ind, f"if ({cond}) {'==' if inst.opcode.name == 'brz' else '!='} 0:"))
        fm, depth_ok, unchecked = self.fm, self.depth_ok, self.unchecked
        self.emit_edge(inst.dests[0], ind + 1, out, root, in_while)
        self.fm, self.depth_ok, self.unchecked = fm, depth_ok, unchecked

    def leave(self, ind: int, out) -> None:
        if not self.fm:
            out.append((ind, "_m.fuel = _f"))
        if self.has_frame:
            out.append((ind, "_m.sp = _osp"))

    def emit_return(self, values: list[str], ind: int, out) -> None:
        self.leave(ind, out)
        if not values:
            out.append((ind, "return"))
        elif len(values) == 1:
            out.append((ind, f"return {values[0]}"))
        else:
            out.append((ind, f"return ({', '.join(values)})"))

    def emit_br_table(self, inst: Inst, ind: int, out, root: int, in_while: bool) -> None:
        module("clifkit.interpreter.compiler_loops").emit_br_table(self, inst, ind, out, root, in_while)  # (a br_table)

    # -- calls ---------------------------------------------------------------------------
    def emit_call(self, inst: Inst, ind: int, out, root: int = -1, in_while: bool = False) -> None:
        module("clifkit.interpreter.compiler_calls").emit_call(self, inst, ind, out, root, in_while)  # (calls)

    # -- ordinary instructions --------------------------------------------------------
    def emit_inst(self, inst: Inst, ind: int, out) -> None:
        opcode = inst.opcode
        op = opcode.name
        if op in _OWN_NAMES:
            if op in ("call", "call_indirect"):
                self.emit_call(inst, ind, out)
                return
            raise self.unsupported(f"{op} in the middle of a block")
        args, results = inst.args, inst.results
        # Dead code (`find_dead`) is lowered, for its Unsupported, and then emits nothing.
        dead = self.dead and results and results[0] in self.dead
        if self.fr is not None and not dead and self.fr.emit(self, inst, ind, out):
            return
        func = self.func
        if func.aliases:
            resolve = func.resolve
            args = [*map(resolve, args)]
            typed = [*map(resolve, results)]
        else:
            typed = results
        type_of = func.value_types.__getitem__  # (a map over it builds no frame, as a comprehension does)
        try:
            arg_types = [*map(type_of, args)]
            result_types = [*map(type_of, typed)]
        except KeyError:
            [self.vtype(v) for v in (*inst.args, *inst.results)]  # raises, naming the value
            raise
        block = self.block
        once = COMPACT_ONCE and block not in self.looped
        # No mask where the value cannot wrap (`ranges`): the builder leaves it out.
        no_wrap = self.ranges is not None and self.ranges.unmasked(inst, block)
        # A lowering in `registry.BY_SHAPE` gives the same result for the same instruction shape
        # in every function: its `Plan` is found here without building the lowering's context or
        # asking the registry (remembered only for the table's opcodes, with no dynamic type).
        # A constant's text is written out (`registry.CONSTANT_TEXTS`): its Plan is that text.
        imm = inst.imm
        key = plan = ctx = None
        text_of = CONSTANT_TEXTS.get(op)
        if (text_of is not None and OPCODES.get(op) is opcode
                and (text := text_of(self.interp, inst, func, result_types, once)) is not None):
            plan = (text, text, (), 1)
        elif imm is None or type(imm) is int:
            ss = inst.stack_slot  # (a stack slot's access depends on the slot's place in the frame)
            key = (op, inst.ctrl_type, *arg_types, None, *result_types, imm, inst.cond, inst.code, inst.flags,
                   inst.offset, None if ss is None else (self.layout.offsets.get(ss), self.layout.size),
                   self.big_endian, no_wrap, once, self.interp.compact)
            plan = _SHAPES.get(key)
            if plan is not None and OPCODES.get(op) is not opcode:
                plan = None
        if plan is None:
            ctx = OpContext(inst, func, inst.ctrl_type, arg_types, result_types, self.big_endian)
            ctx.once, ctx.no_wrap = once, no_wrap
            plan = self.lower(ctx, key, len(args), once)
        if dead:
            return
        sem, template, spilled, enclosing = plan
        if not args and enclosing == 1 and template and opcode.is_constant and self.constant(results[0], template):
            return
        folded, depths = self.folded, self.fold_depth
        deepest = 0  # the deepest folded expression among the operands (see MAX_FOLD_DEPTH)
        if folded:
            for i in spilled:  # (operands the template reads other than once: not folded into it)
                v = args[i]
                if v in folded:
                    out.append((ind, f"v{v} = {folded.pop(v)}"))
                    deepest = max(deepest, depths[v])
        # The operands' texts (`val`, inlined: the one hot path).
        coalesced, floats = self.coalesced, self.floats
        texts = []
        for v in args:
            expr = folded.pop(v, None) if folded else None
            if expr is None:
                name = coalesced.get(v) or f"v{v}"
            else:
                name = expr if v in self.enclosed else f"({expr})"
                if depths[v] > deepest:
                    deepest = depths[v]
            if floats:
                bits = floats.get(v)
                if bits is not None:
                    name = _float_repr().to_bits(name, bits)
            texts.append(name)
        if template is COPY:
            expr = texts[0]
        elif template is not None:
            try:
                expr = template.format(*texts)
            except (IndexError, KeyError, ValueError) as e:
                raise AssertionError(f"bad template for {op}: {template!r} ({e})") from None
        else:
            expr = f"{self.interp.bind_shared(sem, op)}({', '.join(texts)})"
        if "_p" in expr or "_a" in expr:
            # (`memory_ops` is imported only for an instruction with an address operand)
            if (not once and ctx is not None and "_p" in expr and opcode.addr is not None
                    and opcode in _memory_ops().ADDRESSED):
                self.last_access = _memory_ops().access_key(ctx)
            else:
                self.last_access = None
        if len(results) == 1:
            r = results[0]
            if r in self.foldable and "\n" not in expr:
                depth = 1 + deepest
                if depth <= MAX_FOLD_DEPTH:
                    folded[r] = expr
                    depths[r] = depth
                    if enclosing:
                        self.enclosed.add(r)
                    return
            bits = floats.get(r) if floats else None
            # A copy of an operand's variable (`(v5)`: a no-op bitcast, a shift by 0, ...): read that.
            if bits is None:
                inner = expr[1:-1] if expr[:1] == "(" and expr[-1:] == ")" else expr
                if inner in texts and self.alias(r, inner):
                    return
            if bits is not None:  # a producer whose uses want a float
                if op in ("f32const", "f64const"):
                    expr = self.interp.bind(self.fr.constant(inst, bits), "c")
                else:
                    expr = self.fr.to_float(expr, bits)
            else:
                expr = bare(expr, enclosing)
            out.append((ind, f"{coalesced.get(r) or f'v{r}'} = {expr}"))
        elif results:
            expr = bare(expr, enclosing)
            out.append((ind, f"{', '.join(coalesced.get(r) or f'v{r}' for r in results)} = {expr}"))
        else:
            for line in expr.split("\n"):
                out.append((ind, line))

    def lower(self, ctx: OpContext, key: Optional[tuple], arity: int, once: bool) -> Plan:
        """Call the instruction's lowering; its `Plan` is remembered under `key` when the lowering
        depends on the instruction's shape alone (`registry.BY_SHAPE`, and `BY_SHAPE_ONCE` in code
        that runs once)."""
        inst = ctx.inst
        op = inst.opcode.name
        lowering = lookup(ctx)
        if lowering is None:
            raise self.unsupported(f"{op}: {UNSUPPORTED.get(op, 'no semantics registered')}")
        ctx.interpreter = self.interp
        ctx.memory_hint = self.last_access
        if ((lowering not in BY_SHAPE and not (once and lowering in BY_SHAPE_ONCE))
                or OPCODES.get(op) is not inst.opcode
                or any(t is not None and t.dynamic for t in (inst.ctrl_type, *ctx.arg_types, *ctx.result_types))):
            key = None
        try:
            sem = lowering(ctx)
        except NotImplementedError as e:
            detail = str(e)
            if not detail.startswith(op):
                detail = f"{op}{'.' + str(inst.ctrl_type) if inst.ctrl_type else ''}: {detail or 'not implemented'}"
            raise self.unsupported(detail) from None
        except Unsupported as e:
            raise self.unsupported(e.reason) from None
        # (Not with an immediate: the template is then mostly one of a kind, which costs more to
        # compile apart than inline.)
        longest = COMPACT_SHARED_TEMPLATE if self.interp.compact else SHARED_TEMPLATE
        if once and isinstance(sem, str) and len(sem) > longest and inst.imm is None:
            sem = shared(sem, arity) or sem
        if sem == "({0})" or sem == "{0}":
            plan = (sem, COPY, (), 1)
        elif isinstance(sem, str):
            plan = (sem, sem, tuple(i for i in range(arity) if sem.count(f"{{{i}}}") != 1), enclosed(sem))
        elif callable(sem):
            plan = (sem, None, (), 1)  # (a call needs no parentheses as an operand)
        else:
            raise AssertionError(f"lowering of {op} returned {sem!r}")
        if key is not None:
            remember(_SHAPES, key, plan, SHARED_MAX)
        return plan


LINECACHE_SOURCES = 1000
_cached: "collections.deque[str]" = collections.deque()


def compile_function(interp, index: int, func: Function, namespace: dict):
    """Generate, compile and define `_F<index>` in `namespace`; returns (function, source)."""
    fc = FunctionCompiler(interp, index, func)
    source = fc.compile()
    if fc.fr is not None:
        namespace.update(fc.fr.RUNTIME)  # the helpers float code calls, bound with the first of it
    filename = f"<clif {func.name} #{index}>"
    # In linecache, so that a traceback through generated code shows it; only the latest
    # LINECACHE_SOURCES, so that a file of 400,000 functions does not keep all their sources.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    _cached.append(filename)
    if len(_cached) > LINECACHE_SOURCES:
        old = _cached.popleft()
        if old not in _cached:
            linecache.cache.pop(old, None)
    code = compile(source, filename, "exec")
    exec(code, namespace)
    return namespace[f"_F{index}"], source
