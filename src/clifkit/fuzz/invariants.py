"""Static checks of the generator's invariants, for programs it did not write itself.

The reducer edits programs; an edit can break an invariant the generator kept
(say, delete the canonicalisation of a NaN before a bitcast) and so turn the
original disagreement into an artefact that a named rule would explain. When
the original file keeps an invariant, the reducer rejects candidates that
break it.

`nan_leaks` checks rule ``nan-bits``: a float value that may carry a NaN whose
bits the hardware chooses (the result of float arithmetic, or a value moved
from one) must not reach a use that observes its bits (bitcast, bitwise ops,
stores, fcopysign's sign, vhigh_bits, call arguments, return values) unless it
went through the canonicalisation pattern::

    c = fcmp uno v, v            ;  m = fcmp uno v, v ; c = bitcast m
    r = select c, NAN, v         ;  r = bitselect c, NAN, v

with NAN the canonical NaN constant.

`wide_load_hazards` checks rule ``cranelift-bug``'s load widening: no scalar
float load feeds ``fcmp`` or ``fcopysign`` directly.

`uninit_stack_reads` checks rule ``uninit-stack``: every byte of a stack slot that is read was
written earlier in the entry block (native stack memory starts with garbage, the interpreter's
with zeros).
"""

from __future__ import annotations

from ..ir.function import Function, Inst, TestFile
from ..ir.opcodes import OPCODES, TYPEVARS
from ..reader.directives import fill
from ..reader.fields import KEYS
from .specs import FLOAT_LOADS, SPECS, widens_load

_HEAP_INDEX = TYPEVARS["HeapIndex"]

_EXACT = {name for name, spec in SPECS.items() if spec.nan == "exact"} | {"fcopysign"}
_ARITH = {name for name, spec in SPECS.items() if spec.nan == "arith"}
_OBSERVE_ALL = {name for name, spec in SPECS.items() if spec.nan == "observe"} - {"bitselect"}
# Instructions that write values to memory (the table's stores that move a value).
_STORES = {op.name for op in OPCODES.values() if op.can_store and op.access is not None}
_CANON = {32: 0x7FC0_0000, 64: 0x7FF8_0000_0000_0000}


def _is_float(func: Function, v: int) -> bool:
    t = func.value_types.get(v)
    return t is not None and t.lane_type.is_float


def _definitions(func: Function) -> dict[int, Inst]:
    return {r: inst for inst in func.instructions() for r in inst.results}


def _is_canon_nan(inst: Inst | None, func: Function) -> bool:
    if inst is None:
        return False
    name = inst.opcode.name
    if name in ("f32const", "f64const"):
        return inst.imm == _CANON.get(32 if name == "f32const" else 64)
    if name == "vconst" and isinstance(inst.imm, (bytes, bytearray)):
        t = func.value_types[inst.results[0]]
        want = _CANON.get(t.lane_bits)
        n = t.lane_bits // 8
        if want is None or not t.lane_type.is_float:
            return False
        return all(int.from_bytes(inst.imm[i : i + n], "little") == want for i in range(0, len(inst.imm), n))
    return False


def _is_uno_of(inst: Inst | None, v: int, defs: dict[int, Inst]) -> bool:
    if inst is not None and inst.opcode.name == "bitcast":
        inst = defs.get(inst.args[0])
    return inst is not None and inst.opcode.name == "fcmp" and inst.cond == "uno" and inst.args == [v, v]


def _canonicalises(inst: Inst, defs: dict[int, Inst], func: Function) -> bool:
    """Is `inst` `select/bitselect (fcmp uno v, v), NAN, v`?"""
    if inst.opcode.name not in ("select", "bitselect") or len(inst.args) != 3:
        return False
    c, nan, v = inst.args
    return _is_uno_of(defs.get(c), v, defs) and _is_canon_nan(defs.get(nan), func)


