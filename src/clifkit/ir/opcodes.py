"""The opcode table: every CLIF instruction, declared once.

Each row names an opcode, its instruction format (see `formats.py`), its value
operands and results with their type variables, and its flags. The reader,
printer, verifier, interpreter and native lowering all read this table; adding
an opcode is one row here (and its doc line in `opcode_docs.py`) plus its semantics.

Type variables (`TypeVar`) stand for a set of types. An operand's type is
either a type variable, a derived type (``Int.as_truthy``: the comparison
result type for a given ``Int``), or a fixed type (``i8``). One type variable
per polymorphic opcode is the *controlling* one: it is written as the opcode's
suffix (``iadd.i32``) or inferred from the format's typevar operand, and every
derived type follows from it. The choice follows Cranelift's meta crate.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import cached_property

from .formats import FORMATS, Format
from .types import FLOAT_BITS, INT_BITS, MAX_LANES, Type, parse_type

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Callable, Optional

ALL = "all"


def _span(interval, full: tuple[int, int]) -> frozenset[int]:
    if interval is None:
        return frozenset()
    lo, hi = full if interval == ALL else interval
    out, n = set(), lo
    while n <= hi:
        out.add(n)
        n *= 2
    return frozenset(out)


@dataclass(frozen=True)
class TypeVar:
    """A named set of types, built like Cranelift's TypeSetBuilder (intervals are inclusive)."""

    name: str
    ints: object = None
    floats: object = None
    lanes: object = None
    dyn: object = None
    scalars: bool = True
    refs: object = None  # heap-era reference types r32/r64

    def __post_init__(self) -> None:
        # type -> contains: type variables and types are immutable table entries, and the
        # generator and the verifier ask the same few questions very often (types hash by identity).
        object.__setattr__(self, "_contains_memo", {})

    @property
    def lane_counts(self) -> frozenset[int]:
        counts = _span(self.lanes, (1 if self.scalars else 2, MAX_LANES))
        if self.lanes is None:
            counts = frozenset({1})
        if not self.scalars:
            counts = counts - {1}
        return counts

    def contains(self, ty: Type) -> bool:
        found = self._contains_memo.get(ty)
        if found is None:
            found = self._contains_memo[ty] = self._contains(ty)
        return found

    def _contains(self, ty: Type) -> bool:
        if ty.is_ref:
            return ty.lane_bits in _span(self.refs, (32, 64))
        bits = _span(self.ints, (8, 128)) if ty.is_int else _span(self.floats, (16, 128))
        if ty.lane_bits not in bits:
            return False
        if ty.dynamic:
            return ty.lanes in _span(self.dyn, (2, MAX_LANES))
        return ty.lanes in self.lane_counts

    def singleton(self) -> Optional[Type]:
        """The one type of a one-type set (such a variable is a fixed type, not polymorphic)."""
        ints, floats = _span(self.ints, (8, 128)), _span(self.floats, (16, 128))
        lanes, dyn = self.lane_counts, _span(self.dyn, (2, MAX_LANES))
        if len(ints) + len(floats) != 1 or len(lanes) != 1 or dyn:
            return None
        kind, bits = ("i", next(iter(ints))) if ints else ("f", next(iter(floats)))
        return Type.get(kind, bits, next(iter(lanes)))


# Derived type functions: ctrl type -> operand type (None when not defined).
DERIVED: dict[str, Callable[[Type], Optional[Type]]] = {
    "lane_of": lambda t: t.lane_type,
    "as_truthy": lambda t: t.as_truthy(),
    "half_width": lambda t: t.half_width(),
    "double_width": lambda t: t.double_width(),
    "split_lanes": lambda t: t.split_lanes(),
    "merge_lanes": lambda t: t.merge_lanes(),
    "dynamic_to_vector": lambda t: t.dynamic_to_vector(),
}
# Relations rather than functions: the operand is any strictly narrower/wider scalar of the same kind.
RELATIONS = ("narrower", "wider")


@dataclass(frozen=True)
class Operand:
    """A value operand or result. `typevar` is None for variable lists (`...`)."""

    name: str
    typevar: Optional[TypeVar] = None
    fixed: Optional[Type] = None  # a singleton type such as i8
    derived: Optional[str] = None  # a DERIVED function name or a RELATIONS name
    varargs: bool = False

    def spec(self) -> str:
        if self.varargs:
            return f"{self.name}:..."
        base = str(self.fixed) if self.fixed else self.typevar.name
        return f"{self.name}:{base}" + (f".{self.derived}" if self.derived else "")

    def resolve(self, ctrl: Optional[Type]) -> Optional[Type]:
        """The operand's type given the controlling type, or None if free/unconstrained by it."""
        if self.fixed is not None:
            return self.fixed
        if self.varargs or ctrl is None or self.derived in RELATIONS:
            return None
        if self.derived:
            return DERIVED[self.derived](ctrl)
        return ctrl


