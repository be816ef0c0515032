"""One clifkit `Function` → one Cranelift function, through the binding's FunctionBuilder.

`FunctionLowering` walks the blocks in layout order and emits, for each
instruction, either the binding's ``ins_<opcode>`` call (most opcodes: the
call's arguments are assembled from the binding's own parameter names, see
`_generic`), or an equivalent sequence where the binding lacks the builder
call or clifkit's semantics need more than Cranelift gives:

- constants, shuffles and swizzles: `legalize.py` (no constant pool, no
  shuffle immediate, and ``swizzle`` needs a libcall the JIT cannot resolve
  on baseline x86-64);
- global values, heaps, tables, and every trap clifkit must report with its
  code: `legalize.py` (calls of the host trap handler, emitted here);
- accesses and bitcasts in the non-native byte order: `byteorder.py` (the
  x86-64 backend ignores the flag);
- calls: `calls.py` (the file's functions are reached through a table of
  their addresses, host functions through their constant addresses,
  Cranelift's libcalls by their equivalent instruction or by name).

Everything that cannot be lowered raises `NativeUnsupported` with a reason.
"""

from __future__ import annotations

import dataclasses
import inspect
import operator
import sys
from dataclasses import dataclass
from typing import Callable, Optional

import cranelift as cl

from ..ir.function import AbiParam, BlockCall, Function, Inst, Signature
from ..ir.try_call import TryCallExn, TryCallRet
from ..ir.memflags import MemFlags
from ..ir.opcodes import HEAP_ERA_OPCODES, OPCODES, Registry, handles
from ..ir.types import I32, Type
from . import abi, compat
from .basics import (  # noqa: F401 (re-exported: the lowering's API)
    Check, LoweringReport, NativeUnsupported, native_trap_code, new_signature, signed64,
)
from .calls import CallLowering
from .hostdata import Address

MASK64 = (1 << 64) - 1


# -- types and conventions ------------------------------------------------------------------------

_CL_TYPES: dict[Type, object] = {}


def cl_type(t: Type):
    found = _CL_TYPES.get(t)
    if found is None:
        # Heap-era references are pointers: r64 is an i64 whose null is 0 (0.120 has no reference types).
        name = f"I{t.bits}" if t.is_ref else t.name.upper()
        found = getattr(cl.Type, name, None)
        if found is None:
            raise NativeUnsupported(f"type {t} has no Cranelift equivalent in the binding")
        _CL_TYPES[t] = found
    return found


CALL_CONVS = {
    "fast": "Fast", "cold": "Cold", "tail": "Tail", "system_v": "SystemV",
    "windows_fastcall": "WindowsFastcall", "apple_aarch64": "AppleAarch64",
    "probestack": "Probestack", "winch": "Winch",
    # Heap era: SystemV with Wasmtime's way of returning extra values; every caller and callee here is
    # compiled by clifkit with the same mapping, so plain SystemV keeps them in agreement.
    "wasmtime_system_v": "SystemV",
}  # fmt: skip


def call_conv(name: str):
    attr = CALL_CONVS.get(name)
    if attr is None or not hasattr(cl.CallConv, attr):
        raise NativeUnsupported(f"calling convention {name} is not available in the binding")
    return getattr(cl.CallConv, attr)


def cl_signature(sig: Signature, default_conv: str, conv=None):
    """A binding Signature for a clifkit one. Extensions and purposes have no binding equivalent and
    need none: both sides of every call are compiled here without them. `conv` forces a convention."""
    if conv is None:
        conv = call_conv(sig.call_conv if sig.call_conv_written else default_conv)
    return new_signature(conv, [cl_type(p.type) for p in sig.params], [cl_type(r.type) for r in sig.returns])


_type_of = operator.attrgetter("type")  # (of an AbiParam)


def _sig_key(params: tuple, returns: tuple, call_conv: Optional[str], conv) -> tuple:
    """What makes two signatures one signature reference of a function: their types (the binding
    has no extensions or purposes), the written convention and the one the call imposes."""
    return params, returns, call_conv, None if conv is None else int(conv)


def imm_at(imm: int, bits: int) -> int:
    """A 64-bit immediate truncated to `bits`, as the signed i64 the binding takes."""
    value = imm & MASK64
    if bits < 64:
        value &= (1 << bits) - 1
        if value >> (bits - 1):
            value -= 1 << bits
    elif value >> 63:  # (`signed64`, inline)
        value -= 1 << 64
    return value


_MEMFLAGS_MADE: dict = {}  # (flags' fields, trusted) -> binding MemFlags (the builder copies what it is given)
# The fields of a MemFlags as one tuple, the cache's key: hashing and comparing the frozen dataclass
# itself runs its generated Python methods, which cost more than the rest of the lookup.
_memflags_fields = operator.attrgetter(*(f.name for f in dataclasses.fields(MemFlags)))


def cl_memflags(flags: Optional[MemFlags], *, trusted: bool = False):
    """Binding MemFlags for clifkit flags (None: the default flags of a plain access). The same
    object for the same flags: callers hand it to the builder and never change it."""
    # First by the flags object itself: a program's accesses share a few MemFlags objects, and
    # reading the fields of one for the key costs more than the rest of the lookup.
    seen = _MEMFLAGS_SEEN.get((id(flags), trusted))
    if seen is not None and seen[0] is flags:
        return seen[1]
    key = (None if flags is None else _memflags_fields(flags), trusted)
    found = _MEMFLAGS_MADE.get(key)
    if found is None:
        found = _MEMFLAGS_MADE[key] = _make_memflags(flags, trusted)
    if len(_MEMFLAGS_SEEN) >= _MEMFLAGS_SEEN_MAX:
        _MEMFLAGS_SEEN.clear()
    # (the entry holds `flags`, so its id is not another object's while it is there)
    _MEMFLAGS_SEEN[id(flags), trusted] = (flags, found)
    return found


# (id(flags), trusted) -> (flags, binding MemFlags): `cl_memflags` by identity, emptied when full.
_MEMFLAGS_SEEN: dict = {}
_MEMFLAGS_SEEN_MAX = 4096


