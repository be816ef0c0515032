"""The interpreter engine: compilation to Python, control flow, calls, fuel, stack, globals, atomics.

Functions are built by hand with `FB` (a tiny IR builder), so these tests do
not depend on the reader. Arithmetic comes from the family modules
(integer_ops, float_ops).
"""

from __future__ import annotations

import sys

import pytest

from clifkit.interpreter import Environment, FuelExhausted, Interpreter, Trap, Unsupported
from clifkit.interpreter.memory import CODE_BASE, STACK_BASE, STACK_TOP
from clifkit.ir.entities import ExtFuncData, GlobalValueData, StackSlotData
from clifkit.ir.function import (
    AbiParam,
    Block,
    BlockCall,
    ExternalName,
    Function,
    Inst,
    JumpTableData,
    Signature,
)
from clifkit.ir.try_call import ExceptionTableData, TryCallRet
from clifkit.ir.memflags import MemFlags
from clifkit.ir.opcodes import OPCODES
from clifkit.ir.types import F32, F64, I8, I16, I32, I64, I128, Type

I32X4 = Type.get("i", 32, 4)
I8X16 = Type.get("i", 8, 16)


# -- a small IR builder ------------------------------------------------------------


class FB:
    """Build a Function: blocks with typed params, instructions by opcode name."""

    def __init__(self, name, params=(), returns=(), call_conv="fast"):
        ps = [p if isinstance(p, AbiParam) else AbiParam(p) for p in params]
        self.f = Function(name, Signature(ps, [AbiParam(t) for t in returns], call_conv))
        self.nv = 0
        self.cur = None

    def _value(self, t):
        v = self.nv
        self.nv += 1
        self.f.value_types[v] = t
        return v

    def block(self, *types):
        n = len(self.f.blocks)
        self.f.blocks[n] = Block(n, [self._value(t) for t in types])
        self.cur = n
        return n, self.f.blocks[n].params

    def entry(self):
        """The entry block with the signature's params."""
        return self.block(*[p.type for p in self.f.signature.params])

    def at(self, b):
        self.cur = b

    def ins(self, op, *args, ty=None, results=None, **fields):
        opc = OPCODES[op]
        if results is None:
            results = [ty] if (opc.outs and ty is not None) else []
        rs = [self._value(t) for t in results]
        inst = Inst(opc, ty if opc.is_polymorphic else None, list(args), rs, **fields)
        self.f.blocks[self.cur].insts.append(inst)
        return rs[0] if len(rs) == 1 else (rs or None)

    # shorthands
    def iconst(self, t, n):
        return self.ins("iconst", ty=t, imm=n)

    def ret(self, *vals):
        self.ins("return", *vals)

    def jump(self, b, *args):
        self.ins("jump", dests=[BlockCall(b, list(args))])

    def brif(self, c, then, then_args, other, other_args):
        self.ins("brif", c, dests=[BlockCall(then, list(then_args)), BlockCall(other, list(other_args))])

    def func_ref(self, name, params, returns, call_conv="fast"):
        sig = len(self.f.signatures)
        self.f.signatures[sig] = Signature([AbiParam(t) for t in params], [AbiParam(t) for t in returns], call_conv)
        fr = len(self.f.func_refs)
        self.f.func_refs[fr] = ExtFuncData(ExternalName(name), sig)
        return fr

    def sig(self, params, returns, call_conv="fast"):
        sig = len(self.f.signatures)
        self.f.signatures[sig] = Signature([AbiParam(t) for t in params], [AbiParam(t) for t in returns], call_conv)
        return sig

    def slot(self, size, align=None):
        ss = len(self.f.stack_slots)
        self.f.stack_slots[ss] = StackSlotData("explicit_slot", size, align)
        return ss

    def gv(self, **kw):
        gv = len(self.f.global_values)
        self.f.global_values[gv] = GlobalValueData(**kw)
        return gv


def run(funcs, name, args=(), **kw):
    env = kw.pop("env", None)
    return Interpreter(funcs if isinstance(funcs, list) else [funcs], **kw).call(name, list(args), env=env)


# -- functions used by several tests ---------------------------------------------------


def checksum_fn():
    fb = FB("%checksum", [I32], [I32])
    b0, (n,) = fb.entry()
    b1, (i, acc) = fb.block(I32, I32)
    b2, (res,) = fb.block(I32)
    fb.at(b0)
    z = fb.iconst(I32, 0)
    fb.jump(b1, z, z)
    fb.at(b1)
    a = fb.ins("imul_imm", acc, ty=I32, imm=31)
    b = fb.ins("bxor", a, i, ty=I32)
    c = fb.ins("iadd_imm", b, ty=I32, imm=7)
    i2 = fb.ins("iadd_imm", i, ty=I32, imm=1)
    cond = fb.ins("icmp", i2, n, ty=I32, results=[I8], cond="ult")
    fb.brif(cond, b1, [i2, c], b2, [c])
    fb.at(b2)
    fb.ret(res)
    return fb.f


def py_checksum(n):
    i = acc = 0
    while True:
        acc = (((acc * 31) & 0xFFFFFFFF) ^ i) + 7 & 0xFFFFFFFF
        i += 1
        if not i < n:
            return acc


def fib_fn():
    fb = FB("%fib", [I32], [I32])
    fr = fb.func_ref("%fib", [I32], [I32])
    b0, (n,) = fb.entry()
    b1, _ = fb.block()
    b2, _ = fb.block()
    fb.at(b0)
    c = fb.ins("icmp_imm", n, ty=I32, results=[I8], cond="ult", imm=2)
    fb.brif(c, b1, [], b2, [])
    fb.at(b1)
    fb.ret(n)
    fb.at(b2)
    a = fb.ins("iadd_imm", n, ty=I32, imm=-1)
    ra = fb.ins("call", a, func_ref=fr, results=[I32])
    b = fb.ins("iadd_imm", n, ty=I32, imm=-2)
    rb = fb.ins("call", b, func_ref=fr, results=[I32])
    fb.ret(fb.ins("iadd", ra, rb, ty=I32))
    return fb.f


# -- control flow ---------------------------------------------------------------------------


def test_loop_with_block_params():
    for n in (1, 2, 10, 1000):
        assert run(checksum_fn(), "%checksum", [n]) == [py_checksum(n)]