@dataclass(frozen=True)
class Access:
    """How a load or store moves a value to or from memory (the table's ``mem=`` column).

    ``mem=T``: the value itself, at its type's width. ``mem=8u``/``mem=8s``: 8 bits, zero- or
    sign-extended to the result type; ``mem=8``: the low 8 bits of the stored value.
    ``mem=8x8s``: eight 8-bit lanes (64 bits), each sign-extended into a lane of the result.
    """

    bits: Optional[int] = None  # bits of each lane in memory; None: the value type's own width
    lanes: int = 1  # lanes in memory (the vector-extending loads: 8x8, 16x4, 32x2)
    signed: Optional[bool] = None  # True: sign-extends, False: zero-extends, None: no extension

    @property
    def narrow(self) -> bool:
        """Does memory hold fewer bits than the value (an extending load or truncating store)?"""
        return self.bits is not None

    def size(self, value: Type) -> int:
        """Bytes accessed for a value of type `value`."""
        return value.bytes if self.bits is None else self.bits * self.lanes // 8


def _access(text: str) -> Access:
    if text == "T":
        return Access()
    signed = {"u": False, "s": True}.get(text[-1])
    bits, _, lanes = (text[:-1] if signed is not None else text).partition("x")
    return Access(int(bits), int(lanes or 1), signed)


_IMPURE = frozenset({"trap", "load", "store", "call", "side_effects", "branch", "return", "terminator"})
_CONSTANT_FORMATS = frozenset({"UnaryImm", "UnaryIeee16", "UnaryIeee32", "UnaryIeee64", "UnaryConst"})


@dataclass(frozen=True)
class Opcode:
    """One row of the opcode table."""

    name: str
    format: Format
    ins: tuple[Operand, ...]
    outs: tuple[Operand, ...]
    flags: frozenset[str] = field(default_factory=frozenset)
    # The controlling type variable (None: not polymorphic), and whether it is
    # inferred from the format's typevar operand rather than only from the suffix.
    ctrl: Optional[TypeVar] = None
    ctrl_from_operand: bool = False
    access: Optional[Access] = None  # what a load or store moves (`mem=`); None: no value access
    addr: Optional[int] = None  # index in `ins` of the operand that is a memory address (`addr=`)

    @property
    def doc(self) -> str:
        """One line: what the instruction computes (after Cranelift's instructions.rs), from
        `opcode_docs` (imported when a doc is first asked for: no run needs one)."""
        from .opcode_docs import DOCS

        return DOCS.get(self.name, "")

    def __hash__(self) -> int:
        # Registries key on opcodes: hash the name, not every field.
        return hash(self.name)

    def __reduce__(self):
        # A table opcode pickles as its name (a generated program sent to a native worker holds
        # thousands of references to a few opcodes); an opcode not in the table, by value.
        if OPCODES.get(self.name) is self:
            return (_table_opcode, (self.name,))
        return (Opcode, tuple(getattr(self, f.name) for f in fields(self)))

    # Derived from the fields, computed on first use and kept (the compilers ask per instruction).
    @cached_property
    def is_polymorphic(self) -> bool:
        return self.ctrl is not None

    @cached_property
    def is_terminator(self) -> bool:
        return bool(self.flags & {"terminator", "branch", "return"}) and "continues" not in self.flags

    @cached_property
    def is_branch(self) -> bool:
        return "branch" in self.flags

    @cached_property
    def is_return(self) -> bool:
        return "return" in self.flags

    @cached_property
    def is_call(self) -> bool:
        return "call" in self.flags

    @cached_property
    def can_trap(self) -> bool:
        return "trap" in self.flags

    @cached_property
    def can_load(self) -> bool:
        return "load" in self.flags

    @cached_property
    def can_store(self) -> bool:
        return "store" in self.flags

    @cached_property
    def value_ins(self) -> tuple[Operand, ...]:
        return tuple(o for o in self.ins if not o.varargs)

    @cached_property
    def has_varargs(self) -> bool:
        return any(o.varargs for o in self.ins)

    @cached_property
    def has_varargs_results(self) -> bool:
        """Are the results a variable list (a call's: its signature gives them)?"""
        return any(o.varargs for o in self.outs)

    @cached_property
    def is_pure(self) -> bool:
        """No trap, memory access, call, branch or other side effect: only its results matter."""
        return not self.flags & _IMPURE

    @cached_property
    def is_constant(self) -> bool:
        """A constant (iconst, f32const, vconst, ...): its value is all in its immediate."""
        return self.format.name in _CONSTANT_FORMATS and not self.ins

    def __repr__(self) -> str:
        return f"Opcode({self.name})"


