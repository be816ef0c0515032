"""Emitters for computational opcodes (integer, float, conversion, SIMD and trap instructions).

Most opcodes are generated generically from the opcode table and their `specs.py` entry
(`gen_generic`: operand types, immediates, NaN handling); the few that need more care to be
valid, defined and comparable across engines (division, trapping conversions, fcopysign,
bitcasts, conditional traps) have makers here: methods marked ``@handles(opcode)``,
collected in `MAKERS` (keyed by Opcode, checked against the table and SPECS at import).

A mixin of `FuncGen` (gen_function.py): it uses the function's value pool and emission helpers.
"""

from __future__ import annotations

from typing import Optional

from ..ir.immediates import FLOATCC, INTCC

from ..ir.floats import FLOAT_FORMATS
from ..ir.opcodes import DERIVED, OPCODES, Opcode, Registry, handles
from ..ir.types import I8, I32, I64, Type
from .gen_memory import LITTLE, PLAIN
from .gen_values import interesting_int
from .specs import FLOAT_SCALARS, SPECS, fcmp_gaps, widens_load



# (opcode, controlling type) -> (result types (OpEmitters.result_types), as gen_generic emits them;
# whether a loaded float operand is replaced (specs.widens_load))
_SHAPES: dict[tuple, tuple] = {}
# (targets, vector) -> the fcmp conditions drawn (FLOATCC without specs.fcmp_gaps)
_FCMP_CONDS: dict[tuple, list] = {}
_NO_IMMEDIATES = (None, None, None)
_PLAIN_FORMATS = ("Unary", "Binary", "Ternary")  # formats generated generically without immediates
# (id of a type variable of the opcode table, the program's types) -> the types of those it
# contains: many opcodes share a type variable, and programs a few sets of types
_MEMBERS: dict[tuple, list] = {}


def _members(typevar, types: tuple) -> list[Type]:
    """The types of `types` that `typevar` contains, in their order (a list shared: not to change)."""
    key = (id(typevar), types)  # (the table's type variables live as long as the process)
    found = _MEMBERS.get(key)
    if found is None:
        found = _MEMBERS[key] = [t for t in types if typevar.contains(t)]
    return found