def test_instruction_count():
    interp = Interpreter([checksum_fn()])
    interp.call("%checksum", [10])
    assert interp.executed == 2 + 6 * 10 + 1


def test_generated_source_is_available():
    interp = Interpreter([checksum_fn()])
    src = interp.compile("%checksum")
    assert "def _F0(_m, _d, v0):" in src
    assert "while True:" in src


def _sum_to():
    # block0 -> block1(header) -> block2(body) -> block1; block1 -> block3(exit)
    fb = FB("%sum_to", [I32], [I32])
    b0, (n,) = fb.entry()
    b1, (k, s) = fb.block(I32, I32)
    b2, _ = fb.block()
    b3, (out,) = fb.block(I32)
    fb.at(b0)
    fb.jump(b1, n, fb.iconst(I32, 0))
    fb.at(b1)
    fb.brif(k, b2, [], b3, [s])
    fb.at(b2)
    s2 = fb.ins("iadd", s, k, ty=I32)
    k2 = fb.ins("iadd_imm", k, ty=I32, imm=-1)
    fb.jump(b1, k2, s2)
    fb.at(b3)
    fb.ret(out)
    return fb.f


def test_loop_header_and_body():
    f = _sum_to()
    for n, want in ((0, 0), (10, 55), (1000, 500500)):
        assert run(f, "%sum_to", [n]) == [want]


def test_parallel_block_param_assignment_swaps():
    # block1(a, b): jump block1(b, a) n times; the swap must be parallel.
    fb = FB("%swap", [I32, I32, I32], [I32, I32])
    b0, (x, y, n) = fb.entry()
    b1, (a, b, k) = fb.block(I32, I32, I32)
    b2, _ = fb.block()
    fb.at(b0)
    fb.jump(b1, x, y, n)
    fb.at(b1)
    fb.brif(k, b2, [], 3, [a, b])
    fb.at(b2)
    k2 = fb.ins("iadd_imm", k, ty=I32, imm=-1)
    fb.jump(b1, b, a, k2)
    b3, (ra, rb) = fb.block(I32, I32)
    fb.ret(ra, rb)
    assert run(fb.f, "%swap", [1, 2, 3]) == [2, 1]
    assert run(fb.f, "%swap", [1, 2, 4]) == [1, 2]


def _br_table(ntargets, with_args=False):
    # br_table v0, block_default, [block_t0 .. block_tn]: each returns its own number.
    fb = FB("%table", [I32], [I32])
    b0, (x,) = fb.entry()
    exits = []
    for i in range(ntargets + 1):
        if with_args:
            b, (p,) = fb.block(I32)
            fb.ret(fb.ins("iadd_imm", p, ty=I32, imm=1000 * i))
        else:
            b, _ = fb.block()
            fb.ret(fb.iconst(I32, 100 + i))
        exits.append(b)
    fb.at(b0)
    args = [x] if with_args else []
    table = JumpTableData(BlockCall(exits[-1], args), [BlockCall(exits[i], args) for i in range(ntargets)])
    fb.ins("br_table", x, jump_table=table)
    return fb.f


@pytest.mark.parametrize("ntargets", [0, 1, 3, 4, 5, 17])
def test_br_table_edges(ntargets):
    f = _br_table(ntargets)
    interp = Interpreter([f])
    for i in range(ntargets):
        assert interp.call("%table", [i]) == [100 + i]
    for out_of_range in (ntargets, ntargets + 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, -1):
        assert interp.call("%table", [out_of_range]) == [100 + ntargets]


def test_br_table_with_block_args_and_shared_targets():
    f = _br_table(6, with_args=True)
    interp = Interpreter([f])
    assert interp.call("%table", [0]) == [0]
    assert interp.call("%table", [5]) == [5 + 5000]
    assert interp.call("%table", [6]) == [6 + 6000]  # default: exits[6]
    # A table whose entries all go to one block, and to the default.
    fb = FB("%same", [I32], [I32])
    b0, (x,) = fb.entry()
    b1, _ = fb.block()
    fb.ret(fb.iconst(I32, 1))
    b2, _ = fb.block()
    fb.ret(fb.iconst(I32, 2))
    fb.at(b0)
    fb.ins("br_table", x, jump_table=JumpTableData(BlockCall(b2), [BlockCall(b1)] * 3))
    assert [run(fb.f, "%same", [i])[0] for i in (0, 2, 3, 99)] == [1, 1, 2, 2]


@pytest.mark.parametrize("t,value,taken", [
    (I8, 0x80, True), (I8, 0, False), (I64, 1 << 63, True), (I128, 1 << 100, True),
    (I128, 0, False), (I16, 0x100, True),
])  # fmt: skip
def test_brif_tests_nonzero_of_any_width(t, value, taken):
    fb = FB("%b", [t], [I32])
    b0, (x,) = fb.entry()
    b1, _ = fb.block()
    fb.ret(fb.iconst(I32, 1))
    b2, _ = fb.block()
    fb.ret(fb.iconst(I32, 0))
    fb.at(b0)
    fb.brif(x, b1, [], b2, [])
    assert run(fb.f, "%b", [value]) == [int(taken)]


def test_brif_both_arms_same_block():
    fb = FB("%b", [I32], [I32])
    b0, (x,) = fb.entry()
    b1, (p,) = fb.block(I32)
    fb.ret(p)
    fb.at(b0)
    fb.brif(x, b1, [x], b1, [x])
    assert run(fb.f, "%b", [7]) == [7]
    fb2 = FB("%c", [I32], [I32])
    b0, (x,) = fb2.entry()
    b1, (p,) = fb2.block(I32)
    fb2.ret(p)
    fb2.at(b0)
    fb2.brif(x, b1, [fb2.iconst(I32, 5)], b1, [fb2.iconst(I32, 6)])
    assert run(fb2.f, "%c", [1]) == [5]
    assert run(fb2.f, "%c", [0]) == [6]