TYPEVARS = {
    tv.name: tv
    for tv in (
        TypeVar("Any", ints=ALL, floats=ALL, lanes=ALL),
        TypeVar("AtomicMem", ints=(8, 128)),
        TypeVar("DynTxN", ints=ALL, floats=ALL, dyn=ALL),
        TypeVar("F32x4", floats=(32, 32), lanes=(4, 4), scalars=False),
        TypeVar("F64x2", floats=(64, 64), lanes=(2, 2), scalars=False),
        TypeVar("FixedTxN", ints=ALL, floats=ALL, lanes=ALL, scalars=False),
        TypeVar("Float", floats=ALL, lanes=ALL, dyn=ALL),
        TypeVar("FloatScalar", floats=ALL),
        TypeVar("FloatTo", floats=ALL, lanes=ALL),
        TypeVar("HeapIndex", ints=(32, 64)),
        TypeVar("I16or32", ints=(16, 32), lanes=(4, 8)),
        TypeVar("I16or32or64xN", ints=(16, 64), lanes=(2, 8), dyn=(2, 8), scalars=False),
        TypeVar("I16x8", ints=(16, 16), lanes=(8, 8), scalars=False),
        TypeVar("I32x4", ints=(32, 32), lanes=(4, 4), scalars=False),
        TypeVar("I64x2", ints=(64, 64), lanes=(2, 2), scalars=False),
        TypeVar("I8or16or32xN", ints=(8, 32), lanes=(2, 16), dyn=(2, 16), scalars=False),
        TypeVar("I8x16", ints=(8, 8), lanes=(16, 16), scalars=False),
        TypeVar("Int", ints=ALL, lanes=ALL, dyn=ALL),
        TypeVar("IntNoDyn", ints=ALL, lanes=ALL),
        TypeVar("IntTo", ints=ALL, lanes=ALL),
        TypeVar("IxN", ints=ALL, lanes=ALL, scalars=False),
        TypeVar("Mem", ints=ALL, floats=ALL, lanes=ALL, dyn=ALL, refs=ALL),
        TypeVar("MemTo", ints=ALL, floats=ALL, lanes=ALL, dyn=ALL, refs=ALL),
        TypeVar("NarrowInt", ints=(8, 64)),
        TypeVar("Ref", refs=ALL),
        TypeVar("NarrowScalar", ints=(8, 64)),
        TypeVar("ScalarInt", ints=ALL),
        TypeVar("ScalarIntTo", ints=ALL),
        TypeVar("ScalarTruthy", ints=ALL),
        TypeVar("TableIndex", ints=(8, 64)),
        # bmask: scalars in 0.120, also vectors in the heap era (2022).
        TypeVar("TruthyAny", ints=ALL, lanes=ALL),
        TypeVar("IntToAny", ints=ALL, lanes=ALL),
        TypeVar("Tx16", ints=(8, 8), lanes=(16, 16), scalars=False),
        TypeVar("TxN", ints=ALL, floats=ALL, lanes=ALL, dyn=ALL, scalars=False),
        TypeVar("WideInt", ints=(16, 128)),
        TypeVar("bits", ints=ALL, floats=ALL, lanes=ALL),
        TypeVar("i32", ints=(32, 32)),
        TypeVar("i32_64", ints=(32, 64)),
        TypeVar("iAddr", ints=(32, 64)),
        TypeVar("iB", ints=ALL),
        TypeVar("iExt16", ints=(32, 64)),
        TypeVar("iExt32", ints=(64, 64)),
        TypeVar("iExt8", ints=(16, 64)),
        TypeVar("iSwappable", ints=(16, 128)),
    )
}

