"""The native engine's memory guarantees (docs/heaps.md, "How each engine provides the memory"),
on x86_64 natively and on aarch64 and s390x under QEMU:

* every heap, table and vmctx ends exactly: the first byte past its size faults, whatever the
  size, also after a dynamic heap grows by a single byte;
* below a region's base, only the rest of its first page (the slack) is open; below that a guard
  page faults;
* an ``explicit_slot`` gets the alignment it declares, beyond the frame's own;
* ``--compare`` names an access that lands in the slack instead of reporting an unexplained
  disagreement.
"""

from __future__ import annotations


import pytest

from clifkit.native import emulation
from clifkit.native.host import host_arch
from support import HAVE_CRANELIFT, LINUX
from test_emulation import _run_json


def _backend(arch: str):
    if arch == host_arch():
        ok, why = HAVE_CRANELIFT and LINUX, "needs the cranelift binding on Linux"
    else:
        st = emulation.status(arch)
        ok, why = HAVE_CRANELIFT and LINUX and st.ready, st.reason or "emulation is not set up"
    return pytest.param(arch, marks=pytest.mark.skipif(not ok, reason=why))


BACKENDS = [_backend(a) for a in ("x86_64", "aarch64", "s390x")]

# %at(k) reads one byte at vmctx slot 0's heap base + k.
AT = """test run
target {arch}

function %at(i64 vmctx, i64) -> i8 {{
block0(v0: i64, v1: i64):
    v2 = load.i64 notrap aligned v0+0
    v3 = iadd v2, v1
    v4 = load.i8 v3
    return v4
}}
"""

# The heaps are odd-sized on purpose.
ENDS = AT + """
; heap: dynamic, size=1, ptr=vmctx+0, bound=vmctx+8
; run: %at(0) == 0
; run: %at(1) == trap heap_oob
; run: %at(15) == trap heap_oob

function %word(i64 vmctx, i64) -> i32 {{
block0(v0: i64, v1: i64):
    v2 = load.i64 notrap aligned v0+0
    v3 = iadd v2, v1
    v4 = load.i32 v3
    return v4
}}
; heap: static, size=0x1001, ptr=vmctx+0, bound=vmctx+8
; run: %word(0xffd) == 0
; run: %word(0xffe) == trap heap_oob
; run: %word(0x1000) == trap heap_oob
; run: %word(0x1001) == trap heap_oob

function %table_at(i64 vmctx, i64) -> i8 {{
    fn0 = %at(i64 vmctx, i64) -> i8
block0(v0: i64, v1: i64):
    v2 = call fn0(v0, v1)
    return v2
}}
; table: elements=3, element_size=1, ptr=vmctx+0, bound=vmctx+8
; run: %table_at(2) == 0
; run: %table_at(3) == trap heap_oob

function %vmctx_at(i64 vmctx, i64) -> i8 {{
block0(v0: i64, v1: i64):
    v2 = iadd v0, v1
    v3 = load.i8 v2
    v4 = band_imm v3, 0  ; the slot's byte order does not matter: only whether it faults
    return v4
}}
; heap: dynamic, size=0x10, ptr=vmctx+0, bound=vmctx+16
; run: %vmctx_at(23) == 0
; run: %vmctx_at(24) == trap heap_oob

function %grown_at(i64 vmctx, i64, i64) -> i8 {{
    fn0 = %heap_grow(i64 vmctx, i32, i64) -> i64
    fn1 = %at(i64 vmctx, i64) -> i8
block0(v0: i64, v1: i64, v2: i64):
    v3 = iconst.i32 0
    v4 = call fn0(v0, v3, v1)
    v5 = call fn1(v0, v2)
    return v5
}}
; heap: dynamic, size=0x100, ptr=vmctx+0, bound=vmctx+8, max=0x1000
; run: %grown_at(1, 0x100) == 0
; run: %grown_at(1, 0x101) == trap heap_oob
; The slack below a 0x100-byte heap's base is 0xf00 bytes; the guard page below it faults.
; run: %grown_at(0, -0xf01) == trap heap_oob
; run: %grown_at(0, -0x1000) == trap heap_oob

function %aligned(i64) -> i64, i64, i64, i64 {{
    ss0 = explicit_slot 3
    ss1 = explicit_slot 100, align = 64
    ss2 = explicit_slot 24, align = 16
    ss3 = explicit_slot 8, align = 256
    ss4 = explicit_slot 40, align = 32
block0(v0: i64):
    stack_store v0, ss1+8
    stack_store v0, ss3
    v1 = stack_addr.i64 ss1
    v2 = band_imm v1, 63
    v3 = stack_addr.i64 ss2
    v4 = band_imm v3, 15
    v5 = stack_addr.i64 ss3
    v6 = band_imm v5, 255
    v7 = stack_addr.i64 ss4+4
    v8 = band_imm v7, 31
    v9 = load.i64 v1+8
    v10 = stack_load.i64 ss3
    v11 = isub v9, v10
    v12 = bor v2, v11
    return v12, v4, v6, v8
}}
; run: %aligned(0x1234) == [0, 0, 0, 4]
"""