def function_leaks(func: Function) -> list[str]:
    defs = _definitions(func)
    tainted: set[int] = set()
    # Taint, to a fixed point (block parameters take their arguments' taint).
    changed = True
    while changed:
        changed = False
        for inst in func.instructions():
            name = inst.opcode.name
            new: list[int] = []
            if name in _ARITH:
                new = [r for r in inst.results if _is_float(func, r)]
            elif name in _EXACT and not _canonicalises(inst, defs, func):
                args = inst.args[:1] if name == "fcopysign" else inst.args
                if any(a in tainted for a in args):
                    new = [r for r in inst.results if _is_float(func, r)]
            for bc in inst.branch_targets():
                block = func.blocks.get(bc.block)
                if block is None:
                    continue
                for p, a in zip(block.params, bc.args):
                    if isinstance(a, int) and a in tainted:
                        new.append(p)
            for v in new:
                if v not in tainted:
                    tainted.add(v)
                    changed = True
    leaks = []
    for inst in func.instructions():
        name = inst.opcode.name
        if name in _OBSERVE_ALL or name == "bitcast":
            observed = inst.args
        elif name == "bitselect":
            observed = [] if _canonicalises(inst, defs, func) else inst.args
        elif name == "fcopysign":
            observed = inst.args[1:]
        elif name in _STORES:  # the values it writes (and atomic_cas compares): not the address or heap index
            op = inst.opcode
            observed = [a for i, a in enumerate(inst.args) if i != op.addr and op.ins[i].typevar is not _HEAP_INDEX]
        elif inst.opcode.is_call or (inst.opcode.is_return and not inst.opcode.is_call):
            observed = inst.args
        else:
            continue
        for a in observed:
            if a in tainted:
                leaks.append(f"{func.name}: v{a} may be a NaN with hardware-chosen bits, and {name} observes them")
    return leaks


def nan_leaks(tf: TestFile) -> list[str]:
    """Where a possibly non-canonical NaN reaches a use that observes its bits (rule nan-bits)."""
    out: list[str] = []
    for d in tf.functions:
        out.extend(function_leaks(d.function))
    return out




def wide_load_hazards(tf: TestFile) -> list[str]:
    """Where a scalar float comes straight from a load into fcmp, fcopysign or splat.f64x2:
    Cranelift 0.120's x64 backend then loads 16 bytes instead of 4 or 8, which faults at the end
    of a mapping (rule cranelift-bug)."""
    out: list[str] = []
    for d in tf.functions:
        func = d.function
        defs = _definitions(func)
        for inst in func.instructions():
            if not widens_load(inst.opcode.name, inst.ctrl_type):
                continue
            for a in inst.args:
                t = func.value_types.get(a)
                src = defs.get(a)
                if t is not None and t.is_float and not t.is_vector and src is not None \
                        and src.opcode.name in FLOAT_LOADS:
                    out.append(f"{func.name}: v{a} is loaded straight into {inst.opcode.name}")
    return out


# A plain scalar load's address (not an atomic's) or a call's argument.
_ADDRESS_USES = {op.name for op in OPCODES.values()
                 if op.addr is not None and op.flags & {"load", "store", "side_effects"} == {"load"}
                 and op.access.lanes == 1} | {"call", "call_indirect", "return_call", "return_call_indirect"}


def _vmctx_value_leaks(func: Function) -> list[str]:
    """Uses of the vmctx parameter other than as a load's address or a call's argument."""
    entry = func.entry
    params = func.signature.params
    if entry is None or not params or params[0].purpose != "vmctx" or not entry.params:
        return []
    vmctx = entry.params[0]
    out = []
    for inst in func.instructions():
        uses = [a for a in inst.args if a == vmctx]
        for bc in inst.branch_targets():
            uses += [a for a in bc.args if a == vmctx]
        if not uses:
            continue
        name = inst.opcode.name
        if name in _ADDRESS_USES and ("call" in name or (inst.args[0] == vmctx and inst.args.count(vmctx) == 1)):
            continue
        out.append(f"{func.name}: vmctx (an address) is used by {name}")
    return out


