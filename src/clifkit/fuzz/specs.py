"""How the generator uses each opcode: the fuzzing side of the opcode table.

`ir/opcodes.py` says what an opcode *is* (format, operands, type variables);
this table says how to *generate* it: its feature group, how often, which of
the fuzzed types it may take beyond what its type variables allow, how to pick
its free operand types, immediates and arguments (guards that keep it out of
undefined behaviour), and how NaN bits flow through it (rule ``nan-bits``).

Most opcodes need nothing but a row: the generic path resolves operand and
result types from the opcode table, takes arguments from the pool and picks
immediates by instruction format. Adding an opcode is usually one `Spec` line
here; an opcode that needs care gets a maker in `gen_ops.py` (a method marked
``@handles(opcode)``, collected in `gen_ops.MAKERS`).

NaN modes (``nan``):

- ``arith``: float results may hold a NaN whose bits the hardware chooses;
- ``exact``: results carry their float inputs' bits (fneg, fabs, select, lane moves);
- ``observe``: the opcode observes the bits of its float operands (bitcast,
  bitwise ops, vhigh_bits), which must be canonical first;
- ``none``: no float results (or only NaN-ness matters: fcmp, conversions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from ..ir.opcodes import HEAP_ERA_OPCODES, OPCODES, TYPEVARS
from ..ir.types import I8, I16, I32, I64, I128, F32, F64, Type, parse_type

I8X16, I16X8, I32X4, I64X2 = (parse_type(n) for n in ("i8x16", "i16x8", "i32x4", "i64x2"))
F32X4, F64X2 = parse_type("f32x4"), parse_type("f64x2")

INT_SCALARS = (I8, I16, I32, I64)
FLOAT_SCALARS = (F32, F64)
INT_VECTORS = (I8X16, I16X8, I32X4, I64X2)
FLOAT_VECTORS = (F32X4, F64X2)
ALL_TYPES = INT_SCALARS + (I128,) + FLOAT_SCALARS + INT_VECTORS + FLOAT_VECTORS


@dataclass(frozen=True)
class Spec:
    group: str  # feature group that enables the opcode
    weight: float = 1.0
    nan: str = "none"  # arith, exact, observe, none (see the module docstring)
    ctrl: Optional[Callable[[Type], bool]] = None  # extra filter on the controlling type
    needs: tuple[str, ...] = ()  # further feature groups required
    # Set for an opcode the generator places from its own code rather than draws by weight (it
    # shapes the program: control flow, calls, memory layout, constants): where. Its group is
    # the feature that enables that code; weight and the rest are unused.
    emitter: Optional[str] = None


def _vec(t: Type) -> bool:
    return t.is_vector


def _scalar(t: Type) -> bool:
    return not t.is_vector


def _not(*types: Type) -> Callable[[Type], bool]:
    def ok(t: Type) -> bool:
        return all(t is not u for u in types)

    return ok


def _only(*types: Type) -> Callable[[Type], bool]:
    def ok(t: Type) -> bool:
        return any(t is u for u in types)

    return ok


def _int_scalar_or_vec(t: Type) -> bool:
    return t.is_int


# The x86_64 backend of Cranelift 0.120 (baseline flags) cannot lower these opcode/type
# combinations, so they are not generated (rule x86-lowering-gap). Each entry: opcode names and
# a predicate over (controlling type, operand types).
X86_GAPS: tuple[tuple[tuple[str, ...], Callable[[Optional[Type], list[Type]], bool]], ...] = (
    (("udiv", "sdiv", "urem", "srem", "udiv_imm", "sdiv_imm", "urem_imm", "srem_imm"), lambda c, a: c is I128),
    (("umin", "umax", "smin", "smax"), lambda c, a: c is I128 or c is I64X2),
    (("umul_overflow", "smul_overflow"), lambda c, a: c is I128),
    (("imul",), lambda c, a: c is I8X16),
    (("umulhi", "smulhi", "popcnt", "rotl", "rotr", "rotl_imm", "rotr_imm", "fcopysign"), lambda c, a: c is not None and c.is_vector),
    (("ishl", "ushr", "sshr"), lambda c, a: c is not None and c.is_vector and a[1] is I128),
    (("cls", "uunarrow"), lambda c, a: True),
    (("select", "select_spectre_guard"), lambda c, a: c is I128),
    (("bitselect",), lambda c, a: c is F32 or c is F64),
    (("icmp",), lambda c, a: c is I64X2),
    (("uadd_sat", "sadd_sat", "usub_sat", "ssub_sat", "avg_round"), lambda c, a: c is I32X4 or c is I64X2),
    (("snarrow", "unarrow"), lambda c, a: c is I64X2),
    (("sqmul_round_sat",), lambda c, a: c is I32X4),
    (("bitcast",), lambda c, a: c is I128 or a[0] is I128),
    (("fcvt_to_sint", "fcvt_to_uint", "fcvt_to_sint_sat", "fcvt_to_uint_sat"),
     lambda c, a: c in (I8, I16, I128) or c is I64X2 or (c is not None and c.is_vector != a[0].is_vector)),
    (("fcvt_from_sint", "fcvt_from_uint"),
     lambda c, a: a[0] is I128 or a[0] is I64X2 or (c is not None and c.is_vector != a[0].is_vector)),
    (("uadd_overflow_cin", "sadd_overflow_cin", "usub_overflow_bin", "ssub_overflow_bin"), lambda c, a: True),
    (("umulhi", "smulhi"), lambda c, a: c is I128),
    (("scalar_to_vector",), lambda c, a: c is I8X16),
    (("iconcat",), lambda c, a: c is not I64),
    (("isplit",), lambda c, a: c is not I128),
)


# Vector fcmp conditions x86_64 cannot lower (rule x86-lowering-gap).
X86_VECTOR_FCMP_GAPS = ("ueq", "one")

# Combinations Cranelift 0.120 compiles wrongly on x86_64 (rule cranelift-bug): each was found by
# this fuzzer and reduced; the reproducer is in docs/fuzzing.md.
CRANELIFT_BUGS: tuple[tuple[tuple[str, ...], Callable[[Optional[Type], list[Type]], bool]], ...] = (
    # scalar_to_vector.i16x8: lanes 1..7 keep a stale register's contents (pinsrw into an
    # uninitialised xmm register) where CLIF says they are zero.
    (("scalar_to_vector",), lambda c, a: c is I16X8),
    # scalar_to_vector.f32x4/f64x2: the scalar's own register is used as the vector, so the upper
    # lanes are whatever the instruction that made the scalar left there (cvtsi2ss writes 32 bits).
    (("scalar_to_vector",), lambda c, a: c is F32X4 or c is F64X2),
)
# Also (not expressible by types, handled in gen_function.FuncGen.not_loaded): a scalar f32/f64 load
# feeding fcmp or fcopysign, or an f64 load feeding splat.f64x2 (found by the 100,000-program
# campaign of seed 2031), is done as a 16-byte movdqu, which faults at the end of a mapping.
# The loads that may give such a value: those that load a whole value and nothing else.
FLOAT_LOADS = frozenset(op.name for op in OPCODES.values()
                        if op.flags & {"load", "store"} == {"load"} and op.access is not None and not op.access.narrow)


def widens_load(name: str, ctrl: Optional[Type]) -> bool:
    """Does Cranelift 0.120's x64 backend fold a scalar float load feeding `name` (at `ctrl`) into a
    16-byte memory operand? (rule cranelift-bug: fcmp, fcopysign, and splat.f64x2 without SSE3)"""
    return name in ("fcmp", "fcopysign") or (name == "splat" and ctrl is F64X2)


def x86_gap(name: str, ctrl: Optional[Type], arg_types: list[Type]) -> bool:
    """Is this combination left out on x86_64 (rules x86-lowering-gap and cranelift-bug)?"""
    return lowering_gap(name, ctrl, arg_types, ("x86_64",))


def _bitwise_on_floats(c: Optional[Type], a: list[Type]) -> bool:
    return c is not None and c.lane_type.is_float


# The bitwise operations: the opcodes over the table's `bits` type variable (any type, floats too).
BITWISE = tuple(op.name for op in OPCODES.values() if op.ctrl is TYPEVARS["bits"])

# Measured, not guessed: every function of 300 generated programs (seed 9, default features)
# compiled for the target under QEMU; a combination is listed when the functions that fail
# contain it and no function that compiles does (docs/fuzzing.md, "Per-target rules").
AARCH64_GAPS: tuple = (
    (BITWISE, _bitwise_on_floats),  # "assertion `left == right` failed: Float / Int"
    # "should be implemented in ISLE"
    (("vhigh_bits",), lambda c, a: a[0].lane_type.is_float),
    (("bitselect",), lambda c, a: c is I128 or c is F32 or c is F64),
    (("udiv", "sdiv", "urem", "srem", "udiv_imm", "sdiv_imm", "urem_imm", "srem_imm"), lambda c, a: c is I128),
    (("uadd_overflow_cin", "sadd_overflow_cin", "usub_overflow_bin", "ssub_overflow_bin"), lambda c, a: True),
    (("rotl", "rotr", "rotl_imm", "rotr_imm"), lambda c, a: c is not None and c.is_vector),
    (("umulhi", "smulhi"), lambda c, a: c is I128 or (c is not None and c.is_vector)),
    (("iconcat",), lambda c, a: c is not I64),
    (("isplit",), lambda c, a: c is not I128),
    (("fcvt_from_sint", "fcvt_from_uint"), lambda c, a: a[0] is I128),
    # "called `Option::unwrap()` on a `None` value": a vector shifted by an i128 amount (as on x86_64)
    (("ishl", "ushr", "sshr"), lambda c, a: c is not None and c.is_vector and a[1] is I128),
    (("umin", "umax", "smin", "smax"), lambda c, a: c is I128),  # the same panic
    (("popcnt",), lambda c, a: c is I16X8 or c is I32X4 or c is I64X2),  # "should be implemented in ISLE"
)
# fcmp conditions aarch64 does not lower (a "not implemented" panic), scalar and vector: found
# by reducing a failing program, then compiling fcmp with every condition and float type.
AARCH64_FCMP_GAPS = ("one", "ueq", "ult", "ule", "ugt", "uge")
S390X_GAPS: tuple = (
    (BITWISE, _bitwise_on_floats),  # "no rule matched for term aluop_and/aluop_or/aluop_xor/not_reg"
    # "should be implemented in ISLE": the overflow-flag forms.
    (("uadd_overflow", "sadd_overflow", "usub_overflow", "ssub_overflow", "umul_overflow", "smul_overflow",
      "uadd_overflow_cin", "sadd_overflow_cin", "usub_overflow_bin", "ssub_overflow_bin"), lambda c, a: True),
    (("bitselect",), lambda c, a: c is F32 or c is F64),  # "no rule matched for term aluop_and"
    (("udiv", "sdiv", "urem", "srem", "udiv_imm", "sdiv_imm", "urem_imm", "srem_imm"), lambda c, a: c is I128),
    (("fcvt_to_sint", "fcvt_to_uint", "fcvt_to_sint_sat", "fcvt_to_uint_sat"), lambda c, a: c is I128),
    (("iconcat",), lambda c, a: c is not I64),
    (("isplit",), lambda c, a: c is not I128),
    # "no rule matched for term vec_widen_type": the signed saturating forms widen, and no type is
    # wider than i64x2 (the unsigned ones and the narrower types compile)
    (("sadd_sat", "ssub_sat"), lambda c, a: c is I64X2),
    (("umulhi", "smulhi"), lambda c, a: c is I128),  # "should be implemented in ISLE"
)

# Combinations Cranelift 0.120 compiles wrongly on s390x (rule cranelift-bug), found by the 10,000-
# program s390x campaign of seed 2033 and reduced: fcvt_to_uint_sat.i8 of 256.0 (f32 or f64) gives 0,
# not the saturated 255 (docs/fuzzing.md).
S390X_CRANELIFT_BUGS: tuple = (
    (("fcvt_to_uint_sat",), lambda c, a: c is I8),
)

# Rule name and table per target (rules.py names each rule).
TARGET_GAPS: dict[str, tuple[str, tuple]] = {
    "x86_64": ("x86-lowering-gap", X86_GAPS + CRANELIFT_BUGS),
    "aarch64": ("aarch64-lowering-gap", AARCH64_GAPS),
    "s390x": ("s390x-lowering-gap", S390X_GAPS + S390X_CRANELIFT_BUGS),
}


def fcmp_gaps(targets: tuple, vector: bool) -> tuple:
    """fcmp conditions left out for these targets."""
    out: tuple = ()
    if "x86_64" in targets and vector:
        out += X86_VECTOR_FCMP_GAPS
    if "aarch64" in targets:
        out += AARCH64_FCMP_GAPS
    return out


def lowering_gap(name: str, ctrl: Optional[Type], arg_types: list[Type], targets: tuple = ("x86_64",)) -> bool:
    """Is this combination left out because one of `targets` cannot compile it (or compiles it
    wrongly)? The generator avoids the union over the campaign's targets."""
    for target in targets:
        for pred in _gaps_by_opcode(target).get(name, ()):
            if pred(ctrl, arg_types):
                return True
    return False