# Flags: branch, terminator, return, call, load, store, trap, side_effects, idempotent;
# continues: a heap-era conditional branch (brz, brnz) that falls through to the next instruction.
# Columns after the flags: mem=ACCESS (what a load or store moves, see `Access`) and addr=OPERAND
# (the operand that is a memory address; heap and table indices are not addresses).
TABLE = """
jump                   Jump               -                                                          | branch
brif                   Brif               c:ScalarTruthy                                             | branch
br_table               BranchTable        x:i32                                                      | branch
debugtrap              Nullary            -                                                          | load store side_effects
trap                   Trap               -                                                          | trap terminator
trapz                  CondTrap           c:ScalarTruthy                                             | trap idempotent
trapnz                 CondTrap           c:ScalarTruthy                                             | trap idempotent
return                 Multiary           rvals:...                                                  | return
call                   Call               args:... -> rvals:...                                      | call
call_indirect          CallIndirect       callee:iAddr args:... -> rvals:...                         | call
return_call            Call               args:...                                                   | call return
return_call_indirect   CallIndirect       callee:iAddr args:...                                      | call return
func_addr              FuncAddr           -> addr:iAddr
try_call               TryCall            args:...                                                   | branch call
try_call_indirect      TryCallIndirect    callee:iAddr args:...                                      | branch call
splat                  Unary              x:TxN.lane_of -> a:TxN
swizzle                Binary             x:I8x16 y:I8x16 -> a:I8x16
x86_pshufb             Binary             x:I8x16 y:I8x16 -> a:I8x16
insertlane             TernaryImm8        x:TxN y:TxN.lane_of -> a:TxN
extractlane            BinaryImm8         x:TxN -> a:TxN.lane_of
smin                   Binary             x:IntNoDyn y:IntNoDyn -> a:IntNoDyn
umin                   Binary             x:IntNoDyn y:IntNoDyn -> a:IntNoDyn
smax                   Binary             x:IntNoDyn y:IntNoDyn -> a:IntNoDyn
umax                   Binary             x:IntNoDyn y:IntNoDyn -> a:IntNoDyn
avg_round              Binary             x:IxN y:IxN -> a:IxN
uadd_sat               Binary             x:IxN y:IxN -> a:IxN
sadd_sat               Binary             x:IxN y:IxN -> a:IxN
usub_sat               Binary             x:IxN y:IxN -> a:IxN
ssub_sat               Binary             x:IxN y:IxN -> a:IxN
load                   Load               p:iAddr -> a:Mem                                           | load mem=T addr=p
store                  Store              x:Mem p:iAddr                                              | store mem=T addr=p
uload8                 Load               p:iAddr -> a:iExt8                                         | load mem=8u addr=p
sload8                 Load               p:iAddr -> a:iExt8                                         | load mem=8s addr=p
istore8                Store              x:iExt8 p:iAddr                                            | store mem=8 addr=p
uload16                Load               p:iAddr -> a:iExt16                                        | load mem=16u addr=p
sload16                Load               p:iAddr -> a:iExt16                                        | load mem=16s addr=p
istore16               Store              x:iExt16 p:iAddr                                           | store mem=16 addr=p
uload32                Load               p:iAddr -> a:iExt32                                        | load mem=32u addr=p
sload32                Load               p:iAddr -> a:iExt32                                        | load mem=32s addr=p
istore32               Store              x:iExt32 p:iAddr                                           | store mem=32 addr=p
stack_switch           Ternary            store_context_ptr:iAddr load_context_ptr:iAddr in_payload0:iAddr -> out_payload0:iAddr | call load store side_effects
uload8x8               Load               p:iAddr -> a:I16x8                                         | load mem=8x8u addr=p
sload8x8               Load               p:iAddr -> a:I16x8                                         | load mem=8x8s addr=p
uload16x4              Load               p:iAddr -> a:I32x4                                         | load mem=16x4u addr=p
sload16x4              Load               p:iAddr -> a:I32x4                                         | load mem=16x4s addr=p
uload32x2              Load               p:iAddr -> a:I64x2                                         | load mem=32x2u addr=p
sload32x2              Load               p:iAddr -> a:I64x2                                         | load mem=32x2s addr=p
stack_load             StackLoad          -> a:Mem                                                   | load mem=T
stack_store            StackStore         x:Mem                                                      | store mem=T
stack_addr             StackLoad          -> addr:iAddr
dynamic_stack_load     DynamicStackLoad   -> a:Mem                                                   | load mem=T
dynamic_stack_store    DynamicStackStore  x:Mem                                                      | store mem=T
dynamic_stack_addr     DynamicStackLoad   -> addr:iAddr
global_value           UnaryGlobalValue   -> a:Mem
symbol_value           UnaryGlobalValue   -> a:Mem
tls_value              UnaryGlobalValue   -> a:Mem
get_pinned_reg         Nullary            -> addr:iAddr                                              | side_effects
set_pinned_reg         Unary              addr:iAddr                                                 | side_effects
get_frame_pointer      Nullary            -> addr:iAddr
get_stack_pointer      Nullary            -> addr:iAddr
get_return_address     Nullary            -> addr:iAddr
get_exception_handler_address ExceptionHandlerAddress -> addr:iAddr
iconst                 UnaryImm           -> a:NarrowInt
f16const               UnaryIeee16        -> a:f16
f32const               UnaryIeee32        -> a:f32
f64const               UnaryIeee64        -> a:f64
f128const              UnaryConst         -> a:f128
vconst                 UnaryConst         -> a:FixedTxN
shuffle                Shuffle            a:Tx16 b:Tx16 -> a:Tx16
nop                    Nullary            -
select                 Ternary            c:ScalarTruthy x:Any y:Any -> a:Any
select_spectre_guard   Ternary            c:ScalarTruthy x:Any y:Any -> a:Any
bitselect              Ternary            c:Any x:Any y:Any -> a:Any
x86_blendv             Ternary            c:Any x:Any y:Any -> a:Any
blendv                 Ternary            c:Any x:Any y:Any -> a:Any
vany_true              Unary              a:FixedTxN -> s:i8
vall_true              Unary              a:FixedTxN -> s:i8
vhigh_bits             Unary              a:FixedTxN -> x:NarrowInt
icmp                   IntCompare         x:Int y:Int -> a:Int.as_truthy
icmp_imm               IntCompareImm      x:iB -> a:i8
iadd                   Binary             x:Int y:Int -> a:Int
isub                   Binary             x:Int y:Int -> a:Int
ineg                   Unary              x:Int -> a:Int
iabs                   Unary              x:Int -> a:Int
imul                   Binary             x:Int y:Int -> a:Int
umulhi                 Binary             x:Int y:Int -> a:Int
smulhi                 Binary             x:Int y:Int -> a:Int
sqmul_round_sat        Binary             x:I16or32 y:I16or32 -> a:I16or32
x86_pmulhrsw           Binary             x:I16or32 y:I16or32 -> a:I16or32
udiv                   Binary             x:iB y:iB -> a:iB                                          | trap idempotent
sdiv                   Binary             x:iB y:iB -> a:iB                                          | trap idempotent
urem                   Binary             x:iB y:iB -> a:iB                                          | trap idempotent
srem                   Binary             x:iB y:iB -> a:iB                                          | trap idempotent
iadd_imm               BinaryImm64        x:iB -> a:iB
imul_imm               BinaryImm64        x:iB -> a:iB
udiv_imm               BinaryImm64        x:iB -> a:iB
sdiv_imm               BinaryImm64        x:iB -> a:iB
urem_imm               BinaryImm64        x:iB -> a:iB
srem_imm               BinaryImm64        x:iB -> a:iB
irsub_imm              BinaryImm64        x:iB -> a:iB
sadd_overflow_cin      Ternary            x:iB y:iB c_in:i8 -> a:iB c_out:i8
uadd_overflow_cin      Ternary            x:iB y:iB c_in:i8 -> a:iB c_out:i8
uadd_overflow          Binary             x:iB y:iB -> a:iB of:i8
sadd_overflow          Binary             x:iB y:iB -> a:iB of:i8
usub_overflow          Binary             x:iB y:iB -> a:iB of:i8
ssub_overflow          Binary             x:iB y:iB -> a:iB of:i8
umul_overflow          Binary             x:NarrowScalar y:NarrowScalar -> a:NarrowScalar of:i8
smul_overflow          Binary             x:NarrowScalar y:NarrowScalar -> a:NarrowScalar of:i8
uadd_overflow_trap     IntAddTrap         x:i32_64 y:i32_64 -> a:i32_64                              | trap idempotent
ssub_overflow_bin      Ternary            x:iB y:iB b_in:i8 -> a:iB b_out:i8
usub_overflow_bin      Ternary            x:iB y:iB b_in:i8 -> a:iB b_out:i8
band                   Binary             x:bits y:bits -> a:bits
bor                    Binary             x:bits y:bits -> a:bits
bxor                   Binary             x:bits y:bits -> a:bits
bnot                   Unary              x:bits -> a:bits
band_not               Binary             x:bits y:bits -> a:bits
bor_not                Binary             x:bits y:bits -> a:bits
bxor_not               Binary             x:bits y:bits -> a:bits
band_imm               BinaryImm64        x:iB -> a:iB
bor_imm                BinaryImm64        x:iB -> a:iB
bxor_imm               BinaryImm64        x:iB -> a:iB
rotl                   Binary             x:Int y:iB -> a:Int
rotr                   Binary             x:Int y:iB -> a:Int
rotl_imm               BinaryImm64        x:Int -> a:Int
rotr_imm               BinaryImm64        x:Int -> a:Int
ishl                   Binary             x:Int y:iB -> a:Int
ushr                   Binary             x:Int y:iB -> a:Int
sshr                   Binary             x:Int y:iB -> a:Int
ishl_imm               BinaryImm64        x:Int -> a:Int
ushr_imm               BinaryImm64        x:Int -> a:Int
sshr_imm               BinaryImm64        x:Int -> a:Int
bitrev                 Unary              x:iB -> a:iB
clz                    Unary              x:iB -> a:iB
cls                    Unary              x:iB -> a:iB
ctz                    Unary              x:iB -> a:iB
bswap                  Unary              x:iSwappable -> a:iSwappable
popcnt                 Unary              x:Int -> a:Int
fcmp                   FloatCompare       x:Float y:Float -> a:Float.as_truthy
fadd                   Binary             x:Float y:Float -> a:Float
fsub                   Binary             x:Float y:Float -> a:Float
fmul                   Binary             x:Float y:Float -> a:Float
fdiv                   Binary             x:Float y:Float -> a:Float
sqrt                   Unary              x:Float -> a:Float
fma                    Ternary            x:Float y:Float z:Float -> a:Float
fneg                   Unary              x:Float -> a:Float
fabs                   Unary              x:Float -> a:Float
fcopysign              Binary             x:Float y:Float -> a:Float
fmin                   Binary             x:Float y:Float -> a:Float
fmax                   Binary             x:Float y:Float -> a:Float
ceil                   Unary              x:Float -> a:Float
floor                  Unary              x:Float -> a:Float
trunc                  Unary              x:Float -> a:Float
nearest                Unary              x:Float -> a:Float
bitcast                LoadNoOffset       x:Mem -> a:MemTo
scalar_to_vector       Unary              s:FixedTxN.lane_of -> a:FixedTxN
bmask                  Unary              x:TruthyAny -> a:IntToAny
ireduce                Unary              x:ScalarInt.wider -> a:ScalarInt
snarrow                Binary             x:I16or32or64xN y:I16or32or64xN -> a:I16or32or64xN.split_lanes
unarrow                Binary             x:I16or32or64xN y:I16or32or64xN -> a:I16or32or64xN.split_lanes
uunarrow               Binary             x:I16or32or64xN y:I16or32or64xN -> a:I16or32or64xN.split_lanes
swiden_low             Unary              x:I8or16or32xN -> a:I8or16or32xN.merge_lanes
swiden_high            Unary              x:I8or16or32xN -> a:I8or16or32xN.merge_lanes
uwiden_low             Unary              x:I8or16or32xN -> a:I8or16or32xN.merge_lanes
uwiden_high            Unary              x:I8or16or32xN -> a:I8or16or32xN.merge_lanes
iadd_pairwise          Binary             x:I8or16or32xN y:I8or16or32xN -> a:I8or16or32xN
x86_pmaddubsw          Binary             x:I8x16 y:I8x16 -> a:I16x8
uextend                Unary              x:ScalarInt.narrower -> a:ScalarInt
sextend                Unary              x:ScalarInt.narrower -> a:ScalarInt
fpromote               Unary              x:FloatScalar.narrower -> a:FloatScalar
fdemote                Unary              x:FloatScalar.wider -> a:FloatScalar
fvdemote               Unary              x:F64x2 -> a:F32x4
fvpromote_low          Unary              a:F32x4 -> x:F64x2
fcvt_to_uint           Unary              x:FloatScalar -> a:ScalarIntTo                             | trap idempotent
fcvt_to_sint           Unary              x:FloatScalar -> a:ScalarIntTo                             | trap idempotent
fcvt_to_uint_sat       Unary              x:Float -> a:IntTo
fcvt_to_sint_sat       Unary              x:Float -> a:IntTo
x86_cvtt2dq            Unary              x:Float -> a:IntTo
fcvt_from_uint         Unary              x:IntNoDyn -> a:FloatTo
fcvt_from_sint         Unary              x:IntNoDyn -> a:FloatTo
isplit                 Unary              x:WideInt -> lo:WideInt.half_width hi:WideInt.half_width
iconcat                Binary             lo:NarrowInt hi:NarrowInt -> a:NarrowInt.double_width
atomic_rmw             AtomicRmw          p:iAddr x:AtomicMem -> a:AtomicMem                         | load store side_effects mem=T addr=p
atomic_cas             AtomicCas          p:iAddr e:AtomicMem x:AtomicMem -> a:AtomicMem             | load store side_effects mem=T addr=p
atomic_load            LoadNoOffset       p:iAddr -> a:AtomicMem                                     | load side_effects mem=T addr=p
atomic_store           StoreNoOffset      x:AtomicMem p:iAddr                                        | store side_effects mem=T addr=p
fence                  Nullary            -                                                          | side_effects
sequence_point         Nullary            -                                                          | side_effects
extract_vector         BinaryImm8         x:DynTxN -> a:DynTxN.dynamic_to_vector
# Heap era (Cranelift 2021-2022): bounds-checked heap and table access.
heap_addr              HeapAddr           index:HeapIndex -> addr:iAddr                              | trap
heap_load              HeapLoad           index:HeapIndex -> a:Mem                                   | load trap mem=T
heap_store             HeapStore          index:HeapIndex a:Mem                                      | store trap mem=T
table_addr             TableAddr          p:TableIndex -> addr:iAddr                                 | trap
# Heap era (see docs/heap-era.md): branches inside a block, carry chains, references, old SIMD.
brz                    Branch             c:ScalarTruthy                                             | branch continues
brnz                   Branch             c:ScalarTruthy                                             | branch continues
iadd_cin               Ternary            x:iB y:iB c_in:i8 -> a:iB
iadd_cout              Binary             x:iB y:iB -> a:iB c_out:i8
iadd_carry             Ternary            x:iB y:iB c_in:i8 -> a:iB c_out:i8
isub_bin               Ternary            x:iB y:iB b_in:i8 -> a:iB
isub_bout              Binary             x:iB y:iB -> a:iB b_out:i8
isub_borrow            Ternary            x:iB y:iB b_in:i8 -> a:iB b_out:i8
fmin_pseudo            Binary             x:Float y:Float -> a:Float
fmax_pseudo            Binary             x:Float y:Float -> a:Float
vselect                Ternary            c:TxN.as_truthy x:TxN y:TxN -> a:TxN
fcvt_low_from_sint     Unary              x:I32x4 -> a:F64x2
widening_pairwise_dot_product_s Binary    x:I16x8 y:I16x8 -> a:I32x4
null                   Nullary            -> a:Ref
is_null                Unary              x:Ref -> a:i8
is_invalid             Unary              x:Ref -> a:i8
"""