def test_long_chain_of_conditionals_compiles():
    # 300 nested single-predecessor blocks: the compiler must cap the nesting depth.
    n = 300
    fb = FB("%chain", [I32], [I32])
    b0, (x,) = fb.entry()
    fail, _ = fb.block()
    fb.ret(fb.iconst(I32, 0))
    cur = b0
    for i in range(n):
        nxt, _ = fb.block()
        fb.at(cur)
        c = fb.ins("icmp_imm", x, ty=I32, results=[I8], cond="ugt", imm=i)
        fb.brif(c, nxt, [], fail, [])
        cur = nxt
    fb.at(cur)
    fb.ret(fb.iconst(I32, 1))
    interp = Interpreter([fb.f])
    assert interp.call("%chain", [n]) == [1]
    assert interp.call("%chain", [n - 1]) == [0]


def test_many_dispatch_roots():
    # A dense state machine: 40 blocks each jumping to (i * 7) % 40 while a counter runs down.
    n = 40
    fb = FB("%sm", [I32], [I32])
    b0, (k,) = fb.entry()
    blocks = [fb.block(I32, I32) for _ in range(n)]
    done, (res,) = fb.block(I32)
    fb.ret(res)
    fb.at(b0)
    fb.jump(blocks[0][0], k, fb.iconst(I32, 0))
    for i, (b, (cnt, acc)) in enumerate(blocks):
        fb.at(b)
        acc2 = fb.ins("iadd_imm", acc, ty=I32, imm=i)
        cnt2 = fb.ins("iadd_imm", cnt, ty=I32, imm=-1)
        fb.brif(cnt, blocks[(i * 7 + 1) % n][0], [cnt2, acc2], done, [acc])
    state, acc, cnt = 0, 0, 100
    while cnt:
        acc, cnt, state = acc + state, cnt - 1, (state * 7 + 1) % n
    assert run(fb.f, "%sm", [100]) == [acc]


# -- traps ----------------------------------------------------------------------------------


def test_trap_codes():
    fb = FB("%t", [I32], [I32])
    b0, (x,) = fb.entry()
    fb.ins("trapz", x, code="user7")
    fb.ins("trapnz", fb.ins("iadd_imm", x, ty=I32, imm=-5), code="int_ovf")
    b1, _ = fb.block()
    fb.at(b0)
    fb.brif(fb.ins("icmp_imm", x, ty=I32, results=[I8], cond="eq", imm=5), b1, [], b1, [])
    fb.at(b1)
    fb.ins("trap", code="user1")
    interp = Interpreter([fb.f])
    for arg, code in ((0, "user7"), (3, "int_ovf"), (5, "user1")):
        with pytest.raises(Trap) as e:
            interp.call("%t", [arg])
        assert e.value.code == code


def test_trapz_on_i128():
    fb = FB("%t", [I128], [I128])
    b0, (x,) = fb.entry()
    fb.ins("trapz", x, code="user1")
    fb.ret(x)
    assert run(fb.f, "%t", [1 << 127]) == [1 << 127]
    with pytest.raises(Trap):
        run(fb.f, "%t", [0])


# -- calls ------------------------------------------------------------------------------------


def test_recursive_calls():
    assert run(fib_fn(), "%fib", [15]) == [610]


def test_direct_call_multiple_results_and_no_results():
    callee = FB("%divmod", [I32, I32], [I32, I32])
    b0, (a, b) = callee.entry()
    callee.ret(b, a)
    nothing = FB("%nothing", [I32], [])
    nothing.entry()
    nothing.ret()
    fb = FB("%caller", [I32, I32], [I32, I32])
    fr = fb.func_ref("%divmod", [I32, I32], [I32, I32])
    fr2 = fb.func_ref("%nothing", [I32], [])
    b0, (x, y) = fb.entry()
    r1, r2 = fb.ins("call", x, y, func_ref=fr, results=[I32, I32])
    fb.ins("call", x, func_ref=fr2, results=[])
    fb.ret(r1, r2)
    assert run([callee.f, nothing.f, fb.f], "%caller", [3, 4]) == [4, 3]
    assert run([nothing.f], "%nothing", [1]) == []


def test_mutual_recursion():
    even = FB("%even", [I32], [I32])
    fr = even.func_ref("%odd", [I32], [I32])
    b0, (n,) = even.entry()
    b1, _ = even.block()
    even.ret(even.iconst(I32, 1))
    b2, _ = even.block()
    even.ret(even.ins("call", even.ins("iadd_imm", n, ty=I32, imm=-1), func_ref=fr, results=[I32]))
    even.at(b0)
    even.brif(n, b2, [], b1, [])
    odd = FB("%odd", [I32], [I32])
    fr = odd.func_ref("%even", [I32], [I32])
    b0, (n,) = odd.entry()
    b1, _ = odd.block()
    odd.ret(odd.iconst(I32, 0))
    b2, _ = odd.block()
    odd.ret(odd.ins("call", odd.ins("iadd_imm", n, ty=I32, imm=-1), func_ref=fr, results=[I32]))
    odd.at(b0)
    odd.brif(n, b2, [], b1, [])
    interp = Interpreter([even.f, odd.f])
    assert interp.call("%even", [10]) == [1]
    assert interp.call("%even", [7]) == [0]
    assert interp.call("%odd", [7]) == [1]


def _countdown(name, other, n_params=2, sp_check=False):
    """%name(n, acc): n == 0 ? acc : return_call other(n - 1, acc + 1)."""
    fb = FB(name, [I64] * n_params, [I64], "tail")
    fr = fb.func_ref(other, [I64] * n_params, [I64], "tail")
    b0, params = fb.entry()
    n, acc = params[0], params[1]
    b1, _ = fb.block()
    fb.ret(acc)
    b2, _ = fb.block()
    n2 = fb.ins("iadd_imm", n, ty=I64, imm=-1)
    acc2 = fb.ins("iadd_imm", acc, ty=I64, imm=1)
    fb.ins("return_call", n2, acc2, *params[2:], func_ref=fr)
    fb.at(b0)
    fb.brif(n, b2, [], b1, [])
    return fb.f


def test_self_tail_call_loop_runs_in_constant_stack():
    f = _countdown("%loop", "%loop")
    interp = Interpreter([f], max_call_depth=50)
    assert interp.call("%loop", [100_000, 0]) == [100_000]