def _make_memflags(flags: Optional[MemFlags], trusted: bool):
    mf = cl.MemFlags.trusted() if trusted else cl.MemFlags()
    if flags is None:
        return mf
    if flags.trap_code is None:
        mf.set_notrap()
    elif flags.trap_code != "heap_oob":
        mf.set_by_name(flags.trap_code)
    for word in ("aligned", "readonly", "can_move", "checked"):
        if getattr(flags, word):
            mf.set_by_name(word)
    if flags.endianness:
        mf.set_by_name(flags.endianness)
    if flags.alias_region:
        mf.set_by_name(flags.alias_region)
    return mf


# The binding's condition codes by CLIF name (remembered per name in `compat`).
intcc, floatcc = compat.intcc, compat.floatcc


# -- the binding's builder calls, read from their signatures ---------------------------------------

# Parameter names of builder calls that take the controlling/result type.
TYPE_PARAMS = frozenset({"ty", "mem", "mem_to", "int_to", "float_to", "float_scalar", "int", "narrow_int",
                         "i_ext8", "i_ext16", "txn", "i_addr"})
VALUE_PARAMS = frozenset({"x", "y", "z", "a", "b", "c", "e", "p", "s", "lo", "hi", "c_in", "b_in", "addr",
                          "store_context_ptr", "load_context_ptr", "in_payload0"})
GENERIC_EXTRAS = frozenset({"mem_flags", "offset32", "imm", "cc", "op"})


def _builder_params() -> dict[str, tuple[str, ...]]:
    out = {}
    for name in dir(cl.FunctionBuilder):
        if not name.startswith("ins_"):
            continue
        fn = getattr(cl.FunctionBuilder, name)
        text = getattr(fn, "__text_signature__", None)
        if text is None:
            try:
                params = tuple(inspect.signature(fn).parameters)[1:]
            except (TypeError, ValueError):
                continue
        else:
            params = tuple(p.strip() for p in text.strip("()").split(",")[1:] if p.strip())
        out[name[4:]] = params
    return out


BUILDER_PARAMS = _builder_params()


def generic_ok(opcode: str) -> bool:
    ok = _GENERIC_OK.get(opcode)
    if ok is None:
        params = BUILDER_PARAMS.get(opcode)
        ok = _GENERIC_OK[opcode] = params is not None and all(
            p in TYPE_PARAMS or p in VALUE_PARAMS or p in GENERIC_EXTRAS for p in params)
    return ok


_GENERIC_OK: dict[str, bool] = {}  # (the lowering asks per instruction; BUILDER_PARAMS is fixed)


# Opcodes of the table the native engine does not lower, and why (every other opcode has a handler,
# below, in calls.py, legalize.py or byteorder.py, or a builder call `generic_ok` accepts).
UNSUPPORTED: dict[str, str] = {
    "get_exception_handler_address": "Cranelift 0.120 (the release cranelift-py wraps) has no such instruction, "
                                     "and try_call is lowered as a call and a jump, so there is no handler to name",
}

# The lowering of each opcode that needs more than the binding's builder call: the methods marked
# `@handles` on FunctionLowering (and CallLowering), Legalizer and ByteOrder, each collected by its
# module as a function (lowering, inst) -> results. An opcode has at most one.
HANDLERS: Registry = Registry("native @handles")
# A table opcode's name -> its handler, for the lowering's lookup per instruction (opcodes hash
# slowly), made again by `load_handlers` (before any lowering) whenever HANDLERS has changed.
_HANDLER_OF: dict = {}
_HANDLERS_SEEN = [-1]  # the HANDLERS.version _HANDLER_OF was made from


# The handler classes of legalize.py and byteorder.py, once `load_handlers` has imported them: a
# lowering makes one of each per function, and an import statement there, even of a module
# already loaded, runs importlib's Python code for its names (a few percent of a fuzz program's
# lowering).
_HANDLER_CLASSES: list = []


def load_handlers() -> None:
    """Import the modules whose handlers register themselves (legalize.py, byteorder.py)."""
    if not _HANDLER_CLASSES:
        from .byteorder import ByteOrder
        from .legalize import Legalizer

        _HANDLER_CLASSES[:] = (Legalizer, ByteOrder)
    if _HANDLERS_SEEN[0] != HANDLERS.version:
        _HANDLER_OF.clear()
        _HANDLER_OF.update((op.name, fn) for op, fn in HANDLERS.items())
        _HOW.clear()
        _HANDLERS_SEEN[0] = HANDLERS.version


# How `FunctionLowering.lower` lowers each table opcode, by name, worked out at its first
# instruction (`_how`): (the opcode, a function (lowering, inst) -> results: its handler, or its
# generic builder call, or one raising why it cannot be lowered). The lowering looks an opcode up
# once per instruction, so everything that depends on the opcode alone is decided here.
_HOW: dict = {}

# What each parameter of a builder call takes from the instruction (`_generic`).
_VALUE, _TYPE, _MEMFLAGS, _OFFSET, _IMM, _CC, _RMW = range(7)
_EXTRA_KINDS = {"mem_flags": _MEMFLAGS, "offset32": _OFFSET, "imm": _IMM, "cc": _CC, "op": _RMW}


@dataclass(frozen=True)
class GenericCall:
    """The builder call ``ins_<name>`` of an opcode `generic_ok` accepts, its parameters by kind."""

    method: str  # "ins_<name>"
    kinds: tuple  # per parameter: _VALUE, _TYPE, ...
    values: int  # how many value operands it takes
    typed: bool  # whether it takes the result type
    only_values: bool  # whether every parameter is a value operand

    def lower(self, lw: "FunctionLowering", inst: Inst):
        """The builder call for `inst` (`FunctionLowering._generic`); an instruction that does not
        fit it takes `_generic_checked`, which says why."""
        args = inst.args
        if len(args) != self.values or (self.typed and not inst.results):
            return lw._generic_checked(inst, self.method[4:])
        values = lw.vals(args)
        fn = getattr(lw.b, self.method)
        if self.only_values:
            out = fn(*values)
        else:
            values.reverse()  # (taken from the end, in order)
            out = fn(*[values.pop() if kind == _VALUE else lw._generic_arg(inst, kind) for kind in self.kinds])
        if isinstance(out, cl.Inst):
            return list(lw.b.inst_results(out))
        return out


