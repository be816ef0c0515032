"""Registration of instruction semantics against the opcode table.

Each semantic family module (integer, float, vector, memory, control) registers
one *lowering* per opcode with `@impl("name", ...)` (an `ir.opcodes.Registry`, keyed by
`Opcode`: a name not in the table fails at import). Branches, returns and calls are not
lowerings: the compiler lowers them itself (`COMPILER_LOWERED`, from the table's flags).
The compiler calls the lowering once per instruction, when it turns a CLIF
function into Python, and the lowering returns one of:

- an expression template (`str`) over the operands ``{0}``, ``{1}``, ... that
  evaluates to the result (a tuple expression for several results), which the
  compiler inlines into the generated code: the fast path for simple ops;
- a callable taking the operand values and returning the result (a tuple for
  several results), which the generated code calls: for anything larger.

A lowering sees an `OpContext`: the instruction, its controlling type, the
types of its operands and results. Immediates are read from the instruction
and baked into the template or closure, so nothing is decoded at run time.

Values at run time: scalar integers and floats are unsigned Python ints
holding the bit pattern (an f32 is its 32 bits); vectors are tuples of lane
bit patterns, lane 0 first. Semantics raise `Trap` to trap. (The compiler
may hold an f32/f64 as a Python float between the ops `float_repr` emits
itself; a lowering always receives and returns bit patterns.)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from itertools import islice

from ..ir.function import Function, Inst
from ..ir.opcodes import OPCODES, Opcode, Registry
from ..ir.types import Type

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional


class Trap(Exception):
    """A CLIF trap. `code` is a trap code such as ``heap_oob``, ``int_divz`` or ``user7``."""

    def __init__(self, code: str, detail: str = "", address: Optional[int] = None, size: int = 0):
        self.code = code
        self.detail = detail
        self.address = address  # a memory access's address and size, when the trap is one
        self.size = size
        super().__init__(code + (f": {detail}" if detail else ""))


class OpContext:
    """What a lowering sees of one instruction: the instruction, its function and its types. (A
    plain class: nothing compares or prints one, and a dataclass costs the import a compile.)"""

    def __init__(self, inst: Inst, function: Function, ctrl_type: Optional[Type], arg_types: list[Type],
                 result_types: list[Type], big_endian: bool = False):
        self.inst = inst
        self.function = function
        self.ctrl_type = ctrl_type
        self.arg_types = arg_types
        self.result_types = result_types
        # The target's byte order, fixed when the function is compiled: memory accesses and
        # bitcasts without a `big`/`little` flag use it.
        self.big_endian = big_endian
        # The interpreter compiling the function (lowerings bind helpers and resolve symbols through
        # it), and the block's previous memory access (memory_ops skips a repeated page check):
        # the compiler sets both.
        self.interpreter: Optional[object] = None
        self.memory_hint: Optional[object] = None
        # The compiler's value ranges prove that the result cannot wrap (`ranges`): builders of
        # wrapping arithmetic (`wrapped`) then leave out the mask, which is the identity.
        self.no_wrap = False
        # The instruction runs at most once per call of its function (its block is on no cycle): the
        # compiler and lowerings then prefer short code to fast code, since compiling it costs more
        # than running it (memory accesses become one call of the checked path, long templates a
        # shared call).
        self.once = False

    @property
    def type(self) -> Type:
        """The type that most lowerings specialise on: the controlling type, else the first result's."""
        if self.ctrl_type is not None:
            return self.ctrl_type
        if self.result_types:
            return self.result_types[0]
        return self.arg_types[0]


