"""Fuel, depth and traps around calls, against the rule the compiler's fuel devices keep: a run's
outcome (results, trap code, running out of fuel) is the one it would have if every block checked
its fuel on entry. A callee whose last block is pure leaves its charge for the caller to check;
these are the places where something observable follows such a call without a block of its own."""

import pytest

from clifkit.interpreter import FuelExhausted, Interpreter, Trap
from clifkit.reader import parse_text

# %leaf is 4 instructions in one pure block ending in a return: its charge is left unchecked.
# Each caller's block0 (3 instructions, 2 with a return_call) and %leaf's are charged before the
# second call traps: one instruction less than both, and the run must run out of fuel instead.
CALLS = """
function %leaf(i64) -> i64 {
block0(v0: i64):
    v1 = iadd_imm v0, 1
    v2 = iadd_imm v1, 1
    v3 = iadd_imm v2, 1
    return v3
}

function %takes_i32(i32) -> i32 {
block0(v0: i32):
    return v0
}

function %huge_frame(i64) -> i64 tail {
    ss0 = explicit_slot 0xF0000000

block0(v0: i64):
    v1 = stack_addr.i64 ss0
    return v1
}

function %wrong_signature(i64) -> i64 {
    fn0 = %leaf(i64) -> i64
    fn1 = %takes_i32(i64) -> i64

block0(v0: i64):
    v1 = call fn0(v0)
    v2 = call fn1(v1)
    return v2
}

function %wrong_signature_tail(i64) -> i64 tail {
    fn0 = %leaf(i64) -> i64
    fn1 = %takes_i32(i64) -> i64 tail

block0(v0: i64):
    v1 = call fn0(v0)
    return_call fn1(v1)
}

function %stack_exhausted(i64) -> i64 tail {
    fn0 = %leaf(i64) -> i64
    fn1 = %huge_frame(i64) -> i64 tail

block0(v0: i64):
    v1 = call fn0(v0)
    v2 = call fn1(v1)
    return v2
}

function %stack_exhausted_tail(i64) -> i64 tail {
    fn0 = %leaf(i64) -> i64
    fn1 = %huge_frame(i64) -> i64 tail

block0(v0: i64):
    v1 = call fn0(v0)
    return_call fn1(v1)
}
"""


def interp(text, **kw):
    return Interpreter([d.function for d in parse_text(text).functions], **kw)


@pytest.mark.parametrize("name, needed, code", [
    ("%wrong_signature", 7, "bad_sig"),  # a direct call whose declared signature is not the callee's
    ("%wrong_signature_tail", 6, "bad_sig"),
    ("%stack_exhausted", 7, "stk_ovf"),  # the callee's frame does not fit on the stack
    ("%stack_exhausted_tail", 6, "stk_ovf"),
])
def test_a_charge_left_by_a_callee_runs_out_before_the_next_call_traps(name, needed, code):
    with pytest.raises(Trap) as e:
        interp(CALLS, fuel=needed).call(name, [1])
    assert e.value.code == code
    with pytest.raises(FuelExhausted):
        interp(CALLS, fuel=needed - 1).call(name, [1])


LEAF = """
function %leaf(i64) -> i64 {
block0(v0: i64):
    v1 = iadd_imm v0, 1
    return v1
}
"""

DEEP_FRAMES = LEAF + """
function %recurse(i64) -> i64 {
    ss0 = explicit_slot 0x4000000
    fn0 = %leaf(i64) -> i64
    fn1 = %recurse(i64) -> i64

block0(v0: i64):
    v1 = call fn0(v0)
    v2 = call fn1(v1)
    return v2
}
"""


def test_a_recursion_exhausting_the_stack_runs_out_of_fuel_at_the_budget_before_it():
    # Frames of 64 MiB: the interpreter's stack (0x0100_0000 to 0x8000_0000) holds 31 of them,
    # each level charging 3 (%recurse's block) + 2 (%leaf) before it calls the next; the 32nd
    # frame traps stk_ovf. One instruction less, and %leaf's charge at the 31st level runs out.
    levels = (0x8000_0000 - 0x0100_0000) // 0x400_0000
    needed = 5 * levels
    with pytest.raises(Trap) as e:
        interp(DEEP_FRAMES, fuel=needed).call("%recurse", [0])
    assert e.value.code == "stk_ovf"
    with pytest.raises(FuelExhausted):
        interp(DEEP_FRAMES, fuel=needed - 1).call("%recurse", [0])


def test_a_huge_call_depth_limit_runs():
    # Its Python recursion budget (2 frames a level) once overflowed sys.setrecursionlimit's C int.
    for limit in (2 * 10**9, 10**12):
        assert interp(DEEP_FRAMES, max_call_depth=limit).call("%leaf", [1]) == [2]


DEPTH_AFTER_CHARGE = LEAF + """
function %outer(i64) -> i64 {
    fn0 = %leaf(i64) -> i64

block0(v0: i64):
    v1 = iadd_imm v0, 1
    v2 = call fn0(v1)
    return v2
}
"""