def _operand(text: str, _made: dict[str, Operand] = {}) -> Operand:
    # Operands are immutable and the table writes the same few hundred times over (``x:Int``):
    # each text is read once (which keeps the table's import cheap).
    found = _made.get(text)
    if found is None:
        found = _made[text] = _read_operand(text)
    return found


def _read_operand(text: str) -> Operand:
    name, _, ty = text.partition(":")
    if ty == "...":
        return Operand(name, varargs=True)
    base, _, derived = ty.partition(".")
    if base in TYPEVARS:
        tv = TYPEVARS[base]
        if derived:
            return Operand(name, typevar=tv, derived=derived)
        return Operand(name, typevar=tv, fixed=tv.singleton())
    fixed = parse_type(base)
    if fixed is None or derived:
        raise ValueError(f"opcode table: bad operand type {text!r}")
    return Operand(name, fixed=fixed)


def _ctrl_candidate(tv: TypeVar, ins, outs) -> bool:
    """Can `tv` control every other operand? (Cranelift's is_ctrl_typevar_candidate.) Type
    variables are compared by identity: the table's are unique by name."""
    others = []
    for op in ins:
        other = op.typevar
        if op.varargs or other is None or other is tv or op.fixed is not None:
            continue
        if op.derived or other in others:
            return False
        others.append(other)
    return all(op.varargs or op.typevar is None or op.typevar is tv or op.fixed is not None for op in outs)