Lowering = Callable[[OpContext], str | Callable]
# One lowering per opcode (ir.opcodes.Registry: keyed by Opcode, checked against the table when a
# family module registers). VECTOR_LOWERINGS holds the vector forms of opcodes that also have
# scalar forms (iadd on i32x4, fcmp on f64x2, ...), kept apart so each family stays in its own module.
LOWERINGS: Registry = Registry("@impl")
VECTOR_LOWERINGS: Registry = Registry("@impl(vector=True)")
# The opcodes that shape the generated code (branches, returns, calls: blocks, parameter passing,
# the call protocol, tail-call trampolines) are lowered by the compiler itself, not by a lowering:
# registered apart, as xDSL registers terminators apart, from the table's flags.
COMPILER_LOWERED: frozenset[Opcode] = frozenset(
    op for op in OPCODES.values() if op.is_branch or op.is_call or op.is_return
) - {OPCODES["stack_switch"]}  # a call-flagged stack switch, not a call (UNSUPPORTED below)


def impl(*names: str, vector: bool = False) -> Callable[[Lowering], Lowering]:
    """Register the decorated lowering for each named opcode (which must be in the opcode table).

    With ``vector=True`` it is the lowering used when any operand or result of
    the instruction is a vector; otherwise the plain one serves every type.
    """
    return (VECTOR_LOWERINGS if vector else LOWERINGS).register(*names)


# The package imports the families nearly every program needs (integer arithmetic, control); the
# others (the rest of the integers: bitwise, division, overflow; memory, floats and softfloat,
# vectors, lanes, heaps) are imported on the first instruction that may need them, which keeps
# `clifkit test` of a small integer file from compiling their sources. A scalar instruction without
# a lowering yet imports the families one at a time, the likelier first (`_likely`: by the
# opcode's memory access and the kinds of its controlling type), until one registers it; a vector
# one imports them all. The order only saves time: each opcode is registered by one family,
# wherever it is found.
_INTEGER_FAMILIES = ("bit_ops", "division_ops", "overflow_ops")
_LIKELY = ("memory_ops", "float_ops")  # then, for any opcode, the families of most instructions
_all_loaded = False
_families: list[str] = []  # the family modules not imported yet by load_families, by name


def _likely(op: Opcode) -> tuple[str, ...]:
    """The families likeliest to register `op`, to be tried first."""
    tv = op.ctrl
    if op.access is not None or op.flags & {"load", "store"} or (tv is not None and tv.name == "iAddr"):
        return _LIKELY  # memory accesses, and addresses (stack_addr, global_value, func_addr, ...)
    if tv is not None and tv.floats is not None and tv.ints is None:
        return ("float_ops", "memory_ops")
    if tv is not None and tv.ints is not None:  # (the bitwise ops take floats too)
        return _INTEGER_FAMILIES + _LIKELY
    return _LIKELY


def load_families(op: Optional[Opcode] = None) -> None:
    """Import the family modules (``*_ops``) of the package: every one, so that all lowerings are
    registered, or, given `op`, only until one registers a plain lowering for it."""
    global _all_loaded
    if _all_loaded:
        return
    import importlib
    import pkgutil

    package = __name__.rpartition(".")[0]
    if not _families:
        _families.extend(sorted(info.name for info in pkgutil.iter_modules(importlib.import_module(package).__path__)
                                if info.name.endswith("_ops") and f"{package}.{info.name}" not in sys.modules))
    if op is not None:
        first = [name for name in _likely(op) if name in _families]
        _families[:] = first + [name for name in _families if name not in first]
    while _families:
        if op is not None and op in LOWERINGS:
            return
        importlib.import_module(f"{package}.{_families[0]}")
        del _families[0]
    _all_loaded = True


# Opcodes of the table the interpreter has no semantics for, and why (the compiler says so when
# it meets one).
UNSUPPORTED: dict[str, str] = {
    "stack_switch": "switching to another stack needs a second execution stack (a continuation), "
                    "which the interpreter does not model",
    "get_exception_handler_address": "a handler's machine-code address exists only in compiled code; "
                                     "the interpreter has none to give",
}


def supported(name: str) -> bool:
    """Does the interpreter have semantics for opcode `name` (the compiler's own or a lowering)?"""
    load_families()
    op = OPCODES.get(name)
    return op is not None and (op in COMPILER_LOWERED or op in LOWERINGS or op in VECTOR_LOWERINGS)


