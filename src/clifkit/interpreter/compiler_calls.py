"""The compiler's calls (`compiler.FunctionCompiler` loads them at the first call it compiles):
the code of a call, tail call or try_call, and which call results fold into their use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..ir.function import Inst
from .compiler import IN_ORDER, SHARED_MAX, sig_types
from .machine import big_lanes, indirect_caller, indirect_key
from .registry import remember
from .memory import CODE_BASE, PAGE_SIZE

if TYPE_CHECKING:
    from .compiler import FunctionCompiler


def foldable_calls(fc: "FunctionCompiler", pure: set[int]) -> set[int]:
    """Results of direct calls to functions here (that cannot tail-call out) which the next
    statement of their block reads, all of them and in the order they were made, through
    operands evaluated left to right and always (`IN_ORDER`): ``v6 = iadd v3, v5`` after
    ``v3 = call``, ``v5 = call``, or a return of them. Everything between is folded (pure
    expressions and these calls), so writing the calls into that statement runs nothing in a
    different order, and saves storing and reloading their results."""
    func = fc.func
    resolve = func.resolve if func.aliases else None
    out: set[int] = set()
    for number in fc.reachable:
        insts = fc.blocks[number].insts
        if not any(inst.opcode.name == "call" for inst in insts):
            continue  # (nothing to fold in a block without a call)
        pending: list[int] = []  # calls since the last statement, in order
        inside: dict[int, list[int]] = {}  # a folded value -> the pending calls in its expression
        for inst in insts:
            if fc.dead_inst(inst):
                continue  # (emits nothing, so it runs nothing between the calls and their use)
            name = inst.opcode.name
            if name == "call" and len(inst.results) == 1 and plain_call(fc, inst):
                r = inst.results[0]
                if fc.uses.get(r) == 1:
                    args = inst.args if resolve is None else [resolve(a) for a in inst.args]
                    if not any(inside.get(a) for a in args):
                        pending.append(r)
                        inside[r] = [r]
                        continue
            args = inst.args if name != "jump" and name != "brif" else ()
            if resolve is not None:
                args = [resolve(a) for a in args]
            within = [c for a in args for c in inside.get(a, ())]
            if len(inst.results) == 1 and inst.results[0] in pure:
                if not within or name in IN_ORDER:
                    inside[inst.results[0]] = within
                    continue
            elif within and within == pending and (name == "return" or name in IN_ORDER):
                out.update(pending)
            pending, inside = [], {}
    return out

def plain_call(fc: "FunctionCompiler", inst: Inst) -> bool:
    """A direct call of a function here with one scalar integer result, which returns at once."""
    ext = fc.func.func_refs.get(inst.func_ref)
    resolved = None if ext is None else fc.interp.resolve_callee(ext.name.text)
    if resolved is None or resolved[0] != "func" or fc.interp.may_tail_call(resolved[1]):
        return False
    t = fc.func.value_types.get(inst.results[0])
    return t is not None and not t.is_vector and t.name.startswith("i")


def emit_call(fc: "FunctionCompiler", inst: Inst, ind: int, out, root: int = -1, in_while: bool = False) -> None:
    op = inst.opcode.name
    func = fc.func
    indirect = op.endswith("_indirect")
    adapter = None  # a direct call's `vector_calls` adapter
    args = [fc.val(a) for a in (inst.args[1:] if indirect else inst.args)]
    if op.startswith("try_call"):
        if inst.exception is None:
            raise fc.unsupported(f"{op} without an exception table")
        sig_ref = inst.exception.sig_ref
    else:
        sig_ref = inst.sig_ref
    if indirect:
        sig = func.signatures.get(sig_ref)
        if sig is None:
            raise fc.unsupported(f"{op} names undeclared sig{sig_ref}")
        params, returns = sig_types(sig)
        key = indirect_key(params, returns)
        fc.check_after_call(ind, out)  # (before a bad address or signature traps)
        callee = fc.val(inst.args[0])
        if fc.short_fuel and not op.startswith("try_call"):
            emit_short_indirect(fc, inst, callee, key, args, ind, out)
            return
        out.append((ind, f"_e = _IND.get({callee})"))
        out.append((ind, f"if _e is None or _e[1] != {key!r}: _e = _badcall(_m, {callee}, _e, {key!r})"))
        if not op.startswith("return_call") and not fc.depth_ok:  # _e[2]: a CLIF function
            out.append((ind, f"if _d >= {fc.interp.max_call_depth} and _e[2]: _stk_ovf(_d + 1)"))
        target, may_tail, kind = "_e[0]", True, "func"
        nrets = len(returns)
    else:
        ext = func.func_refs.get(inst.func_ref)
        if ext is None:
            raise fc.unsupported(f"{op} names undeclared fn{inst.func_ref}")
        resolved = fc.interp.resolve_callee(ext.name.text)
        if resolved is None:
            raise fc.unsupported(f"call to unknown function {ext.name.text}")
        kind, ident = resolved
        if kind != "func" or not (fc.depth_ok or op.startswith("return_call")):
            fc.check_after_call(ind, out)  # (before a host function, or a check that may trap)
        target = fc.interp.bind_callee(resolved)
        may_tail = kind == "func" and fc.interp.may_tail_call(ident)
        callee_sig = fc.interp.callee_signature(resolved)
        nrets = len(callee_sig[1])
        # As Cranelift's interpreter: arguments whose types differ from the callee's
        # parameters trap bad_sig (results too here: Python could not unpack them), but for
        # vectors of the same width, reinterpreted as through call_indirect (`vector_calls`).
        if op.startswith("try_call"):
            expected_rets = [p.type for p in func.signatures[sig_ref].returns] if sig_ref in func.signatures else None
        elif op.startswith("return_call"):
            expected_rets = [p.type for p in func.signature.returns]
        else:
            expected_rets = [fc.vtype(r) for r in inst.results]
        arg_types = [fc.vtype(a) for a in inst.args]
        key = indirect_key(arg_types, expected_rets or callee_sig[1])
        if key != indirect_key(*callee_sig):
            from .vector_calls import adapted

            if kind == "func":
                addr = CODE_BASE + 16 * ident
                entry = fc.interp.indirect[addr]
            else:  # a libcall or host function: an entry of `Interpreter.indirect`'s form for it
                addr = resolved
                entry = [fc.interp.ns[target], indirect_key(*callee_sig), False,
                         big_lanes(fc.interp.byteorder, "system_v")]
            adapter = adapted(fc.interp, addr, entry, key)
            if adapter is None:
                detail = f"{ext.name.text} called with {indirect_key(arg_types, expected_rets or ())}"
                fc.check_after_call(ind, out)  # (a trap: an earlier callee's charge runs out first)
                out.append((ind, f"raise _Trap('bad_sig', {detail!r})"))
                return
            target, may_tail = fc.interp.bind(adapter[0], "adapt"), False  # (it runs the tail calls)
    argtext = ", ".join(args)
    # The callee's depth: computed once at entry where calls may repeat in a loop, else at
    # each call (a path without a call, as a recursion's base case, then computes nothing).
    depth = "_d1" if fc.headers else "_d + 1"
    call_args = f"_m, {depth}{', ' if args else ''}{argtext}"

    if op.startswith("return_call"):
        if not indirect and adapter is None and fc.is_self_tail_call(inst):
            entry = fc.blocks[fc.entry]
            fc.assign([f"v{p}" for p in entry.params], args, ind, out)
            if fc.has_frame:
                if fc.layout.size <= PAGE_SIZE:
                    out.append((ind, f"_fpg[_fo:_fo + {fc.layout.size}] = bytes({fc.layout.size})"))
                else:
                    out.append((ind, f"_m.memory.fill(_sp, 0, {fc.layout.size})"))
            fc.goto(fc.entry, ind, out, root, in_while)
            return
        fc.leave(ind, out)
        if kind == "func" and fc.short_fuel:
            out.append((ind, f"return _tail(_m, {target}{', ' if args else ''}{argtext})"))
        elif kind == "func":
            out.append((ind, f"_m.tail_fn = {target}"))
            out.append((ind, f"_m.tail_args = ({argtext},)" if args else "_m.tail_args = ()"))
            out.append((ind, "return _TC"))
        else:  # libcalls and host functions return at once
            out.append((ind, f"return {target}(_m, _d{', ' if args else ''}{argtext})"))
        return

    results = [f"v{r}" for r in inst.results]
    if op.startswith("try_call"):
        results = [f"_t{i}" for i in range(nrets)]
    elif len(results) != nrets and kind == "func" and not indirect:
        raise fc.unsupported(f"{op} expects {len(results)} results, the callee returns {nrets}")
    sync = kind == "func"
    if sync and not indirect and not fc.depth_ok:
        # The callee's depth is checked here, not at its entry: once per path (a base case
        # that calls nothing checks nothing), and a later call on the path needs no check.
        limit = fc.interp.max_call_depth
        charge = f"{fc.charger()}(_m, " if fc.short_fuel else None
        if charge and out and out[-1][0] == ind and out[-1][1].startswith(charge) and "_d" not in out[-1][1]:
            out[-1] = (ind, f"{out[-1][1][:-1]}, _d)")  # the charge checks the depth too, after the fuel
        elif out and out[-1] == (ind, fc.fuel_check()):
            # Right after the block's fuel check: one test for both (fuel first, as before).
            out[-1] = (ind, f"if _f < 0 or _d >= {limit}: _f = _nofuel_or_deep(_m, {fc.name!r}, _f, _d, {limit})")
        else:
            out.append((ind, f"if _d >= {limit}: _stk_ovf(_d + 1)"))
        fc.depth_ok = True
    if sync and not fc.fm:
        out.append((ind, "_m.fuel = _f"))
    call = f"{target}({call_args})"
    if may_tail and fc.short_fuel:
        call = f"_ret(_m, {depth}, {call})"  # (one line for the trampoline: machine.returned)
    elif may_tail:
        out.append((ind, f"_r = {call}"))
        out.append((ind, f"while _r is _TC: _r = _m.tail_fn(_m, {depth}, *_m.tail_args)"))
        call = "_r"
    if op == "call" and not may_tail and len(inst.results) == 1 and inst.results[0] in fc.foldable:
        fc.folded[inst.results[0]] = call  # evaluated in its use (foldable_calls)
        fc.fold_depth[inst.results[0]] = 1
    elif not results:
        if call != "_r":
            out.append((ind, call))
    else:
        out.append((ind, f"{', '.join(results)} = {call}"))
    if sync:
        fc.fm = True  # reloaded into _f lazily: at the next block, root or return
        fc.unchecked = True
    if op.startswith("try_call"):
        fc.emit_edge(inst.exception.normal, ind, out, root, in_while, rets=results)


_KEYS: dict[tuple, tuple] = {}  # a signature key -> the one object bound for it (`bind_shared`)
_CALLERS: dict[int, object] = {}  # a depth limit -> its machine.indirect_caller


def emit_short_indirect(fc: "FunctionCompiler", inst: Inst, callee: str, key: tuple, args: list[str],
                        ind: int, out) -> None:
    """A call_indirect or return_call_indirect in short code (`short_fuel`): one call of
    `machine.indirect_caller` or `machine.tail_call_indirect`, the signature key a bound global."""
    interp = fc.interp
    canonical = _KEYS.get(key)
    if canonical is None:
        remember(_KEYS, key, key, SHARED_MAX)
        canonical = key
    sig = interp.bind_shared(canonical, "sig")
    rest = "".join(f", {a}" for a in args)
    if inst.opcode.name.startswith("return_call"):
        fc.leave(ind, out)
        out.append((ind, f"return _tailind(_m, {callee}, {sig}{rest})"))
        return
    caller = _CALLERS.get(interp.max_call_depth)
    if caller is None:
        caller = indirect_caller(interp.max_call_depth)
        remember(_CALLERS, interp.max_call_depth, caller, SHARED_MAX)
    call = f"{interp.bind_shared(caller, 'callind')}(_m, _d, {callee}, {sig}{rest})"
    results = [f"v{r}" for r in inst.results]
    out.append((ind, f"{', '.join(results)} = {call}" if results else call))
    fc.fm = True
    fc.unchecked = True  # (the callee may leave its last charge unchecked, as after any call)
