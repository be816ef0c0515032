"""Lower on the host, replay in the emulated worker.

Under QEMU every Python instruction the worker runs is emulated, and
clifkit's lowering (`translate.py`, `legalize.py`, ...) is mostly Python. So
for an emulated target the harness lowers the file itself (`lower_for_worker`,
at native speed) against a `Recorder`: a stand-in for the binding's
``FunctionBuilder`` that forwards every call to a real (host) builder, so that
everything the lowering reads back (results, block parameters) and every error
the binding raises is the binding's own, and writes the call down. The worker
replays the calls against its own binding in a tight loop (`replay_unit`) and
compiles the builders as before (`lower.compile_lowered`). Cranelift's
``FunctionBuilder`` does not depend on the target (the ISA is only chosen when
the module compiles), and both sides run the same cranelift-py release.

What the recording holds (plain data, pickled in the load message, key
``"lowered"``, `protocol.py`):

- ``consts``: every argument that is not an entity the builder made: ints,
  strings, types, memory flags, condition codes, trap codes, conventions,
  signatures, empty lists, and addresses in the worker's memory, which the
  host does not know (`hostdata.Address`: function-table slots, constants,
  host symbols, libcalls; resolved by the worker: `Resolver`);
- ``methods``: the builder methods called, by name;
- ``units``: per function, and per trampoline (one per signature: `trampoline_key`), its calls
  ``(method, out, args)``: ``args`` index one list of objects (the consts
  first, then every call's result); ``out`` is where the call's result goes
  (-1: nowhere; ``-2 - i``: a list of results from index i on).

The target's facts the lowering depends on (byte order, pointer width,
calling convention, frame alignment, vector widths, which host symbols exist)
come from the worker's ``hello`` reply (`target_context`); ISA flags only
matter when Cranelift compiles, in the worker.
"""

from __future__ import annotations

import functools
from typing import Optional

import cranelift as cl

from . import basics
from .basics import gc_paused
from .hostdata import Address, FunctionTable, SymbolicMemory

# The builder's entity references: the worker's builder numbers them exactly as the host's does.
ENTITIES = tuple(getattr(cl, n) for n in ("Value", "Block", "Inst", "StackSlot", "SigRef", "FuncRef", "JumpTable",
                                          "DynamicStackSlot") if hasattr(cl, n))
_ENTITY_SET = frozenset(ENTITIES)
_LITERALS = frozenset({int, bool, str, float, type(None), bytes})
# Arguments a unit looks up by value: entities, and the most frequent consts (not bools: True == 1).
_KNOWN = _ENTITY_SET | {int, str, cl.Type}

# Calls that are not builder methods.
NEW_BUILDER, SET_SIGNATURE, MAKE_LIST, MAKE_TUPLE = "@builder", "@signature", "@list", "@tuple"


# -- the host side ------------------------------------------------------------------------------


class Recording:
    """The calls of one module's lowering: consts, methods and units (see the module docstring)."""

    def __init__(self) -> None:
        self.consts: list = []
        self._const_index: dict = {}
        self.methods: list[str] = []
        self._method_index: dict[str, int] = {}
        self.units: list[tuple[list, int]] = []  # (calls, number of results)

    def method(self, name: str) -> int:
        found = self._method_index.get(name)
        if found is None:
            found = self._method_index[name] = len(self.methods)
            self.methods.append(name)
        return found

    def const(self, x) -> int:
        """The reference of a constant argument: -1 - its index in `consts`."""
        t = type(x)
        if t in _LITERALS:
            key = (t, x)
            spec: tuple = ("lit", x)
        elif t is Address:
            key = spec = ("addr", x.symbol, x.offset)
        elif t is cl.Type:
            key = spec = ("type", str(x))
        elif t is cl.MemFlags:
            key = spec = ("memflags",) + memflags_spec(x)
        elif t is cl.Signature:
            key = spec = signature_spec(x)
        elif t is cl.TrapCode:
            key = spec = ("trapcode", str(x))
        elif t is cl.CallConv:
            key = spec = ("conv", str(x))
        elif t.__name__ in ("IntCC", "FloatCC", "AtomicRmwOp"):
            key = spec = ("enum", t.__name__, str(x))
        elif (t is list or t is tuple) and not x:
            key = spec = ("empty", t.__name__)
        else:
            raise TypeError(f"cannot record a {t.__name__} argument for replay")
        found = self._const_index.get(key)
        if found is None:
            found = self._const_index[key] = -1 - len(self.consts)
            self.consts.append(spec)
        return found

    def payload(self, keep: list[int]) -> dict:
        """The recording as plain data, with units `keep` (indices into `units`) in that order."""
        return {"consts": self.consts, "methods": self.methods, "units": [self.units[u] for u in keep]}


