"""One generated function: `FuncGen` keeps the value pool of the block being filled (values that
dominate the insertion point), emits instructions, and fills the blocks.

The per-feature emitters are mixins: opcodes (gen_ops.py), memory (gen_memory.py), calls
(gen_calls.py) and control flow (gen_control.py). Shared here: value creation, the pool,
constants and conversions, NaN canonicalisation, and folding unused values into the return
values so that Cranelift cannot delete the computation.
"""

from __future__ import annotations

from bisect import bisect
from itertools import chain
from math import log
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from ..ir.entities import StackSlotData
from ..ir.function import Block, Function, Inst, Signature, new_inst
from ..ir.opcodes import OPCODES
from ..ir.types import I8, I32, I64, I128, Type
from .gen_calls import CallEmitters
from .gen_control import ControlFlow, dominators
from .gen_memory import LITTLE, PLAIN, MemoryEmitters
from .gen_ops import MAKERS, OpEmitters
from .gen_values import CANON_NAN, float_bits, interesting_int, random_value
from .specs import FLOAT_LOADS, FLOAT_SCALARS, I64X2, widens_load

if TYPE_CHECKING:
    from .generator import ProgramGen

_MAKERS_BY_NAME: dict = {}
# opcode name -> (Opcode, polymorphic, a whole-value load): what `_append` asks of every
# instruction, in one lookup
_OPS: dict[str, tuple] = {}


def _op_facts(name: str) -> tuple:
    op = OPCODES[name]
    found = _OPS[name] = (op, op.ctrl is not None, name in FLOAT_LOADS)
    return found


def _makers() -> dict:
    """`MAKERS` by opcode name (the registry looks a name up in the opcode table first)."""
    if len(_MAKERS_BY_NAME) != len(MAKERS):
        _MAKERS_BY_NAME.clear()
        _MAKERS_BY_NAME.update((op.name, fn) for op, fn in MAKERS.items())
    return _MAKERS_BY_NAME


@dataclass
class Callee:
    name: str
    signature: Signature


