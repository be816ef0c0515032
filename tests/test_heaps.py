"""Heaps, tables and the vmctx environment on the interpreter: directives, layout, semantics, growth."""

from __future__ import annotations

import dataclasses

import pytest

import clifkit

from clifkit.cli import main
from clifkit.diagnostics import ClifError, Location
from clifkit.reader import parse_text
from clifkit.environment.layout import build_environment, parse_heap_directive, parse_table_directive
from support import native_targets

LOC = Location("t.clif", 7, 9)


def run_clif(tmp_path, capsys, text: str, *extra: str) -> tuple[int, str]:
    path = tmp_path / "t.clif"
    path.write_text(text)
    status = main(["test", "-v", *extra, str(path)])
    out = capsys.readouterr()
    return status, out.out + out.err


# -- the directive -------------------------------------------------------------------------


def test_static_heap_directive_fields():
    h = parse_heap_directive("static, size=0x1000, ptr=vmctx+0, bound=vmctx+8", LOC, 0)
    assert (h.style, h.size, h.ptr_offset, h.bound_offset, h.max_size, h.guard) == ("static", 0x1000, 0, 8, 0x1000, 0)


def test_static_heap_needs_no_bound_slot_and_takes_max_and_guard():
    h = parse_heap_directive("static, size=4096, ptr=vmctx+16, max=0x4000, guard=0x1_0000", LOC, 2)
    assert (h.index, h.bound_offset, h.max_size, h.guard) == (2, None, 0x4000, 0x10000)
    assert h.reservation() == 0x4000
    assert dataclasses.replace(h, reach=0x1_8000_0000).reservation() == 0x1_8000_0000


def test_dynamic_heap_reserves_what_it_holds_or_what_its_declarations_reach():
    h = parse_heap_directive("dynamic, size=0x100, ptr=vmctx+0, bound=vmctx+8, max=0x1000", LOC, 0)
    assert h.reservation() == 0x100
    assert dataclasses.replace(h, reach=0x2000).reservation() == 0x2000


def test_slots_are_read_spaced_or_not_and_numbers_with_separators():
    h = parse_heap_directive("dynamic , size = 0x1_00, ptr=vmctx + 8, bound=vmctx+0x1_0", LOC, 0)
    assert (h.style, h.size, h.ptr_offset, h.bound_offset) == ("dynamic", 0x100, 8, 16)


def test_table_directive_counts_elements():
    t = parse_table_directive("elements=8, element_size=16, ptr=vmctx+0, bound=vmctx+8", LOC, 0)
    assert (t.style, t.size, t.bound_value) == ("table", 128, 8)


@pytest.mark.parametrize(
    "text, col, message",
    [
        ("huge, size=1, ptr=vmctx+0", 9, "heap directive must start with 'static' or 'dynamic'"),
        ("", 9, "heap directive must start with 'static' or 'dynamic'"),
        ("static, size=1, ptr=vmctx+0, colour=red", 38, "unknown heap attribute 'colour' (expected size, ptr, bound, max or guard)"),
        ("static, size=, ptr=vmctx+0", 17, "heap attribute 'size' needs a value: size=..."),
        ("static, size=1, size=2, ptr=vmctx+0", 25, "heap attribute 'size' given twice"),
        ("static, size=lots, ptr=vmctx+0", 22, "heap attribute 'size' must be a non-negative integer, not 'lots'"),
        ("static, size=-1, ptr=vmctx+0", 22, "heap attribute 'size' must be a non-negative integer, not '-1'"),
        ("static, size=1, ptr=rsp+0", 29, "heap attribute 'ptr' must be a vmctx slot such as vmctx+8, not 'rsp+0'"),
        ("static, ptr=vmctx+0", 9, "heap directive needs size="),
        ("static, size=16", 9, "heap directive needs ptr=vmctx+N"),
        ("dynamic, size=16, ptr=vmctx+0", 9, "a dynamic heap needs bound=vmctx+N"),
        ("static, size=0x100, ptr=vmctx+0, max=0x10", 46, "heap max=0x10 is smaller than its size=0x100"),
        ("static, size=0x1_0000_0000_0000_0000, ptr=vmctx+0", 22,
         "heap attribute 'size' 0x1_0000_0000_0000_0000 is out of range (0 to 18446744073709551615)"),
        ("static, size=0x100, ptr=vmctx+0, guard=0x1_0000_0000", 9,
         "heap of 0x100000100 bytes exceeds the limit of 0x100000000 bytes"),
    ],
)
def test_heap_directive_errors(text, col, message):
    with pytest.raises(ClifError) as e:
        parse_heap_directive(text, LOC, 0)
    d = e.value.first
    assert (d.loc.line, d.loc.col, d.message) == (7, col, message)