@pytest.mark.parametrize("short", [True, False])
def test_one_call_charges_fuel_then_checks_the_depth(monkeypatch, short):
    # Short code charges %outer's block and checks the depth of its call in one call
    # (`_fuel1(_m, 3, _d)`): out of fuel first, at one instruction less than the block; else the
    # call too deep traps, and with depth to spare the call runs. As the fast path's two tests.
    from clifkit.interpreter import compiler

    monkeypatch.setattr(compiler, "COMPACT_ONCE", short)
    it = interp(DEPTH_AFTER_CHARGE, fuel=2, max_call_depth=1)
    assert ("(_m, 3, _d)" in it.compile("%outer")) == short
    with pytest.raises(FuelExhausted):
        it.call("%outer", [1])
    it.fuel = 3
    with pytest.raises(Trap) as e:
        it.call("%outer", [1])
    assert e.value.code == "stk_ovf"
    it = interp(DEPTH_AFTER_CHARGE, fuel=5, max_call_depth=2)
    assert it.call("%outer", [1]) == [3] and it.executed == 5
    it.fuel = 4
    with pytest.raises(FuelExhausted):
        it.call("%outer", [1])  # %leaf's charge, left to the caller, runs out at the end


INDIRECT = """
function %add10(i64) -> i64 tail {
    ss0 = explicit_slot 8

block0(v0: i64):
    stack_store v0, ss0
    v1 = stack_load.i64 ss0
    v2 = iadd_imm v1, 10
    return v2
}

function %bounce(i64) -> i64 tail {
    fn0 = %add10(i64) -> i64 tail

block0(v0: i64):
    v1 = iadd_imm v0, 1
    return_call fn0(v1)
}

function %ind(i64, i64) -> i64 tail {
    sig0 = (i64) -> i64 tail

block0(v0: i64, v1: i64):
    v2 = call_indirect sig0, v0(v1)
    v3 = iadd_imm v2, 100
    return v3
}

function %ind_tail(i64, i64) -> i64 tail {
    sig0 = (i64) -> i64 tail

block0(v0: i64, v1: i64):
    return_call_indirect sig0, v0(v1)
}

function %wrong(i64, i32) -> i32 tail {
    sig0 = (i32) -> i32 tail

block0(v0: i64, v1: i32):
    v2 = call_indirect sig0, v0(v1)
    return v2
}

function %wrong_tail(i64, i32) -> i32 tail {
    sig0 = (i32) -> i32 tail

block0(v0: i64, v1: i32):
    return_call_indirect sig0, v0(v1)
}

function %direct(i64) -> i64 tail {
    fn0 = %bounce(i64) -> i64 tail

block0(v0: i64):
    v1 = call fn0(v0)
    return v1
}
"""


def outcome(it, name, args):
    try:
        return ("returned", it.call(name, args), it.executed)
    except Trap as e:
        return ("trapped", e.code)
    except FuelExhausted:
        return ("out of fuel",)


def test_short_calls_agree_with_the_fast_path_at_every_budget(monkeypatch):
    # Short code's call_indirect, return_call_indirect, return_call (to %add10: it has a frame, so
    # no tail group takes it in) and call trampoline are one call each (machine.indirect_caller, tail_call_indirect, tail_call, returned): the same
    # results, traps (a wrong signature: bad_sig; no function there: heap_oob; too deep:
    # stk_ovf) and fuel, budget by budget, as the fast path's lines.
    from clifkit.interpreter import compiler
    from clifkit.interpreter.memory import CODE_BASE

    add10, bounce = CODE_BASE, CODE_BASE + 16
    runs = [("%ind", [add10, 5]), ("%ind", [bounce, 5]), ("%ind_tail", [add10, 5]),
            ("%ind_tail", [bounce, 5]), ("%wrong", [add10, 1]), ("%wrong_tail", [add10, 1]),
            ("%ind", [0, 1]), ("%ind_tail", [add10 + 8, 1]), ("%direct", [3])]
    for depth in (1, 2, 100):
        short = interp(INDIRECT, max_call_depth=depth)
        assert "_callind" in short.compile("%ind") and "_tailind(" in short.compile("%ind_tail")
        assert "_ret(_m, " in short.compile("%direct") and "_tail(_m, " in short.compile("%bounce")
        monkeypatch.setattr(compiler, "COMPACT_ONCE", False)
        fast = interp(INDIRECT, max_call_depth=depth)
        for i in range(len(fast.functions)):
            fast._compile(i)
        assert "_callind" not in fast.sources[2]
        monkeypatch.setattr(compiler, "COMPACT_ONCE", True)
        codes = set()
        for name, args in runs:
            short.fuel = fast.fuel = None
            want = outcome(fast, name, args)
            assert outcome(short, name, args) == want, (depth, name, args)
            codes.add(want[1] if want[0] == "trapped" else want[0])
            for budget in range(1, 12):
                short.fuel = fast.fuel = budget
                assert outcome(short, name, args) == outcome(fast, name, args), (depth, name, args, budget)
        assert codes >= {"returned", "bad_sig", "heap_oob"} and ("stk_ovf" in codes) == (depth == 1)