def _build(name: str, fmt_name: str, spec: str, flags: str) -> Opcode:
    fmt = FORMATS[fmt_name]
    columns = dict(w.split("=", 1) for w in flags.split() if "=" in w)
    flags = " ".join(w for w in flags.split() if "=" not in w)
    if set(columns) - {"mem", "addr"}:
        raise ValueError(f"opcode table: {name}: unknown column in {sorted(columns)}")
    ins_text, _, outs_text = spec.partition("->")
    ins = tuple(_operand(t) for t in ins_text.split() if t != "-")
    outs = tuple(_operand(t) for t in outs_text.split())
    values = [o for o in ins if not o.varargs]
    if len(values) != fmt.num_values or (len(values) != len(ins)) != fmt.varargs:
        raise ValueError(f"opcode table: {name} does not fit format {fmt_name}")
    ctrl, from_operand = None, False
    polymorphic = any(o.typevar is not None and o.fixed is None for o in ins + outs)
    if polymorphic:
        idx = fmt.ctrl_operand
        if idx is not None:
            op = values[idx]
            if op.typevar is not None and not op.derived and _ctrl_candidate(op.typevar, ins, outs):
                ctrl, from_operand = op.typevar, True
        if ctrl is None:
            first = outs[0] if outs else Operand("-")
            if first.typevar is None or first.derived or first.fixed is not None or not _ctrl_candidate(first.typevar, ins, outs):
                raise ValueError(f"opcode table: cannot find the controlling type variable of {name}")
            ctrl = first.typevar
    access = _access(columns["mem"]) if "mem" in columns else None
    addr = None
    if "addr" in columns:
        addr = next((i for i, o in enumerate(ins) if o.name == columns["addr"]), None)
        if addr is None:
            raise ValueError(f"opcode table: {name} has no operand {columns['addr']!r}")
    return Opcode(name, fmt, ins, outs, frozenset(flags.split()), ctrl, from_operand, access, addr)