def test_mutual_tail_calls_run_in_constant_stack():
    a = _countdown("%ping", "%pong", 3)
    b = _countdown("%pong", "%ping", 3)
    interp = Interpreter([a, b], max_call_depth=50)
    assert interp.call("%ping", [100_001, 5, 9]) == [100_006]
    # Reached through an ordinary call too: the caller's trampoline runs the chain.
    fb = FB("%outer", [I64], [I64])
    fr = fb.func_ref("%ping", [I64, I64, I64], [I64], "tail")
    b0, (n,) = fb.entry()
    r = fb.ins("call", n, fb.iconst(I64, 0), fb.iconst(I64, 0), func_ref=fr, results=[I64])
    fb.ret(fb.ins("iadd_imm", r, ty=I64, imm=1))
    interp = Interpreter([a, b, fb.f], max_call_depth=50)
    assert interp.call("%outer", [100_000]) == [100_001]


def test_return_call_indirect_loop():
    fb = FB("%iloop", [I64, I64], [I64], "tail")
    fr = fb.func_ref("%iloop", [I64, I64], [I64], "tail")
    sig = fb.sig([I64, I64], [I64], "tail")
    b0, (n, acc) = fb.entry()
    b1, _ = fb.block()
    fb.ret(acc)
    b2, _ = fb.block()
    addr = fb.ins("func_addr", ty=I64, func_ref=fr)
    fb.ins("return_call_indirect", addr, fb.ins("iadd_imm", n, ty=I64, imm=-1),
           fb.ins("iadd_imm", acc, ty=I64, imm=2), sig_ref=sig)
    fb.at(b0)
    fb.brif(n, b2, [], b1, [])
    assert Interpreter([fb.f], max_call_depth=20).call("%iloop", [50_000, 0]) == [100_000]


def test_stack_pointer_is_stable_across_tail_calls():
    # %loop(n, sp0): at n == 0 compare the stack pointer with the first iteration's.
    fb = FB("%sploop", [I64, I64], [I8], "tail")
    fr = fb.func_ref("%sploop", [I64, I64], [I8], "tail")
    b0, (n, sp0) = fb.entry()
    b1, _ = fb.block()
    sp = fb.ins("get_stack_pointer", ty=I64)
    fb.ret(fb.ins("icmp", sp0, sp, ty=I64, results=[I8], cond="eq"))
    b2, _ = fb.block()
    b3, _ = fb.block()
    b4, (keep,) = fb.block(I64)
    fb.at(b2)
    n2 = fb.ins("iadd_imm", n, ty=I64, imm=-1)
    fb.brif(sp0, b4, [sp0], b3, [])
    fb.at(b3)
    fb.jump(b4, fb.ins("get_stack_pointer", ty=I64))
    fb.at(b4)
    fb.ins("return_call", n2, keep, func_ref=fr)
    fb.at(b0)
    fb.brif(n, b2, [], b1, [])
    assert run(fb.f, "%sploop", [1000, 0]) == [1]


def test_indirect_calls_and_func_addr():
    callee = FB("%add10", [I64], [I64])
    b0, (x,) = callee.entry()
    callee.ret(callee.ins("iadd_imm", x, ty=I64, imm=10))
    fb = FB("%ind", [I64], [I64, I64])
    fr = fb.func_ref("%add10", [I64], [I64])
    sig = fb.sig([I64], [I64])
    b0, (x,) = fb.entry()
    addr = fb.ins("func_addr", ty=I64, func_ref=fr)
    r = fb.ins("call_indirect", addr, x, sig_ref=sig, results=[I64])
    fb.ret(r, addr)
    result, addr = run([callee.f, fb.f], "%ind", [5])
    assert result == 15
    assert addr == CODE_BASE  # opaque, but unique and stable


def test_call_indirect_checks_signature_and_target():
    callee = FB("%add10", [I64], [I64])
    b0, (x,) = callee.entry()
    callee.ret(x)
    fb = FB("%bad", [I64, I64], [I32])
    sig = fb.sig([I32], [I32])
    b0, (p, x) = fb.entry()
    fb.ret(fb.ins("call_indirect", p, fb.ins("ireduce", x, ty=I32, results=[I32]), sig_ref=sig, results=[I32]))
    interp = Interpreter([callee.f, fb.f])
    with pytest.raises(Trap) as e:
        interp.call("%bad", [CODE_BASE, 1])
    assert e.value.code == "bad_sig"
    for bogus in (0, CODE_BASE + 8, STACK_BASE):
        with pytest.raises(Trap) as e:
            interp.call("%bad", [bogus, 1])
        assert e.value.code == "heap_oob"


def test_stack_overflow_traps_at_max_depth():
    fb = FB("%down", [I32], [I32])
    fr = fb.func_ref("%down", [I32], [I32])
    b0, (n,) = fb.entry()
    b1, _ = fb.block()
    fb.ret(n)
    b2, _ = fb.block()
    fb.ret(fb.ins("call", fb.ins("iadd_imm", n, ty=I32, imm=-1), func_ref=fr, results=[I32]))
    fb.at(b0)
    fb.brif(n, b2, [], b1, [])
    interp = Interpreter([fb.f], max_call_depth=100)
    assert interp.call("%down", [99]) == [0]  # depth 100
    with pytest.raises(Trap) as e:
        interp.call("%down", [100])  # depth 101
    assert e.value.code == "stk_ovf"
    # Endless recursion with the default limit: a trap, never a RecursionError.
    with pytest.raises(Trap) as e:
        Interpreter([fb.f]).call("%down", [0xFFFFFFFF])
    assert e.value.code == "stk_ovf"
    assert sys.getrecursionlimit() < 10_000  # restored


def test_deep_recursion_beyond_python_default_limit():
    interp = Interpreter([_countdown_rec()], max_call_depth=5000)
    assert interp.call("%rec", [4000]) == [4000]


def _countdown_rec():
    fb = FB("%rec", [I32], [I32])
    fr = fb.func_ref("%rec", [I32], [I32])
    b0, (n,) = fb.entry()
    b1, _ = fb.block()
    fb.ret(n)
    b2, _ = fb.block()
    r = fb.ins("call", fb.ins("iadd_imm", n, ty=I32, imm=-1), func_ref=fr, results=[I32])
    fb.ret(fb.ins("iadd_imm", r, ty=I32, imm=1))
    fb.at(b0)
    fb.brif(n, b2, [], b1, [])
    return fb.f