_GAPS_BY_OPCODE: dict[str, dict[str, list]] = {}  # target -> opcode -> its predicates, in table order


def _gaps_by_opcode(target: str) -> dict[str, list]:
    """`TARGET_GAPS[target]`'s predicates by opcode name (the generator asks `lowering_gap` about a
    few new combinations a program, and the tables have some thirty entries each)."""
    found = _GAPS_BY_OPCODE.get(target)
    if found is None:
        found = _GAPS_BY_OPCODE[target] = {}
        for names, pred in TARGET_GAPS.get(target, ("", ()))[1]:
            for n in names:
                found.setdefault(n, []).append(pred)
    return found


# fmt: off
SPECS: dict[str, Spec] = {
    # -- integer arithmetic and bits (vector forms need simd) ------------------------------
    "iadd":        Spec("int", 3),
    "isub":        Spec("int", 2),
    "ineg":        Spec("int", 0.5),
    "iabs":        Spec("int", 0.5),
    "imul":        Spec("int", 2),
    "umulhi":      Spec("int", 0.5),
    "smulhi":      Spec("int", 0.5),
    "udiv":        Spec("int", 1),
    "sdiv":        Spec("int", 1),
    "urem":        Spec("int", 1),
    "srem":        Spec("int", 1),
    "iadd_imm":    Spec("int", 1),
    "imul_imm":    Spec("int", 0.5),
    "irsub_imm":   Spec("int", 0.5),
    "udiv_imm":    Spec("int", 0.5),
    "sdiv_imm":    Spec("int", 0.5),
    "urem_imm":    Spec("int", 0.5),
    "srem_imm":    Spec("int", 0.5),
    "band":        Spec("int", 1, nan="observe"),
    "bor":         Spec("int", 1, nan="observe"),
    "bxor":        Spec("int", 1, nan="observe"),
    "bnot":        Spec("int", 0.5, nan="observe"),
    "band_not":    Spec("int", 0.5, nan="observe"),
    "bor_not":     Spec("int", 0.5, nan="observe"),
    "bxor_not":    Spec("int", 0.5, nan="observe"),
    "band_imm":    Spec("int", 0.5),
    "bor_imm":     Spec("int", 0.5),
    "bxor_imm":    Spec("int", 0.5),
    "ishl":        Spec("int", 1),
    "ushr":        Spec("int", 1),
    "sshr":        Spec("int", 1),
    "rotl":        Spec("int", 0.5),
    "rotr":        Spec("int", 0.5),
    "ishl_imm":    Spec("int", 0.5),
    "ushr_imm":    Spec("int", 0.5),
    "sshr_imm":    Spec("int", 0.5),
    "rotl_imm":    Spec("int", 0.3),
    "rotr_imm":    Spec("int", 0.3),
    "bitrev":      Spec("int", 0.3),
    "clz":         Spec("int", 0.3),
    "cls":         Spec("int", 0.3),
    "ctz":         Spec("int", 0.3),
    "popcnt":      Spec("int", 0.3),
    "bswap":       Spec("int", 0.3),
    "smin":        Spec("int", 0.5),
    "umin":        Spec("int", 0.5),
    "smax":        Spec("int", 0.5),
    "umax":        Spec("int", 0.5),
    "icmp":        Spec("int", 2),
    "icmp_imm":    Spec("int", 1),
    "select":      Spec("int", 1.5, nan="exact"),
    "select_spectre_guard": Spec("int", 0.3, nan="exact"),
    "bmask":       Spec("int", 0.3, ctrl=_scalar),  # scalars only in Cranelift 0.120
    "uextend":     Spec("int", 1),
    "sextend":     Spec("int", 1),
    "ireduce":     Spec("int", 1),
    "iconcat":     Spec("int", 0.3, needs=("i128",)),
    "isplit":      Spec("int", 0.3, needs=("i128",)),
    "uadd_overflow": Spec("int", 0.5),
    "sadd_overflow": Spec("int", 0.5),
    "usub_overflow": Spec("int", 0.5),
    "ssub_overflow": Spec("int", 0.5),
    "umul_overflow": Spec("int", 0.5),
    "smul_overflow": Spec("int", 0.5),
    "uadd_overflow_cin": Spec("int", 0.2),
    "sadd_overflow_cin": Spec("int", 0.2),
    "usub_overflow_bin": Spec("int", 0.2),
    "ssub_overflow_bin": Spec("int", 0.2),
    # -- floats ------------------------------------------------------------------------------
    "fadd":        Spec("float", 2, nan="arith"),
    "fsub":        Spec("float", 1.5, nan="arith"),
    "fmul":        Spec("float", 1.5, nan="arith"),
    "fdiv":        Spec("float", 1, nan="arith"),
    "sqrt":        Spec("float", 0.5, nan="arith"),
    "fma":         Spec("float", 0.5, nan="arith"),
    "fneg":        Spec("float", 0.5, nan="exact"),
    "fabs":        Spec("float", 0.5, nan="exact"),
    "fcopysign":   Spec("float", 0.5),
    "fmin":        Spec("float", 1, nan="arith"),
    "fmax":        Spec("float", 1, nan="arith"),
    "ceil":        Spec("float", 0.3, nan="arith"),
    "floor":       Spec("float", 0.3, nan="arith"),
    "trunc":       Spec("float", 0.3, nan="arith"),
    "nearest":     Spec("float", 0.3, nan="arith"),
    "fcmp":        Spec("float", 2),
    "fpromote":    Spec("float", 0.5, nan="arith"),
    "fdemote":     Spec("float", 0.5, nan="arith"),
    # -- conversions -------------------------------------------------------------------------
    "fcvt_to_sint":     Spec("conv", 0.7),
    "fcvt_to_uint":     Spec("conv", 0.7),
    "fcvt_to_sint_sat": Spec("conv", 1),
    "fcvt_to_uint_sat": Spec("conv", 1),
    "fcvt_from_sint":   Spec("conv", 1),
    "fcvt_from_uint":   Spec("conv", 1),
    "bitcast":          Spec("conv", 1, nan="observe"),
    # -- vectors -----------------------------------------------------------------------------
    "splat":       Spec("simd", 1, nan="exact"),
    "insertlane":  Spec("simd", 1, nan="exact"),
    "extractlane": Spec("simd", 1.5, nan="exact"),
    "shuffle":     Spec("simd", 0.5),
    "swizzle":     Spec("simd", 0.3),
    "vany_true":   Spec("simd", 0.3),
    "vall_true":   Spec("simd", 0.3),
    "vhigh_bits":  Spec("simd", 0.3, nan="observe"),
    "snarrow":     Spec("simd", 0.3),
    "iadd_pairwise": Spec("simd", 0.3),
    "unarrow":     Spec("simd", 0.3),
    "swiden_low":  Spec("simd", 0.3),
    "swiden_high": Spec("simd", 0.3),
    "uwiden_low":  Spec("simd", 0.3),
    "uwiden_high": Spec("simd", 0.3),
    "avg_round":   Spec("simd", 0.3),
    "uadd_sat":    Spec("simd", 0.3),
    "sadd_sat":    Spec("simd", 0.3),
    "usub_sat":    Spec("simd", 0.3),
    "ssub_sat":    Spec("simd", 0.3),
    "sqmul_round_sat": Spec("simd", 0.2),
    "scalar_to_vector": Spec("simd", 0.3, nan="exact"),
    "bitselect":   Spec("simd", 0.5, nan="observe"),
    "fvdemote":    Spec("simd", 0.2, nan="arith", needs=("float",)),
    "fvpromote_low": Spec("simd", 0.2, nan="arith", needs=("float",)),
    # -- traps -------------------------------------------------------------------------------
    "trapz":       Spec("traps", 0.3),
    "trapnz":      Spec("traps", 0.3),
    "uadd_overflow_trap": Spec("traps", 0.3),
}
# fmt: on

