"""Calls: how `FunctionLowering` reaches functions of the file, host functions and libcalls.

The binding cannot name another function of the JIT module from inside a
function (``import_function`` takes a `UserExternalNameRef` but does not
declare it, and defining the caller then panics), so every call of a file
function loads the callee's address from the module's function table
(`hostdata.FunctionTable`) and uses ``call_indirect`` / ``return_call_indirect``.
Host functions (``%heap_grow``...) are called at their constant addresses in
the host's C convention. Cranelift's libcalls become the equivalent
instruction (``%CeilF32`` -> ``ceil``), a libcall the binding imports by name
(``Memcpy``...), or clifkit's own lowering (``X86Pshufb``). ``try_call`` is a
call followed by its normal-return edge: nothing can throw natively.
"""

from __future__ import annotations

from typing import Optional

from ..ir.function import AbiParam, Inst, Signature
from ..ir.opcodes import handles
from ..ir.types import all_pass_as
from .basics import trusted_memflags

LIBCALL_INSTRUCTIONS = {
    "CeilF32": "ceil", "CeilF64": "ceil", "FloorF32": "floor", "FloorF64": "floor",
    "TruncF32": "trunc", "TruncF64": "trunc", "NearestF32": "nearest", "NearestF64": "nearest",
    "FmaF32": "fma", "FmaF64": "fma",
}  # fmt: skip
LIBCALL_BY_NAME = ("Memcpy", "Memset", "Memmove", "Memcmp")
# The C symbols Cranelift's JIT resolves libcalls to (cranelift-module's default_libcall_names).
LIBCALL_SYMBOLS = {
    "CeilF32": "ceilf", "CeilF64": "ceil", "FloorF32": "floorf", "FloorF64": "floor",
    "TruncF32": "truncf", "TruncF64": "trunc", "NearestF32": "nearbyintf", "NearestF64": "nearbyint",
    "FmaF32": "fmaf", "FmaF64": "fma", "Memcpy": "memcpy", "Memset": "memset", "Memmove": "memmove",
    "Memcmp": "memcmp",
}  # fmt: skip


def libcall_address(name: str) -> Optional[int]:
    """The address of libcall `name` (``CeilF32``) in this process, as the JIT would link it."""
    import ctypes

    symbol = LIBCALL_SYMBOLS.get(name)
    if symbol is None:
        return None
    for lib in _libraries():
        try:
            fn = getattr(ctypes.CDLL(lib), symbol)
        except (OSError, AttributeError):
            continue
        return ctypes.cast(fn, ctypes.c_void_p).value
    return None


_LIBRARIES: list = []


def _libraries() -> list:
    """Where libcalls are looked up: this process's symbols, then libm (found once: glibc's name
    first, since ctypes.util.find_library starts ldconfig, which is slow, above all emulated)."""
    if not _LIBRARIES:
        import ctypes
        import sys

        _LIBRARIES.append(None)
        found = None
        if sys.platform.startswith("linux"):
            try:
                ctypes.CDLL("libm.so.6")
                found = "libm.so.6"
            except OSError:
                pass
        if found is None:
            from ctypes.util import find_library

            found = find_library("m")
        if found:
            _LIBRARIES.append(found)
    return _LIBRARIES


