"""`ranges` reads an immediate as its opcode's builder does (bit_ops' helpers), not a reading of its own."""

import pytest

from clifkit.interpreter import Interpreter, compiler, ranges
from clifkit.reader import parse_text


@pytest.fixture(autouse=True)
def every_function_analysed(monkeypatch):
    """These tests look at the analysis on straight-line functions too, which the compiler skips for
    a function that runs its code once per call (`compiler.COMPACT_ONCE`): analyse them all."""
    monkeypatch.setattr(compiler, "COMPACT_ONCE", False)


PROGRAM = """
function %low(i128) -> i128 {
block0(v0: i128):
    v1 = band_imm v0, -1
    v2 = iadd_imm v1, 1
    return v2
}
"""

EDGES = [0, 1, 0xFFFFFFFFFFFFFFFE, 0xFFFFFFFFFFFFFFFF, 1 << 64, (1 << 128) - 1]


def interp():
    return Interpreter([d.function for d in parse_text(PROGRAM).functions])


def test_band_imm_at_i128_is_zero_extended_in_the_range_too(monkeypatch):
    # band_imm's immediate is zero-extended at i128 (v1 <= 2^64 - 1), so v1 + 1 cannot wrap.
    fast = interp()
    source = fast.compile("%low")
    assert "+ 0x1)" in source and "0xffffffffffffffffffffffffffffffff" not in source
    with monkeypatch.context() as m:
        m.setattr(ranges.Ranges, "unmasked", lambda self, inst, block: None)
        masked = interp()
        assert "0xffffffffffffffffffffffffffffffff" in masked.compile("%low")
    for a in EDGES:
        assert fast.call("%low", [a]) == masked.call("%low", [a]) == [(a & 0xFFFFFFFFFFFFFFFF) + 1]
