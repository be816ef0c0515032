"""The interpreter compiler's speed devices keep its semantics: deferred fuel checks of pure
blocks (compiler.PURE) and merged tail-call groups (tail_groups.py)."""

import pytest

from clifkit.interpreter import FuelExhausted, Interpreter, Trap
from clifkit.reader import parse_text

PURE_THEN_STORE = """
function %f(i64) -> i64 {
    ss0 = explicit_slot 8

block0(v0: i64):
    v1 = iadd_imm v0, 1
    v2 = icmp_imm ult v1, 10
    brif v2, block1, block2

block1:
    stack_store v1, ss0
    v3 = stack_load.i64 ss0
    return v3

block2:
    return v0
}

function %spin(i64) -> i64 {
block0(v0: i64):
    jump block1(v0)

block1(v1: i64):
    v2 = iadd_imm v1, 1
    jump block2(v2)

block2(v3: i64):
    jump block1(v3)
}
"""


def interp(text, **kw):
    return Interpreter([d.function for d in parse_text(text).functions], **kw)


def test_deferred_fuel_checks_stay_exact():
    it = interp(PURE_THEN_STORE, fuel=6)
    assert it.call("%f", [1]) == [2]
    assert it.executed == 6
    assert "_f -= 3" not in it.sources[0] and "_m.fuel - 6" in it.sources[0]  # the entry block defers
    with pytest.raises(FuelExhausted):
        interp(PURE_THEN_STORE, fuel=5).call("%f", [1])
    assert interp(PURE_THEN_STORE, fuel=4).call("%f", [20]) == [20]
    with pytest.raises(FuelExhausted):
        interp(PURE_THEN_STORE, fuel=3).call("%f", [20])


def test_a_cycle_of_pure_blocks_still_runs_out_of_fuel():
    with pytest.raises(FuelExhausted):
        interp(PURE_THEN_STORE, fuel=10_000).call("%spin", [0])
