"""Proof-carrying-code facts and memory types (Cranelift 0.103 to 0.133, wasmtime v16 to v33):
read as Cranelift's reader reads them, printed as its printer prints them, verified (memory
types' structure) and ignored by every engine."""

from __future__ import annotations

import pytest

from clifkit.api import call, parse, to_text, verify
from clifkit.diagnostics import ClifError

PCC = """function %f(i64 vmctx, i32) -> i64 {
    gv0 = vmctx
    gv1 ! mem(mt0, 0, 0) = load.i64 notrap aligned checked gv0+8
    mt0 = struct 16 { 0: i64 readonly ! dynamic_mem(mt1, 0, 0), 8: i64 readonly ! dynamic_range(64, gv1, gv1+4) }
    mt1 = dynamic_memory gv1 + 0x8000_0000
    mt2 = memory 0x1_0000_0000
    mt3 = empty
block0(v0 ! mem(mt0, 0, 0): i64, v1 ! range(32, 0, 0xffff): i32):
    v2 ! range(64, 0, 0xffff) = uextend.i64 v1
    v3 ! compare(uge, v1, gv1-1) = icmp_imm uge v2, 0
    v4 ! dynamic_mem(mt1, max, 0, nullable) = iadd_imm v2, 3
    v5 ! def(v2), v6 ! conflict = isplit.i64 v4
    return v4
}
"""

PRINTED = [
    "gv1 ! mem(mt0, 0x0, 0x0) = load.i64 notrap aligned checked gv0+8",
    "mt0 = struct 16 { 0: i64 readonly ! dynamic_mem(mt1, 0, 0), 8: i64 readonly ! dynamic_range(64, gv1, gv1+0x4) }",
    "mt1 = dynamic_memory gv1+0x80000000",
    "mt2 = memory 0x100000000",
    "mt3 = empty",
    "block0(v0 ! mem(mt0, 0x0, 0x0): i64, v1 ! range(32, 0x0, 0xffff): i32):",
    "v2 ! range(64, 0x0, 0xffff) = uextend.i64 v1",
    "v3 ! compare(uge, v1, gv1-0x1) = icmp_imm uge v2, 0",
    "v4 ! dynamic_mem(mt1, max, 0, nullable) = iadd_imm v2, 3",
    "v5 ! def(v2), v6 ! conflict = isplit v4",
]


def test_facts_and_memory_types_read_and_print_as_cranelift_writes_them():
    tf = parse(PCC, "p.clif")
    text = to_text(tf)
    for line in PRINTED:
        assert "    " + line in text or line in text.splitlines(), line
    assert to_text(parse(text, "p.clif")) == text
    assert verify(tf, PCC) == []


def test_facts_change_nothing_a_function_computes():
    assert call(parse(PCC, "p.clif"), "%f", 0, 7) == 10


@pytest.mark.parametrize("old, new, error", [
    ("range(32, 0, 0xffff)", "range(65, 0, 1)", "5:... bitwidth must be <= 64 bits on a `range` fact"),
    ("range(32, 0, 0xffff)", "range(32, 2, 1)", "min value must be less than or equal to max value"),
    ("range(32, 0, 0xffff)", "range(8, 0, 0x100)", "max value is out of range for bitwidth on a `range` fact"),
    ("! conflict", "! nonsense", "expected a `range`, `dynamic_range`, `mem`"),
    ("mem(mt0, 0, 0) = load", "mem(mt9, 0, 0) = load", "undefined memory type mt9"),
    ("mt3 = empty", "mt3 = heap 4", "unknown memory type kind 'heap'"),
    ("compare(uge,", "compare(bogus,", "unknown condition code 'bogus'"),
    ("nullable) = iadd_imm", "maybe) = iadd_imm", "`nullable` in the last field"),
])  # fmt: skip
def test_bad_facts_are_located_errors(old, new, error):
    with pytest.raises(ClifError) as e:
        parse(PCC.replace(old, new), "p.clif")
    assert error.split("... ")[-1] in str(e.value) and "p.clif:" in str(e.value)


@pytest.mark.parametrize("struct, message", [
    ("struct 8 { 4: i32, 0: i32 }", "memory type mt0 has a field at offset 0, which is out-of-order"),
    ("struct 8 { 0: i32, 6: i32 }", "memory type mt0 has a field at offset 6 of size 4 that overflows the struct size 8"),
    ("struct 8 { 0: i32, 0xffff_ffff_ffff_ffff: i32 }",
     "memory type mt0 has a field at offset 18446744073709551615 of size 4; offset plus size overflows a u64"),
])  # fmt: skip
def test_memory_type_structure_is_verified(struct, message):
    text = f"""function %f(i64) -> i32 {{
    mt0 = {struct}
block0(v0 ! mem(mt0, 0, 0): i64):
    v1 = load.i32 v0
    return v1
}}
"""
    [d] = verify(parse(text, "m.clif"), text)
    assert d.message == message and d.loc.line == 2