# What the slack lets through natively, where the interpreter traps: `--compare` says so.
SLACK = AT + """; heap: dynamic, size=0x100, ptr=vmctx+0, bound=vmctx+8
; run: %at(-8) == trap heap_oob
; run: %at(-0xf00) == trap heap_oob
; run: %at(-0xf01) == trap heap_oob

function %vmctx_below(i64 vmctx) -> i64 {{
block0(v0: i64):
    v1 = load.i64 v0-8
    return v1
}}
; heap: dynamic, size=0x100, ptr=vmctx+0, bound=vmctx+8
; run: %vmctx_below() == trap heap_oob

function %table_below(i64 vmctx, i64) -> i64 {{
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
    gv2 = load.i64 notrap aligned gv0+8
    table0 = dynamic gv1, min 0, bound gv2, element_size 16, index_type i64
block0(v0: i64, v1: i64):
    v2 = table_addr.i64 table0, v1, -8
    v3 = load.i64 v2
    return v3
}}
; table: elements=4, element_size=16, ptr=vmctx+0, bound=vmctx+8
; run: %table_below(0) == trap heap_oob

function %static_grown(i64 vmctx) -> i8 {{
    fn0 = %heap_grow(i64 vmctx, i32, i64) -> i64
block0(v0: i64):
    v1 = iconst.i32 0
    v2 = iconst.i64 0x10
    v3 = call fn0(v0, v1, v2)
    v4 = load.i64 notrap aligned v0+0
    v5 = load.i8 v4+0x1010
    return v5
}}
; heap: static, size=0x1000, ptr=vmctx+0, bound=vmctx+8, max=0x4000
; run: %static_grown() == trap heap_oob
"""


def _runs(tmp_path, capsys, text: str, *argv: str) -> tuple[list[dict], str]:
    path = tmp_path / "t.clif"
    path.write_text(text)
    return _run_json(tmp_path, capsys, *argv, str(path))


@pytest.mark.parametrize("arch", BACKENDS)
def test_regions_end_exactly_and_slots_get_their_alignment(arch, tmp_path, capsys):
    runs, out = _runs(tmp_path, capsys, ENDS.format(arch=arch))
    assert len(runs) == 16 and all(r["target"] == arch for r in runs), out
    assert all(r["status"] == "passed" for r in runs), out


@pytest.mark.parametrize("arch", BACKENDS)
def test_compare_names_accesses_outside_the_native_guarantee(arch, tmp_path, capsys):
    runs, out = _runs(tmp_path, capsys, SLACK.format(arch=arch), "--compare")
    compared = [r for r in runs if r.get("kind") == "compare"]
    # Each line reads memory the interpreter traps on and the native engine's slack lets through.
    assert len(compared) == 5, out
    for r in compared:
        assert r["status"] == "failed" and r["expected"] == "trap heap_oob", r
        assert "outside the native engine's memory guarantee (rule native-page-slack)" in r["message"], r
    messages = "\n".join(r["message"] for r in compared)
    for where in ("heap0-0x8", "heap0-0xf00", "vmctx-0x8", "table0-0x8", "heap0+0x1010"):
        assert where in messages, messages


@pytest.mark.parametrize("arch", BACKENDS)
def test_fuzz_comparison_reports_the_slack_as_outside_the_guarantee(arch):
    from clifkit.fuzz.compare import Harness

    lines = Harness(["interpreter", "native"]).run_text(SLACK.format(arch=arch))
    verdicts = [r.verdict(("interpreter", "native")) for r in lines]
    assert [v.status for v in verdicts].count("outside-guarantee") == 5
    assert [v.status for v in verdicts].count("agree") == 1  # %at(-0xf01): the guard page below the slack
    assert all(v.rules == ["native-page-slack"] for v in verdicts if v.status != "agree")


def test_where_the_native_engine_leaves_memory_open():
    from clifkit.environment.guarantee import PAGE_SIZE as page
    from clifkit.environment.guarantee import PlacedRegion, outside_native_guarantee, page_slack

    assert page_slack(1) == page - 1 and page_slack(page) == 0 and page_slack(0x100) == page - 0x100
    heap = PlacedRegion("heap0", 0x10_0000 - 0x100, 0x100, 0x100)
    assert outside_native_guarantee([heap], heap.base - 8, 4) == "heap0-0x8"
    assert outside_native_guarantee([heap], heap.base - 2, 4) == "heap0-0x2"  # straddling the base
    assert outside_native_guarantee([heap], heap.base - (page - 0x100), 1) == f"heap0-0x{page - 0x100:x}"
    assert outside_native_guarantee([heap], heap.base - (page - 0x100) - 1, 1) is None  # guard page
    assert outside_native_guarantee([heap], heap.base + 0x100, 1) is None  # the exact end
    assert outside_native_guarantee([heap], heap.base + 0xFC, 4) is None  # inside: no trap at all
    # A static heap placed at one page, grown by 0x10: the rest of its second page is open.
    grown = PlacedRegion("heap1", 0x20_0000, page + 0x10, page)
    assert outside_native_guarantee([grown], grown.base + page + 0x10, 1) == f"heap1+0x{page + 0x10:x}"
    assert outside_native_guarantee([grown], grown.base + 2 * page, 1) is None


def test_the_interpreter_says_where_a_trap_lies_in_native_slack():
    # No native engine needed: the interpreter's own trap carries the place (or None).
    from clifkit.fuzz.compare import Harness

    lines = Harness(["interpreter", "interpreter"]).run_text(SLACK.format(arch="x86_64").replace("target x86_64", ""))
    opens = [r.outcomes[0].native_open for r in lines]
    assert opens == ["heap0-0x8", "heap0-0xf00", None, "vmctx-0x8", "table0-0x8", "heap0+0x1010"]
    assert all(r.outcomes[0].klass == "trap:heap_oob" for r in lines)