class Recorder:
    """A FunctionBuilder that records its calls into a `Recording` unit (and makes them on a real
    builder of this process, whose answers the lowering reads).

    A unit's objects are numbered from 0 (the builder) in the order its calls make them; a
    reference to a const is negative (-1 - its index), so that the worker can keep the consts,
    reversed, at the end of the unit's list of objects and index both alike."""

    def __init__(self, recording: Recording) -> None:
        object.__setattr__(self, "_b", cl.FunctionBuilder())
        object.__setattr__(self, "_rec", recording)
        object.__setattr__(self, "_calls", [(recording.method(NEW_BUILDER), 0, ())])
        object.__setattr__(self, "_refs", {})  # entity -> its number; int, type or str -> its const
        object.__setattr__(self, "_count", 1)  # object 0 is the builder itself
        recording.units.append((self._calls, 0))
        object.__setattr__(self, "_unit", len(recording.units) - 1)

    def finish(self) -> int:
        """The unit's index in the recording."""
        self._rec.units[self._unit] = (self._calls, self._count)
        return self._unit

    def __setattr__(self, name: str, value) -> None:
        if name != "func_signature":
            raise AttributeError(f"the recording builder cannot set {name}")
        self._call(self._rec.method(SET_SIGNATURE), lambda v: setattr(self._b, name, v), value)

    def __getattr__(self, name: str):
        call = functools.partial(self._call, self._rec.method(name), getattr(self._b, name))
        object.__setattr__(self, name, call)  # found directly next time
        return call

    def ins_iconst(self, ty, imm):
        """``ins_iconst``, whose immediate may be an address in the worker (`hostdata.Address`)."""
        if type(imm) is Address:
            return self._call(self._rec.method("ins_iconst"), lambda t, _a: self._b.ins_iconst(t, 0), ty, imm)
        return self._call(self._rec.method("ins_iconst"), self._b.ins_iconst, ty, imm)

    def _ref(self, x) -> int:
        t = type(x)
        if t in _KNOWN:
            found = self._refs.get(x)
            if found is None:
                if t in _ENTITY_SET:
                    raise ValueError(f"{x} was not made by this builder")
                found = self._refs[x] = self._rec.const(x)
            return found
        if (t is list or t is tuple) and x:
            refs = list(map(self._ref, x))
            out = self._count
            object.__setattr__(self, "_count", out + 1)
            self._calls.append((self._rec.method(MAKE_LIST if t is list else MAKE_TUPLE), out, refs))
            return out
        return self._rec.const(x)

    def _call(self, method: int, fn, *args):
        refs = [0]
        known = self._refs
        for a in args:  # (the common cases inline: this runs for every call the lowering makes)
            r = known.get(a) if type(a) in _KNOWN else None
            refs.append(self._ref(a) if r is None else r)
        result = fn(*args)
        t = type(result)
        n = self._count
        if t in _ENTITY_SET:
            known[result] = n
            out = n
            n += 1
        elif (t is list or t is tuple) and result and type(result[0]) in _ENTITY_SET:
            out = -2 - n
            for r in result:
                known[r] = n
                n += 1
        else:
            out = -1
        object.__setattr__(self, "_count", n)
        self._calls.append((method, out, refs))
        return result


