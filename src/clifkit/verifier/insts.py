"""Checks of instructions, driven by the opcode table and the formats' immediate fields."""

from __future__ import annotations

from ..diagnostics import Location
from ..ir.function import Inst, Signature
from ..ir.opcodes import RELATIONS, Opcode, Operand, Registry
from ..ir.types import Type
from .common import TAIL_CALL_CONVS, describe, plural, related, type_in

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional
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
        exact_ins, exact_outs = _exact_types(op, ctrl)
        for i, operand in enumerate(fixed):
            t = arg_types[i]
            if t is None or t is exact_ins[i] or self.type_matches(operand, ctrl, op, t):
                continue
            expected = self.expected_type(operand, ctrl, op, loc)  # (text for the message: only on a mismatch)
            if expected is not None:
                if operand.derived in RELATIONS:
                    head = f"arg {i} (v{inst.args[i]}) with type {t} failed to satisfy type set"
                else:
                    head = f"arg {i} (v{inst.args[i]}) has type {t}, expected {expected}"
                self.report(loc, f"{head}: {name} operand {i} (v{inst.args[i]}) has type {t}, expected {expected}")

        # Variable operands and results, from the opcode table or a signature.
        sig, sig_name = (None, "")
        if op.has_varargs or op.has_varargs_results:
            sig, sig_name = self.call_signature(inst, loc)
        if op.has_varargs:
            varargs = inst.args[len(fixed):]
            var_types = arg_types[len(fixed):]
            if op.is_return and not op.is_call:
                self.check_values(inst, varargs, var_types, self.func.signature.returns, loc, None)
            elif sig is not None:
                self.check_values(inst, varargs, var_types, sig.params, loc, sig_name)
        if op.has_varargs_results:
            if sig is not None:
                self.check_results(inst, [r.type for r in sig.returns], loc, f"the signature of {sig_name}")
        else:
            self.check_result_types(inst, ctrl, loc, exact_outs)
        if op.is_call and op.is_return and sig is not None:
            self.check_tail_call(inst, sig, sig_name, loc)

        # Immediates and entities, by the fields the format declares (their checks load on first need).
        if fmt.immediates:
            checks = _FIELD_CHECKS or _load_field_checks()
            for field in fmt.immediates:
                check = checks.get(field)
                if check is not None:
                    check(self, inst, loc, ctrl)
        special = _SPECIAL_BY_NAME.get(name)
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

    def check_result_types(self, inst: Inst, ctrl: Optional[Type], loc, exact: tuple) -> None:
        op = inst.opcode
        if len(inst.results) != len(op.outs):
            self.report(loc, f"{op.name} produces {plural(len(op.outs), 'result')}, but {plural(len(inst.results), 'is', 'are')} given")
            return
        for i, (v, operand) in enumerate(zip(inst.results, op.outs)):
            t = self.func.value_types.get(v)
            if t is None or t is exact[i] or self.type_matches(operand, ctrl, op, t):
                continue
            expected = self.expected_type(operand, ctrl, op, loc)
            if expected is not None:
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


def _requires_operand(op: Opcode) -> bool:
    """Is the controlling type only known from the typevar operand (not from the first result)?"""
    found = _REQUIRES_OPERAND.get(op.name)
    if found is None:
        first = op.outs[0] if op.outs else None
        from_result = first is not None and first.typevar == op.ctrl and not first.derived and first.fixed is None
        found = _REQUIRES_OPERAND[op.name] = op.ctrl_from_operand and not from_result
    return found


_REQUIRES_OPERAND: dict[str, bool] = {}


def _exact_types(op: Opcode, ctrl: Optional[Type]) -> tuple[tuple, tuple]:
    """The one type each fixed operand and each result of `op` must have when its controlling type
    is `ctrl` (None where it may have several, or none is known): most operands have one, and an
    identity test answers for them before `type_matches` is asked. (Cached: the same few pairs
    come back all through a program.)"""
    key = (op.name, ctrl)
    found = _EXACT.get(key)
    if found is None:
        def exact(o: Operand) -> Optional[Type]:
            if o.fixed is not None:
                return o.fixed
            if o.typevar is None or o.derived in RELATIONS or o.typevar != op.ctrl or ctrl is None:
                return None
            return o.resolve(ctrl)

        found = _EXACT[key] = (tuple(map(exact, op.value_ins)), tuple(map(exact, op.outs)))
    return found


_EXACT: dict[tuple[str, Optional[Type]], tuple[tuple, tuple]] = {}
_FIELD_CHECKS: dict = {}  # fields.FIELD_CHECKS once an instruction has an immediate field


def _load_field_checks() -> dict:
    from .fields import FIELD_CHECKS

    _FIELD_CHECKS.update(FIELD_CHECKS)
    return _FIELD_CHECKS


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

# The same, by opcode name in a plain dict: asked for every instruction, where `Registry.get` (which
# takes names or opcodes) costs a call of its own.
_SPECIAL_BY_NAME = {op.name: check for op, check in _SPECIAL.items()}
