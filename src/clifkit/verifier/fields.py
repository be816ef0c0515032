"""Checks of instructions by the immediate fields their format declares (`FIELD_CHECKS`), and
of the blocks a branch names: loaded by `insts.InstChecks.check_inst` at the first
instruction with an immediate field."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from ..ir.function import BlockCall, Inst, Signature
from ..ir.try_call import TryCallExn, TryCallRet
from ..ir.immediates import ATOMIC_RMW_OPS, FLOATCC, INTCC, parse_trap_code
from ..ir.memflags import MemFlags
from ..ir.types import I32, Type
from .common import EXCEPTION_CALL_CONVS, NO_EXCEPTION_PAYLOADS, fits, plural, sig_text

if TYPE_CHECKING:
    from .core import FunctionVerifier


def check_block_ref(v: "FunctionVerifier", inst: Inst, number: int, loc) -> bool:
    """A block an instruction names must exist and not be the entry block (Cranelift's
    `verify_block`). False when it does not exist."""
    if number not in v.func.blocks:
        v.report(loc, f"invalid block reference block{number}: {inst.opcode.name} names block{number}, "
                      f"which the function does not define")
        return False
    if number == v.entry:
        v.report(loc, f"invalid reference to entry block block{number}: "
                      f"{inst.opcode.name} to the entry block block{number}")
    return True


def check_block_call(v: "FunctionVerifier", inst: Inst, bc: BlockCall, kind: str, sig: Optional[Signature], loc) -> None:
    """`kind` is "normal", "return" (a try_call's normal return) or "exception"."""
    func = v.func
    if not check_block_ref(v, inst, bc.block, loc):
        return
    target = func.blocks[bc.block]
    if len(bc.args) != len(target.params):
        from ..printer import display_inst

        v.report(loc, f"mismatched argument count for `{display_inst(inst, v.func)}`: got {len(bc.args)}, "
                      f"expected {len(target.params)}: block{bc.block} takes "
                      f"{plural(len(target.params), 'argument')}, but {plural(len(bc.args), 'is', 'are')} passed")
        return
    for i, (a, p) in enumerate(zip(bc.args, target.params)):
        want = func.value_types.get(p)
        if isinstance(a, (TryCallRet, TryCallExn)):
            types = try_call_value_types(v, a, kind, sig, loc)
        else:
            types = [(f"v{a}", v.type_of(a))]
        for what, t in types:
            if t is not None and want is not None and t is not want:
                v.report(loc, f"arg {what} has type {t}, expected {want}: argument {i} ({what}) to "
                              f"block{bc.block} has type {t}, but its parameter v{p} has type {want}")


def try_call_value_types(v: "FunctionVerifier", a, kind: str, sig: Optional[Signature], loc) -> list:
    """(name, type) of a try_call's ``retN`` or ``exnN`` passed to a block, for each target
    pointer type; none when it is misplaced (reported) or out of range (reported), or when the
    callee's signature is unknown."""
    ret = isinstance(a, TryCallRet)
    word = "retN" if ret else "exnN"
    if kind != ("return" if ret else "exception"):
        place = "the normal-return block" if ret else "an exception handler block"
        # Cranelift says "normal-return target" for both (its words, kept as they are)
        v.report(loc, f"`{word}` block argument used outside normal-return target of `try_call`: "
                      f"{a} can only be passed to {place} of a try_call")
        return []
    if sig is None:
        return []
    if ret:
        count, have = len(sig.returns), f"the callee returns {plural(len(sig.returns), 'value')}"
    else:
        exceptional = sig.call_conv in EXCEPTION_CALL_CONVS and sig.call_conv not in NO_EXCEPTION_PAYLOADS
        count = 2 if exceptional else 0
        have = f"the calling convention {sig.call_conv} has {plural(count, 'exception payload')}"
    if a.index >= count:
        v.report(loc, f"out-of-bounds `{word}` block argument: {a} is out of range: {have}")
        return []
    return [(a, sig.returns[a.index].type)] if ret else [(a, ptr) for _, ptr in v.target.pointers]


# -- checks by immediate field ------------------------------------------------


def _check_dests(v: "FunctionVerifier", inst: Inst, loc, ctrl) -> None:
    for bc in inst.dests or ():
        check_block_call(v, inst, bc, "normal", None, loc)


def _check_jump_table(v: "FunctionVerifier", inst: Inst, loc, ctrl) -> None:
    jt = inst.jump_table
    if jt is not None:
        check_block_call(v, inst, jt.default, "normal", None, loc)
        # A heap-era jump table declared in the preamble (`jt0 = jump_table [...]`) is checked
        # where it is declared, as Cranelift did.
        where = loc if jt.declared is None else v.decl_loc(f"jt{jt.declared}")
        for bc in jt.targets:
            check_block_call(v, inst, bc, "normal", None, where)


def _check_exception(v: "FunctionVerifier", inst: Inst, loc, ctrl) -> None:
    et = inst.exception
    if et is None:
        return
    func = v.func
    sig = func.signatures.get(et.sig_ref)
    if sig is not None:
        if sig.call_conv not in EXCEPTION_CALL_CONVS:
            v.report(loc, f"calling convention `{sig.call_conv}` of callee does not support exceptions: "
                          f"{inst.opcode.name}: the calling convention {sig.call_conv} of sig{et.sig_ref} "
                          f"does not support exceptions")
        if inst.func_ref is not None and inst.func_ref in func.func_refs:
            own = func.func_refs[inst.func_ref].signature
            other = func.signatures.get(own)
            if other is not None and (other.params, other.returns, other.call_conv) != (sig.params, sig.returns, sig.call_conv):
                v.report(loc, f"exception table signature sig{et.sig_ref} did not match function fn{inst.func_ref}'s "
                              f"signature sig{own}: "
                              f"{inst.opcode.name}: sig{et.sig_ref} {sig_text(sig.params, sig.returns)} {sig.call_conv} "
                              f"differs from the signature of fn{inst.func_ref}, "
                              f"{sig_text(other.params, other.returns)} {other.call_conv}")
    check_block_call(v, inst, et.normal, "return", sig, loc)
    for _, bc in et.handlers:
        check_block_call(v, inst, bc, "exception", sig, loc)


def _check_handler_block(v: "FunctionVerifier", inst: Inst, loc, ctrl) -> None:
    """get_exception_handler_address: the block must end in a try_call that has handler `imm`
    (Cranelift's `verify_try_call_handler_index`; the first problem found is the only one)."""
    if not check_block_ref(v, inst, inst.block, loc) or inst.block == v.entry:
        return
    index = inst.imm
    if index < 0:
        v.report(loc, f"exception handler index {index} cannot be negative")
        return
    insts = v.func.blocks[inst.block].insts
    if not insts:
        v.report(loc, f"referenced block block{inst.block} does not have a terminator")
        return
    et = insts[-1].exception
    if et is None:
        v.report(loc, f"referenced block block{inst.block} does not end in a try_call")
        return
    if index >= len(et.handlers):
        v.report(loc, f"exception handler index {index} is out-of-range: the try_call ending "
                      f"block{inst.block} has {plural(len(et.handlers), 'handler')}")


def _check_func_ref(v: "FunctionVerifier", inst: Inst, loc, ctrl) -> None:
    data = v.func.func_refs.get(inst.func_ref)
    if data is None:
        v.report(loc, f"unknown function reference fn{inst.func_ref}")
    elif data.patchable and inst.opcode.format.name == "Call":
        _check_patchable_call(v, inst, data, loc)


def _check_patchable_call(v: "FunctionVerifier", inst: Inst, data, loc) -> None:
    """A call of a `patchable` function reference (Cranelift 0.125 on; `verify_callee_patchability`)."""
    fn = f"fn{inst.func_ref}"
    if inst.opcode.is_return:
        v.report(loc, f"patchable funcref cannot be used in a return_call: {fn} is patchable")
    if not data.colocated:
        v.report(loc, f"patchable call to non-colocated function: {fn} is patchable but not colocated")
    sig = v.func.signatures.get(data.signature)
    if sig is not None and sig.returns:
        v.report(loc, f"patchable call cannot occur to a function with return values: "
                      f"{fn} returns {plural(len(sig.returns), 'value')}")


def _check_sig_ref(v: "FunctionVerifier", inst: Inst, loc, ctrl) -> None:
    if inst.sig_ref not in v.func.signatures:
        v.report(loc, f"unknown signature sig{inst.sig_ref}")


def _check_stack_slot(v: "FunctionVerifier", inst: Inst, loc, ctrl) -> None:
    ss = inst.stack_slot
    if inst.opcode.format.name.startswith("Dynamic"):
        if ss not in v.func.dynamic_stack_slots:
            v.report(loc, f"unknown dynamic stack slot dss{ss}")
        return
    if ss not in v.func.stack_slots:
        v.report(loc, f"unknown stack slot ss{ss}")


def _check_global_value(v: "FunctionVerifier", inst: Inst, loc, ctrl) -> None:
    gv = inst.global_value
    if gv not in v.func.global_values:
        v.report(loc, f"unknown global value gv{gv}")
        return
    if not inst.results:
        return
    if not v.target.addresses and v.func.global_values[gv].kind not in ("load", "iadd_imm"):
        return  # pointer-sized: Cranelift checks it only when it verifies for a particular target
    from .preamble import gv_type  # (the function has global values: its preamble was checked)

    t = v.func.value_types.get(inst.results[0])
    for target, ptr in v.target.pointers:
        want = gv_type(v, gv, ptr)
        if t is not None and want is not None and t is not want:
            v.report(loc, f"global_value instruction with type {t} references global value with type {want}: "
                          f"{inst.opcode.name} result v{inst.results[0]} has type {t}, but gv{gv} has type {want}")


def _check_heap(v: "FunctionVerifier", inst: Inst, loc, ctrl) -> None:
    _check_region(v, inst, loc, "heap", v.func.heaps, inst.heap)


def _check_table(v: "FunctionVerifier", inst: Inst, loc, ctrl) -> None:
    _check_region(v, inst, loc, "table", v.func.tables, inst.table)


def _check_region(v: "FunctionVerifier", inst: Inst, loc, kind: str, declared: dict, n: int) -> None:
    """A heap or table access: the `kind` entity `n` is declared, and its index and result fit."""
    data = declared.get(n)
    if data is None:
        v.report(loc, f"unknown {kind} {kind}{n}")
        return
    _check_index_and_result(v, inst, loc, data.index_type or I32, f"{kind}{n}")


def _check_index_and_result(v: "FunctionVerifier", inst: Inst, loc, index_type: Type, entity: str) -> None:
    """Heap and table accesses: operand 0 is the index; an address result is pointer-sized."""
    name = inst.opcode.name
    if inst.args:
        t = v.type_of(inst.args[0])
        if t is not None and t is not index_type:
            v.report(loc, f"{name} index v{inst.args[0]} has type {t}, but {entity} has index type {index_type}")
    for operand, r in zip(inst.opcode.outs, inst.results):
        if operand.typevar is not None and operand.typevar.name == "iAddr":
            t = v.func.value_types.get(r)
            for _, ptr in v.target.pointers:
                if t is not None and t is not ptr:
                    v.report(loc, f"{name} result v{r} has type {t}, which is not the pointer type {ptr}")


def _check_offset(v: "FunctionVerifier", inst: Inst, loc, ctrl) -> None:
    off = inst.offset
    if off is None:
        return
    fmt = inst.opcode.format.name
    if fmt in ("HeapAddr", "HeapLoad", "HeapStore"):
        if not fits(off, 32, signed=False):
            v.report(loc, f"offset {off} does not fit in an unsigned 32-bit offset")
    elif not fits(off, 32, unsigned=False):
        v.report(loc, f"offset {off} does not fit in a signed 32-bit offset")


def _check_size(v: "FunctionVerifier", inst: Inst, loc, ctrl) -> None:
    if inst.size is not None and not fits(inst.size, 8, signed=False):
        v.report(loc, f"access size {inst.size} does not fit in 8 bits")


_BYTE_ORDERS = (MemFlags(), MemFlags(endianness="big"), MemFlags(endianness="little"))  # a bitcast's only flags


def _check_flags(v: "FunctionVerifier", inst: Inst, loc, ctrl) -> None:
    flags = inst.flags
    op = inst.opcode
    if flags is None:
        return
    if op.name == "bitcast":
        if flags not in _BYTE_ORDERS:
            v.report(loc, "The bitcast instruction only accepts the `big` or `little` memory flags: "
                          "bitcast accepts no memory flags but big or little")
        elif flags.endianness is None and ctrl is not None and inst.args:
            t = v.type_of(inst.args[0])
            if t is not None and t.lanes != ctrl.lanes:
                v.report(loc, f"Byte order specifier required for bitcast instruction changing lane count: "
                              f"bitcast from {t} to {ctrl} changes the lane count, so it needs a byte order (big or little)")
        return
    if op.can_store and not op.can_load and flags.readonly:
        v.report(loc, f"A {op.name} instruction cannot have the `readonly` MemFlag: {op.name} cannot have the readonly flag")


def _check_imm(v: "FunctionVerifier", inst: Inst, loc, ctrl) -> None:
    imm = inst.imm
    fmt = inst.opcode.format.name
    name = inst.opcode.name
    if imm is None:
        return
    if fmt == "UnaryImm":
        if ctrl is not None and ctrl.is_int and ctrl.is_scalar and not fits(imm, ctrl.bits):
            v.report(loc, f"{name}.{ctrl} immediate {imm} does not fit in {ctrl.bits} bits")
    elif fmt in ("BinaryImm64", "IntCompareImm"):
        if not fits(imm, 64):
            v.report(loc, f"{name} immediate {imm} does not fit in 64 bits")
    elif fmt in ("BinaryImm8", "TernaryImm8"):
        t = v.type_of(inst.args[0]) if inst.args else None
        if not 0 <= imm <= 255:
            v.report(loc, f"{name} lane index {imm} does not fit in 8 bits")
        elif t is not None and not t.dynamic and imm >= t.lanes:
            v.report(loc, f"The lane {imm} does not index into the type {t}: {name} lane {imm} is out of range "
                          f"for {t}, which has {t.lanes} lane{'s' * (t.lanes > 1)}")
    elif fmt == "UnaryConst":
        want = ctrl.bytes if ctrl is not None else 16 if name == "f128const" else None
        if isinstance(imm, int):
            data = v.func.constants.get(imm)
            if data is None:
                v.report(loc, f"unknown constant const{imm}")
                return
            what = f"const{imm}"
        else:
            data, what = imm, "the constant"
        if want is not None and len(data) != want:
            v.report(loc, f"The instruction expects {what} to have a size of {want} bytes but it has {len(data)}: "
                          f"{name} needs a {want}-byte constant, but {what} has {plural(len(data), 'byte')}")


def _check_mask(v: "FunctionVerifier", inst: Inst, loc, ctrl) -> None:
    mask = inst.mask
    if mask is None:
        return
    if len(mask) != 16:
        v.report(loc, f"shuffle mask has {plural(len(mask), 'byte')}; it needs 16")
    else:
        bad = [i for i in mask if i >= 32]
        if bad and not v.dialect.shuffle_zero_lanes:  # lanes 32-255 gave 0 until March 2023
            # Cranelift's wording first (`test verifier` files match it), then where the old rule is.
            v.report(loc, f"shuffle immediate index {bad[0]} is larger than the maximum 31 (Cranelift before "
                          "March 2023 took 32-255 as a zero lane: --cranelift 2022)")


def _check_cond(v: "FunctionVerifier", inst: Inst, loc, ctrl) -> None:
    valid = FLOATCC if inst.opcode.format.name == "FloatCompare" else INTCC
    if inst.cond not in valid:
        v.report(loc, f"{inst.opcode.name}: unknown condition code {inst.cond}")


def _check_code(v: "FunctionVerifier", inst: Inst, loc, ctrl) -> None:
    if inst.code is None or parse_trap_code(str(inst.code)) is None:
        v.report(loc, f"{inst.opcode.name}: unknown trap code {inst.code}")


def _check_rmw_op(v: "FunctionVerifier", inst: Inst, loc, ctrl) -> None:
    if inst.rmw_op not in ATOMIC_RMW_OPS:
        v.report(loc, f"atomic_rmw: unknown operation {inst.rmw_op}")


FIELD_CHECKS = {
    "dests": _check_dests,
    "jump_table": _check_jump_table,
    "exception": _check_exception,
    "block": _check_handler_block,
    "func_ref": _check_func_ref,
    "sig_ref": _check_sig_ref,
    "stack_slot": _check_stack_slot,
    "global_value": _check_global_value,
    "heap": _check_heap,
    "table": _check_table,
    "offset": _check_offset,
    "size": _check_size,
    "flags": _check_flags,
    "imm": _check_imm,
    "mask": _check_mask,
    "cond": _check_cond,
    "code": _check_code,
    "rmw_op": _check_rmw_op,
}