def memflags_spec(mf) -> tuple:
    """What a binding MemFlags holds: (trap code name or None, flag words, byte order, region)."""
    code = mf.trap_code()
    words = tuple(w for w in ("aligned", "readonly", "can_move", "checked") if getattr(mf, w)())
    order = mf.explicit_endianness()
    region = mf.alias_region()
    return (None if code is None else str(code), words, None if order is None else str(order).lower(),
            None if region is None else str(region).lower())


def signature_spec(sig) -> tuple:
    found = (basics.SIGNATURE_SPECS or {}).get(id(sig))
    if found is None or found[0] is not sig:
        raise TypeError("a Signature built without translate.new_signature cannot be recorded")
    _, conv, params, returns = found
    return ("sig", str(conv), tuple(str(p) for p in params), tuple(str(r) for r in returns))


def target_context(info: dict, triple: str):
    """A `translate.ModuleContext` of the worker `info` describes (its ``hello`` reply) for a
    lowering in this process: the target's facts, addresses named (`hostdata.Address`)."""
    from ..ir.types import Type
    from .lower import target_facts
    from .translate import ModuleContext

    return ModuleContext(pointer=Type.get("i", 8 * info["pointer_bytes"]), function_slots={},
                         host_symbols={name: Address(("symbol", name)) for name in info["host_symbols"]},
                         memory=SymbolicMemory(), byteorder=info["byteorder"], symbolic=True,
                         **target_facts(triple))


def lower_for_worker(functions: list, info: dict, triple: str) -> dict:
    """Lower `functions` here for the worker `info` describes: the ``"lowered"`` part of a load
    message. Per function: its name, signature types, the callees its lowering found, and either
    its unit, its trampoline's unit and its signature (a const), or why it cannot be lowered."""
    with gc_paused():
        return _lower_for_worker(functions, info, triple)


def _lower_for_worker(functions: list, info: dict, triple: str) -> dict:
    from dataclasses import replace

    from . import translate
    from .lower import failure_of
    from .trampoline import build_trampoline, trampoline_key

    ctx = target_context(info, triple)
    table = FunctionTable(ctx.memory, [f.name for f in functions])
    ctx = replace(ctx, function_slots={f.name: table.slot(f.name) for f in functions})
    rec = Recording()
    keep: list[int] = []
    entries = []
    trampolines: dict[str, tuple] = {}  # trampoline_key -> (its unit's index, or why it failed)
    saved, basics.SIGNATURE_SPECS = basics.SIGNATURE_SPECS, {}
    try:
        for func in functions:
            entry = {"name": func.name, "params": [str(p.type) for p in func.signature.params],
                     "returns": [str(r.type) for r in func.signature.returns], "callees": [], "reason": None}
            entries.append(entry)
            try:
                sig = translate.cl_signature(func.signature, ctx.default_conv)
            except translate.NativeUnsupported as e:
                entry["reason"] = e.reason
                continue
            recorder = Recorder(rec)
            lowering = translate.FunctionLowering(ctx, func, builder=recorder)
            entry["reason"] = failure_of(lowering.run)
            entry["callees"] = sorted(lowering.report.callees)
            if entry["reason"] is not None:
                continue
            # One trampoline per signature (`trampoline.py`): recorded once for the file.
            key = trampoline_key(func)
            if key not in trampolines:
                tramp = Recorder(rec)
                why = failure_of(lambda: build_trampoline(ctx, func, tramp))
                trampolines[key] = (None, why) if why is not None else (len(keep), None)
                if why is None:
                    keep.append(tramp.finish())
            unit, why = trampolines[key]
            if why is not None:
                entry["reason"] = f"its trampoline: {why}"
                continue
            entry["signature"] = rec.const(sig)
            entry["body"] = len(keep)
            keep.append(recorder.finish())
            entry["trampoline"], entry["tramp_key"] = unit, key
    finally:
        basics.SIGNATURE_SPECS = saved
    out = rec.payload(keep)
    out["functions"] = entries
    return out


# -- the worker side ----------------------------------------------------------------------------