# Opcodes the generator emits from its own code rather than through a weighted draw: the emitter
# that builds the program's shape places them. With SPECS above and NOT_GENERATED below they
# cover the opcode table (tests/test_opcode_coverage.py).
_CONTROL = "gen_control.py: the blocks' terminators"
_CALLS = "gen_calls.py: calls between the generated functions"
_MEMORY = "gen_memory.py: accesses to heaps, tables and slots"
_CONSTANTS = "gen_function.py: constants for the value pool"
# fmt: off
SPECS.update({
    "jump":        Spec("control", emitter=_CONTROL),
    "brif":        Spec("control", emitter=_CONTROL),
    "br_table":    Spec("br_table", emitter=_CONTROL),
    "return":      Spec("control", emitter=_CONTROL),
    "trap":        Spec("traps", emitter=_CONTROL),
    "call":        Spec("calls", emitter=_CALLS),
    "call_indirect": Spec("calls", emitter=_CALLS),
    "return_call": Spec("calls", emitter=_CALLS),
    "return_call_indirect": Spec("calls", emitter=_CALLS),
    "func_addr":   Spec("calls", emitter=_CALLS),
    **{op.name: Spec("heap", emitter=_MEMORY) for op in OPCODES.values()
       if op.addr is not None or "heap" in op.format.immediates},
    "table_addr":  Spec("table", emitter=_MEMORY),
    "stack_load":  Spec("stack", emitter="gen_memory.py: explicit stack slots"),
    "stack_store": Spec("stack", emitter="gen_memory.py: explicit stack slots"),
    "stack_addr":  Spec("stack", emitter="gen_memory.py: explicit stack slots"),
    "iconst":      Spec("int", emitter=_CONSTANTS),
    "f32const":    Spec("float", emitter=_CONSTANTS),
    "f64const":    Spec("float", emitter=_CONSTANTS),
    "vconst":      Spec("simd", emitter=_CONSTANTS),
})
# fmt: on