def _load_table(text: str) -> dict[str, Opcode]:
    table = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        body, _, flags = line.partition("|")
        name, fmt_name, spec = body.split(None, 2)
        table[name] = _build(name, fmt_name, spec.strip(), flags.strip())
    return table


OPCODES: dict[str, Opcode] = _load_table(TABLE)


def _table_opcode(name: str) -> Opcode:
    return OPCODES[name]
HEAP_ERA_OPCODES = frozenset({
    "heap_addr", "heap_load", "heap_store", "table_addr", "brz", "brnz", "iadd_cin", "iadd_cout", "iadd_carry",
    "isub_bin", "isub_bout", "isub_borrow", "fmin_pseudo", "fmax_pseudo", "vselect", "fcvt_low_from_sint",
    "widening_pairwise_dot_product_s", "null", "is_null", "is_invalid",
})  # fmt: skip


def opcode(key: "Opcode | str") -> Opcode:
    """The table's opcode for a name (or the opcode itself); a name not in the table is a KeyError."""
    if isinstance(key, Opcode):
        return key
    found = OPCODES.get(key)
    if found is None:
        raise KeyError(f"{key!r} is not in the opcode table")
    return found


def _reexecuted(old, new) -> bool:
    """Is `new` the same definition as `old`, from a second execution of its module? (A module
    dropped from sys.modules and imported again, as pytest's in-process `pytester` runs do to the
    semantics families the interpreter loads on first need, registers its functions anew.)"""
    return (getattr(old, "__globals__", None) is not None and getattr(new, "__globals__", None) is not None
            and old.__globals__ is not new.__globals__
            and (old.__module__, old.__qualname__) == (new.__module__, new.__qualname__))