class FuncGen(OpEmitters, MemoryEmitters, CallEmitters, ControlFlow):
    """Builds one function: a value pool per block, instruction emission, the generators."""

    def __init__(self, prog: "ProgramGen", name: str, sig: Signature, callees: list[Callee]):
        self.p = prog
        self.rng = prog.rng
        self.func = Function(name, sig)
        self.value_types = self.func.value_types  # (the function's: read and written per instruction)
        self.callees = callees
        self.next_value = 0
        self.tainted: set[int] = set()  # float values whose NaN bits the hardware may choose
        self.loaded: set[int] = set()  # scalar floats straight from a load (rule cranelift-bug)
        self.pool: dict[Type, list[int]] = {}
        self.block: Optional[Block] = None
        # The block being filled: its instruction list, kept apart so that each emitted
        # instruction reaches it in one step.
        self.insts: list = []
        self.vmctx: Optional[int] = None
        self.counter: Optional[int] = None  # the loop counter available in the current block
        self.fn_refs: dict[str, int] = {}  # callee name -> fnN
        self.sig_refs: list[tuple[Signature, int]] = []
        self.heap_refs: dict[int, int] = {}  # plan index -> tableN
        self.heap_views: list = []  # the HeapViews this function declares
        self.slots: list[tuple[int, int]] = []  # (ssN, size)
        self.budget = 0

    # -- values and emission -------------------------------------------------------------
    def new_value(self, ty: Type) -> int:
        v = self.next_value
        self.next_value += 1
        self.value_types[v] = ty
        return v

    def define(self, v: int, tainted: bool = False) -> None:
        ty = self.value_types[v]
        values = self.pool.get(ty)
        if values is None:
            self.pool[ty] = [v]
        else:
            values.append(v)
        if tainted and ty.lane_type.is_float:
            self.tainted.add(v)

    # The five common immediate fields are parameters of their own; only the rare ones (`rare`) come
    # as a dict. (Some 180 instructions a program: a dict of keywords for each, built, read and
    # freed, was a tenth of generating.) Writing `new_inst` out here saved some 2% of generating
    # (0.3% of a fuzzed program's CPU): not worth three copies of it.
    def emit(self, name: str, ctrl: Optional[Type], args: list[int], result_types: list[Type],
             imm=None, cond=None, flags=None, offset=None, code=None, **rare) -> list[int]:
        value_types = self.value_types
        v = self.next_value
        results = []
        for t in result_types:
            value_types[v] = t
            results.append(v)
            v += 1
        self.next_value = v
        # Appended to the block being filled (as in emit1: a call of eleven arguments more for
        # each of a program's instructions cost more than these four lines twice).
        op, polymorphic, float_load = _OPS.get(name) or _op_facts(name)
        inst = new_inst(op, ctrl if polymorphic else None, args, results, imm, cond, flags, offset, code)
        if rare or float_load:
            self._finish(inst, rare, float_load)
        self.insts.append(inst)
        return results

    def emit1(self, name: str, ctrl: Optional[Type], args: list[int], result: Type, tainted=False, pool=True,
              imm=None, cond=None, flags=None, offset=None, code=None, **rare) -> int:
        # (the one-result case of emit, without its loop: most instructions are made here)
        v = self.next_value
        self.next_value = v + 1
        self.value_types[v] = result
        op, polymorphic, float_load = _OPS.get(name) or _op_facts(name)
        # (the instruction keeps `args` itself: no emitter changes a list it has emitted)
        inst = new_inst(op, ctrl if polymorphic else None, args, [v], imm, cond, flags, offset, code)
        if rare or float_load:
            self._finish(inst, rare, float_load)
        self.insts.append(inst)
        if pool:
            # (`define`, written out)
            values = self.pool.get(result)
            if values is None:
                self.pool[result] = [v]
            else:
                values.append(v)
            if tainted and result.lane_type.is_float:
                self.tainted.add(v)
        return v

    def _finish(self, inst, rare: dict, float_load: bool) -> None:
        """An emitted instruction's rare fields, and its results noted if it loads scalar floats."""
        for field, value in rare.items():
            setattr(inst, field, value)
        if float_load:
            value_types = self.value_types
            for r in inst.results:
                if value_types[r] in FLOAT_SCALARS:
                    self.loaded.add(r)

    def type_of(self, v: int) -> Type:
        return self.value_types[v]

    # -- the pool ------------------------------------------------------------------------------
    def pick(self, ty: Type) -> Optional[int]:
        values = self.pool.get(ty)
        if not values:
            return None
        # Mostly recent values (long dependency chains find more bugs than wide, shallow ones),
        # sometimes any, so that the arguments keep flowing in.
        rng = self.rng
        if rng.random() < 0.3:
            return rng.choice(values)
        # (rng.expovariate(0.35), written out: the same draw and arithmetic, one call fewer)
        back = int(-log(1.0 - rng.random()) / 0.35)
        return values[-1 - back] if back < len(values) else values[0]

    def value_of(self, ty: Type) -> int:
        """A value of type `ty` available here: from the pool, converted from another type, or a constant."""
        rng = self.rng  # (its methods called in place: no bound method object per call)
        if rng.random() < 0.85:
            # (`pick`, written out: most operands come from here, a call each fewer)
            values = self.pool.get(ty)
            if values:
                if rng.random() < 0.3:
                    return rng.choice(values)
                back = int(-log(1.0 - rng.random()) / 0.35)
                return values[-1 - back] if back < len(values) else values[0]
        if rng.random() < 0.65:
            v = self.convert_to(ty)
            if v is not None:
                return v
        return self.const(ty)

    def const(self, ty: Type, value=None) -> int:
        rng = self.rng
        if ty.is_vector:
            if value is None:
                value = random_value(rng, ty)
            size = ty.lane_bits // 8
            data = b"".join([x.to_bytes(size, "little") for x in value])
            return self.emit1("vconst", ty, [], ty, imm=data)
        if ty.is_float:
            bits = value if value is not None else float_bits(rng, ty.bits)
            return self.emit1("f32const" if ty.bits == 32 else "f64const", None, [], ty, imm=bits)
        if ty is I128:
            lo = self.const(I64, value & ((1 << 64) - 1) if value is not None else None)
            if value is not None or rng.random() < 0.5:
                hi = self.const(I64, value >> 64 if value is not None else None)
                return self.emit1("iconcat", I64, [lo, hi], I128)
            return self.emit1(rng.choice(("uextend", "sextend")), I128, [lo], I128)
        bits = value if value is not None else interesting_int(rng, ty.bits)
        imm = bits - (1 << ty.bits) if bits >> (ty.bits - 1) else bits  # written signed
        return self.emit1("iconst", ty, [], ty, imm=imm)

    def iconst(self, ty: Type, value: int, pool: bool = False) -> int:
        value &= (1 << ty.bits) - 1
        if ty.bits > 64:
            # iconst has no i128 form: concatenate two i64 halves.
            lo, hi = self.iconst(I64, value), self.iconst(I64, value >> 64)
            return self.emit1("iconcat", I64, [lo, hi], ty, pool=pool)
        imm = value - (1 << ty.bits) if value >> (ty.bits - 1) else value
        return self.emit1("iconst", ty, [], ty, pool=pool, imm=imm)

    def convert_to(self, ty: Type) -> Optional[int]:
        """A value of `ty` computed from a pool value of another type, or None."""
        rng = self.rng
        pool = self.pool  # (its lists are never empty: a type is in it once it has a value)
        candidates = [t for t in self.p.types if t is not ty and t in pool]
        if not candidates:
            return None
        src_t = rng.choice(candidates)
        src = self.pick(src_t)
        if ty.is_vector:
            if src_t is ty.lane_type:
                if widens_load("splat", ty):
                    src = self.not_loaded(src)
                return self.emit1("splat", ty, [src], ty, tainted=src in self.tainted)
            if src_t.is_vector and "conv" in self.p.features:
                src = self.canon(src)
                flags = LITTLE if src_t.lanes != ty.lanes else PLAIN
                return self.emit1("bitcast", ty, [src], ty, flags=flags)
            return None
        if src_t.is_vector:
            if src_t.lane_type is ty:
                lane = rng.randrange(src_t.lanes)
                return self.emit1("extractlane", src_t, [src], ty, tainted=src in self.tainted, imm=lane)
            return None
        if ty.is_int and src_t.is_int:
            if src_t.bits > ty.bits:
                return self.emit1("ireduce", ty, [src], ty)
            return self.emit1(rng.choice(("uextend", "sextend")), ty, [src], ty)
        if ty.is_float and src_t.is_float:
            return self.emit1("fpromote" if ty.bits > src_t.bits else "fdemote", ty, [src], ty, tainted=True)
        if "conv" not in self.p.features:
            return None
        if ty.is_float and src_t.is_int:
            if src_t.bits == ty.bits and rng.random() < 0.5:
                return self.emit1("bitcast", ty, [src], ty, flags=PLAIN)
            if src_t is I128:
                return None
            return self.emit1(rng.choice(("fcvt_from_sint", "fcvt_from_uint")), ty, [src], ty)
        if ty.is_int and src_t.is_float:
            if src_t.bits == ty.bits and rng.random() < 0.5:
                return self.emit1("bitcast", ty, [self.canon(src)], ty, flags=PLAIN)
            if ty.bits not in (32, 64):
                return None
            return self.emit1(rng.choice(("fcvt_to_sint_sat", "fcvt_to_uint_sat")), ty, [src], ty)
        return None

    def canon(self, v: int) -> int:
        """`v`, or a copy whose NaN (if any) is the canonical one (rule nan-bits)."""
        if v not in self.tainted:
            return v
        ty = self.type_of(v)
        nan_bits = CANON_NAN[ty.lane_bits]
        is_nan = self.emit1("fcmp", ty, [v, v], ty.as_truthy(), pool=False, cond="uno")
        if ty.is_vector:
            nan = self.const(ty, (nan_bits,) * ty.lanes)
            mask = self.emit1("bitcast", ty, [is_nan], ty, pool=False, flags=PLAIN)
            out = self.emit1("bitselect", ty, [mask, nan, v], ty)
        else:
            nan = self.emit1("f32const" if ty.bits == 32 else "f64const", None, [], ty, pool=False, imm=nan_bits)
            out = self.emit1("select", ty, [is_nan, nan, v], ty)
        return out

    def not_loaded(self, v: int) -> int:
        """`v`, or another value of its type if `v` comes straight from a load: Cranelift 0.120 widens
        a scalar float load feeding fcmp, fcopysign or splat.f64x2 to 16 bytes (rule cranelift-bug)."""
        if v not in self.loaded:
            return v
        ty = self.type_of(v)
        for _ in range(3):
            w = self.pick(ty)
            if w is not None and w not in self.loaded:
                return w
        return self.const(ty)

    def scalar_int(self) -> int:
        """Any scalar integer from the pool (a condition), preferring comparison results."""
        if self.rng.random() < 0.6 and self.pool.get(I8):
            return self.pick(I8)
        types = [t for t in self.p.int_scalars if self.pool.get(t)]
        if not types:
            return self.const(self.rng.choice(self.p.int_scalars))
        return self.pick(self.rng.choice(types))

    # -- building the whole function -----------------------------------------------------------------
    def generate(self) -> Function:
        p, rng, cfg = self.p, self.rng, self.p.cfg
        feats = p.features
        n = 1
        if "control" in feats or "loops" in feats or "br_table" in feats:
            n = rng.randint(1, cfg.max_blocks)
        loops = "loops" in feats and n > 1
        edges = self.plan_edges(n, loops)
        succs = [e.targets for e in edges]
        dom = dominators(n, succs)
        # Blocks and their parameters.
        for b in range(n):
            self.func.blocks[b] = Block(b)
        entry = self.func.blocks[0]
        for prm in self.func.signature.params:
            entry.params.append(self.new_value(prm.type))
        counter_params: dict[int, int] = {}
        for b in range(1, n):
            blk = self.func.blocks[b]
            if loops:
                c = self.new_value(I32)
                blk.params.append(c)
                counter_params[b] = c
            for _ in range(rng.randint(0, 3)):
                blk.params.append(self.new_value(rng.choice(p.types)))
        # Fill blocks in layout order (dominators come first).
        filled: list[dict] = []  # each block's pool as its filling ended
        for b in range(n):
            blk = self.func.blocks[b]
            self.block = blk
            self.insts = blk.insts
            if b:
                # The values every dominator defines, type by type in the order they were defined:
                # the pool of the nearest dominator as its filling ended (branches go forward but
                # for back edges, so a block's dominators come before it, each dominating the next).
                nearest = max(d for d in dom[b] if d != b)
                self.pool = {ty: values[:] for ty, values in filled[nearest].items()}
            else:
                self.pool = {}
            for i, v in enumerate(blk.params):
                if b == 0 and self.vmctx is None and self.func.signature.params[i].purpose == "vmctx":
                    self.vmctx = v
                    continue
                self.define(v, tainted=b > 0)  # float block parameters may hold any NaN
            if b == 0:
                self.prologue()
                if loops:
                    self.counter = self.loop_counter()
            else:
                self.counter = counter_params.get(b)
            self.body(rng.randint(1, cfg.max_insts))
            self.terminate(edges[b], counter_params)
            filled.append(self.pool)
        return self.func

    def prologue(self) -> None:
        """Entry-block set-up: stack slots written in full (rule uninit-stack)."""
        rng, feats = self.rng, self.p.features
        if "stack" in feats and rng.random() < 0.7:
            for _ in range(rng.randint(1, 2)):
                size = 16 * rng.randint(1, 4)
                n = len(self.func.stack_slots)
                self.func.stack_slots[n] = StackSlotData("explicit_slot", size, align=16)
                self.slots.append((n, size))
                for off in range(0, size, 8):
                    self.emit("stack_store", I64, [self.iconst(I64, interesting_int(rng, 64))], [],
                              stack_slot=n, offset=off)

    def body(self, count: int) -> None:
        actions = self.p.actions
        cum_weights = self.p.action_cum_weights
        # `rng.choices(actions, cum_weights=cum_weights)[0]` as that draws it (one random(), the
        # same bisection), without its checks and its one-element list: tens of draws a program.
        random, total, hi = self.rng.random, cum_weights[-1] + 0.0, len(actions) - 1
        makers = _makers()
        made = 0
        tries = 0
        while made < count and tries < count * 4:
            tries += 1
            kind, name = actions[bisect(cum_weights, random() * total, 0, hi)]
            if kind == "op":
                maker = makers.get(name)
                ok = maker(self, name) if maker is not None else self.gen_generic(name)
            else:
                ok = getattr(self, f"gen_{name}")()
            if ok:
                made += 1

    def fold_unused(self, rets: list[int]) -> list[int]:
        """Fold values nothing reads into the return values (bxor of their bits), so that the
        computation is live: Cranelift removes dead pure code, and with it any bug in it."""
        if not rets:
            return rets
        rets = list(rets)
        used = self.used_values()
        unused = [v for t in self.p.types for v in self.pool.get(t, ()) if v not in used and v not in rets]
        for u in unused[-10:]:
            i = self.rng.randrange(len(rets))
            rets[i] = self.fold(rets[i], u)
        return rets

    def used_values(self) -> set[int]:
        """The values the instructions emitted so far read: operands, and branches' block arguments.
        (Gathered here, once a return asks, rather than kept up to date at every instruction.)"""
        blocks = self.func.blocks.values()
        used = set(chain.from_iterable([inst.args for blk in blocks for inst in blk.insts]))
        for blk in blocks:
            # Branches end blocks (gen_control's terminators): only a block's last instruction is one.
            if blk.insts and blk.insts[-1].opcode.is_branch:
                for bc in blk.insts[-1].branch_targets():
                    used.update(bc.args)
        return used

    def fold(self, r: int, u: int) -> int:
        """`r` with the bits of `u` xored in (exact bit operations: no NaN is computed)."""
        ty = self.value_types[r]
        as_int = ty.as_int()
        if ty.lane_type.is_float:
            r = self.emit1("bitcast", as_int, [self.canon(r)], as_int, pool=False, flags=PLAIN)
        if ty.is_vector:
            lane = self.int_bits(u, as_int.lane_type)
            bits = self.emit1("splat", as_int, [lane], as_int, pool=False)
        else:
            bits = self.int_bits(u, as_int)
        x = self.emit1("bxor", as_int, [r, bits], as_int, pool=False)
        if ty.lane_type.is_float:
            x = self.emit1("bitcast", ty, [x], ty, pool=False, flags=PLAIN)
        return x

    def int_bits(self, v: int, want: Type) -> int:
        """`v`'s bits as a `want` scalar integer (truncated or zero-extended)."""
        value_types = self.value_types
        ty = value_types[v]
        if ty.lane_type.is_float:
            v = self.canon(v)
            if ty.is_vector:
                v = self.emit1("bitcast", I64X2, [v], I64X2, pool=False, flags=LITTLE)
            else:
                as_int = ty.as_int()
                v = self.emit1("bitcast", as_int, [v], as_int, pool=False, flags=PLAIN)
            ty = value_types[v]
        if ty.is_vector:
            if ty is not I64X2:
                v = self.emit1("bitcast", I64X2, [v], I64X2, pool=False, flags=LITTLE)
            lo = self.emit1("extractlane", I64X2, [v], I64, pool=False, imm=0)
            hi = self.emit1("extractlane", I64X2, [v], I64, pool=False, imm=1)
            v, ty = self.emit1("bxor", I64, [lo, hi], I64, pool=False), I64
        if ty.bits > want.bits:
            return self.emit1("ireduce", want, [v], want, pool=False)
        if ty.bits < want.bits:
            return self.emit1("uextend", want, [v], want, pool=False)
        return v
