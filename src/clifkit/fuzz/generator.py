"""Random, valid, terminating CLIF programs for differential testing.

    gen = Generator(GenConfig(features=parse_features("all")))
    program = gen.program(seed)          # reproducible from the seed alone
    program.text()                       # a `test run` file with `; run:` lines (no expectations)

A program is a few functions (``%main`` last; each calls only functions
generated before it, so calls are acyclic), heap and table directives when it
uses them, and a few run lines with generated arguments. Everything random
comes from one ``random.Random(seed)``; nothing iterates a set or a dict keyed
by identity, so the same seed gives the same text on every run.

Termination: blocks are laid out so that ordinary branches only go forward;
the only backward branches are loop back edges, taken while a counter block
parameter is nonzero and passing it decremented. Calls are acyclic. So every
run executes a bounded number of instructions.

Validity: instructions are built from the opcode table (`ir/opcodes.py`) and
the fuzzing table (`specs.py`), values come from a pool of values that
dominate the insertion point (the block's parameters, and everything defined in
the block and in its dominators), and every program is checked with clifkit's
verifier before it runs (`Program.check`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Optional

from ..ir.function import (
    AbiParam, Block, BlockCall, ExtFuncData, ExternalName, Function, GlobalValueData, HeapData, Inst,
    JumpTableData, Signature, StackSlotData, TableData,
)  # fmt: skip
from ..ir.immediates import ATOMIC_RMW_OPS, FLOATCC, INTCC, MemFlags
from ..ir.opcodes import DERIVED, OPCODES, Opcode
from ..ir.types import I8, I16, I32, I64, I128, Type
from ..printer import format_function
from ..runtest.values import format_value
from .features import DEFAULT
from .specs import (
    FLOAT_SCALARS, FLOAT_VECTORS, I64X2, INT_SCALARS, INT_VECTORS, SPECS, X86_VECTOR_FCMP_GAPS, x86_gap,
)  # fmt: skip

NOTRAP_ALIGNED = MemFlags(trap_code=None, aligned=True)
TRAPPING = MemFlags()  # heap_oob on a fault
LITTLE = MemFlags(endianness="little")
GROW = "%heap_grow"
PAGE = 0x1000  # the native engine's page size: the granularity of guard pages
CANON_NAN = {32: 0x7FC0_0000, 64: 0x7FF8_0000_0000_0000}


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
    # Pick a random subset of the features for each program (varied, smaller programs).
    vary_features: bool = True


# Loads whose scalar float results must not feed fcmp/fcopysign directly (rule cranelift-bug).
FLOAT_LOADS = ("load", "stack_load", "heap_load", "atomic_load")

# Opcodes whose free operand is a scalar (a condition, a shift amount) even for vector types.
SCALAR_FREE_OPERAND = ("select", "select_spectre_guard", "brif", "trapz", "trapnz", "bmask")
SHIFTS = ("ishl", "ushr", "sshr", "rotl", "rotr")

# How much of a block each feature group makes, relative to the others.
GROUP_SHARES = {"int": 5.0, "float": 3.0, "conv": 1.0, "simd": 3.0, "traps": 0.4, "stack": 1.0, "heap": 1.8,
                "table": 0.6, "calls": 0.8}


# -- heaps -------------------------------------------------------------------------------


@dataclass
class HeapPlan:
    """One `; heap:` or `; table:` directive and how functions declare it."""

    index: int  # position among the directives (the %heap_grow index)
    style: str  # static, dynamic, table
    size: int  # bytes (tables: elements * element_size)
    max_size: int
    ptr: int  # vmctx offset of the base slot
    bound_slot: int  # vmctx offset of the bound slot
    index_type: Type
    decl_bound: int = 0  # static heaps: the declared bound (inside the reservation)
    guard: int = 0
    element_size: int = 0  # tables

    @property
    def elements(self) -> int:
        return self.size // self.element_size if self.element_size else 0

    def directive(self) -> str:
        if self.style == "table":
            return (f"table: elements={self.elements}, element_size={self.element_size}, "
                    f"ptr=vmctx+{self.ptr}, bound=vmctx+{self.bound_slot}")
        text = f"heap: {self.style}, size={self.size:#x}, ptr=vmctx+{self.ptr}, bound=vmctx+{self.bound_slot}"
        if self.max_size != self.size:
            text += f", max={self.max_size:#x}"
        return text


# -- programs ----------------------------------------------------------------------------


@dataclass
class Program:
    seed: int
    functions: list[Function]  # callees first, %main last
    heaps: list[HeapPlan]
    runs: list[list]  # argument values per run line (without the implicit vmctx)
    target: str = "x86_64"
    features: frozenset = DEFAULT

    @property
    def main(self) -> Function:
        return self.functions[-1]

    @property
    def arg_types(self) -> list[Type]:
        params = self.main.signature.params
        skip = 1 if self.heaps else 0
        return [p.type for p in params[skip:]]

    def run_line(self, args: list, expected: Optional[str] = None) -> str:
        """A run line expecting `expected`; without one, a print line (it only calls)."""
        text = ", ".join(format_value(a, t) for a, t in zip(args, self.arg_types))
        if expected is None:
            return f"; print: {self.main.name}({text})"
        return f"; run: {self.main.name}({text}) == {expected}"

    def text(self, expectations: Optional[list[Optional[str]]] = None, header: str = "") -> str:
        """The program as a run-test file; `expectations` gives each run line's `== ...` text."""
        out = []
        if header:
            out.extend(f"; {line}".rstrip() for line in header.splitlines())
        out += ["test interpret", "test run", f"target {self.target}", ""]
        for f in self.functions:
            out.append(format_function(f))
        for h in self.heaps:
            out.append(f"; {h.directive()}")
        for i, args in enumerate(self.runs):
            expected = expectations[i] if expectations is not None else None
            out.append(self.run_line(args, expected))
        return "\n".join(out) + "\n"


# -- constants ------------------------------------------------------------------------------


def _interesting_int(rng: random.Random, bits: int) -> int:
    """A bit pattern of width `bits`, biased to edge cases."""
    mask = (1 << bits) - 1
    r = rng.random()
    if r < 0.25:
        return rng.choice((0, 1, 2, 3, 7, 8, 16, 31, 32, 63, 64, 100, 255, 256)) & mask
    if r < 0.45:
        return rng.choice((mask, mask - 1, 1 << (bits - 1), (1 << (bits - 1)) - 1, (1 << (bits - 1)) + 1))
    if r < 0.55:
        return (1 << rng.randrange(bits)) & mask
    if r < 0.7:
        return (-rng.randrange(1, 100)) & mask
    if r < 0.8:
        return rng.randrange(0, 1000) & mask
    return rng.getrandbits(bits)