def vmctx_address_reads(tf: TestFile) -> list[str]:
    """Where the vmctx parameter is used as a value (not an address), or a heap over vmctx (``heapN = static gv0`` with ``gv0 = vmctx``) is read at an index
    that is not a constant, or whose bytes overlap a heap's or table's base slot: those hold
    addresses, which differ between engines (rule address-leak)."""
    slots: set[int] = set()
    for d in tf.functions:
        for directive in d.directives:
            if directive.kind in KEYS and fill(directive).error is None:  # as the reader read it
                slots.update(v for k, v in directive.parsed.values.items() if k == "ptr")
    out: list[str] = []
    for d in tf.functions:
        func = d.function
        out.extend(_vmctx_value_leaks(func))
        over_vmctx = {n for n, h in func.heaps.items()
                      if func.global_values.get(h.base) is not None and func.global_values[h.base].kind == "vmctx"}
        if not over_vmctx:
            continue
        defs = _definitions(func)
        for inst in func.instructions():
            name = inst.opcode.name
            if "heap" not in inst.opcode.format.immediates or inst.heap not in over_vmctx:
                continue
            src = defs.get(inst.args[0])
            if src is None or src.opcode.name != "iconst":
                out.append(f"{func.name}: heap{inst.heap} (over vmctx) is accessed at a computed index")
                continue
            index = src.imm & ((1 << func.value_types[inst.args[0]].bits) - 1)
            offset = getattr(inst, "offset", 0) or 0
            size = getattr(inst, "size", None) or (func.value_types[inst.results[0]].bytes if inst.results and
                                                   name == "heap_load" else 8)
            start = index + offset
            if any(start < slot + 8 and slot < start + size for slot in slots):
                out.append(f"{func.name}: heap{inst.heap} (over vmctx) reads the base slot at vmctx+{start}")
    return out


def _stack_access(inst: Inst, func: Function, slot_addrs: dict[int, tuple[int, int]]):
    """(slot, first byte, size) of the stack bytes `inst` loads or stores, or None."""
    op = inst.opcode
    if op.access is None:
        return None
    if op.name in ("stack_load", "stack_store"):
        slot, start = inst.stack_slot, inst.offset or 0
    elif op.addr is not None and inst.args[op.addr] in slot_addrs:
        slot, base = slot_addrs[inst.args[op.addr]]
        start = base + (inst.offset or 0)
    else:
        return None
    value = inst.results[0] if "load" in op.flags else inst.args[0]
    return slot, start, op.access.size(func.value_types[value])


def _function_uninit_reads(func: Function) -> list[str]:
    if not func.stack_slots or func.entry is None:
        return []
    slot_addrs = {inst.results[0]: (inst.stack_slot, inst.offset or 0)
                  for inst in func.instructions() if inst.opcode.name == "stack_addr"}
    written: dict[int, set[int]] = {slot: set() for slot in func.stack_slots}
    out: list[str] = []

    def read(slot: int, start: int, size: int, inst: Inst) -> None:
        missing = set(range(start, start + size)) - written.get(slot, set())
        if missing:
            out.append(f"{func.name}: {inst.opcode.name} reads ss{slot}+{min(missing)} before the entry block "
                       "writes it")

    for block in func.blocks.values():
        in_entry = block is func.entry
        for inst in block.insts:
            access = _stack_access(inst, func, slot_addrs)
            escaped = dict.fromkeys(a for i, a in enumerate(inst.args) if a in slot_addrs
                                    and (access is None or i != inst.opcode.addr))
            for a in escaped:  # an address used otherwise than as an access's: the whole slot may be read
                slot = slot_addrs[a][0]
                read(slot, 0, func.stack_slots[slot].size, inst)
            if access is None:
                continue
            if "load" in inst.opcode.flags:
                read(*access, inst)
            if "store" in inst.opcode.flags and in_entry:  # (only the entry block's stores dominate every read)
                slot, start, size = access
                written.setdefault(slot, set()).update(range(start, start + size))
    return out


def uninit_stack_reads(tf: TestFile) -> list[str]:
    """Where a stack slot's byte is read before the entry block has written it (rule uninit-stack)."""
    out: list[str] = []
    for d in tf.functions:
        out.extend(_function_uninit_reads(d.function))
    return out