@pytest.mark.parametrize(
    "text, message",
    [
        ("element_size=8, ptr=vmctx+0, bound=vmctx+8", "table directive needs elements="),
        ("elements=8, ptr=vmctx+0, bound=vmctx+8", "table directive needs element_size="),
        ("elements=8, element_size=0, ptr=vmctx+0, bound=vmctx+8", "table element_size must be at least 1"),
        ("elements=8, element_size=8, ptr=vmctx+0", "table directive needs ptr=vmctx+N and bound=vmctx+N"),
        ("elements=8, element_size=8, ptr=vmctx+0, bound=vmctx+8, max=9",
         "unknown table attribute 'max' (expected elements, element_size, ptr or bound)"),
    ],
)
def test_table_directive_errors(text, message):
    with pytest.raises(ClifError) as e:
        parse_table_directive(text, LOC, 0)
    assert e.value.first.message == message


FUNC = """test interpret
function %f(i64 vmctx) -> i64 {
block0(v0: i64):
    v1 = load.i64 v0
    return v1
}
"""


def environment_of(directives: str, func: str = FUNC):
    tf = parse_text(func + directives, "t.clif")
    return build_environment(tf.functions[0])


def test_vmctx_is_as_large_as_its_furthest_slot():
    env = environment_of("; heap: static, size=16, ptr=vmctx+32\n; heap: dynamic, size=16, ptr=vmctx+0, bound=vmctx+48\n")
    assert env.vmctx_size == 56
    assert [h.index for h in env.heaps] == [0, 1]


@pytest.mark.parametrize(
    "directives, message",
    [
        ("; heap: static, size=16, ptr=vmctx+4\n", "heap 0 ptr slot vmctx+4 is not 8-byte aligned"),
        ("; heap: static, size=16, ptr=vmctx+0, bound=vmctx+0\n", "heap 0 bound slot vmctx+0 overlaps heap 0 ptr slot"),
        ("; heap: static, size=16, ptr=vmctx+0\n; heap: static, size=16, ptr=vmctx+0\n",
         "heap 1 ptr slot vmctx+0 overlaps heap 0 ptr slot"),
    ],
)
def test_slot_placement_errors(directives, message):
    with pytest.raises(ClifError) as e:
        environment_of(directives)
    assert e.value.first.message == message
    assert e.value.first.loc.line >= 7


@pytest.mark.parametrize("signature", ["(i64) -> i64", "(i32 vmctx) -> i64", "() -> i64"])
def test_heap_directives_need_a_pointer_sized_vmctx_first_parameter(signature):
    func = FUNC.replace("(i64 vmctx) -> i64", signature)
    if signature.startswith("()"):
        func = func.replace("block0(v0: i64):\n    v1 = load.i64 v0", "block0:\n    v1 = iconst.i64 0")
    elif "i32" in signature:
        func = func.replace("v0: i64", "v0: i32").replace("load.i64 v0", "iconst.i64 0")
    with pytest.raises(ClifError) as e:
        environment_of("; heap: static, size=16, ptr=vmctx+0\n", func)
    d = e.value.first
    assert d.message == "function %f has heap directives, so its first parameter must be `i64 vmctx`"
    assert (d.loc.line, d.loc.col) == (2, 1)


def test_a_function_without_directives_has_no_environment():
    assert environment_of("") is None


# -- running -------------------------------------------------------------------------------------

HEADER = "test interpret\n"

COUNTER = HEADER + """
function %bump(i64 vmctx) -> i32 {
block0(v0: i64):
    v1 = load.i64 notrap aligned v0
    v2 = load.i32 v1
    v3 = iadd_imm v2, 1
    store v3, v1
    return v3
}
; heap: static, size=0x10, ptr=vmctx+0, bound=vmctx+8
; run: %bump() == 1
; run: %bump() == 1

function %bound_slot(i64 vmctx) -> i64 {
block0(v0: i64):
    v1 = load.i64 notrap aligned v0+8
    return v1
}
; heap: dynamic, size=0x30, ptr=vmctx+0, bound=vmctx+8
; run: %bound_slot() == 0x30
"""