def generic_call(name: str) -> Optional[GenericCall]:
    """`name`'s `GenericCall`, or None when `generic_ok` refuses it."""
    if not generic_ok(name):
        return None
    kinds = tuple(_TYPE if p in TYPE_PARAMS else _VALUE if p in VALUE_PARAMS else _EXTRA_KINDS[p]
                  for p in BUILDER_PARAMS[name])
    return GenericCall("ins_" + name, kinds, kinds.count(_VALUE), _TYPE in kinds,
                       all(k == _VALUE for k in kinds))


_CALLS: dict = {}  # builder call name -> its GenericCall or None (BUILDER_PARAMS is fixed)


def _generic_call_of(name: str) -> Optional[GenericCall]:
    if name not in _CALLS:
        _CALLS[name] = generic_call(name)
    return _CALLS[name]


def _shaped_lowering(call: GenericCall, op) -> Callable:
    """`call.lower` for the instructions of `op`, made once: most generic calls take the value
    operands, perhaps after the result type, a condition code or memory flags, and perhaps
    before an immediate or an offset (``bxor x, y``, ``ireduce.i8 x``, ``icmp_imm cc, x, imm``,
    ``load.i32 flags, p, offset``), and for those the parameters need not be looked at one by one
    for each instruction, nor the opcode's format to convert its condition code and immediate.
    Any other shape, and an instruction that does not fit (a wrong operand count, an undefined
    or aliased operand), takes `call.lower`: the same builder call, or the same error."""
    general = call.lower
    kinds = call.kinds
    head = 0  # the parameters before the value operands: (type | condition code)? memory flags?
    first = kinds[0] if kinds and kinds[0] in (_TYPE, _CC) else None
    head += first is not None
    flagged = kinds[head : head + 1] == (_MEMFLAGS,)
    head += flagged
    last = kinds[-1] if kinds and kinds[-1] in (_IMM, _OFFSET) else None
    count = call.values
    if kinds[head : len(kinds) - (last is not None)] != (_VALUE,) * count:
        return general
    method = call.method
    typed = first == _TYPE
    cond_of = _cond_conversion(op.format.name) if first == _CC else None
    signed_imm = last == _IMM and _imm_conversion(op.format.name) is _signed_imm
    Inst_ = cl.Inst
    if not flagged and last is None and (count == 2 and (first is None or cond_of is not None)
                                         or typed and count == 1):
        return _plain_lowering(general, method, typed, cond_of)
    if not flagged and count == 1 and first is None and last == _IMM:
        return _value_imm_lowering(general, method, signed_imm)

    def lower(lw: "FunctionLowering", inst: Inst):
        args = inst.args
        if len(args) != count or lw.aliased:
            return general(lw, inst)
        values = lw.values
        try:  # (inline for the usual counts: a comprehension or map costs more than the rest)
            if count == 2:
                operands = (values[args[0]], values[args[1]])
            elif count == 1:
                operands = (values[args[0]],)
            elif count == 3:
                operands = (values[args[0]], values[args[1]], values[args[2]])
            else:
                operands = tuple(map(values.__getitem__, args))
        except KeyError:
            return general(lw, inst)
        if last == _IMM:
            imm = int(inst.imm)
            if signed_imm:  # (`signed64`, inline)
                imm &= MASK64
                if imm >> 63:
                    imm -= 1 << 64
            operands = (*operands, imm)
        elif last == _OFFSET:
            operands = (*operands, inst.offset or 0)
        if flagged:
            operands = (cl_memflags(inst.flags), *operands)
        if typed:
            results = inst.results
            if not results:
                return general(lw, inst)
            t = lw.types[results[0]]
            operands = (_CL_TYPES.get(t) or cl_type(t), *operands)
        elif cond_of is not None:
            operands = (cond_of(inst.cond), *operands)
        out = getattr(lw.b, method)(*operands)
        if type(out) is Inst_:
            return list(lw.b.inst_results(out))
        return out

    return lower


def _plain_lowering(general: Callable, method: str, typed: bool, cond_of: Optional[Callable] = None) -> Callable:
    """`_shaped_lowering` of the most common shapes, with nothing to decide per instruction but
    the operands: two values (``bxor x, y``), perhaps after a condition code (``icmp slt x, y``,
    converted by `cond_of`), or the result type and one value (``ireduce.i8 x``)."""
    Inst_ = cl.Inst

    def lower_pair(lw: "FunctionLowering", inst: Inst):
        args = inst.args
        if len(args) != 2 or lw.aliased:
            return general(lw, inst)
        values = lw.values
        try:
            x, y = values[args[0]], values[args[1]]
        except KeyError:
            return general(lw, inst)
        if cond_of is None:
            out = getattr(lw.b, method)(x, y)
        else:
            out = getattr(lw.b, method)(cond_of(inst.cond), x, y)
        if type(out) is Inst_:
            return list(lw.b.inst_results(out))
        return out

    def lower_typed(lw: "FunctionLowering", inst: Inst):
        args, results = inst.args, inst.results
        if len(args) != 1 or lw.aliased or not results:
            return general(lw, inst)
        try:
            x = lw.values[args[0]]
        except KeyError:
            return general(lw, inst)
        t = lw.types[results[0]]
        out = getattr(lw.b, method)(_CL_TYPES.get(t) or cl_type(t), x)
        if type(out) is Inst_:
            return list(lw.b.inst_results(out))
        return out

    return lower_typed if typed else lower_pair


