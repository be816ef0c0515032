"""Masks the compiler leaves out where value ranges prove a sum cannot wrap (interpreter/ranges.py):
only there, and with the same results as with every mask."""

import pytest

from clifkit.interpreter import Interpreter, compiler, ranges
from clifkit.reader import parse_text


@pytest.fixture(autouse=True)
def every_function_analysed(monkeypatch):
    """These tests look at the analysis on straight-line functions too, which the compiler skips for
    a function that runs its code once per call (`compiler.COMPACT_ONCE`): analyse them all."""
    monkeypatch.setattr(compiler, "COMPACT_ONCE", False)

PROGRAMS = """
function %count(i32) -> i32 {
block0(v0: i32):
    v1 = iconst.i32 0
    jump block1(v1)

block1(v2: i32):
    v3 = iadd_imm v2, 1
    v4 = icmp ult v3, v0
    brif v4, block1(v3), block2(v3)

block2(v5: i32):
    return v5
}

function %count_ule(i32) -> i32 {
block0(v0: i32):
    v1 = iconst.i32 0
    jump block1(v1)

block1(v2: i32):
    v3 = iadd_imm v2, 1
    v4 = icmp ule v3, v0
    brif v4, block1(v3), block2(v3)

block2(v8: i32):
    return v8
}

function %down(i32) -> i32 {
block0(v0: i32):
    v1 = icmp_imm ult v0, 2
    brif v1, block1, block2

block1:
    v2 = iadd_imm v0, -1
    return v2

block2:
    v3 = iadd_imm v0, -2
    return v3
}

function %signed(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    v2 = icmp slt v0, v1
    brif v2, block1, block2

block1:
    v3 = iadd_imm v0, 1
    return v3

block2:
    v4 = band_imm v0, 0xff
    v5 = band_imm v1, 0xff
    v6 = icmp slt v4, v5
    brif v6, block3, block4

block3:
    v7 = iadd_imm v4, 1
    v8 = isub v5, v4
    v9 = ishl_imm v8, 3
    return v9

block4:
    v10 = iadd v4, v5
    v11 = imul v10, v5
    return v11
}
"""

EDGES = [0, 1, 2, 3, 5, 6, 19, 20, 21, 0x7F, 0x80, 0xFF, 0x100, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF]


def interp():
    return Interpreter([d.function for d in parse_text(PROGRAMS).functions])


def test_masks_left_out_only_where_no_value_wraps():
    it = interp()
    count = it.compile("%count")
    assert "v2 + 0x1" in count and "& 0xffffffff" not in count  # v2 < v0 <= 2^32-1 when v3 is made
    # v3 <= v0 lets v3 reach 2^32-1, so v2 + 1 may wrap: masked.
    assert "& 0xffffffff" in it.compile("%count_ule")
    down = it.compile("%down")
    assert "(v0 - 0x2)" in down and "((v0 - 0x1) & 0xffffffff)" in down  # only where v0 >= 2
    signed = it.compile("%signed")
    assert "((v0 + 0x1) & 0xffffffff)" in signed  # v0 < v1 signed: v0 may be 2^32-1 (that is, -1)
    # Below 2^31 both, the signed order is the unsigned one: v4 < v5 <= 0xff.
    assert "(v4 + v5)" in signed and "(v5 - v4)" in signed and "<< 3)" in signed
    assert "<< 3) &" not in signed


@pytest.mark.parametrize("name,arity", [("%count", 1), ("%count_ule", 1), ("%down", 1), ("%signed", 2)])
def test_results_are_those_of_the_masked_code(monkeypatch, name, arity):
    fast = interp()
    fast.fuel = 10**7
    with monkeypatch.context() as m:
        m.setattr(ranges.Ranges, "unmasked", lambda self, inst, block: None)
        masked = interp()
        masked.fuel = 10**7
        masked.compile(name)
        assert "0xffffffff" in masked.sources[masked.index[name]]
    small = [a for a in EDGES if name not in ("%count", "%count_ule") or a < 100]
    cases = [[a] for a in small] if arity == 1 else [[a, b] for a in EDGES for b in EDGES]
    for args in cases:
        want = masked.call(name, args)
        want_executed = masked.executed
        assert fast.call(name, args) == want, (name, args)
        assert fast.executed == want_executed


def test_a_function_that_runs_once_keeps_every_mask(monkeypatch):
    # No loop, no recursion: the compiler skips the range analysis (`compiler.COMPACT_ONCE`), so
    # every wrapping template keeps its mask, and the results are those of the analysed code.
    text = """
function %once(i32) -> i32 {
block0(v0: i32):
    v1 = band_imm v0, 0xff
    v2 = iadd_imm v1, 1
    return v2
}
"""
    analysed = Interpreter([d.function for d in parse_text(text).functions])
    assert "& 0xffffffff" not in analysed.compile("%once")
    monkeypatch.setattr(compiler, "COMPACT_ONCE", True)
    once = Interpreter([d.function for d in parse_text(text).functions])
    assert "& 0xffffffff" in once.compile("%once")
    for x in (0, 1, 0xFF, 0x1FF, 0xFFFFFFFF):
        assert once.call("%once", [x]) == analysed.call("%once", [x]) == [(x & 0xFF) + 1]
    loop = Interpreter([d.function for d in parse_text(PROGRAMS).functions])
    assert "v2 + 0x1" in loop.compile("%count")  # a loop is still analysed: its counter unmasked