class Resolver:
    """The worker's addresses for the names of a recording (`hostdata.Address` symbols)."""

    def __init__(self, memory, table, host_symbols: dict):
        self.memory, self.table, self.host_symbols = memory, table, host_symbols

    def __call__(self, symbol: tuple) -> int:
        kind = symbol[0]
        if kind == "table":
            return self.table.base
        if kind == "const":
            return self.memory.constant(symbol[1])
        if kind == "symbol":
            return self.host_symbols[symbol[1]]
        if kind == "libcall":
            from .calls import libcall_address

            found = libcall_address(symbol[1])
            if found is None:
                raise LookupError(f"func_addr: the address of libcall {symbol[1]} is not available in this process")
            return found
        raise ValueError(f"unknown address symbol {symbol!r}")


def _memflags(code: Optional[str], words: tuple, order: Optional[str], region: Optional[str]):
    mf = cl.MemFlags()
    if code is None:
        mf.set_notrap()
    elif code != "heap_oob":  # the default trap code of MemFlags()
        mf.set_by_name(code)
    for word in words:
        mf.set_by_name(word)
    if order is not None:
        mf.set_by_name(order)
    if region is not None:
        mf.set_by_name(region)
    return mf


def _trap_code(name: str):
    return basics.native_trap_code(name) if not name.startswith("user") else cl.TrapCode(int(name[4:]))


def materialize(spec: tuple, resolve):
    """The object a const of a recording stands for, in this process."""
    kind = spec[0]
    if kind == "lit":
        return spec[1]
    if kind == "type":
        return getattr(cl.Type, spec[1])
    if kind == "addr":
        return basics.signed64(resolve(spec[1]) + spec[2])
    if kind == "memflags":
        return _memflags(*spec[1:])
    if kind == "sig":
        conv = getattr(cl.CallConv, spec[1])
        out = cl.Signature(conv)
        for p in spec[2]:
            out.add_param(getattr(cl.Type, p))
        for r in spec[3]:
            out.add_return(getattr(cl.Type, r))
        return out
    if kind == "trapcode":
        return _trap_code(spec[1])
    if kind == "conv":
        return getattr(cl.CallConv, spec[1])
    if kind == "enum":
        from .compat import binding_type

        return getattr(binding_type(spec[1]), spec[2])
    if kind == "empty":
        return [] if spec[1] == "list" else ()
    raise ValueError(f"unknown recorded constant {spec!r}")


def _set_signature(b, sig) -> None:
    b.func_signature = sig


_PSEUDO = {NEW_BUILDER: cl.FunctionBuilder, SET_SIGNATURE: _set_signature,
           MAKE_LIST: lambda *xs: list(xs), MAKE_TUPLE: lambda *xs: xs}


class Replay:
    """A recording (`lower_for_worker`'s payload) in the worker: its consts and methods."""

    def __init__(self, payload: dict, resolve):
        consts = []
        self.failed: dict[int, str] = {}  # const reference -> why it cannot be made (an address not found)
        for i, spec in enumerate(payload["consts"]):
            try:
                consts.append(materialize(spec, resolve))
            except LookupError as e:
                consts.append(None)
                self.failed[-1 - i] = str(e).strip("'\"")
        consts.reverse()  # const reference -1 - i is the object at -1 - i
        self.consts = consts
        self.methods = [_PSEUDO.get(m) or getattr(cl.FunctionBuilder, m) for m in payload["methods"]]
        self.units = payload["units"]

    def const(self, ref: int):
        return self.consts[ref]

    def unit(self, u: int):
        """Replay unit `u`: its finalized builder."""
        calls, count = self.units[u]
        if self.failed:
            for _, _, args in calls:
                for a in args:
                    if a in self.failed:
                        raise basics.NativeUnsupported(self.failed[a])
        methods = self.methods
        o = [None] * count + self.consts
        get = o.__getitem__
        for m, out, args in calls:
            r = methods[m](*map(get, args))
            if out >= 0:
                o[out] = r
            elif out != -1:
                start = -2 - out
                o[start : start + len(r)] = r
        return o[0]
