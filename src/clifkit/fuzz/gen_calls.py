"""Emitters for calls between generated functions (direct, and `func_addr` + `call_indirect`),
and the function/signature references they need.

Calls are acyclic: a function only calls those generated before it (`ProgramGen.build`).
An indirect call sometimes goes through a signature whose vectors are other vector types of the
same width (`stranger`): the callee reads the bits as its own types (docs/architecture.md,
"Indirect calls"). A mixin of `FuncGen` (gen_function.py).
"""

from __future__ import annotations

from ..ir.entities import ExtFuncData
from ..ir.function import AbiParam, ExternalName, Signature
from ..ir.types import I64, all_pass_as
from .gen_values import plain_param


class CallEmitters:
    """Call emitters of `FuncGen`."""

    # -- calls ---------------------------------------------------------------------------------
    def fn_ref(self, name: str, sig: Signature) -> int:
        found = self.fn_refs.get(name)
        if found is not None:
            return found
        n = len(self.func.func_refs)
        s = self.sig_ref(sig)
        self.func.func_refs[n] = ExtFuncData(ExternalName(name), s)
        self.fn_refs[name] = n
        return n

    def sig_ref(self, sig: Signature) -> int:
        for known, n in self.sig_refs:
            if known is sig:
                return n
        n = len(self.func.signatures)
        self.func.signatures[n] = sig
        self.sig_refs.append((sig, n))
        return n

    def call_args(self, callee) -> list[int]:
        args = []
        for p in callee.signature.params:
            if p.purpose == "vmctx":
                args.append(self.vmctx)
            else:
                # The callee treats its parameters as exact (rule nan-bits): canonicalise.
                args.append(self.canon(self.value_of(p.type)))
        return args

    def stranger(self, callee, args: list[int], returns=None, always=False) -> tuple[Signature, list[int]]:
        """The signature of an indirect call of `callee` and its arguments (`args` made for
        the callee's own): half the time when it has vectors (or `always`), one whose vectors are
        other vector types of this program of the same width, with arguments of those types, and
        returning `returns` when given (a tail call's: its caller's)."""
        sig, rng = callee.signature, self.rng
        if not always and (not any(p.type.is_vector for p in sig.params + sig.returns) or rng.random() < 0.5):
            return sig, args
        vectors = [t for t in self.p.types if t.is_vector]

        def other(t):
            return rng.choice([v for v in vectors if v.bits == t.bits and v is not t] or [t]) if t.is_vector else t

        params = [AbiParam(other(p.type), p.extension, p.purpose) for p in sig.params]
        rets = [plain_param(t) for t in returns] if returns is not None else [plain_param(other(r.type)) for r in sig.returns]
        args = [a if p.type is q.type else self.canon(self.value_of(p.type)) for a, p, q in zip(args, params, sig.params)]
        return Signature(params, rets, sig.call_conv, sig.call_conv_written), args

    def gen_tail_call(self) -> bool:
        """End the block with ``return_call`` (or ``func_addr`` + ``return_call_indirect``) to a
        callee returning what this function returns (all of a tail program's functions use the
        tail calling convention), or through `stranger` to one returning other vectors of the
        same widths; False when none does."""
        returns = [r.type for r in self.func.signature.returns]
        fitting = [c for c in self.callees if [r.type for r in c.signature.returns] == returns]
        rng = self.rng
        if not fitting:
            fitting = [c for c in self.callees if all_pass_as([r.type for r in c.signature.returns], returns)]
            if not fitting:
                return False
            callee = rng.choice(fitting)
            ref = self.fn_ref(callee.name, callee.signature)
            sig, args = self.stranger(callee, self.call_args(callee), returns, always=True)
            fa = self.emit1("func_addr", I64, [], I64, pool=False, func_ref=ref)
            self.emit("return_call_indirect", I64, [fa, *args], [], sig_ref=self.sig_ref(sig))
            return True
        callee = rng.choice(fitting)
        args = self.call_args(callee)
        ref = self.fn_ref(callee.name, callee.signature)
        if rng.random() < 0.3:
            sig, args = self.stranger(callee, args, returns)
            fa = self.emit1("func_addr", I64, [], I64, pool=False, func_ref=ref)
            self.emit("return_call_indirect", I64, [fa, *args], [], sig_ref=self.sig_ref(sig))
        else:
            self.emit("return_call", None, args, [], func_ref=ref)
        return True

    def gen_call(self) -> bool:
        if not self.callees:
            return False
        rng = self.rng
        callee = rng.choice(self.callees)
        args = self.call_args(callee)
        ref = self.fn_ref(callee.name, callee.signature)
        if rng.random() < 0.3:
            sig, args = self.stranger(callee, args)
            fa = self.emit1("func_addr", I64, [], I64, pool=False, func_ref=ref)
            results = self.emit("call_indirect", I64, [fa, *args], [r.type for r in sig.returns],
                                sig_ref=self.sig_ref(sig))
        else:
            results = self.emit("call", None, args, [r.type for r in callee.signature.returns], func_ref=ref)
        for r in results:
            self.define(r)  # callees canonicalise what they return
        return True