_FLOAT_FORMAT = {32: (8, 23), 64: (11, 52)}


def _float_bits(rng: random.Random, bits: int) -> int:
    """A float bit pattern of width `bits`, biased to edge cases (NaNs, infinities, zeros, subnormals)."""
    w, t = _FLOAT_FORMAT[bits]
    sign = (1 << (bits - 1)) if rng.random() < 0.3 else 0
    exp_all = ((1 << w) - 1) << t
    bias = (1 << (w - 1)) - 1
    r = rng.random()
    if r < 0.08:
        return sign  # +-0
    if r < 0.14:
        return sign | exp_all  # +-Inf
    if r < 0.20:
        return sign | exp_all | (1 << (t - 1))  # quiet NaN
    if r < 0.24:
        return sign | exp_all | (1 << (t - 1)) | rng.getrandbits(t - 1)  # NaN with payload
    if r < 0.27:
        return sign | exp_all | rng.randrange(1, 1 << (t - 1))  # signaling NaN
    if r < 0.31:
        return sign | rng.randrange(1, 1 << t)  # subnormal
    if r < 0.60:
        # A small integer value, exact: good for conversions and rounding.
        n = rng.randrange(0, 300)
        if n == 0:
            return sign
        e = n.bit_length() - 1
        frac = (n - (1 << e)) << (t - e) if e <= t else 0
        return sign | ((e + bias) << t) | frac
    if r < 0.75:
        # +-2^k and neighbours around the integer conversion limits.
        k = rng.choice((7, 8, 15, 16, 31, 32, 63, 64))
        value = sign | ((k + bias) << t)
        return value + rng.choice((-1, 0, 0, 1))
    if r < 0.85:
        # Something with a fraction: n + m/8.
        e = rng.randrange(-3, 10)
        return sign | ((e + bias) << t) | (rng.getrandbits(3) << (t - 3))
    return rng.getrandbits(bits)


def random_value(rng: random.Random, ty: Type):
    """A run-line argument of type `ty` (interpreter representation)."""
    if ty.is_vector:
        return tuple(random_value(rng, ty.lane_type) for _ in range(ty.lanes))
    if ty.is_float:
        return _float_bits(rng, ty.bits)
    return _interesting_int(rng, ty.bits)


# -- one function ----------------------------------------------------------------------------


@dataclass
class Callee:
    name: str
    signature: Signature


@dataclass
class Edge:
    kind: str  # return, jump, brif, br_table, back, trap
    targets: list[int] = field(default_factory=list)  # block indices; for back: [back target, forward target]


def dominators(n: int, succs: list[list[int]]) -> list[set[int]]:
    """Dominator sets of blocks 0..n-1 (block 0 is the entry; all blocks reachable)."""
    preds: list[list[int]] = [[] for _ in range(n)]
    for b, ss in enumerate(succs):
        for s in ss:
            if b not in preds[s]:
                preds[s].append(b)
    everything = set(range(n))
    dom = [{0}] + [set(everything) for _ in range(n - 1)]
    changed = True
    while changed:
        changed = False
        for b in range(1, n):
            new = set(everything)
            for p in preds[b]:
                new &= dom[p]
            new |= {b}
            if new != dom[b]:
                dom[b] = new
                changed = True
    return dom