class Registry(dict):
    """Per-opcode code or data, keyed by the table's `Opcode`: the one way engines and the fuzzer
    register what they do for each opcode. Registering a name that is not in the table, or an
    opcode twice, fails when the registering module is imported. Lookups take an `Opcode` or its
    name.
    """

    def __init__(self, what: str):
        super().__init__()
        self.what = what
        self.version = 0  # counts registrations (a cache of the registry knows when to be made again)

    def add(self, key: "Opcode | str", value) -> None:
        try:
            op = opcode(key)
        except KeyError as e:
            raise KeyError(f"{self.what}: {e.args[0]}") from None
        if op in self and not _reexecuted(self[op], value):
            raise KeyError(f"{self.what}: {op.name!r} is registered twice")
        super().__setitem__(op, value)
        self.version += 1

    def register(self, *keys: "Opcode | str") -> Callable:
        """A decorator registering the decorated object for each named opcode."""

        def decorate(obj):
            for key in keys:
                self.add(key, obj)
            return obj

        return decorate

    def collect(self, cls: type, wrap: Callable = lambda fn: fn) -> None:
        """Register the methods of `cls` marked by `handles` (each under every opcode it names)."""
        for attr in vars(cls).values():
            for op in getattr(attr, "handles_opcodes", ()):
                self.add(op, wrap(attr))

    def __getitem__(self, key):
        return super().__getitem__(OPCODES.get(key, key) if isinstance(key, str) else key)

    def get(self, key, default=None):
        return super().get(OPCODES.get(key, key) if isinstance(key, str) else key, default)

    def __contains__(self, key) -> bool:
        return super().__contains__(OPCODES.get(key, key) if isinstance(key, str) else key)

    __setitem__ = add

    def __delitem__(self, key) -> None:
        super().__delitem__(OPCODES.get(key, key) if isinstance(key, str) else key)
        self.version += 1


def handles(*keys: "Opcode | str") -> Callable:
    """Mark a method as the code for the named opcodes (checked against the table now); a
    `Registry.collect` of its class registers it."""
    ops = tuple(opcode(k) for k in keys)

    def mark(fn):
        fn.handles_opcodes = getattr(fn, "handles_opcodes", ()) + ops
        return fn

    return mark