def test_try_call_normal_return_edge():
    callee = FB("%callee", [I64], [I64, I64], "tail")
    b0, (x,) = callee.entry()
    callee.ret(callee.ins("iadd_imm", x, ty=I64, imm=10), x)
    fb = FB("%caller", [I64], [I64])
    fr = fb.func_ref("%callee", [I64], [I64, I64], "tail")
    sig = fb.sig([I64], [I64, I64], "tail")
    b0, (x,) = fb.entry()
    b1, (r0, r1, extra) = fb.block(I64, I64, I64)
    b2, _ = fb.block()
    fb.ret(fb.iconst(I64, 0))
    fb.at(b1)
    fb.ret(fb.ins("iadd", fb.ins("iadd", r0, r1, ty=I64), extra, ty=I64))
    fb.at(b0)
    table = ExceptionTableData(sig, BlockCall(b1, [TryCallRet(0), TryCallRet(1), x]), [(None, BlockCall(b2))])
    fb.ins("try_call", x, func_ref=fr, exception=table)
    assert run([callee.f, fb.f], "%caller", [5]) == [15 + 5 + 5]
    # try_call_indirect
    fb = FB("%icaller", [I64], [I64])
    fr = fb.func_ref("%callee", [I64], [I64, I64], "tail")
    sig = fb.sig([I64], [I64, I64], "tail")
    b0, (x,) = fb.entry()
    b1, (r0,) = fb.block(I64)
    fb.ret(r0)
    fb.at(b0)
    addr = fb.ins("func_addr", ty=I64, func_ref=fr)
    table = ExceptionTableData(sig, BlockCall(b1, [TryCallRet(1)]), [])
    fb.ins("try_call_indirect", addr, x, exception=table)
    assert run([callee.f, fb.f], "%icaller", [5]) == [5]


def _libcall_user(libname, t, n_args=1):
    fb = FB("%use", [t] * n_args, [t])
    fr = fb.func_ref(libname, [t] * n_args, [t])
    sig = fb.sig([t] * n_args, [t])
    b0, params = fb.entry()
    direct = fb.ins("call", *params, func_ref=fr, results=[t])
    addr = fb.ins("func_addr", ty=I64, func_ref=fr)
    indirect = fb.ins("call_indirect", addr, *params, sig_ref=sig, results=[t])
    fb.ins("trapnz", fb.ins("bxor", direct, indirect, ty=t), code="user9")
    fb.ret(direct)
    return fb.f


@pytest.mark.parametrize("name,t,args,want", [
    ("%CeilF32", F32, [0x3F000000], 0x3F800000),          # ceil(0.5) = 1.0
    ("%FloorF32", F32, [0xBF000000], 0xBF800000),         # floor(-0.5) = -1.0
    ("%TruncF64", F64, [0xC00C000000000000], 0xC008000000000000),  # trunc(-3.5) = -3.0
    ("%NearestF64", F64, [0x4004000000000000], 0x4000000000000000),  # nearest(2.5) = 2.0
    ("%CeilF64", F64, [0x3FE0000000000000], 0x3FF0000000000000),
    ("%FloorF64", F64, [0x3FF8000000000000], 0x3FF0000000000000),
    ("%TruncF32", F32, [0x3FC00000], 0x3F800000),
    ("%NearestF32", F32, [0x40200000], 0x40000000),      # nearest(2.5) = 2.0
    ("%FmaF32", F32, [0x40000000, 0x40400000, 0x3F800000], 0x40E00000),  # 2*3+1 = 7
    ("%FmaF64", F64, [0x4000000000000000, 0x4008000000000000, 0x3FF0000000000000], 0x401C000000000000),
])  # fmt: skip
def test_float_libcalls_direct_and_indirect(name, t, args, want):
    assert run(_libcall_user(name, t, len(args)), "%use", args) == [want]


def test_memory_libcalls():
    fb = FB("%mem", [I64], [I32, I64])
    cpy = fb.func_ref("%Memcpy", [I64, I64, I64], [I64])
    st = fb.func_ref("%Memset", [I64, I32, I64], [I64])
    cmp = fb.func_ref("%Memcmp", [I64, I64, I64], [I32])
    a, b = fb.slot(16), fb.slot(16)
    b0, (x,) = fb.entry()
    pa = fb.ins("stack_addr", ty=I64, stack_slot=a, offset=0)
    pb = fb.ins("stack_addr", ty=I64, stack_slot=b, offset=0)
    fb.ins("store", x, pa, flags=MemFlags(), offset=0)
    n = fb.iconst(I64, 16)
    fb.ins("call", pb, fb.iconst(I32, 0xAB), n, func_ref=st, results=[I64])
    fb.ins("call", pb, pa, fb.iconst(I64, 8), func_ref=cpy, results=[I64])
    c = fb.ins("call", pa, pb, n, func_ref=cmp, results=[I32])
    fb.ret(c, fb.ins("load", pb, ty=I64, flags=MemFlags(), offset=8))
    c, tail = run(fb.f, "%mem", [0x1122334455667788])
    assert tail == 0xABABABABABABABAB
    assert c == (0 - 0xAB) & 0xFFFFFFFF  # first difference at byte 8: 0x00 vs 0xab


# -- fuel -------------------------------------------------------------------------------


def _three():
    fb = FB("%three", [], [I32])
    fb.entry()
    v = fb.iconst(I32, 1)
    fb.ret(fb.ins("iadd_imm", v, ty=I32, imm=1))
    return fb.f


def test_fuel_is_exact_per_instruction_count():
    assert Interpreter([_three()], fuel=3).call("%three") == [2]
    with pytest.raises(FuelExhausted) as e:
        Interpreter([_three()], fuel=2).call("%three")
    assert "%three" in str(e.value)
    assert e.value.function == "%three"