class CallLowering:
    """Mixed into `FunctionLowering`: the call opcodes."""

    def callee(self, func_ref: int):
        """(kind, data, signature) of `fnN`: ("file", slot address), ("host", address),
        ("libcall", name)."""
        ext = self.func.func_refs.get(func_ref)
        if ext is None:
            raise self.fail(f"fn{func_ref} is not declared")
        sig = self.func.signatures.get(ext.signature)
        if sig is None:
            raise self.fail(f"fn{func_ref}: sig{ext.signature} is not declared")
        name = ext.name.text
        if name in self.ctx.function_slots:
            self.report.callees.add(name)
            return "file", self.ctx.function_slots[name], sig
        host = self.ctx.host_symbol(name)
        if host is not None:
            return "host", host, sig
        bare = name[1:] if name.startswith("%") else name
        if bare in LIBCALL_INSTRUCTIONS or bare in LIBCALL_BY_NAME or bare == "X86Pshufb":
            return "libcall", bare, sig
        raise self.fail(f"calls {name}, which is neither a function of this file, a host function nor a libcall")

    def load_slot(self, slot_address: int):
        return self.b.ins_load(self.ptr_type, trusted_memflags(readonly=True), self.pconst(slot_address), 0)

    def call_values(self, inst: Inst, args: list, tail: bool):
        kind, data, sig = self.callee(inst.func_ref)
        if kind == "libcall":
            results = self.libcall(data, args, sig)
            if tail:
                self.b.ins_return(results)
                return []
            return results
        if kind == "file":
            target = self.load_slot(data)
            ref = self.sig_ref(sig)
        else:
            target = self.pconst(data)
            ref = self.sig_ref(sig, self.ctx.host_conv)
            if tail:
                call = self.b.ins_call_indirect(ref, target, args)
                self.b.ins_return(list(self.b.inst_results(call)))
                return []
        if tail:
            self.b.ins_return_call_indirect(ref, target, args)
            return []
        call = self.b.ins_call_indirect(ref, target, args)
        return list(self.b.inst_results(call))

    def libcall(self, name: str, args: list, sig: Signature):
        from ..ir.libcalls import libcall_signature

        declared = ([p.type for p in sig.params], [r.type for r in sig.returns])
        own = libcall_signature(name, self.ctx.pointer)
        if own is None or declared == (list(own[0]), list(own[1])):
            return self._libcall(name, args, sig)
        return self._adapted_libcall(name, args, sig, declared, own)

    def _adapted_libcall(self, name: str, args: list, sig: Signature, declared: tuple, own: tuple):
        """A libcall declared with other vectors of the same width than Cranelift's: their bits
        reinterpreted in the target's own lane order (the C convention's), as the interpreter does.
        Any other difference the interpreter traps `bad_sig` for; native code would run the libcall
        on whatever the registers hold (or, for `%CeilF32` and the like, which become an
        instruction, compute on the declared type): unsupported."""
        if not (all_pass_as(declared[0], own[0]) and all_pass_as(own[1], declared[1])):
            show = lambda ps, rs: f"({', '.join(map(str, ps))}) -> {', '.join(map(str, rs)) or '()'}"  # noqa: E731
            raise self.fail(f"%{name} is declared as {show(*declared)}, but the libcall is {show(*own)} "
                            "(the interpreter traps bad_sig)")
        from ..ir.memflags import MemFlags
        from .translate import cl_memflags, cl_type

        # The target's byte order: the lane order of its C convention's vector registers.
        flags = cl_memflags(MemFlags(endianness=self.ctx.byteorder))
        cast = lambda t, v, want: v if t is want else self.b.ins_bitcast(cl_type(want), flags, v)  # noqa: E731
        exact = Signature([AbiParam(t) for t in own[0]], [AbiParam(t) for t in own[1]], sig.call_conv)
        results = self._libcall(name, [cast(t, a, w) for a, t, w in zip(args, declared[0], own[0])], exact)
        return [cast(t, r, w) for r, t, w in zip(results, own[1], declared[1])]

    def _libcall(self, name: str, args: list, sig: Signature):
        if name in LIBCALL_INSTRUCTIONS:
            return [getattr(self.b, "ins_" + LIBCALL_INSTRUCTIONS[name])(*args)]
        if name == "X86Pshufb":
            return [self.legal.pshufb(args[0], args[1])]
        ref = self.libcall_refs.get(name)
        if ref is None:
            ref = self.libcall_refs[name] = self.b.import_function(name, self.sig_ref(sig, self.ctx.host_conv))
        call = self.b.ins_call(ref, args)
        return list(self.b.inst_results(call))

    @handles("call")
    def op_call(self, inst: Inst):
        return self.call_values(inst, [self.val(a) for a in inst.args], tail=False)

    @handles("return_call")
    def op_return_call(self, inst: Inst):
        return self.call_values(inst, [self.val(a) for a in inst.args], tail=True)

    @handles("call_indirect")
    def op_call_indirect(self, inst: Inst):
        sig = self._sig(inst.sig_ref)
        call = self.b.ins_call_indirect(self.sig_ref(sig), self.val(inst.args[0]), [self.val(a) for a in inst.args[1:]])
        return list(self.b.inst_results(call))

    @handles("return_call_indirect")
    def op_return_call_indirect(self, inst: Inst):
        sig = self._sig(inst.sig_ref)
        self.b.ins_return_call_indirect(self.sig_ref(sig), self.val(inst.args[0]), [self.val(a) for a in inst.args[1:]])

    def _sig(self, num: int) -> Signature:
        sig = self.func.signatures.get(num)
        if sig is None:
            raise self.fail(f"sig{num} is not declared")
        return sig

    @handles("try_call")
    def op_try_call(self, inst: Inst):
        # No exception can be thrown natively, so try_call is a call followed by its normal edge.
        self.report.workarounds.add("try_call as call + jump")
        results = self.call_values(inst, [self.val(a) for a in inst.args], tail=False)
        block, args = self.block_args(inst.exception.normal, results)
        self.b.ins_jump(block, args)

    @handles("try_call_indirect")
    def op_try_call_indirect(self, inst: Inst):
        self.report.workarounds.add("try_call as call + jump")
        sig = self._sig(inst.exception.sig_ref)
        call = self.b.ins_call_indirect(self.sig_ref(sig), self.val(inst.args[0]), [self.val(a) for a in inst.args[1:]])
        results = list(self.b.inst_results(call))
        block, args = self.block_args(inst.exception.normal, results)
        self.b.ins_jump(block, args)

    @handles("func_addr")
    def op_func_addr(self, inst: Inst):
        kind, data, _sig = self.callee(inst.func_ref)
        if kind == "file":
            return self.load_slot(data)
        if kind == "host":
            return self.pconst(data)
        addr = self.ctx.libcall_address(data)
        if addr is None:
            raise self.fail(f"the address of libcall {data} is not available in this process")
        self.report.workarounds.add("func_addr of a libcall: its C symbol's address")
        return self.pconst(addr)