def lookup(ctx: OpContext) -> Optional[Lowering]:
    """The lowering for `ctx`'s instruction: the vector one when it touches vectors and one exists."""
    op = ctx.inst.opcode
    ctrl = ctx.ctrl_type
    vector = ((ctrl is not None and ctrl.is_vector) or any(t.is_vector for t in ctx.arg_types)
              or any(t.is_vector for t in ctx.result_types))
    table = OPCODES.get(op.name) is op
    if table:
        found = _FOUND.get((op.name, vector), _FOUND)
        if found is not _FOUND:
            return found
    if not _all_loaded and (vector or op not in LOWERINGS):
        load_families(None if vector else op)
    found = VECTOR_LOWERINGS[op] if vector and op in VECTOR_LOWERINGS else LOWERINGS.get(op)
    if table and (found is not None or _all_loaded):  # (final: one lowering per opcode and form)
        _FOUND[(op.name, vector)] = found
    return found


# (opcode name, vector) -> lowering, for the table's opcodes (registries hash opcodes slowly).
_FOUND: dict = {}

# Lowerings whose result depends on nothing but the instruction's shape when no type is dynamic:
# its opcode, controlling, operand and result types, integer immediate, condition, trap code,
# MemFlags, offset, its stack slot's place in the frame (the slot's offset and the frame's size),
# the byte order, `OpContext.no_wrap` and `OpContext.once` (not the function otherwise, the
# interpreter, the memory hint or another field such as a shuffle's mask). The compiler
# remembers their result per shape (`compiler._SHAPES`); a family adds its own with `by_shape`.
BY_SHAPE: set = set()
# Lowerings depending on the shape alone in code that runs once (`OpContext.once`): memory
# accesses, which read the memory hint only for code that runs many times.
BY_SHAPE_ONCE: set = set()


def by_shape(lowering: Lowering) -> Lowering:
    """Mark a lowering as depending on the instruction's shape alone (see BY_SHAPE)."""
    BY_SHAPE.add(lowering)
    return lowering


def by_shape_once(lowering: Lowering) -> Lowering:
    """Mark a lowering as depending on the shape alone in code that runs once (see BY_SHAPE_ONCE)."""
    BY_SHAPE_ONCE.add(lowering)
    return lowering


# Constants whose code is a text that needs no lowering: opcode name -> a function of (the
# interpreter, the instruction, its function, its result types, `OpContext.once`) giving the text
# the lowering would give (a literal, or a bound name), or None where the lowering must decide
# (an unusual type, an undeclared constant). The compiler asks it first: a fuzz program's
# constants are mostly new ones, whose plans no cache holds, and a lowering's context, look-up
# and plan cost some twenty times the text. A family registers its own with `constant_text`.
CONSTANT_TEXTS: dict[str, Callable] = {}


def constant_text(*names: str) -> Callable[[Callable], Callable]:
    """Register the decorated function as the text of each named constant (see CONSTANT_TEXTS)."""

    def register(fn: Callable) -> Callable:
        for name in names:
            CONSTANT_TEXTS[name] = fn
        return fn

    return register


def scalar_constant_type(inst: Inst, result_types: list[Type]) -> Optional[Type]:
    """The scalar type a constant's text is written at (its controlling type, else its result's),
    or None where its lowering must decide: a vector, an immediate that is no integer."""
    t = inst.ctrl_type or (result_types[0] if result_types else None)
    if t is None or t.is_vector or type(inst.imm) is not int or any(r.is_vector for r in result_types):
        return None
    return t


def remember(cache: dict, key, value, limit: int) -> None:
    """``cache[key] = value`` in a cache of at most `limit` entries: when full, the oldest quarter
    goes, at once (dropping the oldest one per insertion costs a scan over the slots the dict has
    emptied at its front, microseconds each, for every template with a new immediate)."""
    if len(cache) >= limit:
        for old in list(islice(cache, max(1, limit // 4))):
            del cache[old]
    cache[key] = value


def mask(bits: int) -> int:
    return (1 << bits) - 1