def test_fuel_exhaustion_names_the_function_running():
    # An endless loop in a callee.
    spin = FB("%spin", [I32], [I32])
    b0, (x,) = spin.entry()
    b1, (y,) = spin.block(I32)
    spin.at(b0)
    spin.jump(b1, x)
    spin.at(b1)
    spin.jump(b1, spin.ins("iadd_imm", y, ty=I32, imm=1))
    fb = FB("%main", [], [I32])
    fr = fb.func_ref("%spin", [I32], [I32])
    fb.entry()
    fb.ret(fb.ins("call", fb.iconst(I32, 0), func_ref=fr, results=[I32]))
    interp = Interpreter([spin.f, fb.f], fuel=10_000)
    with pytest.raises(FuelExhausted) as e:
        interp.call("%main")
    assert e.value.function == "%spin"
    assert "fuel" in str(e.value)


def test_fuel_counts_across_calls():
    interp = Interpreter([fib_fn()])
    interp.call("%fib", [10])
    count = interp.executed
    assert Interpreter([fib_fn()], fuel=count).call("%fib", [10]) == [55]
    with pytest.raises(FuelExhausted):
        Interpreter([fib_fn()], fuel=count - 1).call("%fib", [10])


# -- unsupported ------------------------------------------------------------------------


def test_unsupported_opcode_is_reported_at_compile_time():
    fb = FB("%u", [I32], [I64])
    b0, (x,) = fb.entry()
    fb.ret(fb.ins("heap_addr", x, ty=I64, heap=0, offset=0, size=4))
    interp = Interpreter([fb.f])  # nothing compiled yet
    with pytest.raises(Unsupported) as e:
        interp.call("%u", [1])
    assert "heap_addr" in e.value.reason and "%u" in e.value.reason
    with pytest.raises(Unsupported):  # and again, from the cache
        interp.call("%u", [1])


def test_unsupported_external_function():
    fb = FB("%u", [], [I32])
    fr = fb.func_ref("%nowhere", [], [I32])
    fb.entry()
    fb.ret(fb.ins("call", func_ref=fr, results=[I32]))
    with pytest.raises(Unsupported) as e:
        run(fb.f, "%u")
    assert "%nowhere" in e.value.reason


def test_unsupported_only_for_the_function_that_needs_it():
    bad = FB("%bad", [I32], [I32])
    b0, (x,) = bad.entry()
    bad.ret(bad.ins("tls_value", ty=I32, global_value=0))
    interp = Interpreter([bad.f, checksum_fn()])
    assert interp.call("%checksum", [3]) == [py_checksum(3)]
    with pytest.raises(Unsupported):
        interp.call("%bad", [1])


def test_host_functions():
    fb = FB("%h", [I64], [I64])
    fr = fb.func_ref("%heap_grow", [I64], [I64])
    b0, (x,) = fb.entry()
    fb.ret(fb.ins("call", x, func_ref=fr, results=[I64]))
    seen = []

    def grow(machine, n):
        seen.append(machine.memory)
        return n * 2

    interp = Interpreter([fb.f], host_functions={"%heap_grow": (grow, [I64], [I64])})
    assert interp.call("%h", [21]) == [42]
    assert seen == [interp.memory]


# -- stack slots ------------------------------------------------------------------------------


def test_stack_slots_load_store_and_alignment():
    fb = FB("%slots", [I64], [I64, I64, I64, I64])
    s0 = fb.slot(3)
    s1 = fb.slot(8, align=64)
    s2 = fb.slot(16, align=16)
    b0, (x,) = fb.entry()
    fb.ins("stack_store", x, stack_slot=s1, offset=0)
    fb.ins("stack_store", fb.ins("ireduce", x, ty=I8, results=[I8]), stack_slot=s0, offset=2)
    a0 = fb.ins("stack_addr", ty=I64, stack_slot=s0, offset=0)
    a1 = fb.ins("stack_addr", ty=I64, stack_slot=s1, offset=0)
    a2 = fb.ins("stack_addr", ty=I64, stack_slot=s2, offset=8)
    fb.ins("store", fb.ins("stack_load", ty=I64, stack_slot=s1, offset=0), a2, flags=MemFlags(), offset=0)
    v = fb.ins("stack_load", ty=I64, stack_slot=s2, offset=8)
    fb.ret(v, a1, a2, fb.ins("uload8", a0, ty=I64, flags=MemFlags(), offset=2))
    v, a1, a2, byte = run(fb.f, "%slots", [0x1122334455667788])
    assert v == 0x1122334455667788
    assert a1 % 64 == 0 and (a2 - 8) % 16 == 0
    assert STACK_BASE <= a1 < STACK_TOP
    assert byte == 0x88


def test_stack_slots_are_zeroed_and_per_frame():
    # %rec(n): store n in its slot, recurse, then read the slot back: each frame keeps its own.
    fb = FB("%frames", [I32], [I32])
    fr = fb.func_ref("%frames", [I32], [I32])
    ss = fb.slot(4)
    b0, (n,) = fb.entry()
    b1, _ = fb.block()
    fb.ret(fb.ins("stack_load", ty=I32, stack_slot=ss, offset=0))  # never stored: zero
    b2, _ = fb.block()
    fb.ins("stack_store", n, stack_slot=ss, offset=0)
    r = fb.ins("call", fb.ins("iadd_imm", n, ty=I32, imm=-1), func_ref=fr, results=[I32])
    mine = fb.ins("stack_load", ty=I32, stack_slot=ss, offset=0)
    fb.ret(fb.ins("iadd", r, mine, ty=I32))
    fb.at(b0)
    fb.brif(n, b2, [], b1, [])
    interp = Interpreter([fb.f])
    assert interp.call("%frames", [100]) == [5050]
    assert interp.call("%frames", [3]) == [6]  # a fresh machine: the slots read zero again


def test_stack_slot_accesses_are_frame_memory_accesses():
    # As in native code: ss1+16 (one past a 16-byte slot) is the next slot's memory, and an
    # access running off the top of the stack traps.
    fb = FB("%s", [I128], [I128, I64])
    _, ss1, ss2 = fb.slot(16), fb.slot(16), fb.slot(16)
    b0, (x,) = fb.entry()
    fb.ins("stack_store", x, stack_slot=ss1, offset=16)
    fb.ret(fb.ins("stack_load", ty=I128, stack_slot=ss1, offset=16),
           fb.ins("stack_load", ty=I64, stack_slot=ss2, offset=8))
    assert run(fb.f, "%s", [(5 << 64) | 7]) == [(5 << 64) | 7, 5]
    fb = FB("%top", [], [I64])
    ss = fb.slot(8)
    fb.entry()
    fb.ret(fb.ins("stack_load", ty=I64, stack_slot=ss, offset=1 << 20))
    with pytest.raises(Trap) as e:
        run(fb.f, "%top")
    assert e.value.code == "heap_oob"