def _value_imm_lowering(general: Callable, method: str, signed_imm: bool) -> Callable:
    """`_shaped_lowering` of one value and an immediate (``band_imm x, 7``, ``extractlane x, 1``)."""
    Inst_ = cl.Inst

    def lower_value_imm(lw: "FunctionLowering", inst: Inst):
        args = inst.args
        if len(args) != 1 or lw.aliased:
            return general(lw, inst)
        x = lw.values.get(args[0])
        if x is None:
            return general(lw, inst)
        imm = int(inst.imm)
        if signed_imm:  # (`signed64`, inline)
            imm &= MASK64
            if imm >> 63:
                imm -= 1 << 64
        out = getattr(lw.b, method)(x, imm)
        if type(out) is Inst_:
            return list(lw.b.inst_results(out))
        return out

    return lower_value_imm


_SHAPED: dict = {}  # opcode name -> (the opcode, its `_shaped_lowering`), for `FunctionLowering._generic`


def _shaped_of(op) -> Optional[Callable]:
    """The shaped lowering of `op`'s own builder call (None when `generic_ok` refuses it)."""
    found = _SHAPED.get(op.name)
    if found is None or found[0] is not op:
        call = _generic_call_of(op.name)
        found = (op, _shaped_lowering(call, op) if call is not None else None)
        if OPCODES.get(op.name) is op:
            _SHAPED[op.name] = found
    return found[1]


def _cond_conversion(format_name: str) -> Callable:
    """How a builder call takes the condition code of an instruction of this format."""
    return floatcc if format_name == "FloatCompare" else intcc


def _imm_conversion(format_name: str) -> Callable:
    """How a builder call takes the immediate of an instruction of this format: a lane index as
    it is, anything else as the signed 64-bit value the binding takes."""
    return int if format_name in ("BinaryImm8", "TernaryImm8") else _signed_imm


def _signed_imm(imm) -> int:
    return signed64(int(imm))


def _unsupported(lw: "FunctionLowering", inst: Inst):
    why = "the binding has no builder call for it, and clifkit has no lowering"
    raise lw.fail(UNSUPPORTED.get(inst.opcode.name, why))


def _how(op) -> tuple:
    """(op, how to lower it) for `op`, kept in `_HOW` when it is the table's opcode."""
    name = op.name
    table = OPCODES.get(name) is op
    handler = _HANDLER_OF.get(name) if table else HANDLERS.get(op)
    if handler is None:
        call = _generic_call_of(name)
        handler = _shaped_lowering(call, op) if call is not None else _unsupported
    how = (op, handler)
    if table:
        _HOW[name] = how
    return how


def lowers(opcode: str) -> bool:
    """Does `FunctionLowering.lower` have a way to lower `opcode` (a handler or the generic path)?"""
    load_handlers()
    return opcode in HANDLERS or generic_ok(opcode)


# -- what a lowering reports about itself ---------------------------------------------------------


@dataclass
class ModuleContext:
    """What lowering a function needs to know about the module around it."""

    host_conv: object  # cl.CallConv of the host (trampolines, host functions)
    pointer: Type
    function_slots: dict[str, int]  # file function name -> address of its table slot
    host_symbols: dict[str, int]
    memory: object  # hostdata.HostMemory
    default_conv: str = "system_v"  # the convention of signatures that name none (`test run`: the host's)
    # The alignment Cranelift gives a frame (its slots are aligned only within it): a slot asking
    # for more is over-allocated and aligned by hand (s390x frames are 8-byte aligned).
    stack_align: int = 16
    # Vector widths the backend computes on correctly (None: any). Cranelift 0.120's x86-64 backend
    # accepts 64-bit vectors such as i8x8 but miscompiles arithmetic on them (iadd.i8x8 returns its
    # first operand); moves, loads, stores and bitcasts of them are right (MOVES_ONLY_OK).
    vector_bits: Optional[frozenset] = None
    byteorder: str = sys.byteorder  # the target's (the lowering may run on another host: replay.py)
    # Addresses are named, not known (`hostdata.Address`), when the lowering runs away from the
    # worker's memory (replay.py).
    symbolic: bool = False

    def libcall_address(self, name: str):
        """The address of libcall `name` as the JIT would link it, or None."""
        from .calls import LIBCALL_SYMBOLS, libcall_address

        if self.symbolic:
            return Address(("libcall", name)) if name in LIBCALL_SYMBOLS else None
        return libcall_address(name)

    def trap_handler(self) -> Optional[int]:
        return self.host_symbols.get(abi.TRAP_SYMBOL)

    def host_symbol(self, name: str) -> Optional[int]:
        if name in self.host_symbols:
            return self.host_symbols[name]
        bare = name[1:] if name.startswith("%") else "%" + name
        return self.host_symbols.get(bare)


# What may touch vectors of a width outside ModuleContext.vector_bits: moving them around. That is
# control flow (branches, calls, returns; not the heap era's brz/brnz nor stack_switch), the
# accesses that move a whole value (not the heap era's, which are legalized into checks first;
# the atomics and dynamic-slot accesses are included but never hold a fixed-width vector), and
# three more that only move bits.
MOVES_ONLY_OK = frozenset(
    op for op in OPCODES.values()
    if (op.is_branch or op.is_call or op.is_return) and not op.flags & {"continues", "side_effects"}
    or (op.access is not None and op.access.bits is None and op.name not in HEAP_ERA_OPCODES)
) | {OPCODES["bitcast"], OPCODES["vconst"], OPCODES["nop"]}

# The trap instruction after each call of the host trap handler. The handler never returns; if it
# did, this trap (SIGILL on x86-64) would end the process anyway.
UNREACHABLE = cl.TrapCode.STACK_OVERFLOW


# vector_bits -> the types met so far that are no vector it must not compute on (`_has_narrow_vectors`)
_NOT_NARROW: dict = {}


def _has_narrow_vectors(types, vector_bits: frozenset) -> bool:
    """Whether one of `types` is a vector of a width outside `vector_bits`. Types are interned:
    those found fine once are not looked at again (a function has a few, and a module's
    functions mostly the same)."""
    fine = _NOT_NARROW.setdefault(vector_bits, set())
    for t in set(types) - fine:
        if t.is_vector and not t.dynamic and t.bits not in vector_bits:
            return True
        fine.add(t)
    return False


_FLOAT_BITS: dict = {}  # float type -> (its binding type, that of its bits, its width): `float_bits`


