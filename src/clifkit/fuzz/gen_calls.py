"""Emitters for calls between generated functions (direct, and `func_addr` + `call_indirect`),
and the function/signature references they need.

Calls are acyclic: a function only calls those generated before it (`ProgramGen.build`).
A mixin of `FuncGen` (gen_function.py).
"""

from __future__ import annotations

from ..ir.entities import ExtFuncData
from ..ir.function import ExternalName, Signature
from ..ir.types import I64


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

    def gen_tail_call(self) -> bool:
        """End the block with ``return_call`` (or ``func_addr`` + ``return_call_indirect``) to a
        callee returning what this function returns (all of a tail program's functions use the
        tail calling convention); False when none does."""
        returns = [r.type for r in self.func.signature.returns]
        fitting = [c for c in self.callees if [r.type for r in c.signature.returns] == returns]
        if not fitting:
            return False
        rng = self.rng
        callee = rng.choice(fitting)
        args = self.call_args(callee)
        ref = self.fn_ref(callee.name, callee.signature)
        if rng.random() < 0.3:
            fa = self.emit1("func_addr", I64, [], I64, pool=False, func_ref=ref)
            self.emit("return_call_indirect", I64, [fa, *args], [], sig_ref=self.sig_ref(callee.signature))
        else:
            self.emit("return_call", None, args, [], func_ref=ref)
        return True

    def gen_call(self) -> bool:
        if not self.callees:
            return False
        rng = self.rng
        callee = rng.choice(self.callees)
        args = self.call_args(callee)
        rets = [r.type for r in callee.signature.returns]
        ref = self.fn_ref(callee.name, callee.signature)
        if rng.random() < 0.3:
            fa = self.emit1("func_addr", I64, [], I64, pool=False, func_ref=ref)
            results = self.emit("call_indirect", I64, [fa, *args], rets, sig_ref=self.sig_ref(callee.signature))
        else:
            results = self.emit("call", None, args, rets, func_ref=ref)
        for r in results:
            self.define(r)  # callees canonicalise what they return
        return True