def test_vmctx_struct_on_the_stack():
    # corpus global_value.clif: a vmctx struct in a stack slot, read through gv load.
    callee = FB("%load_at_0_and_add", [AbiParam(I64, purpose="vmctx")], [I64])
    gv0 = callee.gv(kind="vmctx")
    gv1 = callee.gv(kind="load", base=gv0, offset=0, type=I64, flags=MemFlags(trap_code=None, aligned=True))
    callee.entry()
    v1 = callee.ins("global_value", ty=I64, global_value=gv1)
    callee.ret(callee.ins("iadd_imm", v1, ty=I64, imm=1))
    fb = FB("%vm_state", [], [I64])
    fr = fb.func_ref("%load_at_0_and_add", [I64], [I64])
    ss = fb.slot(8)
    fb.entry()
    fb.ins("stack_store", fb.iconst(I64, 1), stack_slot=ss, offset=0)
    fb.ret(fb.ins("call", fb.ins("stack_addr", ty=I64, stack_slot=ss, offset=0), func_ref=fr, results=[I64]))
    assert run([fb.f, callee.f], "%vm_state") == [2]


def test_large_frames():
    fb = FB("%big", [I64], [I64])
    big = fb.slot(3 * 4096 + 8)
    b0, (x,) = fb.entry()
    fb.ins("stack_store", x, stack_slot=big, offset=3 * 4096)
    fb.ins("stack_store", x, stack_slot=big, offset=4095)  # crosses a page boundary
    a = fb.ins("stack_load", ty=I64, stack_slot=big, offset=3 * 4096)
    b = fb.ins("stack_load", ty=I64, stack_slot=big, offset=4095)
    fb.ret(fb.ins("bxor", a, b, ty=I64))
    assert run(fb.f, "%big", [0x0102030405060708]) == [0]


# -- global values ------------------------------------------------------------------------------


def test_global_values_vmctx_load_iadd_imm_symbol():
    env = Environment()
    data = env.map(64, name="data", data=bytes(range(64)))
    vmctx = env.map(32, name="vmctx", data=data.to_bytes(8, "little"))
    env.define_symbol("%table", data + 16)
    fb = FB("%gv", [I32, AbiParam(I64, purpose="vmctx")], [I64, I64, I64, I64, I64])
    gv0 = fb.gv(kind="vmctx")
    gv1 = fb.gv(kind="load", base=gv0, offset=0, type=I64, flags=MemFlags(trap_code=None, aligned=True))
    gv2 = fb.gv(kind="iadd_imm", base=gv1, offset=8, type=I64)
    gv3 = fb.gv(kind="load", base=gv2, offset=0, type=I64, flags=MemFlags(trap_code=None, aligned=True))
    gv4 = fb.gv(kind="symbol", name=ExternalName("%table"), offset=4)
    gv5 = fb.gv(kind="symbol", name=ExternalName("%gv"), offset=0)
    fb.entry()
    vals = [fb.ins("global_value", ty=I64, global_value=g) for g in (gv0, gv2, gv3, gv4)]
    vals.append(fb.ins("symbol_value", ty=I64, global_value=gv5))
    fb.ret(*vals)
    got = run(fb.f, "%gv", [0, vmctx], env=env)
    assert got == [vmctx, data + 8, int.from_bytes(bytes(range(8, 16)), "little"), data + 20, CODE_BASE]


def test_undefined_symbol_is_unsupported_at_run_time():
    fb = FB("%s", [], [I64])
    gv = fb.gv(kind="symbol", name=ExternalName("%nowhere"), offset=0)
    fb.entry()
    fb.ret(fb.ins("symbol_value", ty=I64, global_value=gv))
    with pytest.raises(Unsupported):
        run(fb.f, "%s")


def test_pinned_register():
    fb = FB("%pin", [I64], [I64])
    b0, (x,) = fb.entry()
    fb.ins("set_pinned_reg", x)
    fb.ret(fb.ins("get_pinned_reg", ty=I64))
    interp = Interpreter([fb.f])
    for v in (0, 0xDEADBEEFC0FFEEEE, (1 << 64) - 1):
        assert interp.call("%pin", [v]) == [v]


def test_nop_fence_and_debugtrap():
    fb = FB("%n", [I32], [I32])
    b0, (x,) = fb.entry()
    fb.ins("nop")
    fb.ins("fence")
    fb.ret(x)
    assert run(fb.f, "%n", [4]) == [4]
    fb = FB("%d", [], [])
    fb.entry()
    fb.ins("debugtrap")
    fb.ret()
    with pytest.raises(Trap) as e:
        run(fb.f, "%d")
    assert e.value.code == "debug"


# -- atomics ----------------------------------------------------------------------------------


def _atomic(op, t, big=False):
    fb = FB("%a", [t, t], [t, t])
    ss = fb.slot(16)
    flags = MemFlags(endianness="big" if big else None)
    b0, (init, x) = fb.entry()
    p = fb.ins("stack_addr", ty=I64, stack_slot=ss, offset=0)
    fb.ins("store", init, p, flags=flags, offset=0)
    old = fb.ins("atomic_rmw", p, x, ty=t, flags=flags, rmw_op=op)
    fb.ret(old, fb.ins("atomic_load", p, ty=t, flags=flags))
    return fb.f


@pytest.mark.parametrize("op,a,b,want", [
    ("add", 0xF0, 0x20, 0x10), ("sub", 0x10, 0x20, 0xF0), ("and", 0xF0, 0x3C, 0x30),
    ("nand", 0xF0, 0x3C, 0xCF), ("or", 0xF0, 0x0F, 0xFF), ("xor", 0xFF, 0x0F, 0xF0),
    ("xchg", 1, 2, 2), ("umin", 0x80, 0x7F, 0x7F), ("umax", 0x80, 0x7F, 0x80),
    ("smin", 0x80, 0x7F, 0x80), ("smax", 0x80, 0x7F, 0x7F),
])  # fmt: skip
def test_atomic_rmw(op, a, b, want):
    assert run(_atomic(op, I8), "%a", [a, b]) == [a, want]