class OpEmitters:
    """Opcode emitters of `FuncGen`."""

    # -- generic opcode generation -------------------------------------------------------------
    def operand_plan(self, op: Opcode, ctrl: Optional[Type]) -> list:
        """How `gen_generic` makes `op`'s operand types at `ctrl`, operand by operand: a type, or
        the list of types it draws one from; None where it gives up (after the draws before it).
        It depends on nothing but the opcode, `ctrl` and the program's types, so programs of the
        same types share it (`ProgramGen.operand_plans`)."""
        out: list = []
        for o in op.value_ins:
            if o.fixed is not None:
                out.append(o.fixed)
            elif o.derived in ("narrower", "wider"):
                pool = self.p.int_scalars if ctrl.is_int else list(FLOAT_SCALARS)
                if o.derived == "narrower":
                    choices = [t for t in pool if t.bits < ctrl.bits]
                else:
                    choices = [t for t in pool if t.bits > ctrl.bits]
                out.append(choices or None)
            elif o.derived:
                t = DERIVED[o.derived](ctrl)
                out.append(t)
            elif o.typevar is op.ctrl or o.typevar == op.ctrl:  # (a dataclass's == compares every field)
                out.append(ctrl)
            else:
                choices = _members(o.typevar, self.p.type_key)
                # Conditions and shift amounts are scalar by their type variables; bmask's operand is
                # scalar in Cranelift 0.120 (the table's TruthyAny also admits the heap era's vectors).
                if op.name == "bmask":
                    choices = [t for t in choices if not t.is_vector]
                if op.name.startswith("fcvt_"):
                    # Conversions keep lane counts and widths (vector forms) or stay scalar.
                    if ctrl.is_vector:
                        choices = [t for t in choices if t.is_vector and t.lanes == ctrl.lanes and t.lane_bits == ctrl.lane_bits]
                    else:
                        choices = [t for t in choices if not t.is_vector]
                if op.name == "vhigh_bits":
                    choices = [t for t in choices if t.is_vector and t.lanes <= ctrl.bits]
                out.append(choices or None)
            if out[-1] is None:
                break
        return out

    def ctrl_candidates(self, name: str) -> list[Type]:
        op = OPCODES[name]
        spec = SPECS[name]
        if op.ctrl is None:
            return [None]  # type: ignore[list-item]
        out = list(_members(op.ctrl, self.p.type_key))
        if spec.ctrl is not None:
            out = [t for t in out if spec.ctrl(t)]
        return out

    def gen_generic(self, name: str) -> bool:
        op = OPCODES[name]
        spec = SPECS[name]
        rng = self.rng
        p = self.p
        # (the programs' caches read here, and filled by their methods only when they miss)
        ctrls = p.ctrl_lists.get(name)
        if ctrls is None:
            ctrls = p.ctrls(name, self)
        if not ctrls:
            return False
        ctrl = rng.choice(ctrls)
        # The operand types: fixed ones, and free ones drawn (the plan of it, per program types).
        key = (name, ctrl)
        plan = p.operand_plans.get(key)
        if plan is None:
            plan = p.operand_plans[key] = self.operand_plan(op, ctrl)
        types = []
        for entry in plan:
            if entry is None:
                return False
            types.append(rng.choice(entry) if entry.__class__ is list else entry)
        gap = p.gaps.get((name, ctrl, *types))
        if gap is None:
            gap = p.gap(name, ctrl, types)
        if gap:
            return False
        # (most opcodes drawn have no immediate: no call for them)
        fields = _NO_IMMEDIATES if op.format.name in _PLAIN_FORMATS else self.immediates(op, ctrl, types)
        if fields is None:
            return False
        imm, cond, mask = fields
        shape = _SHAPES.get(key)
        if shape is None:
            shape = _SHAPES[key] = (self.result_types(op, ctrl, types), widens_load(name, ctrl))
        result_types, widens = shape
        # (loops rather than comprehensions: each of these made a function and a cell for `self`)
        args = []
        for t in types:
            args.append(self.value_of(t))
        if widens:
            for i, a in enumerate(args):
                args[i] = self.not_loaded(a)
        if spec.nan == "observe":
            tainted = self.tainted
            for i, a in enumerate(args):
                if a in tainted:  # (else `canon` gives `a`)
                    args[i] = self.canon(a)
        if name == "select" or name == "select_spectre_guard":
            args[0] = self.scalar_int() if rng.random() < 0.7 else args[0]
            types[0] = self.type_of(args[0])
        taint = spec.nan == "arith" or (spec.nan == "exact" and not self.tainted.isdisjoint(args))
        if mask is None and len(result_types) == 1:
            # (most: emit1 makes the same instruction and defines its result)
            self.emit1(name, ctrl, args, result_types[0], taint, True, imm, cond)
            return True
        if mask is None:
            results = self.emit(name, ctrl, args, result_types, imm, cond)
        else:
            results = self.emit(name, ctrl, args, result_types, imm, cond, mask=mask)
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

    def immediates(self, op: Opcode, ctrl: Optional[Type], types: list[Type]) -> Optional[tuple]:
        """(imm, cond, mask) for `op` at `ctrl` (None where the format has no such field), drawn
        in that format's order; None if the format is not one generated generically."""
        rng = self.rng
        fmt = op.format.name
        name = op.name
        if fmt == "BinaryImm64":
            bits = ctrl.lane_bits
            if name in ("ishl_imm", "ushr_imm", "sshr_imm", "rotl_imm", "rotr_imm"):
                return rng.randrange(0, 2 * bits), None, None
            if name in ("udiv_imm", "urem_imm"):
                return rng.choice((1, 2, 3, 7, 10, 16, 255, 1000, 65535)), None, None
            if name in ("sdiv_imm", "srem_imm"):
                return rng.choice((1, 2, 3, 7, 10, 16, -2, -3, -7, -100)), None, None
            return self.imm64(bits), None, None
        if fmt == "IntCompare":
            return None, rng.choice(INTCC), None
        if fmt == "IntCompareImm":
            cond = rng.choice(INTCC)  # (drawn before the immediate)
            return self.imm64(ctrl.bits), cond, None
        if fmt == "FloatCompare":
            key = (self.p.targets, ctrl.is_vector)
            conds = _FCMP_CONDS.get(key)
            if conds is None:
                gaps = fcmp_gaps(*key)
                conds = _FCMP_CONDS[key] = [c for c in FLOATCC if c not in gaps]
            return None, rng.choice(conds), None
        if fmt in ("BinaryImm8", "TernaryImm8"):
            return rng.randrange(ctrl.lanes), None, None
        if fmt == "Shuffle":
            mask = bytes(rng.randrange(32) for _ in range(16))
            if self.p.dialect.shuffle_zero_lanes and rng.random() < 0.5:
                mask = zero_lanes(rng, mask)
            return None, None, mask
        if fmt in _PLAIN_FORMATS:
            return _NO_IMMEDIATES
        return None

    def imm64(self, bits: int) -> int:
        """An immediate written as CLIF shows it: signed at the controlling width (at most 64 bits)."""
        w = min(bits, 64)
        v = interesting_int(self.rng, w)
        return v - (1 << w) if v >> (w - 1) else v

    # -- opcodes with hooks ----------------------------------------------------------------------
    @handles("udiv", "sdiv", "urem", "srem")
    def gen_div(self, name: str) -> bool:
        rng = self.rng
        ctrls = self.p.choices.get(name)
        if ctrls is None:
            ctrls = self.p.choices[name] = [t for t in self.p.int_scalars if not self.p.gap(name, t, [t, t])]
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

    @handles("fcvt_to_sint", "fcvt_to_uint")
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
            w, t = FLOAT_FORMATS[src_t.bits]
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

    @handles("fcopysign")
    def gen_fcopysign(self, name: str) -> bool:
        types = [t for t in self.p.types if t in FLOAT_SCALARS]
        if not types:
            return False
        t = self.rng.choice(types)
        x, y = self.not_loaded(self.value_of(t)), self.canon(self.not_loaded(self.value_of(t)))
        self.emit1("fcopysign", t, [x, y], t, tainted=x in self.tainted)
        return True

    @handles("bitcast")
    def gen_bitcast(self, name: str) -> bool:
        rng = self.rng
        pairs = self.p.choices.get(name)
        if pairs is None:
            pairs = self.p.choices[name] = [(a, b) for a in self.p.types for b in self.p.types
                                            if a is not b and a.bits == b.bits and not self.p.gap("bitcast", b, [a])]
        if not pairs:
            return False
        src_t, dst_t = rng.choice(pairs)
        x = self.canon(self.value_of(src_t))
        flags = LITTLE if src_t.lanes != dst_t.lanes else PLAIN
        self.emit1("bitcast", dst_t, [x], dst_t, flags=flags)
        return True

    @handles("trapz", "trapnz")
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

    @handles("uadd_overflow_trap")
    def gen_add_trap(self, name: str) -> bool:
        t = self.rng.choice((I32, I64))
        x = self.value_of(t)
        # Mostly a small addend: overflow only near the top of the range.
        y = self.iconst(t, self.rng.randrange(1, 1000)) if self.rng.random() < 0.7 else self.value_of(t)
        self.emit1("uadd_overflow_trap", t, [x, y], t, code=self.rng.choice(("int_ovf", self.trap_code())))
        return True

    def trap_code(self) -> str:
        return f"user{self.rng.randrange(1, 10)}"


# The maker of each opcode that needs one (FuncGen.body calls it instead of gen_generic).
MAKERS: Registry = Registry("fuzz maker")
MAKERS.collect(OpEmitters)
for _op in MAKERS:
    assert _op.name in SPECS and SPECS[_op.name].emitter is None, f"maker for {_op.name} without a drawn spec"


def zero_lanes(rng, mask: bytes) -> bytes:
    """`mask` with lanes from 32 to 255, each giving a zero lane (2022 rules): sometimes all of
    them, else some, mixed with the in-range ones; the edges 32 and 255 are drawn often."""
    def wild() -> int:
        return rng.choice((32, 33, 63, 64, 127, 128, 255, rng.randrange(32, 256)))

    if rng.random() < 0.35:
        return bytes(wild() for _ in range(16))
    lanes = list(mask)
    for i in rng.sample(range(16), rng.randint(1, 8)):
        lanes[i] = wild()
    return bytes(lanes)