# The heap era's opcodes that are not memory accesses (those are emitted above).
_HEAP_ERA_REWRITTEN = sorted(HEAP_ERA_OPCODES - set(SPECS))

# Opcodes the generator never produces, and why (documented in docs/fuzzing.md).
NOT_GENERATED = {
    "stack_switch, try_call, try_call_indirect": "need runtime support (stack switching, exceptions)",
    "debugtrap, get_pinned_reg, set_pinned_reg, get_frame_pointer, get_stack_pointer, get_return_address":
        "machine state, not comparable between engines",
    "symbol_value, tls_value, global_value": "need symbols the run-test environment does not define "
                                            "(global values are used through heap declarations)",
    "dynamic_stack_load, dynamic_stack_store, dynamic_stack_addr, extract_vector": "dynamic vectors",
    "fence": "nothing to compare in one thread",
    "x86_pshufb, x86_blendv, x86_pmulhrsw, x86_pmaddubsw, x86_cvtt2dq": "target-specific helpers",
    "f16const, f128const": "f16/f128 are not fuzzed (libcall-heavy on x86_64)",
    "nop, sequence_point": "nothing to compare",
    "get_exception_handler_address": "needs a try_call's handler address, which no engine gives",
    "blendv, uunarrow": "Cranelift 0.120 cannot lower them for x86_64 without SSE4.1, which cranelift-py's "
                        "x86_64 baseline lacks (\"should be implemented in ISLE\")",
    ", ".join(_HEAP_ERA_REWRITTEN):
        "heap-era forms (docs/heap-era.md): the native engine rewrites each into current opcodes the "
        "generator already produces, so fuzzing them would compare those again",
}


def names(table: dict) -> set:
    """The opcode names of a table keyed by comma-separated names (NOT_GENERATED)."""
    return {n.strip() for key in table for n in key.split(",")}


for _name in SPECS:
    assert _name in OPCODES, _name
assert not names(NOT_GENERATED) & set(SPECS), names(NOT_GENERATED) & set(SPECS)