def test_every_run_line_gets_fresh_zeroed_heaps_and_the_bound_slot_holds_bytes(tmp_path, capsys):
    status, out = run_clif(tmp_path, capsys, COUNTER)
    assert status == 0, out
    assert out.splitlines()[-1] == "3 passed, 0 failed, 0 skipped"


def test_run_lines_must_leave_vmctx_out(tmp_path, capsys):
    text = COUNTER.replace("; run: %bump() == 1\n; run: %bump() == 1", "; run: %bump(0) == 1")
    status, out = run_clif(tmp_path, capsys, text)
    assert status == 1
    assert "the test environment (heap directives) supplies %bump's vmctx argument: leave it out and pass no arguments" in out


def test_a_run_line_naming_a_function_without_vmctx_below_anothers_directives_calls_it_as_declared(tmp_path, capsys):
    # The directives are %bound_slot's; %plain takes no vmctx, so nothing is passed for one (the
    # engines used to be handed the environment anyway: "internal error ... 2 given").
    text = COUNTER + "; run: %plain(7) == 7\n\nfunction %plain(i32) -> i32 {\nblock0(v0: i32):\n    return v0\n}\n"
    text = text.replace("; run: %bound_slot() == 0x30\n", "; run: %bound_slot() == 0x30\n; run: %plain(5) == 5\n")
    status, out = run_clif(tmp_path, capsys, text)
    assert status == 0, out
    assert "t.clif:22: %plain(5) == 5: passed [interpreter]" in out and "%plain(7) == 7: passed" in out
    targets = sorted(native_targets())
    if targets:  # natively too, on every backend this machine runs
        native = text.replace(HEADER, "test run\n" + "".join(f"target {t}\n" for t in targets), 1)
        status, out = run_clif(tmp_path, capsys, native)
        assert status == 0, out
        assert out.splitlines()[-1] == f"{5 * len(targets)} passed, 0 failed, 0 skipped"
    program = clifkit.load(text)
    assert program.call("%plain", 5) == 5
    with pytest.raises(TypeError, match="%plain takes no vmctx first, so env= gives it nothing"):
        program.call("%plain", 5, env=program.environment("%bound_slot"))


HEAP_ADDR = HEADER + """
function %old_form(i64 vmctx, i32) -> i64 {
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0
    heap0 = static gv1, min 0x100, bound 0x100, offset_guard 0, index_type i32

block0(v0: i64, v1: i32):
    v2 = heap_addr.i64 heap0, v1, 8
    v3 = global_value.i64 gv1
    v4 = isub v2, v3
    return v4
}
; heap: static, size=0x100, ptr=vmctx+0
; run: %old_form(0) == 0
; run: %old_form(0xf8) == 0xf8
; run: %old_form(0xf9) == trap heap_oob
; run: %old_form(0xffff_ffff) == trap heap_oob

function %with_offset(i64 vmctx, i64) -> i64 {
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0
    gv2 = load.i64 notrap aligned gv0+8
    heap0 = dynamic gv1, min 0, bound gv2, offset_guard 0x1000, index_type i64

block0(v0: i64, v1: i64):
    v2 = heap_addr.i64 heap0, v1, 16, 4
    v3 = global_value.i64 gv1
    v4 = isub v2, v3
    return v4
}
; heap: dynamic, size=0x100, ptr=vmctx+0, bound=vmctx+8
; run: %with_offset(0) == 16
; run: %with_offset(0xec) == 0xfc
; run: %with_offset(0xed) == trap heap_oob
; run: %with_offset(0xffff_ffff_ffff_fff0) == trap heap_oob
"""


def test_heap_addr_both_forms_index_types_offsets_and_overflow(tmp_path, capsys):
    status, out = run_clif(tmp_path, capsys, HEAP_ADDR)
    assert status == 0, out
    assert out.splitlines()[-1] == "8 passed, 0 failed, 0 skipped"