def test_atomic_rmw_wide_and_big_endian():
    assert run(_atomic("add", I64), "%a", [(1 << 64) - 1, 2]) == [(1 << 64) - 1, 1]
    assert run(_atomic("add", I128), "%a", [(1 << 64) - 1, 1]) == [(1 << 64) - 1, 1 << 64]
    # corpus atomic-rmw-subword-big.clif
    fb = FB("%sub", [I32, I64, I16], [I16, I32])
    ss = fb.slot(4)
    big = MemFlags(endianness="big")
    b0, (v0, off, v2) = fb.entry()
    p = fb.ins("stack_addr", ty=I64, stack_slot=ss, offset=0)
    fb.ins("store", v0, p, flags=big, offset=0)
    old = fb.ins("atomic_rmw", fb.ins("iadd", p, off, ty=I64), v2, ty=I16, flags=big, rmw_op="add")
    fb.ret(old, fb.ins("load", p, ty=I32, flags=big, offset=0))
    interp = Interpreter([fb.f])
    assert interp.call("%sub", [0x12345678, 0, 0x1111]) == [0x1234, 0x23455678]
    assert interp.call("%sub", [0x12345678, 2, 0xFFFF]) == [0x5678, 0x12345677]


def test_atomic_cas_and_store():
    fb = FB("%cas", [I32, I32, I32], [I32, I32])
    ss = fb.slot(4)
    b0, (init, expected, x) = fb.entry()
    p = fb.ins("stack_addr", ty=I64, stack_slot=ss, offset=0)
    fb.ins("atomic_store", init, p, flags=MemFlags())
    old = fb.ins("atomic_cas", p, expected, x, ty=I32, flags=MemFlags())
    fb.ret(old, fb.ins("load", p, ty=I32, flags=MemFlags(), offset=0))
    interp = Interpreter([fb.f])
    assert interp.call("%cas", [5, 5, 9]) == [5, 9]
    assert interp.call("%cas", [5, 4, 9]) == [5, 5]


def test_atomics_trap_out_of_bounds():
    fb = FB("%oob", [I64], [I32])
    b0, (p,) = fb.entry()
    fb.ret(fb.ins("atomic_rmw", p, fb.iconst(I32, 1), ty=I32, flags=MemFlags(), rmw_op="add"))
    with pytest.raises(Trap) as e:
        run(fb.f, "%oob", [0])
    assert e.value.code == "heap_oob"


# -- arguments and results -----------------------------------------------------------------------


def test_arguments_are_masked_and_checked():
    fb = FB("%id", [I8, I32X4], [I8, I32X4])
    b0, (a, v) = fb.entry()
    fb.ret(a, v)
    interp = Interpreter([fb.f])
    assert interp.call("%id", [-1, (1, -1, 2, 3)]) == [0xFF, (1, 0xFFFFFFFF, 2, 3)]
    with pytest.raises(TypeError):
        interp.call("%id", [1])
    with pytest.raises(KeyError):
        interp.call("%missing", [])


def test_direct_call_with_mismatched_signature_traps_bad_sig():
    callee = FB("%takes_i64", [I64], [I64])
    b0, (x,) = callee.entry()
    callee.ret(x)
    fb = FB("%caller", [I32], [I32])
    fr = fb.func_ref("%takes_i64", [I32], [I32])  # declared wrongly
    b0, (x,) = fb.entry()
    fb.ret(fb.ins("call", x, func_ref=fr, results=[I32]))
    with pytest.raises(Trap) as e:
        run([callee.f, fb.f], "%caller", [1])
    assert e.value.code == "bad_sig"


# -- from CLIF text (the reader) ----------------------------------------------------------------


def _parse(text):
    from clifkit.reader import parse_text

    return [d.function for d in parse_text(text).functions]


def test_dynamic_stack_slots():
    funcs = _parse("""
function %dyn(i32x4) -> i32x4, i32x4, i64 {
    gv0 = dyn_scale_target_const.i32x4
    dt0 = i32x4*gv0
    ss0 = explicit_slot 4
    dss0 = explicit_dynamic_slot dt0

block0(v0: i32x4):
    dynamic_stack_store v0, dss0
    v1 = dynamic_stack_load.dt0 dss0
    v2 = dynamic_stack_addr.i64 dss0
    v3 = load.i32x4 v2
    v4 = global_value.i64 gv0
    return v1, v3, v4
}
""")
    assert Interpreter(funcs).call("%dyn", [(1, 2, 3, 4)]) == [(1, 2, 3, 4), (1, 2, 3, 4), 1]


def test_tail_call_loop_with_stack_pointer_check_from_text():
    # The shape of the corpus's return-call-loop.clif, at 100k iterations.
    funcs = _parse("""
function %loop(i64, i64) -> i8 tail {
    fn0 = colocated %loop(i64, i64) -> i8 tail

block0(v0: i64, v1: i64):
    brif v0, block2, block1

block1:
    v2 = get_stack_pointer.i64
    v3 = icmp eq v1, v2
    return v3

block2:
    v4 = iadd_imm v0, -1
    brif v1, block4(v1), block3

block3:
    v5 = get_stack_pointer.i64
    jump block4(v5)

block4(v6: i64):
    return_call fn0(v4, v6)
}
""")
    assert Interpreter(funcs, max_call_depth=10).call("%loop", [100_000, 0]) == [1]


def test_try_call_with_handlers_from_text():
    funcs = _parse("""
function %callee(i64) -> i64 tail {
block0(v0: i64):
    v1 = iadd_imm.i64 v0, 10
    return v1
}

function %caller(i64) -> i64 {
    sig0 = (i64) -> i64 tail
    fn0 = %callee(i64) -> i64 tail

block0(v0: i64):
    try_call fn0(v0), sig0, block1(ret0), [tag0: block2(exn0), default: block2(exn0)]

block1(v1: i64):
    return v1

block2(v2: i64):
    v3 = iconst.i64 -1
    return v3
}
""")
    assert Interpreter(funcs).call("%caller", [10]) == [20]