def _float_bits_types(t: Type) -> tuple:
    found = _FLOAT_BITS[t] = (cl_type(t), cl_type(t.as_int()), t.bits)
    return found


class FunctionLowering(CallLowering):
    """Lower one function. `run()` returns the finalized FunctionBuilder."""

    def __init__(self, ctx: ModuleContext, func: Function, builder=None, signature=None):
        self.ctx = ctx
        self.func = func
        self.cl_sig = signature  # the binding signature of `func`, when the caller made it already
        self.b = builder if builder is not None else cl.FunctionBuilder()  # a RecordingBuilder for `clifkit lower`
        self.report = LoweringReport(func.name)
        self.values: dict[int, object] = {}
        self.blocks: dict[int, object] = {}
        self.trap_blocks: dict[str, object] = {}
        self.stack_slots: dict[int, object] = {}
        self.over_aligned: dict[int, int] = {}  # slot -> alignment its address is rounded up to
        self.sig_refs: dict[tuple, object] = {}
        self.libcall_refs: dict[str, object] = {}
        self.inst: Optional[Inst] = None
        self.types = func.value_types
        self.aliased = bool(func.aliases)  # (without aliases, a value is looked up as it is)
        self.ptr_type = cl_type(ctx.pointer)
        # Whether some value has a vector type the backend must not compute on (`vector_bits`):
        # without one, no instruction needs the check.
        vb = ctx.vector_bits
        self.narrow_vectors = vb is not None and _has_narrow_vectors(func.value_types.values(), vb)

    # -- helpers -----------------------------------------------------------------------------

    def fail(self, reason: str) -> NativeUnsupported:
        where = f"{self.inst.opcode.name}: " if self.inst is not None else ""
        return NativeUnsupported(where + reason, self.func.name)

    def val(self, v: int):
        if self.aliased:
            v = self.func.resolve(v)
        found = self.values.get(v)
        if found is None:
            raise self.fail(f"v{v} is used before it is defined")
        return found

    def vals(self, vs) -> list:
        """`val` of each of `vs`."""
        if not self.aliased:
            values = self.values
            try:
                return [values[v] for v in vs]
            except KeyError:
                pass  # (`val` says which)
        return [self.val(v) for v in vs]

    def vtype(self, v: int) -> Type:
        return self.types[self.func.resolve(v) if self.aliased else v]

    def iconst(self, t: Type, value: int):
        return self.b.ins_iconst(_CL_TYPES.get(t) or cl_type(t), imm_at(value, t.bits))

    def pconst(self, value):
        """A pointer-sized constant (an address; a `hostdata.Address` when lowered for replay)."""
        if isinstance(value, Address):
            return self.b.ins_iconst(self.ptr_type, value)
        return self.b.ins_iconst(self.ptr_type, imm_at(value, self.ctx.pointer.bits))

    def signature(self, sig: Signature, conv=None):
        """A binding Signature for a clifkit one (`conv`: force a convention, e.g. the host's)."""
        return cl_signature(sig, self.ctx.default_conv, conv)

    def sig_ref(self, sig: Signature, conv=None):
        key = _sig_key(tuple(map(_type_of, sig.params)), tuple(map(_type_of, sig.returns)),
                       sig.call_conv if sig.call_conv_written else None, conv)
        found = self.sig_refs.get(key)
        if found is None:
            found = self.sig_refs[key] = self.b.import_signature(self.signature(sig, conv))
        return found

    def host_sig_ref(self, params: tuple[Type, ...], returns: tuple[Type, ...]):
        # (looked up before the signature is built)
        found = self.sig_refs.get(_sig_key(params, returns, "system_v", self.ctx.host_conv))
        if found is not None:
            return found
        sig = Signature([AbiParam(t) for t in params], [AbiParam(t) for t in returns], "system_v", True)
        return self.sig_ref(sig, self.ctx.host_conv)

    # -- traps -------------------------------------------------------------------------------

    def trap_block(self, code: str):
        block = self.trap_blocks.get(code)
        if block is None:
            block = self.trap_blocks[code] = self.b.create_block()
            self.b.set_cold_block(block)
        return block

    def emit_trap(self, code: str) -> None:
        """Here: report trap `code` to the host and stop (a terminator)."""
        handler = self.ctx.trap_handler()
        if handler is None:
            # No host handler (in-process tests): Cranelift's own trap instruction.
            self.b.ins_trap(native_trap_code(code))
            return
        callee = self.pconst(handler)
        code_id = self.iconst(I32, abi.trap_code_id(code))
        self.b.ins_call_indirect(self.host_sig_ref((I32,), ()), callee, [code_id])
        self.b.ins_trap(UNREACHABLE)

    def trap_if(self, cond, code: str, kind: str = "trap", detail: str = "") -> None:
        """Trap `code` when `cond` (an integer value) is nonzero; go on in a new block otherwise."""
        cont = self.b.create_block()
        self.b.ins_brif(cond, self.trap_block(code), [], cont, [])
        self.b.switch_to_block(cont)
        self.report.checks.append(Check(kind, code, detail))

    def trap_unless(self, cond, code: str, kind: str = "trap", detail: str = "") -> None:
        cont = self.b.create_block()
        self.b.ins_brif(cond, cont, [], self.trap_block(code), [])
        self.b.switch_to_block(cont)
        self.report.checks.append(Check(kind, code, detail))

    # -- the walk ------------------------------------------------------------------------------

    def run(self):
        func, b = self.func, self.b
        b.func_signature = self.cl_sig if self.cl_sig is not None else self.signature(func.signature)
        for num, block in func.blocks.items():
            self.blocks[num] = b.create_block()
            if block.cold:
                b.set_cold_block(self.blocks[num])
        entry = func.entry
        if entry is None:
            raise self.fail("the function has no blocks")
        if func.stack_limit is not None:
            # The binding cannot set a stack limit; the runtime's guard page catches overflows.
            self.report.workarounds.add("stack_limit not enforced")
        for slot_num, slot in func.stack_slots.items():
            align = slot.align or 1
            if align > self.ctx.stack_align:
                # Cranelift aligns a slot only within the frame, and the frame itself is only
                # ctx.stack_align-aligned: over-allocate and align the slot's address in the code.
                self.stack_slots[slot_num] = b.create_sized_stack_slot(slot.size + align - 1, 0)
                self.over_aligned[slot_num] = align
                self.report.workarounds.add(f"explicit_slot align > {self.ctx.stack_align} aligned by hand")
                continue
            shift = max(0, align.bit_length() - 1)
            self.stack_slots[slot_num] = b.create_sized_stack_slot(slot.size, shift)
        for num, block in func.blocks.items():
            cb = self.blocks[num]
            for p in block.params:
                self.values[p] = b.append_block_param(cb, cl_type(func.value_types[p]))
        load_handlers()
        Legalizer, ByteOrder = _HANDLER_CLASSES
        self.legal = Legalizer(self)
        self.order = ByteOrder(self)
        try:
            self._walk()
        finally:
            # Both refer back to this lowering: without them it, and the IR it holds, is freed
            # as soon as it is dropped, not by the cyclic collector (which the worker pauses
            # while it loads).
            self.legal = self.order = None
        self.inst = None
        for code, block in self.trap_blocks.items():
            b.switch_to_block(block)
            self.emit_trap(code)
        b.seal_all_blocks()
        b.finalize()
        return b

    def define(self, inst: Inst, results) -> None:
        if len(results) != len(inst.results):
            raise self.fail(f"the binding gave {len(results)} results for {len(inst.results)}")
        for v, r in zip(inst.results, results):
            self.values[v] = r

    def _walk(self) -> None:
        """Lower every instruction, block by block. The dispatch is inline (it runs for every
        instruction): the opcode's way of lowering (`_HOW`), and its one result stored directly
        (most instructions have exactly one); anything else goes through `define`."""
        b, values, blocks, how_of, Value = self.b, self.values, self.blocks, _HOW, cl.Value
        narrow = self.narrow_vectors
        for num, block in self.func.blocks.items():
            b.switch_to_block(blocks[num])
            for inst in block.insts:
                self.inst = inst
                op = inst.opcode
                if narrow and op not in MOVES_ONLY_OK:
                    self._check_vector_widths(inst)
                how = how_of.get(op.name)
                if how is None or how[0] is not op:
                    how = _how(op)
                out = how[1](self, inst)
                if type(out) is Value and len(inst.results) == 1:
                    values[inst.results[0]] = out
                elif out is None:
                    if inst.results:
                        self.define(inst, [])
                elif isinstance(out, (list, tuple)):
                    self.define(inst, list(out))
                elif len(inst.results) == 1:
                    values[inst.results[0]] = out
                else:
                    self.define(inst, [out])

    def _check_vector_widths(self, inst: Inst) -> None:
        for v in (*inst.args, *inst.results):
            t = self.vtype(v)
            if t.is_vector and not t.dynamic and t.bits not in self.ctx.vector_bits:
                widths = "/".join(map(str, sorted(self.ctx.vector_bits)))
                raise self.fail(f"{t}: this backend computes only on {widths}-bit vectors (it miscompiles "
                                "narrower ones; they may only be moved, loaded, stored and bitcast)")

    def _generic(self, inst: Inst, name: Optional[str] = None, args: Optional[list] = None):
        """Call ``ins_<name>`` with arguments taken from the instruction by parameter name
        (`args`: the value operands to pass instead of the instruction's)."""
        if args is None:
            if name is None:  # (the instruction's own builder call, the usual case)
                shaped = _shaped_of(inst.opcode)
                if shaped is not None:
                    return shaped(self, inst)
            else:
                call = _generic_call_of(name)
                if call is not None:
                    return call.lower(self, inst)
        return self._generic_checked(inst, name, args)

    def _generic_arg(self, inst: Inst, kind: int):
        """The argument of a builder call's parameter of `kind` other than a value operand."""
        if kind == _TYPE:
            return cl_type(self.vtype(inst.results[0]))
        if kind == _MEMFLAGS:
            return cl_memflags(inst.flags)
        if kind == _OFFSET:
            return inst.offset or 0
        if kind == _IMM:
            return self._imm(inst)
        if kind == _CC:
            return _cond_conversion(inst.opcode.format.name)(inst.cond)
        return compat.atomic_rmw_op(inst.rmw_op)

    def _generic_checked(self, inst: Inst, name: Optional[str] = None, args: Optional[list] = None):
        """`_generic` parameter by parameter, saying which one the instruction cannot fill."""
        name = name or inst.opcode.name
        fn = getattr(self.b, "ins_" + name)
        values = list(args) if args is not None else [self.val(a) for a in inst.args]
        call_args = []
        for p in BUILDER_PARAMS[name]:
            if p in TYPE_PARAMS:
                if not inst.results:
                    raise self.fail("no result type to pass")
                call_args.append(self._generic_arg(inst, _TYPE))
            elif p in VALUE_PARAMS:
                if not values:
                    raise self.fail("fewer operands than the builder call takes")
                call_args.append(values.pop(0))
            elif p in _EXTRA_KINDS:
                call_args.append(self._generic_arg(inst, _EXTRA_KINDS[p]))
            else:
                raise self.fail(f"builder parameter {p!r} has no generic source")
        if values:
            raise self.fail("more operands than the builder call takes")
        out = fn(*call_args)
        if isinstance(out, cl.Inst):
            return list(self.b.inst_results(out))
        return out

    def _imm(self, inst: Inst) -> int:
        return _imm_conversion(inst.opcode.format.name)(inst.imm)

    def ctrl_type(self, inst: Inst) -> Type:
        if inst.ctrl_type is not None:
            return inst.ctrl_type
        if inst.results:
            return self.vtype(inst.results[0])
        return self.vtype(inst.args[0])

    # -- control flow --------------------------------------------------------------------------

    def block_args(self, bc: BlockCall, call_results=None) -> tuple[object, list]:
        args = []
        for a in bc.args:
            if isinstance(a, TryCallRet):
                if call_results is None or a.index >= len(call_results):
                    raise self.fail(f"{a} has no call result to stand for")
                args.append(call_results[a.index])
            elif isinstance(a, TryCallExn):
                raise self.fail("exception payloads: exceptions are never thrown natively")
            else:
                args.append(self.val(a))
        return self.blocks[bc.block], args

    @handles("jump")
    def op_jump(self, inst: Inst):
        block, args = self.block_args(inst.dests[0])
        self.b.ins_jump(block, args)

    @handles("brif")
    def op_brif(self, inst: Inst):
        then_b, then_a = self.block_args(inst.dests[0])
        else_b, else_a = self.block_args(inst.dests[1])
        self.b.ins_brif(self.val(inst.args[0]), then_b, then_a, else_b, else_a)

    @handles("br_table")
    def op_br_table(self, inst: Inst):
        jt = inst.jump_table
        default = self.block_args(jt.default)
        targets = [self.block_args(t) for t in jt.targets]
        table = self.b.create_jump_table(default, targets)
        self.b.ins_br_table(self.val(inst.args[0]), table)

    # -- heap era (see docs/heap-era.md): onto 0.120 instructions -------------------------------

    @handles("brz", "brnz")
    def op_brz(self, inst: Inst):
        """``brz c, blockN(args)`` and ``brnz``: a brif to the target or to a new block holding
        the rest of the block (dominated by it, so every value stays visible)."""
        target, args = self.block_args(inst.dests[0])
        rest = self.b.create_block()
        c = self.val(inst.args[0])
        if inst.opcode.name == "brz":
            self.b.ins_brif(c, rest, [], target, args)
        else:
            self.b.ins_brif(c, target, args, rest, [])
        self.b.switch_to_block(rest)

    def _carry_in(self, inst: Inst, t: Type):
        """The carry/borrow input as 0 or 1 of type t (any non-zero i8 counts as set)."""
        flag = self.b.ins_icmp_imm(intcc("ne"), self.val(inst.args[2]), 0)
        return flag if t.bits == 8 else self.b.ins_uextend(cl_type(t), flag)

    @handles("iadd_cin")
    def op_iadd_cin(self, inst: Inst):
        t = self.ctrl_type(inst)
        total = self.b.ins_iadd(self.val(inst.args[0]), self.val(inst.args[1]))
        return self.b.ins_iadd(total, self._carry_in(inst, t))

    def _sadd_overflow(self, x, y):
        """x + y and its signed overflow, from the sign bits: 0.120's sadd_overflow is not
        implemented for i8 and i16 on every backend."""
        total = self.b.ins_iadd(x, y)
        both = self.b.ins_band(self.b.ins_bxor(total, x), self.b.ins_bxor(total, y))
        return total, self.b.ins_icmp_imm(intcc("slt"), both, 0)

    @handles("iadd_cout")
    def op_iadd_cout(self, inst: Inst):
        """The 2022 interpreter's carry: signed overflow (see interpreter/integer_ops.py)."""
        return list(self._sadd_overflow(self.val(inst.args[0]), self.val(inst.args[1])))

    @handles("iadd_carry")
    def op_iadd_carry(self, inst: Inst):
        t = self.ctrl_type(inst)
        first, over1 = self._sadd_overflow(self.val(inst.args[0]), self.val(inst.args[1]))
        total, over2 = self._sadd_overflow(first, self._carry_in(inst, t))
        return [total, self.b.ins_bor(over1, over2)]

    @handles("isub_bin")
    def op_isub_bin(self, inst: Inst):
        t = self.ctrl_type(inst)
        rhs = self.b.ins_iadd(self.val(inst.args[1]), self._carry_in(inst, t))
        return self.b.ins_isub(self.val(inst.args[0]), rhs)

    @handles("isub_bout")
    def op_isub_bout(self, inst: Inst):
        """The 2022 interpreter's borrow: x < y, signed."""
        x, y = self.val(inst.args[0]), self.val(inst.args[1])
        return [self.b.ins_isub(x, y), self.b.ins_icmp(intcc("slt"), x, y)]

    @handles("isub_borrow")
    def op_isub_borrow(self, inst: Inst):
        t = self.ctrl_type(inst)
        x = self.val(inst.args[0])
        rhs = self.b.ins_iadd(self.val(inst.args[1]), self._carry_in(inst, t))
        return [self.b.ins_isub(x, rhs), self.b.ins_icmp(intcc("slt"), x, rhs)]

    def _select_lanes(self, t: Type, cond, x, y):
        """Lane-wise cond ? x : y, cond the result of an fcmp or icmp on t's shape."""
        if t.is_scalar:
            return self.b.ins_select(cond, x, y)
        if t.is_float:
            cond = self.b.ins_bitcast(cl_type(t), cl.MemFlags(), cond)
        return self.b.ins_bitselect(cond, x, y)

    @handles("fmin_pseudo", "fmax_pseudo")
    def op_fmin_pseudo(self, inst: Inst):
        """Wasm pmin/pmax: b < a ? b : a and a < b ? b : a (a NaN operand gives a)."""
        t = self.ctrl_type(inst)
        a, b = self.val(inst.args[0]), self.val(inst.args[1])
        lhs, rhs = (b, a) if inst.opcode.name == "fmin_pseudo" else (a, b)
        return self._select_lanes(t, self.b.ins_fcmp(floatcc("lt"), lhs, rhs), b, a)

    def _nonzero_lanes(self, t: Type, v):
        """All-ones lanes where v's lane is non-zero (t an integer vector)."""
        zero = self.b.ins_splat(cl_type(t), self.iconst(t.lane_type, 0))
        return self.b.ins_icmp(intcc("ne"), v, zero)

    @handles("vselect")
    def op_vselect(self, inst: Inst):
        t = self.ctrl_type(inst)
        c = self.val(inst.args[0])
        cond = self._nonzero_lanes(self.vtype(inst.args[0]), c)
        return self._select_lanes(t, cond, self.val(inst.args[1]), self.val(inst.args[2]))

    @handles("bmask")
    def op_bmask(self, inst: Inst):
        src, dst = self.vtype(inst.args[0]), self.vtype(inst.results[0])
        if src.is_scalar:
            return self._generic(inst)
        if src != dst:
            raise self.fail(f"bmask from {src} to {dst}: only same-shape vector masks are lowered")
        return self._nonzero_lanes(src, self.val(inst.args[0]))

    @handles("fcvt_low_from_sint")
    def op_fcvt_low_from_sint(self, inst: Inst):
        wide = self.b.ins_swiden_low(self.val(inst.args[0]))
        return self.b.ins_fcvt_from_sint(cl.Type.F64X2, wide)

    @handles("widening_pairwise_dot_product_s")
    def op_widening_pairwise_dot_product_s(self, inst: Inst):
        x, y = self.val(inst.args[0]), self.val(inst.args[1])
        lo = self.b.ins_imul(self.b.ins_swiden_low(x), self.b.ins_swiden_low(y))
        hi = self.b.ins_imul(self.b.ins_swiden_high(x), self.b.ins_swiden_high(y))
        return self.b.ins_iadd_pairwise(lo, hi)

    @handles("null")
    def op_null(self, inst: Inst):
        return self.iconst(self.ctrl_type(inst), 0)

    @handles("is_null")
    def op_is_null(self, inst: Inst):
        return self.b.ins_icmp_imm(intcc("eq"), self.val(inst.args[0]), 0)

    @handles("is_invalid")
    def op_is_invalid(self, inst: Inst):
        return self.b.ins_icmp_imm(intcc("eq"), self.val(inst.args[0]), -1)

    @handles("blendv")
    def op_blendv(self, inst: Inst):
        """0.121's name for x86_blendv, which the 0.120 binding builds."""
        return self._generic(inst, "x86_blendv")

    @handles("return")
    def op_return(self, inst: Inst):
        self.b.ins_return([self.val(a) for a in inst.args])

    @handles("trap")
    def op_trap(self, inst: Inst):
        self.report.checks.append(Check("trap", inst.code))
        b = self.b
        b.ins_jump(self.trap_block(inst.code), [])

    @handles("trapz")
    def op_trapz(self, inst: Inst):
        self.trap_unless(self.val(inst.args[0]), inst.code, "trapz")

    @handles("trapnz")
    def op_trapnz(self, inst: Inst):
        self.trap_if(self.val(inst.args[0]), inst.code, "trapnz")

    @handles("debugtrap")
    def op_debugtrap(self, inst: Inst):
        self.b.ins_debugtrap()

    @handles("nop")
    def op_nop(self, inst: Inst):
        return None

    @handles("sequence_point")
    def op_sequence_point(self, inst: Inst):
        # Cranelift 0.120 has no sequence_point; it only pins debug tags and stops code motion,
        # neither of which changes what a run line computes.
        self.report.workarounds.add("sequence_point dropped")
        return None

    # -- constants ------------------------------------------------------------------------------

    @handles("iconst")
    def op_iconst(self, inst: Inst):
        t = inst.ctrl_type or self.ctrl_type(inst)
        # (`iconst`, inline: a tenth of a program's instructions)
        return self.b.ins_iconst(_CL_TYPES.get(t) or cl_type(t), imm_at(int(inst.imm), t.bits))

    def float_bits(self, t: Type, bits: int):
        """A float constant of type `t` from its bit pattern (the binding's float constants take a
        float, which cannot carry every NaN's bits)."""
        types = _FLOAT_BITS.get(t) or _float_bits_types(t)
        b = self.b
        return b.ins_bitcast(types[0], cl_memflags(None), b.ins_iconst(types[1], imm_at(bits, types[2])))

    @handles("f16const")
    def op_f16const(self, inst: Inst):
        self.report.workarounds.add("f16const as bitcast of iconst")
        return self.float_bits(self.vtype(inst.results[0]), int(inst.imm))

    @handles("f32const")
    def op_f32const(self, inst: Inst):
        return self.float_bits(self.vtype(inst.results[0]), int(inst.imm))

    @handles("f64const")
    def op_f64const(self, inst: Inst):
        return self.float_bits(self.vtype(inst.results[0]), int(inst.imm))

    # -- stack slots ------------------------------------------------------------------------------

    def _slot(self, inst: Inst):
        slot = self.stack_slots.get(inst.stack_slot)
        if slot is None:
            raise self.fail(f"ss{inst.stack_slot} is not declared")
        return slot

    def _over_aligned_base(self, inst: Inst):
        """The address of an over-aligned slot: its allocation's address rounded up to the
        alignment the slot declares (None for a slot the frame aligns itself)."""
        align = self.over_aligned.get(inst.stack_slot)
        if align is None:
            return None
        raw = self.b.ins_stack_addr(self.ptr_type, self._slot(inst), 0)
        return self.b.ins_band_imm(self.b.ins_iadd_imm(raw, align - 1), -align)

    @handles("stack_load")
    def op_stack_load(self, inst: Inst):
        ty = cl_type(self.vtype(inst.results[0]))
        base = self._over_aligned_base(inst)
        if base is not None:
            return self.b.ins_load(ty, cl_memflags(None, trusted=True), base, inst.offset or 0)
        return self.b.ins_stack_load(ty, self._slot(inst), inst.offset or 0)

    @handles("stack_store")
    def op_stack_store(self, inst: Inst):
        base = self._over_aligned_base(inst)
        if base is not None:
            self.b.ins_store(cl_memflags(None, trusted=True), self.val(inst.args[0]), base, inst.offset or 0)
            return
        self.b.ins_stack_store(self.val(inst.args[0]), self._slot(inst), inst.offset or 0)

    @handles("stack_addr")
    def op_stack_addr(self, inst: Inst):
        t = self.vtype(inst.results[0])
        base = self._over_aligned_base(inst)
        if base is None:
            return self.b.ins_stack_addr(cl_type(t), self._slot(inst), inst.offset or 0)
        addr = self.b.ins_iadd_imm(base, inst.offset or 0)
        return addr if t.bits >= self.ctx.pointer.bits else self.b.ins_ireduce(cl_type(t), addr)


HANDLERS.collect(CallLowering)
HANDLERS.collect(FunctionLowering)