RESERVED = HEADER + """
function %reserved(i64 vmctx, i32) -> i8 {
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0
    heap0 = static gv1, min 0x1000, bound 0x1_0000, offset_guard 0x1_0000, index_type i32

block0(v0: i64, v1: i32):
    v2 = heap_addr.i64 heap0, v1, 0, 1
    v3 = load.i8 v2
    return v3
}
; heap: static, size=0x1000, ptr=vmctx+0, bound=vmctx+8
; run: %reserved(0xfff) == 0
; run: %reserved(0x1000) == trap heap_oob
; run: %reserved(0xffff) == trap heap_oob
; run: %reserved(0x1_0000) == trap heap_oob
"""


def test_reserved_but_inaccessible_part_of_a_static_heap_traps(tmp_path, capsys):
    status, out = run_clif(tmp_path, capsys, RESERVED)
    assert status == 0, out


TABLE = HEADER + """
function %entry(i64 vmctx, i64) -> i64 {
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0
    gv2 = load.i64 notrap aligned gv0+8
    table0 = dynamic gv1, min 0, bound gv2, element_size 8, index_type i64

block0(v0: i64, v1: i64):
    v2 = table_addr.i64 table0, v1, +0
    v3 = global_value.i64 gv1
    v4 = isub v2, v3
    return v4
}
; table: elements=4, element_size=8, ptr=vmctx+0, bound=vmctx+8
; run: %entry(3) == 24
; run: %entry(4) == trap table_oob
; run: %entry(0xffff_ffff) == trap table_oob
"""


def test_table_index_at_or_past_the_bound_traps_table_oob(tmp_path, capsys):
    status, out = run_clif(tmp_path, capsys, TABLE)
    assert status == 0, out


GROW = HEADER + """
function %grow(i64 vmctx, i32, i64) -> i64, i64 {
    fn0 = %heap_grow(i64 vmctx, i32, i64) -> i64

block0(v0: i64, v1: i32, v2: i64):
    v3 = call fn0(v0, v1, v2)
    v4 = load.i64 notrap aligned v0+8
    return v3, v4
}
; heap: static, size=0x100, ptr=vmctx+0, bound=vmctx+8, max=0x300
; run: %grow(0, 0x200) == [0x100, 0x300]
; run: %grow(0, 0) == [0x100, 0x100]
; run: %grow(0, 0x201) == [-1, 0x100]
; run: %grow(0, -1) == [-1, 0x100]
; run: %grow(1, 1) == [-1, 0x100]

function %moves(i64 vmctx) -> i8 {
    fn0 = %heap_grow(i64 vmctx, i32, i64) -> i64

block0(v0: i64):
    v1 = load.i64 notrap aligned v0
    v2 = iconst.i32 0
    v3 = iconst.i64 1
    v4 = call fn0(v0, v2, v3)
    v5 = load.i64 notrap aligned v0
    v6 = icmp ne v1, v5
    return v6
}
; heap: dynamic, size=0x100, ptr=vmctx+0, bound=vmctx+8, max=0x1000
; run: %moves() == 1
"""


def test_growth_in_place_failure_and_moving(tmp_path, capsys):
    status, out = run_clif(tmp_path, capsys, GROW)
    assert status == 0, out
    assert out.splitlines()[-1] == "6 passed, 0 failed, 0 skipped"


TRAPS = HEADER + """
function %div(i32) -> i32 {
block0(v0: i32):
    v1 = iconst.i32 12
    v2 = udiv v1, v0
    return v2
}
; run: %div(0) == trap int_divz
; run: %div(0) == trap heap_oob
; run: %div(4) == trap int_divz
; run: %div(0) == 3
; run: %div(4) != trap int_divz
; run: %div(4) == trap no_such_code
"""


def test_trap_expectations_report_which_way_they_failed(tmp_path, capsys):
    status, out = run_clif(tmp_path, capsys, TRAPS)
    assert status == 1
    path = tmp_path / "t.clif"
    assert f"{path}:10: %div(0): expected trap heap_oob, got trap int_divz" in out
    assert f"{path}:11: %div(4): expected trap int_divz, got 3 (no trap)" in out
    assert f"{path}:12: %div(0): expected 3, got trap int_divz" in out
    assert "a trap can only be expected with '==', as in '== trap heap_oob'" in out
    assert "unknown trap code 'no_such_code'" in out
    assert out.splitlines()[-1] == "1 passed, 5 failed, 0 skipped"


def test_examples_pass(capsys):
    assert main(["test", "examples"]) == 0