class FuncGen:
    """Builds one function: a value pool per block, instruction emission, the generators."""

    def __init__(self, prog: "ProgramGen", name: str, sig: Signature, callees: list[Callee]):
        self.p = prog
        self.rng = prog.rng
        self.func = Function(name, sig)
        self.callees = callees
        self.next_value = 0
        self.tainted: set[int] = set()  # float values whose NaN bits the hardware may choose
        self.used: set[int] = set()  # values some instruction reads
        self.loaded: set[int] = set()  # scalar floats straight from a load (rule cranelift-bug)
        self.defs: dict[int, list[int]] = {}  # block -> pool values it defines (params included)
        self.pool: dict[Type, list[int]] = {}
        self.block: Optional[Block] = None
        self.vmctx: Optional[int] = None
        self.counter: Optional[int] = None  # the loop counter available in the current block
        self.fn_refs: dict[str, int] = {}  # callee name -> fnN
        self.sig_refs: list[tuple[Signature, int]] = []
        self.heap_refs: dict[int, int] = {}  # plan index -> heapN / tableN
        self.slots: list[tuple[int, int]] = []  # (ssN, size)
        self.budget = 0

    # -- values and emission -------------------------------------------------------------
    def new_value(self, ty: Type) -> int:
        v = self.next_value
        self.next_value += 1
        self.func.value_types[v] = ty
        return v

    def define(self, v: int, tainted: bool = False) -> None:
        ty = self.func.value_types[v]
        self.pool.setdefault(ty, []).append(v)
        self.defs[self.block.number].append(v)
        if tainted and ty.lane_type.is_float:
            self.tainted.add(v)

    def emit(self, name: str, ctrl: Optional[Type], args: list[int], result_types: list[Type], **fields) -> list[int]:
        op = OPCODES[name]
        results = [self.new_value(t) for t in result_types]
        inst = Inst(op, ctrl if op.ctrl is not None else None, args, results, **fields)
        self.used.update(args)
        for bc in inst.branch_targets():
            self.used.update(bc.args)
        if name in FLOAT_LOADS:
            self.loaded.update(r for r in results if self.type_of(r) in FLOAT_SCALARS)
        self.block.insts.append(inst)
        return results

    def emit1(self, name: str, ctrl: Optional[Type], args: list[int], result: Type, tainted=False, pool=True, **fields) -> int:
        v = self.emit(name, ctrl, args, [result], **fields)[0]
        if pool:
            self.define(v, tainted)
        return v

    def type_of(self, v: int) -> Type:
        return self.func.value_types[v]

    # -- the pool ------------------------------------------------------------------------------
    def pick(self, ty: Type) -> Optional[int]:
        values = self.pool.get(ty)
        if not values:
            return None
        # Mostly recent values (long dependency chains find more bugs than wide, shallow ones),
        # sometimes any, so that the arguments keep flowing in.
        if self.rng.random() < 0.3:
            return self.rng.choice(values)
        back = min(int(self.rng.expovariate(0.35)), len(values) - 1)
        return values[-1 - back]

    def value_of(self, ty: Type) -> int:
        """A value of type `ty` available here: from the pool, converted from another type, or a constant."""
        r = self.rng.random()
        if r < 0.85:
            v = self.pick(ty)
            if v is not None:
                return v
        if self.rng.random() < 0.65:
            v = self.convert_to(ty)
            if v is not None:
                return v
        return self.const(ty)

    def const(self, ty: Type, value=None) -> int:
        rng = self.rng
        if ty.is_vector:
            lanes = value if value is not None else tuple(random_value(rng, ty.lane_type) for _ in range(ty.lanes))
            lb = ty.lane_bits // 8
            data = b"".join(int(x).to_bytes(lb, "little") for x in lanes)
            return self.emit1("vconst", ty, [], ty, imm=data)
        if ty.is_float:
            bits = value if value is not None else _float_bits(rng, ty.bits)
            return self.emit1("f32const" if ty.bits == 32 else "f64const", None, [], ty, imm=bits)
        if ty is I128:
            lo = self.const(I64, value & ((1 << 64) - 1) if value is not None else None)
            if value is not None or rng.random() < 0.5:
                hi = self.const(I64, value >> 64 if value is not None else None)
                return self.emit1("iconcat", I64, [lo, hi], I128)
            return self.emit1(rng.choice(("uextend", "sextend")), I128, [lo], I128)
        bits = value if value is not None else _interesting_int(rng, ty.bits)
        imm = bits - (1 << ty.bits) if bits >> (ty.bits - 1) else bits  # written signed
        return self.emit1("iconst", ty, [], ty, imm=imm)

    def iconst(self, ty: Type, value: int, pool: bool = False) -> int:
        value &= (1 << ty.bits) - 1
        imm = value - (1 << ty.bits) if value >> (ty.bits - 1) else value
        return self.emit1("iconst", ty, [], ty, pool=pool, imm=imm)

    def convert_to(self, ty: Type) -> Optional[int]:
        """A value of `ty` computed from a pool value of another type, or None."""
        rng = self.rng
        candidates = [t for t in self.p.types if t is not ty and self.pool.get(t)]
        if not candidates:
            return None
        src_t = rng.choice(candidates)
        src = self.pick(src_t)
        if ty.is_vector:
            if src_t is ty.lane_type:
                return self.emit1("splat", ty, [src], ty, tainted=src in self.tainted)
            if src_t.is_vector and "conv" in self.p.features:
                src = self.canon(src)
                flags = LITTLE if src_t.lanes != ty.lanes else MemFlags()
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
                return self.emit1("bitcast", ty, [src], ty, flags=MemFlags())
            if src_t is I128:
                return None
            return self.emit1(rng.choice(("fcvt_from_sint", "fcvt_from_uint")), ty, [src], ty)
        if ty.is_int and src_t.is_float:
            if src_t.bits == ty.bits and rng.random() < 0.5:
                return self.emit1("bitcast", ty, [self.canon(src)], ty, flags=MemFlags())
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
            mask = self.emit1("bitcast", ty, [is_nan], ty, pool=False, flags=MemFlags())
            out = self.emit1("bitselect", ty, [mask, nan, v], ty)
        else:
            nan = self.emit1("f32const" if ty.bits == 32 else "f64const", None, [], ty, pool=False, imm=nan_bits)
            out = self.emit1("select", ty, [is_nan, nan, v], ty)
        return out

    def not_loaded(self, v: int) -> int:
        """`v`, or another value of its type if `v` comes straight from a load: Cranelift 0.120 widens
        a scalar float load feeding fcmp or fcopysign to 16 bytes (rule cranelift-bug)."""
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

    # -- generic opcode generation -------------------------------------------------------------
    def operand_types(self, op: Opcode, ctrl: Optional[Type]) -> Optional[list[Type]]:
        """Types of `op`'s fixed operands at `ctrl`, choosing free ones; None if impossible."""
        rng = self.rng
        out = []
        for o in op.value_ins:
            if o.fixed is not None:
                out.append(o.fixed)
            elif o.derived in ("narrower", "wider"):
                pool = self.p.int_scalars if ctrl.is_int else list(FLOAT_SCALARS)
                if o.derived == "narrower":
                    choices = [t for t in pool if t.bits < ctrl.bits]
                else:
                    choices = [t for t in pool if t.bits > ctrl.bits]
                if not choices:
                    return None
                out.append(rng.choice(choices))
            elif o.derived:
                t = DERIVED[o.derived](ctrl)
                if t is None:
                    return None
                out.append(t)
            elif o.typevar == op.ctrl:
                out.append(ctrl)
            else:
                choices = [t for t in self.p.types if o.typevar.contains(t)]
                if op.name in SCALAR_FREE_OPERAND or (o.name == "y" and op.name in SHIFTS):
                    choices = [t for t in choices if not t.is_vector]
                if op.name.startswith("fcvt_"):
                    # Conversions keep lane counts and widths (vector forms) or stay scalar.
                    if ctrl.is_vector:
                        choices = [t for t in choices if t.is_vector and t.lanes == ctrl.lanes and t.lane_bits == ctrl.lane_bits]
                    else:
                        choices = [t for t in choices if not t.is_vector]
                if op.name == "vhigh_bits":
                    choices = [t for t in choices if t.is_vector and t.lanes <= ctrl.bits]
                if not choices:
                    return None
                out.append(rng.choice(choices))
        return out

    def ctrl_candidates(self, name: str) -> list[Type]:
        op = OPCODES[name]
        spec = SPECS[name]
        if op.ctrl is None:
            return [None]  # type: ignore[list-item]
        out = [t for t in self.p.types if op.ctrl.contains(t)]
        if spec.ctrl is not None:
            out = [t for t in out if spec.ctrl(t)]
        return out

    def gen_generic(self, name: str) -> bool:
        op = OPCODES[name]
        spec = SPECS[name]
        rng = self.rng
        ctrls = self.p.ctrls(name, self)
        if not ctrls:
            return False
        ctrl = rng.choice(ctrls)
        types = self.operand_types(op, ctrl)
        if types is None or x86_gap(name, ctrl, types):
            return False
        fields = self.immediates(op, ctrl, types)
        if fields is None:
            return False
        args = [self.value_of(t) for t in types]
        if name == "fcmp":
            args = [self.not_loaded(a) for a in args]
        if spec.nan == "observe":
            args = [self.canon(a) for a in args]
        if name == "select" or name == "select_spectre_guard":
            args[0] = self.scalar_int() if rng.random() < 0.7 else args[0]
            types[0] = self.type_of(args[0])
        results = self.emit(name, ctrl, args, self.result_types(op, ctrl, types), **fields)
        taint = spec.nan == "arith" or (spec.nan == "exact" and any(a in self.tainted for a in args))
        for r in results:
            self.define(r, taint)
        return True

    @staticmethod
    def result_types(op: Opcode, ctrl: Optional[Type], arg_types: list[Type]) -> list[Type]:
        out = []
        for o in op.outs:
            if o.fixed is not None:
                out.append(o.fixed)
            elif o.derived:
                out.append(DERIVED[o.derived](ctrl))
            else:
                out.append(ctrl)
        return out

    def immediates(self, op: Opcode, ctrl: Optional[Type], types: list[Type]) -> Optional[dict]:
        rng = self.rng
        fmt = op.format.name
        name = op.name
        if fmt == "BinaryImm64":
            bits = ctrl.lane_bits
            if name in ("ishl_imm", "ushr_imm", "sshr_imm", "rotl_imm", "rotr_imm"):
                return {"imm": rng.randrange(0, 2 * bits)}
            if name in ("udiv_imm", "urem_imm"):
                return {"imm": rng.choice((1, 2, 3, 7, 10, 16, 255, 1000, 65535))}
            if name in ("sdiv_imm", "srem_imm"):
                return {"imm": rng.choice((1, 2, 3, 7, 10, 16, -2, -3, -7, -100))}
            return {"imm": self.imm64(bits)}
        if fmt == "IntCompare":
            return {"cond": rng.choice(INTCC)}
        if fmt == "IntCompareImm":
            return {"cond": rng.choice(INTCC), "imm": self.imm64(ctrl.bits)}
        if fmt == "FloatCompare":
            conds = [c for c in FLOATCC if not (ctrl.is_vector and c in X86_VECTOR_FCMP_GAPS)]
            return {"cond": rng.choice(conds)}
        if fmt in ("BinaryImm8", "TernaryImm8"):
            return {"imm": rng.randrange(ctrl.lanes)}
        if fmt == "Shuffle":
            return {"mask": bytes(rng.randrange(32) for _ in range(16))}
        if fmt in ("Unary", "Binary", "Ternary"):
            return {}
        return None

    def imm64(self, bits: int) -> int:
        """An immediate written as CLIF shows it: signed at the controlling width (at most 64 bits)."""
        w = min(bits, 64)
        v = _interesting_int(self.rng, w)
        return v - (1 << w) if v >> (w - 1) else v

    # -- opcodes with hooks ----------------------------------------------------------------------
    def gen_div(self, name: str) -> bool:
        rng = self.rng
        ctrls = [t for t in self.p.int_scalars if not x86_gap(name, t, [t, t])]
        if not ctrls:
            return False
        t = rng.choice(ctrls)
        x = self.value_of(t)
        if "traps" in self.p.features and rng.random() < 0.15:
            y = self.value_of(t)  # may trap int_divz (or int_ovf for sdiv): defined, and compared
        elif rng.random() < 0.4:
            y = self.iconst(t, rng.choice((1, 2, 3, 5, 7, 10, 16, 100, -2, -3, -7, 1 << (t.bits - 1))))
        else:
            # Positive and nonzero whatever it was: (y >> 1) | 1.
            y0 = self.emit1("ushr_imm", t, [self.value_of(t)], t, pool=False, imm=1)
            y = self.emit1("bor_imm", t, [y0], t, pool=False, imm=1)
        self.emit1(name, t, [x, y], t)
        return True

    def gen_fcvt_trapping(self, name: str) -> bool:
        rng = self.rng
        floats = [t for t in self.p.types if t in FLOAT_SCALARS]
        if not floats:
            return False
        src_t = rng.choice(floats)
        dst = rng.choice((I32, I64))
        x = self.not_loaded(self.value_of(src_t))
        if "traps" not in self.p.features or rng.random() < 0.7:
            # Keep it in range: select(lo <= x < hi, x, 0.0); NaN fails both comparisons.
            signed = name == "fcvt_to_sint"
            k = dst.bits - 1 if signed else dst.bits
            w, t = _FLOAT_FORMAT[src_t.bits]
            bias = (1 << (w - 1)) - 1
            hi = self.emit1(f"f{src_t.bits}const", None, [], src_t, pool=False, imm=(k + bias) << t)
            lo_bits = ((1 << (src_t.bits - 1)) | ((k + bias) << t)) if signed else 0
            lo = self.emit1(f"f{src_t.bits}const", None, [], src_t, pool=False, imm=lo_bits)
            c1 = self.emit1("fcmp", src_t, [x, lo], I8, pool=False, cond="ge")
            c2 = self.emit1("fcmp", src_t, [x, hi], I8, pool=False, cond="lt")
            c = self.emit1("band", I8, [c1, c2], I8, pool=False)
            zero = self.emit1(f"f{src_t.bits}const", None, [], src_t, pool=False, imm=0)
            x = self.emit1("select", src_t, [c, x, zero], src_t, pool=False)
        self.emit1(name, dst, [x], dst)
        return True

    def gen_fcopysign(self, name: str) -> bool:
        types = [t for t in self.p.types if t in FLOAT_SCALARS]
        if not types:
            return False
        t = self.rng.choice(types)
        x, y = self.not_loaded(self.value_of(t)), self.canon(self.not_loaded(self.value_of(t)))
        self.emit1("fcopysign", t, [x, y], t, tainted=x in self.tainted)
        return True

    def gen_bitcast(self, name: str) -> bool:
        rng = self.rng
        pairs = []
        for a in self.p.types:
            for b in self.p.types:
                if a is not b and a.bits == b.bits and not x86_gap("bitcast", b, [a]):
                    pairs.append((a, b))
        if not pairs:
            return False
        src_t, dst_t = rng.choice(pairs)
        x = self.canon(self.value_of(src_t))
        flags = LITTLE if src_t.lanes != dst_t.lanes else MemFlags()
        self.emit1("bitcast", dst_t, [x], dst_t, flags=flags)
        return True

    def gen_condtrap(self, name: str) -> bool:
        # Trap when a value equals an (interesting) constant: rare, and often run-dependent.
        types = [t for t in self.p.int_scalars if self.pool.get(t)]
        if types and self.rng.random() < 0.8:
            t = self.rng.choice(types)
            cond = "eq" if name == "trapnz" else "ne"
            c = self.emit1("icmp_imm", t, [self.pick(t)], I8, cond=cond, imm=self.imm64(t.bits))
        else:
            c = self.scalar_int()
        self.emit(name, self.type_of(c), [c], [], code=self.trap_code())
        return True

    def gen_add_trap(self, name: str) -> bool:
        t = self.rng.choice((I32, I64))
        x = self.value_of(t)
        # Mostly a small addend: overflow only near the top of the range.
        y = self.iconst(t, self.rng.randrange(1, 1000)) if self.rng.random() < 0.7 else self.value_of(t)
        self.emit1("uadd_overflow_trap", t, [x, y], t, code=self.rng.choice(("int_ovf", self.trap_code())))
        return True

    def trap_code(self) -> str:
        return f"user{self.rng.randrange(1, 10)}"

    # -- memory: stack slots ---------------------------------------------------------------------
    def mem_type(self, max_bytes: int = 16) -> Type:
        types = [t for t in self.p.types if t.bytes <= max_bytes]
        return self.rng.choice(types)

    def store_value(self, ty: Type) -> int:
        return self.canon(self.value_of(ty))

    def gen_stack(self) -> bool:
        if not self.slots:
            return False
        rng = self.rng
        slot, size = rng.choice(self.slots)
        ty = self.mem_type()
        align = 16 if ty.is_vector else 1
        offset = rng.randrange(0, size - ty.bytes + 1)
        offset -= offset % align
        kind = rng.random()
        if kind >= 0.88 and "int" in self.p.features:
            return self.gen_atomic(slot, size)
        if kind < 0.35:
            self.emit("stack_store", ty, [self.store_value(ty)], [], stack_slot=slot, offset=offset)
        elif kind < 0.7:
            self.emit1("stack_load", ty, [], ty, stack_slot=slot, offset=offset)
        else:
            # Through the address: stack_addr + load/store (rule address-leak: the address stays private).
            base_off = rng.randrange(0, offset + 1)
            base_off -= base_off % align
            addr = self.emit1("stack_addr", I64, [], I64, pool=False, stack_slot=slot, offset=base_off)
            self.access(addr, ty, offset - base_off, store=rng.random() < 0.5)
        return True

    def gen_atomic(self, slot: int, size: int) -> bool:
        """An atomic access to a naturally aligned stack location (single-threaded: deterministic)."""
        rng = self.rng
        ty = rng.choice((I8, I16, I32, I64))
        offset = rng.randrange(0, size // ty.bytes) * ty.bytes
        addr = self.emit1("stack_addr", I64, [], I64, pool=False, stack_slot=slot, offset=offset)
        kind = rng.random()
        if kind < 0.4:
            op = rng.choice(ATOMIC_RMW_OPS)
            self.emit1("atomic_rmw", ty, [addr, self.value_of(ty)], ty, flags=TRAPPING, rmw_op=op)
        elif kind < 0.6:
            self.emit1("atomic_cas", ty, [addr, self.value_of(ty), self.value_of(ty)], ty, flags=TRAPPING)
        elif kind < 0.8:
            self.emit1("atomic_load", ty, [addr], ty, flags=TRAPPING)
        else:
            self.emit("atomic_store", ty, [self.value_of(ty), addr], [], flags=TRAPPING)
        return True

    def access(self, addr: int, ty: Type, offset: int, store: bool, flags: MemFlags = TRAPPING) -> None:
        """A load or store of `ty` at `addr + offset`, sometimes through the extending/truncating forms."""
        rng = self.rng
        if store:
            v = self.store_value(ty)
            if ty.is_int and not ty.is_vector and ty.bits > 8 and rng.random() < 0.3:
                narrow = [n for n, b in (("istore8", 8), ("istore16", 16), ("istore32", 32)) if b < ty.bits and ty.bits <= 64]
                if narrow:
                    self.emit(rng.choice(narrow), ty, [v, addr], [], flags=flags, offset=offset)
                    return
            self.emit("store", ty, [v, addr], [], flags=flags, offset=offset)
            return
        if ty.is_int and not ty.is_vector and 16 <= ty.bits <= 64 and rng.random() < 0.3:
            forms = [n for n, b in (("8", 8), ("16", 16), ("32", 32)) if b < ty.bits]
            f = rng.choice(forms)
            self.emit1(rng.choice(("uload", "sload")) + f, ty, [addr], ty, flags=flags, offset=offset)
            return
        if ty.is_vector and ty.is_int and ty.lane_bits >= 16 and rng.random() < 0.3:
            name = {16: "load8x8", 32: "load16x4", 64: "load32x2"}[ty.lane_bits]
            self.emit1(rng.choice(("u", "s")) + name, I64, [addr], ty, flags=flags, offset=offset)
            return
        self.emit1("load", ty, [addr], ty, flags=flags, offset=offset)

    # -- memory: heaps and tables -----------------------------------------------------------------
    def index_value(self, ty: Type, limit: int, align: int, oob: bool) -> int:
        """An index of type `ty`: below `limit` (in bounds) unless `oob`, a multiple of `align`."""
        rng = self.rng
        r = rng.random()
        if not oob:
            if limit <= 0:
                return self.iconst(ty, 0)
            if r < 0.3:
                v = rng.randrange(0, limit)
                return self.iconst(ty, v - v % align)
            mask = (1 << (limit.bit_length() - 1)) - 1 if limit & (limit - 1) else limit - 1
            mask &= ~(align - 1)
            raw = self.value_of(ty)
            return self.emit1("band_imm", ty, [raw], ty, pool=False, imm=mask)
        # Deliberately (possibly) out of bounds: just past the end, far away, or whatever a value
        # holds (then it depends on the run's arguments).
        if r < 0.3:
            v = max(limit, 0) + rng.choice((0, 1, 8, 16, 0x100, 0x1000, 0x10000, 0xFFFF_FFF0))
            return self.iconst(ty, v - v % align)
        raw = self.value_of(ty)
        if align > 1:
            return self.emit1("band_imm", ty, [raw], ty, pool=False, imm=-align)
        return raw

    def heap_ref(self, plan: HeapPlan) -> int:
        return self.heap_refs[plan.index]

    def gen_heap(self) -> bool:
        heaps = [h for h in self.p.heaps if h.style != "table"]
        if not heaps or self.vmctx is None:
            return False
        rng = self.rng
        plan = rng.choice(heaps)
        r = rng.random()
        if r < 0.1:
            return self.gen_heap_grow(plan)
        ty = self.mem_type()
        align = 16 if ty.is_vector else 1
        oob = "traps" in self.p.features and rng.random() < 0.07
        store = rng.random() < 0.45
        if r < 0.65:
            # Heap-era instructions: heap_load / heap_store / heap_addr + load or store.
            offset = rng.choice((0, 0, 16, 64) if align > 1 else (0, 0, 0, 4, 16, 64))
            limit = plan.size - offset - ty.bytes + 1
            heap = self.heap_ref(plan)
            kind = rng.random()
            if kind < 0.35:
                idx = self.index_value(plan.index_type, limit, align, oob)
                self.emit1("heap_load", ty, [idx], ty, heap=heap, flags=TRAPPING, offset=offset)
            elif kind < 0.7:
                idx = self.index_value(plan.index_type, limit, align, oob)
                v = self.store_value(ty)
                self.emit("heap_store", plan.index_type, [idx, v], [], heap=heap, flags=TRAPPING, offset=offset)
            else:
                size = ty.bytes + rng.choice((0, 0, 8, 16))
                limit = plan.size - offset - size + 1
                idx = self.index_value(plan.index_type, limit, align, oob)
                addr = self.emit1("heap_addr", I64, [idx], I64, pool=False, heap=heap, offset=offset, size=size)
                inner = rng.randrange(0, size - ty.bytes + 1)
                inner -= inner % align
                # heap_addr already added `offset`; the access stays within [offset, offset + size).
                self.access(addr, ty, inner, store)
            return True
        # Modern style: load base and bound from vmctx, check by hand, access (rules wild-access,
        # stale-heap-base: both loaded right here).
        offset = rng.choice((0, 0, 16) if align > 1 else (0, 0, 8, 16))
        end = offset + ty.bytes
        narrow = rng.random() < 0.5
        if narrow:
            # A zero-extended 32-bit index cannot make index + end wrap.
            idx32 = self.index_value(I32, plan.size - end + 1, align, oob)
            idx = self.emit1("uextend", I64, [idx32], I64, pool=False)
        else:
            idx = self.index_value(I64, plan.size - end + 1, align, oob)
        base = self.emit1("load", I64, [self.vmctx], I64, pool=False, flags=NOTRAP_ALIGNED, offset=plan.ptr)
        bound = self.emit1("load", I64, [self.vmctx], I64, pool=False, flags=NOTRAP_ALIGNED, offset=plan.bound_slot)
        if narrow:
            last = self.emit1("iadd_imm", I64, [idx], I64, pool=False, imm=end)
        else:
            k = self.iconst(I64, end)
            last = self.emit1("uadd_overflow_trap", I64, [idx, k], I64, pool=False, code="heap_oob")
        over = self.emit1("icmp", I64, [last, bound], I8, pool=False, cond="ugt")
        self.emit("trapnz", I8, [over], [], code="heap_oob")
        addr = self.emit1("iadd", I64, [base, idx], I64, pool=False)
        self.access(addr, ty, offset, store)
        return True

    def gen_heap_grow(self, plan: HeapPlan) -> bool:
        ref = self.fn_ref(GROW, Signature([AbiParam(I64, purpose="vmctx"), AbiParam(I32), AbiParam(I64)],
                                          [AbiParam(I64)], call_conv_written=False))
        rng = self.rng
        room = plan.max_size - plan.size
        if plan.style == "static":
            # Rule static-growth-pages: native guard pages make a static heap's end exact only at
            # page granularity once it has grown, so static heaps grow in whole pages (as Wasm's do).
            pages = room // PAGE * PAGE
            delta = rng.choice((0, PAGE, pages // 2 // PAGE * PAGE, pages, room + PAGE, 1 << 40))
        else:
            delta = rng.choice((0, 0x10, 0x100, room // 2, room, room + 0x100, 1 << 40))
        which = self.iconst(I32, plan.index)
        amount = self.iconst(I64, delta)
        old = self.emit("call", None, [self.vmctx, which, amount], [I64], func_ref=ref)[0]
        self.define(old)
        return True

    def gen_table(self) -> bool:
        tables = [h for h in self.p.heaps if h.style == "table"]
        if not tables or self.vmctx is None:
            return False
        rng = self.rng
        plan = rng.choice(tables)
        ty = self.mem_type(plan.element_size)
        align = 16 if ty.is_vector else 1
        offset = rng.randrange(0, plan.element_size - ty.bytes + 1)
        offset -= offset % align
        oob = "traps" in self.p.features and rng.random() < 0.07
        idx = self.index_value(plan.index_type, plan.elements, 1, oob)
        addr = self.emit1("table_addr", I64, [idx], I64, pool=False, table=self.heap_ref(plan), offset=offset)
        self.access(addr, ty, 0, rng.random() < 0.5)
        return True

    # -- calls ---------------------------------------------------------------------------------
    def fn_ref(self, name: str, sig: Signature) -> int:
        found = self.fn_refs.get(name)
        if found is not None:
            return found
        n = len(self.func.func_refs)
        s = self.sig_ref(sig)
        self.func.func_refs[n] = ExtFuncData(ExternalName(name), s)
        self.fn_refs[name] = n
        return n

    def sig_ref(self, sig: Signature) -> int:
        for known, n in self.sig_refs:
            if known is sig:
                return n
        n = len(self.func.signatures)
        self.func.signatures[n] = sig
        self.sig_refs.append((sig, n))
        return n

    def gen_call(self) -> bool:
        if not self.callees:
            return False
        rng = self.rng
        callee = rng.choice(self.callees)
        params = callee.signature.params
        args = []
        for p in params:
            if p.purpose == "vmctx":
                args.append(self.vmctx)
            else:
                # The callee treats its parameters as exact (rule nan-bits): canonicalise.
                args.append(self.canon(self.value_of(p.type)))
        rets = [r.type for r in callee.signature.returns]
        ref = self.fn_ref(callee.name, callee.signature)
        if rng.random() < 0.3:
            fa = self.emit1("func_addr", I64, [], I64, pool=False, func_ref=ref)
            results = self.emit("call_indirect", I64, [fa, *args], rets, sig_ref=self.sig_ref(callee.signature))
        else:
            results = self.emit("call", None, args, rets, func_ref=ref)
        for r in results:
            self.define(r)  # callees canonicalise what they return
        return True

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
            blk = Block(b)
            self.func.blocks[b] = blk
            self.defs[b] = []
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
        for b in range(n):
            blk = self.func.blocks[b]
            self.block = blk
            self.pool = {}
            for d in range(b):
                if d in dom[b]:
                    for v in self.defs[d]:
                        self.pool.setdefault(self.type_of(v), []).append(v)
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
        return self.func

    def plan_edges(self, n: int, loops: bool) -> list[Edge]:
        rng, feats = self.rng, self.p.features
        edges: list[Edge] = []
        has_pred = [False] * n
        has_pred[0] = True
        for b in range(n):
            fwd = list(range(b + 1, n))
            if not fwd:
                edges.append(Edge("trap" if "traps" in feats and rng.random() < 0.02 else "return"))
                continue
            must = None if has_pred[b + 1] else b + 1
            kinds = ["jump", "brif", "brif"]
            if "br_table" in feats:
                kinds.append("br_table")
            if loops:
                kinds += ["back", "back"]
            if must is None:
                kinds.append("return")
                if "traps" in feats and rng.random() < 0.04:
                    kinds.append("trap")
            kind = rng.choice(kinds)
            if kind == "jump":
                targets = [must if must is not None else rng.choice(fwd)]
            elif kind == "brif":
                targets = [rng.choice(fwd), rng.choice(fwd)]
                if must is not None and must not in targets:
                    targets[rng.randrange(2)] = must
            elif kind == "br_table":
                targets = [rng.choice(fwd) for _ in range(rng.randint(1, 5))]
                if must is not None and must not in targets:
                    targets[rng.randrange(len(targets))] = must
            elif kind == "back":
                targets = [rng.randint(1, b) if b >= 1 else 0, must if must is not None else rng.choice(fwd)]
                if targets[0] == 0:
                    # The entry block cannot be a branch target; loop on the next block instead... or
                    # make this a plain forward branch.
                    kind, targets = "jump", [targets[1]]
            else:
                targets = []
            for t in targets:
                if t > b:
                    has_pred[t] = True
            edges.append(Edge(kind, targets))
        return edges

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
                    self.emit("stack_store", I64, [self.iconst(I64, _interesting_int(rng, 64))], [],
                              stack_slot=n, offset=off)

    def loop_counter(self) -> int:
        rng = self.rng
        limit = self.p.cfg.loop_limit
        if rng.random() < 0.4 and self.pool.get(I32):
            # Run-dependent, still small: arg & 3.
            return self.emit1("band_imm", I32, [self.pick(I32)], I32, imm=3)
        return self.iconst(I32, rng.randint(0, limit), pool=True)

    def body(self, count: int) -> None:
        actions = self.p.actions
        weights = self.p.action_weights
        rng = self.rng
        made = 0
        tries = 0
        while made < count and tries < count * 4:
            tries += 1
            (kind, name), = rng.choices(actions, weights)
            if kind == "op":
                spec = SPECS[name]
                ok = getattr(self, spec.make)(name) if spec.make else self.gen_generic(name)
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
        unused = [v for t in self.p.types for v in self.pool.get(t, ()) if v not in self.used and v not in rets]
        for u in unused[-10:]:
            i = self.rng.randrange(len(rets))
            rets[i] = self.fold(rets[i], u)
        return rets

    def fold(self, r: int, u: int) -> int:
        """`r` with the bits of `u` xored in (exact bit operations: no NaN is computed)."""
        ty = self.type_of(r)
        as_int = ty.as_int()
        if ty.lane_type.is_float:
            r = self.emit1("bitcast", as_int, [self.canon(r)], as_int, pool=False, flags=MemFlags())
        if ty.is_vector:
            lane = self.int_bits(u, as_int.lane_type)
            bits = self.emit1("splat", as_int, [lane], as_int, pool=False)
        else:
            bits = self.int_bits(u, as_int)
        x = self.emit1("bxor", as_int, [r, bits], as_int, pool=False)
        if ty.lane_type.is_float:
            x = self.emit1("bitcast", ty, [x], ty, pool=False, flags=MemFlags())
        return x

    def int_bits(self, v: int, want: Type) -> int:
        """`v`'s bits as a `want` scalar integer (truncated or zero-extended)."""
        ty = self.type_of(v)
        if ty.lane_type.is_float:
            v = self.canon(v)
            if ty.is_vector:
                v = self.emit1("bitcast", I64X2, [v], I64X2, pool=False, flags=LITTLE)
            else:
                v = self.emit1("bitcast", ty.as_int(), [v], ty.as_int(), pool=False, flags=MemFlags())
            ty = self.type_of(v)
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

    def block_args(self, target: int, counter: Optional[int]) -> list[int]:
        blk = self.func.blocks[target]
        args = []
        for i, v in enumerate(blk.params):
            if i == 0 and counter is not None:
                args.append(counter)
            else:
                args.append(self.value_of(self.type_of(v)))
        return args

    def terminate(self, edge: Edge, counter_params: dict[int, int]) -> None:
        rng = self.rng
        ctr = self.counter if counter_params else None
        kind = edge.kind
        if kind == "return":
            rets = [self.value_of(r.type) for r in self.func.signature.returns]
            rets = [self.canon(v) for v in self.fold_unused(rets)]
            self.emit("return", None, rets, [])
        elif kind == "trap":
            self.emit("trap", None, [], [], code=self.trap_code())
        elif kind == "jump":
            t = edge.targets[0]
            self.emit("jump", None, [], [], dests=[BlockCall(t, self.block_args(t, ctr))])
        elif kind == "brif":
            c = self.scalar_int()
            a, b = edge.targets
            self.emit("brif", self.type_of(c), [c], [],
                      dests=[BlockCall(a, self.block_args(a, ctr)), BlockCall(b, self.block_args(b, ctr))])
        elif kind == "br_table":
            ts = edge.targets
            if rng.random() < 0.6:
                raw = self.value_of(I32)
                idx = self.emit1("band_imm", I32, [raw], I32, pool=False, imm=rng.choice((1, 3, 7)))
            else:
                idx = self.value_of(I32)
            calls = [BlockCall(t, self.block_args(t, ctr)) for t in ts]
            default, table = calls[-1], calls[:-1]
            self.emit("br_table", None, [idx], [], jump_table=JumpTableData(default, table))
        elif kind == "back":
            back, fwd = edge.targets
            dec = self.emit1("iadd_imm", I32, [ctr], I32, pool=False, imm=-1)
            back_args = self.block_args(back, dec)
            fwd_args = self.block_args(fwd, ctr)
            self.emit("brif", I32, [ctr], [], dests=[BlockCall(back, back_args), BlockCall(fwd, fwd_args)])
        else:
            raise AssertionError(kind)


# -- whole programs ------------------------------------------------------------------------------


class ProgramGen:
    """State shared by the functions of one program."""

    def __init__(self, cfg: GenConfig, seed: int):
        self.cfg = cfg
        self.seed = seed
        self.rng = random.Random(seed)
        self.features = self.choose_features()
        self.types = self.choose_types()
        self.int_scalars = [t for t in self.types if t.is_int and not t.is_vector]
        if not self.int_scalars:
            self.int_scalars = [I32]
        self.heaps: list[HeapPlan] = []
        self.actions, self.action_weights = self.choose_actions()
        self._ctrls: dict[str, list[Type]] = {}

    def choose_features(self) -> frozenset:
        base = self.cfg.features
        if not self.cfg.vary_features:
            return frozenset(base)
        rng = self.rng
        picked = [f for f in sorted(base) if rng.random() < 0.7]
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
        by one with many (integers)."""
        feats = self.features
        ops: dict[str, list[tuple[str, float]]] = {}
        for name, spec in SPECS.items():
            if spec.group in feats and all(n in feats for n in spec.needs):
                ops.setdefault(spec.group, []).append((name, spec.weight))
        actions, weights = [], []
        for group, members in ops.items():
            total = sum(w for _, w in members)
            for name, w in members:
                actions.append(("op", name))
                weights.append(GROUP_SHARES[group] * w / total)
        for feat, name in (("stack", "stack"), ("heap", "heap"), ("table", "table"), ("calls", "call")):
            if feat in feats:
                actions.append(("gen", name))
                weights.append(GROUP_SHARES[feat])
        return actions, weights

    def ctrls(self, name: str, fg: FuncGen) -> list[Type]:
        found = self._ctrls.get(name)
        if found is None:
            found = self._ctrls[name] = fg.ctrl_candidates(name)
        return found

    def plan_heaps(self) -> None:
        rng, feats = self.rng, self.features
        slot = 0
        if "heap" in feats:
            for i in range(rng.randint(1, 2)):
                style = rng.choice(("static", "dynamic"))
                size = rng.choice((0x100, 0x1000, 0x10000))
                max_size = size * rng.choice((1, 2, 4))
                index_type = rng.choice((I32, I64))
                decl_bound = rng.choice((size, max_size, max_size * 2)) if style == "static" else 0
                self.heaps.append(HeapPlan(len(self.heaps), style, size, max_size, slot, slot + 8, index_type,
                                           decl_bound=decl_bound, guard=rng.choice((0, 0, 0x1000)) if style == "static" else 0))
                slot += 16
        if "table" in feats and rng.random() < 0.7:
            esize = rng.choice((8, 16, 32))
            elements = rng.choice((1, 4, 16, 100))
            self.heaps.append(HeapPlan(len(self.heaps), "table", elements * esize, elements * esize, slot, slot + 8,
                                       rng.choice((I8, I16, I32, I64)), element_size=esize))

    def declare_heaps(self, func: Function, fg: FuncGen) -> None:
        """gv0 = vmctx, base/bound loads, and a heap or table declaration per plan."""
        func.global_values[0] = GlobalValueData("vmctx")
        for plan in self.heaps:
            base = len(func.global_values)
            func.global_values[base] = GlobalValueData("load", base=0, offset=plan.ptr, type=I64, flags=NOTRAP_ALIGNED)
            if plan.style == "table":
                bound = len(func.global_values)
                # The bound has the index type; the slot is little-endian, so its low bytes hold it.
                func.global_values[bound] = GlobalValueData("load", base=0, offset=plan.bound_slot,
                                                            type=plan.index_type, flags=NOTRAP_ALIGNED)
                n = len(func.tables)
                func.tables[n] = TableData(base, 0, bound, plan.element_size, plan.index_type,
                                           ("min", "bound", "element_size", "index_type"))
            elif plan.style == "dynamic":
                bound = len(func.global_values)
                func.global_values[bound] = GlobalValueData("load", base=0, offset=plan.bound_slot, type=I64,
                                                            flags=NOTRAP_ALIGNED)
                n = len(func.heaps)
                func.heaps[n] = HeapData("dynamic", base, 0, bound, 0, plan.index_type,
                                         ("min", "bound", "offset_guard", "index_type"))
            else:
                n = len(func.heaps)
                func.heaps[n] = HeapData("static", base, plan.size, plan.decl_bound, plan.guard, plan.index_type,
                                         ("min", "bound", "offset_guard", "index_type"))
            fg.heap_refs[plan.index] = n

    def signature(self, vmctx: bool, main: bool = False) -> Signature:
        rng, cfg = self.rng, self.cfg
        low = 1 if main else 0  # %main takes arguments: its results should depend on the run line
        count = rng.randint(low, cfg.max_params if rng.random() < 0.3 else min(cfg.max_params, 3))
        params = [AbiParam(rng.choice(self.types)) for _ in range(count)]
        if vmctx:
            params.insert(0, AbiParam(I64, purpose="vmctx"))
        count = rng.randint(1, cfg.max_returns if rng.random() < 0.3 else min(cfg.max_returns, 2))
        returns = [AbiParam(rng.choice(self.types)) for _ in range(count)]
        return Signature(params, returns, call_conv="fast", call_conv_written=False)

    def build(self) -> Program:
        rng, cfg = self.rng, self.cfg
        self.plan_heaps()
        vmctx = bool(self.heaps)
        count = rng.randint(1, cfg.max_functions) if "calls" in self.features else 1
        functions: list[Function] = []
        callees: list[Callee] = []
        for i in range(count):
            last = i == count - 1
            name = "%main" if last else f"%f{count - 1 - i}"
            sig = self.signature(vmctx, main=last)
            fg = FuncGen(self, name, sig, list(callees))
            if vmctx:
                self.declare_heaps(fg.func, fg)
            functions.append(fg.generate())
            callees.append(Callee(name, sig))
        main = functions[-1]
        types = [p.type for p in main.signature.params[1 if vmctx else 0 :]]
        runs = [[random_value(rng, t) for t in types] for _ in range(cfg.runs)]
        return Program(self.seed, functions, self.heaps, runs, cfg.target, self.features)


class Generator:
    def __init__(self, cfg: Optional[GenConfig] = None):
        self.cfg = cfg or GenConfig()

    def program(self, seed: int) -> Program:
        return ProgramGen(self.cfg, seed).build()
