"""Checks of instructions, driven by the opcode table and the formats' immediate fields."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Optional

from ..diagnostics import Location
from ..ir.function import BlockCall, Inst, Signature, TryCallExn, TryCallRet
from ..ir.immediates import ATOMIC_RMW_OPS, FLOATCC, INTCC, MemFlags, parse_trap_code
from ..ir.opcodes import RELATIONS, Opcode, Operand, Registry
from ..ir.types import I32, Type
from .common import EXCEPTION_CALL_CONVS, NO_EXCEPTION_PAYLOADS, TAIL_CALL_CONVS, describe, fits, plural, related, sig_text, type_in

if TYPE_CHECKING:
    from .core import FunctionVerifier


class InstChecks:
    """The checks of each instruction; a mixin of `FunctionVerifier`, whose state it uses."""

    def ctrl_type(self, inst: Inst) -> Optional[Type]:
        """The controlling type, as Cranelift's verifier determines it.

        When the controlling type variable can be inferred from an operand but
        is not the type of the first result (``store``, ``icmp``, ``brif``...),
        it is that operand's type and a written suffix does not matter. Otherwise
        it is the written or inferred suffix, else the first result's type.
        """
        op = inst.opcode
        if op.ctrl is None:
            return None
        if op.ctrl_from_operand and (inst.ctrl_type is None or _requires_operand(op)):
            idx = op.format.ctrl_operand
            if idx is not None and idx < len(inst.args):
                return self.type_of(inst.args[idx])
        if inst.ctrl_type is not None:
            return inst.ctrl_type
        if inst.results:
            return self.type_of(inst.results[0])
        return None

    def call_signature(self, inst: Inst, loc: Optional[Location]) -> tuple[Optional[Signature], str]:
        """The signature an instruction calls through, and how to name it in messages."""
        fields = inst.opcode.format.immediates
        func = self.func
        if "exception" in fields and inst.exception is not None:
            ref = inst.exception.sig_ref
            sig = func.signatures.get(ref)
            if sig is None:
                self.report(loc, f"unknown signature sig{ref}")
                return None, ""
            return sig, f"sig{ref}"
        if "func_ref" in fields:
            data = func.func_refs.get(inst.func_ref)
            if data is None:
                return None, ""
            return func.signatures.get(data.signature), f"fn{inst.func_ref}"
        if "sig_ref" in fields:
            return func.signatures.get(inst.sig_ref), f"sig{inst.sig_ref}"
        return None, ""

    def check_inst(self, inst: Inst, block: int, pos: int) -> None:
        op = inst.opcode
        name = op.name
        loc = self.inst_loc(inst, block)
        fmt = op.format

        flags = getattr(inst, "flags", None)
        if flags is not None and flags.region is not None and flags.region not in self.func.alias_regions:
            self.report(loc, f"undefined alias region region{flags.region}")

        # Every value used, including block-call arguments, must be defined and dominate the use.
        arg_types = [self.check_use(v, inst, block, pos, loc) for v in inst.args]
        for bc in inst.branch_targets():
            for a in bc.args:
                if isinstance(a, int):
                    self.check_use(a, inst, block, pos, loc)
        if inst.exception is not None:
            for _, v in inst.exception.contexts:
                self.check_use(v, inst, block, pos, loc)
        if inst.debug_tags is not None and not (op.is_call or name == "sequence_point"):
            self.report(loc, "debug tags present on non-call, non-sequence point instruction")

        fixed = op.value_ins
        if len(inst.args) < len(fixed) or (not fmt.varargs and len(inst.args) != len(fixed)):
            least = "at least " if fmt.varargs else ""
            self.report(loc, f"{name} takes {least}{plural(len(fixed), 'value operand')}, "
                             f"but {plural(len(inst.args), 'is', 'are')} given")
            return

        # The controlling type variable.
        ctrl = self.ctrl_type(inst)
        if op.ctrl is not None:
            if ctrl is None:
                self.report(loc, f"cannot determine the controlling type of {name}")
            elif not type_in(op.ctrl, ctrl):
                self.report(loc, f"{name}.{ctrl}: controlling type {ctrl} is not allowed; expected {describe(op.ctrl)}")
                ctrl = None

        # Fixed operands.
        for i, operand in enumerate(fixed):
            t = arg_types[i]
            if t is None:
                continue
            expected = self.expected_type(operand, ctrl, op, loc)
            if expected is not None and not self.type_matches(operand, ctrl, op, t):
                if operand.derived in RELATIONS:
                    head = f"arg {i} (v{inst.args[i]}) with type {t} failed to satisfy type set"
                else:
                    head = f"arg {i} (v{inst.args[i]}) has type {t}, expected {expected}"
                self.report(loc, f"{head}: {name} operand {i} (v{inst.args[i]}) has type {t}, expected {expected}")

        # Variable operands and results, from the opcode table or a signature.
        sig, sig_name = (None, "")
        if op.has_varargs or any(o.varargs for o in op.outs):
            sig, sig_name = self.call_signature(inst, loc)
        varargs = inst.args[len(fixed):]
        var_types = arg_types[len(fixed):]
        if op.has_varargs:
            if op.is_return and not op.is_call:
                self.check_values(inst, varargs, var_types, self.func.signature.returns, loc, None)
            elif sig is not None:
                self.check_values(inst, varargs, var_types, sig.params, loc, sig_name)
        if any(o.varargs for o in op.outs):
            if sig is not None:
                self.check_results(inst, [r.type for r in sig.returns], loc, f"the signature of {sig_name}")
        else:
            self.check_result_types(inst, ctrl, loc)
        if op.is_call and op.is_return and sig is not None:
            self.check_tail_call(inst, sig, sig_name, loc)

        # Immediates and entities, by the fields the format declares.
        for field in fmt.immediates:
            check = _FIELD_CHECKS.get(field)
            if check is not None:
                check(self, inst, loc, ctrl)
        special = _SPECIAL.get(op)
        if special is not None:
            special(self, inst, loc, ctrl)
        if op.addr is not None:
            self.check_address(inst.args[op.addr], arg_types[op.addr], loc)

    def expected_type(self, operand: Operand, ctrl: Optional[Type], op: Opcode, loc) -> Optional[str]:
        """How to describe the type `operand` must have (None when nothing can be checked)."""
        if operand.fixed is not None:
            return str(operand.fixed)
        tv = operand.typevar
        if tv is None:
            return None
        if operand.derived in RELATIONS:
            if ctrl is None:
                return None
            noun = "integer" if ctrl.is_int else "float"
            return f"a scalar {noun} type {operand.derived} than {ctrl}"
        if tv == op.ctrl:
            if ctrl is None:
                return None
            t = operand.resolve(ctrl)
            if t is None:
                self.report(loc, f"{op.name}.{ctrl}: the type {operand.spec()} does not exist for {ctrl}")
                return None
            return str(t)
        return describe(tv)

    def type_matches(self, operand: Operand, ctrl: Optional[Type], op: Opcode, t: Type) -> bool:
        if operand.fixed is not None:
            return t is operand.fixed
        if operand.derived in RELATIONS:
            return ctrl is None or related(operand.derived, t, ctrl)
        if operand.typevar == op.ctrl:
            return ctrl is None or t is operand.resolve(ctrl)
        return type_in(operand.typevar, t)

    def check_result_types(self, inst: Inst, ctrl: Optional[Type], loc) -> None:
        op = inst.opcode
        if len(inst.results) != len(op.outs):
            self.report(loc, f"{op.name} produces {plural(len(op.outs), 'result')}, but {plural(len(inst.results), 'is', 'are')} given")
            return
        for i, (v, operand) in enumerate(zip(inst.results, op.outs)):
            t = self.func.value_types.get(v)
            if t is None:
                continue
            expected = self.expected_type(operand, ctrl, op, loc)
            if expected is not None and not self.type_matches(operand, ctrl, op, t):
                self.report(loc, f"{op.name} result {i} (v{v}) has type {t}, expected {expected}")

    def check_results(self, inst: Inst, types: list[Type], loc, source: str) -> None:
        name = inst.opcode.name
        if len(inst.results) != len(types):
            self.report(loc, f"{name} produces {plural(len(types), 'result')} per {source}, but {plural(len(inst.results), 'is', 'are')} given")
            return
        for i, (v, expected) in enumerate(zip(inst.results, types)):
            t = self.func.value_types.get(v)
            if t is not None and t is not expected:
                self.report(loc, f"{name} result {i} (v{v}) has type {t}, but {source} returns {expected}")

    def check_values(self, inst: Inst, values, types, params, loc, callee: Optional[str]) -> None:
        """Call arguments against `callee`'s parameters, or (callee None) return values against the signature."""
        name = inst.opcode.name
        if callee is None:
            count = f"{name} gives {plural(len(values), 'value')}, but the function signature returns {len(params)}"
        else:
            count = f"{name} passes {plural(len(values), 'argument')}, but the signature of {callee} takes {len(params)}"
        if len(values) != len(params):
            from ..printer import display_inst  # here: only a reported error prints an instruction

            head = (f"mismatched argument count for `{display_inst(inst, self.func)}`: got {len(values)}, expected {len(params)}"
                    if callee is not None else "arguments of return must match function signature")
            self.report(loc, f"{head}: {count}")
            return
        for i, (v, t, p) in enumerate(zip(values, types, params)):
            if t is not None and t is not p.type:
                if callee is None:
                    self.report(loc, f"result {i} has type {t}, must match function signature of {p.type}: "
                                     f"return value {i} (v{v}) has type {t}, but the function signature returns {p.type}")
                else:
                    self.report(loc, f"arg {i} (v{v}) has type {t}, expected {p.type}: "
                                     f"{name} argument {i} (v{v}) has type {t}, but the signature of {callee} says {p.type}")

    def check_tail_call(self, inst: Inst, sig: Signature, sig_name: str, loc) -> None:
        name = inst.opcode.name
        cc, own = sig.call_conv, self.func.signature.call_conv
        if cc not in TAIL_CALL_CONVS:
            self.report(loc, f"calling convention `{cc}` does not support tail calls: "
                             f"{name}: the calling convention {cc} of {sig_name} does not support tail calls (use tail)")
        if cc != own:
            self.report(loc, f"callee's calling convention must match caller: "
                             f"{name}: the calling convention {cc} of {sig_name} differs from the caller's {own}")
        mine = [r.type for r in self.func.signature.returns]
        theirs = [r.type for r in sig.returns]
        detail = (f"{name}: {sig_name} returns ({', '.join(map(str, theirs))}), "
                  f"but the caller returns ({', '.join(map(str, mine))})")
        if len(mine) != len(theirs):
            self.report(loc, f"results of callee must match caller: {detail}")
        for i, (t, want) in enumerate(zip(theirs, mine)):
            if t is not want:
                self.report(loc, f"result {i} has type {t}, must match function signature of {want}: {detail}")

    def check_address(self, v: int, t: Optional[Type], loc) -> None:
        if t is None or not self.target.addresses:
            return
        for target, ptr in self.target.pointers:
            if t.bits != ptr.bits:
                where = "" if target == "default" else f" on target {target}"
                self.report(loc, f"invalid pointer width (got {t.bits}, expected {ptr.bits}) encountered v{v}: "
                                 f"address v{v} has type {t}, but pointers are {ptr}{where}")

    def check_block_ref(self, inst: Inst, number: int, loc) -> bool:
        """A block an instruction names must exist and not be the entry block (Cranelift's
        `verify_block`). False when it does not exist."""
        if number not in self.func.blocks:
            self.report(loc, f"invalid block reference block{number}: {inst.opcode.name} names block{number}, "
                             f"which the function does not define")
            return False
        if number == self.entry:
            self.report(loc, f"invalid reference to entry block block{number}: "
                             f"{inst.opcode.name} to the entry block block{number}")
        return True

    def check_block_call(self, inst: Inst, bc: BlockCall, kind: str, sig: Optional[Signature], loc) -> None:
        """`kind` is "normal", "return" (a try_call's normal return) or "exception"."""
        func = self.func
        if not self.check_block_ref(inst, bc.block, loc):
            return
        target = func.blocks[bc.block]
        if len(bc.args) != len(target.params):
            from ..printer import display_inst

            self.report(loc, f"mismatched argument count for `{display_inst(inst, self.func)}`: got {len(bc.args)}, "
                             f"expected {len(target.params)}: block{bc.block} takes "
                             f"{plural(len(target.params), 'argument')}, but {plural(len(bc.args), 'is', 'are')} passed")
            return
        for i, (a, p) in enumerate(zip(bc.args, target.params)):
            want = func.value_types.get(p)
            if isinstance(a, (TryCallRet, TryCallExn)):
                types = self.try_call_value_types(a, kind, sig, loc)
            else:
                types = [(f"v{a}", self.type_of(a))]
            for what, t in types:
                if t is not None and want is not None and t is not want:
                    self.report(loc, f"arg {what} has type {t}, expected {want}: argument {i} ({what}) to "
                                     f"block{bc.block} has type {t}, but its parameter v{p} has type {want}")


    def try_call_value_types(self, a, kind: str, sig: Optional[Signature], loc) -> list:
        """(name, type) of a try_call's ``retN`` or ``exnN`` passed to a block, for each target
        pointer type; none when it is misplaced (reported) or out of range (reported), or when the
        callee's signature is unknown."""
        ret = isinstance(a, TryCallRet)
        word = "retN" if ret else "exnN"
        if kind != ("return" if ret else "exception"):
            place = "the normal-return block" if ret else "an exception handler block"
            # Cranelift says "normal-return target" for both (its words, kept as they are)
            self.report(loc, f"`{word}` block argument used outside normal-return target of `try_call`: "
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
            self.report(loc, f"out-of-bounds `{word}` block argument: {a} is out of range: {have}")
            return []
        return [(a, sig.returns[a.index].type)] if ret else [(a, ptr) for _, ptr in self.target.pointers]


def _requires_operand(op: Opcode) -> bool:
    """Is the controlling type only known from the typevar operand (not from the first result)?"""
    found = _REQUIRES_OPERAND.get(op.name)
    if found is None:
        first = op.outs[0] if op.outs else None
        from_result = first is not None and first.typevar == op.ctrl and not first.derived and first.fixed is None
        found = _REQUIRES_OPERAND[op.name] = op.ctrl_from_operand and not from_result
    return found


_REQUIRES_OPERAND: dict[str, bool] = {}


# -- checks by immediate field ------------------------------------------------


def _check_dests(v: "FunctionVerifier", inst: Inst, loc, ctrl) -> None:
    for bc in inst.dests or ():
        v.check_block_call(inst, bc, "normal", None, loc)


def _check_jump_table(v: "FunctionVerifier", inst: Inst, loc, ctrl) -> None:
    jt = inst.jump_table
    if jt is not None:
        v.check_block_call(inst, jt.default, "normal", None, loc)
        # A heap-era jump table declared in the preamble (`jt0 = jump_table [...]`) is checked
        # where it is declared, as Cranelift did.
        where = loc if jt.declared is None else v.decl_loc(f"jt{jt.declared}")
        for bc in jt.targets:
            v.check_block_call(inst, bc, "normal", None, where)


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
    v.check_block_call(inst, et.normal, "return", sig, loc)
    for _, bc in et.handlers:
        v.check_block_call(inst, bc, "exception", sig, loc)


def _check_handler_block(v: "FunctionVerifier", inst: Inst, loc, ctrl) -> None:
    """get_exception_handler_address: the block must end in a try_call that has handler `imm`
    (Cranelift's `verify_try_call_handler_index`; the first problem found is the only one)."""
    if not v.check_block_ref(inst, inst.block, loc) or inst.block == v.entry:
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
    t = v.func.value_types.get(inst.results[0])
    for target, ptr in v.target.pointers:
        want = v.gv_type(gv, ptr)
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


def _check_flags(v: "FunctionVerifier", inst: Inst, loc, ctrl) -> None:
    flags = inst.flags
    op = inst.opcode
    if flags is None:
        return
    if op.name == "bitcast":
        if replace(flags, endianness=None) != MemFlags():
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


_FIELD_CHECKS = {
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


# -- the few checks that belong to one opcode ---------------------------------


def _check_bitcast(v: "FunctionVerifier", inst: Inst, loc, ctrl) -> None:
    t = v.type_of(inst.args[0]) if inst.args else None
    if t is not None and ctrl is not None and t.bits != ctrl.bits:
        arg = f"v{inst.args[0]}"
        v.report(loc, f"The bitcast argument {arg} has a type of {t.bits} bits, which doesn't match an expected type "
                      f"of {ctrl.bits} bits: bitcast from {t} ({t.bits} bits) to {ctrl} ({ctrl.bits} bits) changes the width")


def _check_bmask(v: "FunctionVerifier", inst: Inst, loc, ctrl) -> None:
    # Cranelift's type variables leave the lane counts free; its definition says they must match.
    t = v.type_of(inst.args[0]) if inst.args else None
    if t is not None and ctrl is not None and t.lanes != ctrl.lanes:
        v.report(loc, f"bmask keeps the number of lanes: {t} has {plural(t.lanes, 'lane')}, {ctrl} has {ctrl.lanes}")


def _needs_flag(flag: str, setting: str):
    def check(v: "FunctionVerifier", inst: Inst, loc, ctrl) -> None:
        if flag not in v.target.flags:
            v.report(loc, f"{inst.opcode.name} needs `set {setting}`")

    return check


# Checks one opcode needs beyond its table row (a Registry: keyed by Opcode, checked at import).
_SPECIAL = Registry("verifier check")
_SPECIAL.register("bitcast")(_check_bitcast)
_SPECIAL.register("bmask")(_check_bmask)
_SPECIAL.register("get_pinned_reg", "set_pinned_reg")(_needs_flag("enable_pinned_reg", "enable_pinned_reg"))
_SPECIAL.register("get_frame_pointer", "get_return_address")(
    _needs_flag("preserve_frame_pointers", "preserve_frame_pointers=true"))
