"""The engine-neutral environment layer: reservations worked out from every heap declaration a run
line can reach (`runtest.reservations`), environments inferred from declarations when a test writes
no directives (`runtest.inferred`), and the one vmctx slot writer — on the interpreter, natively on
x86_64, and on aarch64/s390x under QEMU."""

from __future__ import annotations


import pytest

import clifkit
from clifkit.diagnostics import ClifError
from clifkit.interpreter.heaps import materialize
from clifkit.reader import parse_text
from clifkit.environment.layout import Environment, HeapRequest, slot_writes
from clifkit.runtest.inferred import infer_environment
from clifkit.runtest.plans import callee_environment
from clifkit.environment.reservations import gv_address, reachable
from support import HAVE_CRANELIFT, X86_64_LINUX, needs_emulation, needs_native


def functions(text: str) -> dict:
    return {d.function.name: d.function for d in parse_text(text, "t.clif").functions}


# -- the shapes whose memory nobody reserved -------------------------------------------------------

# Each directive set also asks for a small dynamic heap: the interpreter places it right after the
# first heap's reservation, so an access that the reservation does not cover lands in it there
# (and natively in whatever memory follows), instead of trapping.
NEIGHBOUR = "; heap: static, size=0x10000, ptr=vmctx+0, bound=vmctx+8\n; heap: dynamic, size=0x100, ptr=vmctx+16, bound=vmctx+24\n"

SHAPES = """
function %inner(i64 vmctx, i32) -> i32 {
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
    heap0 = static gv1, min 0x1_0000, bound 0x1_0000_0000, offset_guard 0x8000_0000, index_type i32
block0(v0: i64, v1: i32):
    v2 = heap_addr.i64 heap0, v1, 0, 4
    v3 = load.i32 v2
    return v3
}

function %outer(i64 vmctx, i32) -> i32 {
    fn0 = %inner(i64 vmctx, i32) -> i32
block0(v0: i64, v1: i32):
    v2 = call fn0(v0, v1)
    return v2
}
NEIGHBOUR; run: %outer(0xfffc) == 0
; run: %outer(0x20000) == trap heap_oob

function %tail_inner(i64 vmctx, i32) -> i32 tail {
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
    heap0 = static gv1, min 0x1_0000, bound 0x1_0000_0000, offset_guard 0x8000_0000, index_type i32
block0(v0: i64, v1: i32):
    v2 = heap_load.i32 heap0 v1
    return v2
}

function %tail_outer(i64 vmctx, i32) -> i32 tail {
    fn0 = %tail_inner(i64 vmctx, i32) -> i32 tail
block0(v0: i64, v1: i32):
    return_call fn0(v0, v1)
}
NEIGHBOUR; run: %tail_outer(0x20000) == trap heap_oob

function %indirect(i64 vmctx, i32) -> i32 {
    sig0 = (i64 vmctx, i32) -> i32
    fn0 = %inner sig0
block0(v0: i64, v1: i32):
    v2 = func_addr.i64 fn0
    v3 = call_indirect sig0, v2(v0, v1)
    return v3
}
NEIGHBOUR; run: %indirect(0x20000) == trap heap_oob

function %derived(i64 vmctx, i32) -> i32 {
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
    gv2 = iadd_imm.i64 gv1, 0x100
    heap0 = static gv2, min 0, bound 0x1_0000_0000, offset_guard 0x8000_0000, index_type i32
block0(v0: i64, v1: i32):
    v2 = heap_load.i32 heap0 v1
    return v2
}
NEIGHBOUR; run: %derived(0xfefc) == 0
; run: %derived(0xfefd) == trap heap_oob
; run: %derived(0x1ff00) == trap heap_oob
; run: %derived(0xffff_fff0) == trap heap_oob

function %over_vmctx(i64 vmctx, i32) -> i64 {
    gv0 = vmctx
    heap0 = static gv0, min 16, bound 0x1_0000_0000, offset_guard 0x8000_0000, index_type i32
block0(v0: i64, v1: i32):
    v2 = heap_load.i64 heap0 v1
    return v2
}
; heap: static, size=0x10, ptr=vmctx+0, bound=vmctx+8
; run: %over_vmctx(8) == 0x10
; run: %over_vmctx(0x11000) == trap heap_oob
; run: %over_vmctx(0x100000) == trap heap_oob
; run: %over_vmctx(0xffff_fff0) == trap heap_oob
""".replace("NEIGHBOUR", NEIGHBOUR)

SHAPE_LINES = 12


def _all_pass(runs: list[dict], out: str, engines: set) -> None:
    assert {r["engine"] for r in runs} == engines
    assert len(runs) == SHAPE_LINES * len(engines) and all(r["status"] == "passed" for r in runs), out
    by_function = {r["function"] for r in runs}
    assert by_function == {"%outer", "%tail_outer", "%indirect", "%derived", "%over_vmctx"}


def test_callee_derived_and_vmctx_heaps_trap_on_the_interpreter(clifkit_test):
    status, out, runs = clifkit_test("test interpret\n" + SHAPES)
    assert status == 0, out
    _all_pass(runs, out, {"interpreter"})


@needs_native
def test_callee_derived_and_vmctx_heaps_trap_natively(clifkit_test):
    status, out, runs = clifkit_test("test run\ntarget x86_64\n" + SHAPES, "--engine", "native")
    assert status == 0, out
    _all_pass(runs, out, {"native"})


@pytest.mark.parametrize("arch", [pytest.param(a, marks=needs_emulation(a)) for a in ("aarch64", "s390x")])
def test_callee_derived_and_vmctx_heaps_trap_emulated(arch, clifkit_test):
    status, out, runs = clifkit_test(f"test run\ntarget {arch}\n" + SHAPES, "--engine", "native")
    assert status == 0, out
    _all_pass(runs, out, {"native"})
    assert {r["target"] for r in runs} == {arch}


def test_reservations_count_every_reachable_declaration():
    funcs = functions(SHAPES)
    assert [f.name for f in reachable(funcs["%indirect"], funcs)] == ["%indirect", "%inner"]
    assert gv_address(funcs["%derived"], 2) == (0, 0x100)
    assert gv_address(funcs["%over_vmctx"], 0) == (None, 0)
    env = clifkit.heap_environment(funcs["%outer"], *(line.split(":", 1)[1] for line in NEIGHBOUR.split("\n") if line))
    promised = 0x1_0000_0000 + 0x8000_0000
    for name, reach in (("%outer", promised), ("%tail_outer", promised), ("%indirect", promised),
                        ("%derived", 0x100 + promised), ("%inner", promised)):
        reserved = callee_environment(env, funcs[name], funcs)
        assert [h.reservation() for h in reserved.heaps] == [reach, 0x100], name
    over = callee_environment(clifkit.heap_environment(funcs["%over_vmctx"], "static, size=0x10, ptr=vmctx+0"),
                              funcs["%over_vmctx"], funcs)
    assert (over.vmctx_size, over.vmctx_reservation) == (8, promised)
    # The interpreter lays the regions out by those numbers: heap 1 lies past heap 0's reservation.
    laid = materialize(callee_environment(env, funcs["%derived"], funcs))
    assert laid.heaps[1].base - laid.heaps[0].base >= 0x100 + promised


TWO_DECLARATIONS = """test interpret
function %f(i64 vmctx, i32) -> i32 {
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
    heap0 = static gv1, min 0x1000, bound 0x1_0000_0000, offset_guard 0, index_type i32
    heap1 = static gv1, min 0x1000, bound 0x1000, offset_guard 0xc000_0000, index_type i32
block0(v0: i64, v1: i32):
    v2 = heap_load.i32 heap1 v1
    return v2
}
; heap: static, size=0x1000, ptr=vmctx+0
; run: %f(0) == 0
; run: %f(0x1000) == trap heap_oob
"""


def test_the_limit_checks_the_reservation_the_engines_make(clifkit_test):
    # Two declarations on one base: 4 GiB + 0 and 4 KiB + 3 GiB. Every access stays within the
    # larger sum, so that is what is reserved (not 4 GiB + 3 GiB) and what the limit checks.
    funcs = functions(TWO_DECLARATIONS)
    env = callee_environment(clifkit.heap_environment(funcs["%f"], "static, size=0x1000, ptr=vmctx+0"), funcs["%f"], funcs)
    assert env.heaps[0].reservation() == 0x1_0000_0000
    status, out, runs = clifkit_test(TWO_DECLARATIONS, "--max-reservation", "4G")
    assert status == 0 and [r["status"] for r in runs] == ["passed", "passed"], out
    status, out, runs = clifkit_test(TWO_DECLARATIONS, "--max-reservation", "3G")
    message = ("heap0 reservation of 0x100000000 bytes (bound 0x100000000 + offset_guard 0x0) exceeds the limit "
               "of 0xc0000000 bytes")
    assert [r["message"] for r in runs] == [message, message]
    assert f"t.clif:5:5: error: {message}" in out


# `clifkit verify` reports these (`verifier.directives`), so `clifkit test` runs no line of the file.
UNVERIFIED = "not run: the file does not verify: "


def _one_function(preamble: str, body: str = "    v2 = heap_load.i32 heap0 v1\n    return v2\n",
                  directives: str = "; heap: static, size=0x1000, ptr=vmctx+0, bound=vmctx+8\n") -> str:
    return (f"test interpret\nfunction %f(i64 vmctx, i32) -> i32 {{\n    gv0 = vmctx\n{preamble}"
            f"block0(v0: i64, v1: i32):\n{body}}}\n{directives}; run: %f(0) == 0\n")


@pytest.mark.parametrize("preamble, line, message", [
    ("    gv1 = load.i64 notrap aligned gv0+16\n    heap0 = static gv1, min 0, bound 0x1000, offset_guard 0\n", 5,
     "heap0 of %f: its base gv1 loads from vmctx+16, where no heap or table directive writes a base "
     "(they write at: vmctx+0)"),
    ("    gv1 = symbol %f\n    heap0 = static gv1, min 0, bound 0x1000, offset_guard 0\n", 5,
     "heap0 of %f: its base gv1 is not vmctx, a load from a vmctx slot, or an offset from one, so it cannot be "
     "matched to a heap or table directive"),
    ("    gv1 = load.i64 notrap aligned gv0+0\n    gv2 = iadd_imm.i64 gv1, -16\n"
     "    heap0 = static gv2, min 0, bound 0x1000, offset_guard 0\n", 6,
     "heap0 of %f: its base gv2 lies 0x10 bytes before the base of heap directive 0, outside any memory the "
     "environment holds"),
    ("    gv1 = load.i64 notrap aligned gv0+0\n    gv2 = load.i64 notrap aligned gv0+16\n"
     "    heap0 = dynamic gv1, min 0, bound gv2, offset_guard 0\n", 6,
     "heap0 of %f: its bound gv2 must load heap directive 0's bound slot vmctx+8, which holds the size of the "
     "memory its base points into"),
])
def test_a_declaration_that_matches_no_directive_is_a_located_error(preamble, line, message, clifkit_test):
    status, out, runs = clifkit_test(_one_function(preamble))
    assert [(r["status"], r["message"]) for r in runs] == [("error", UNVERIFIED + message)], out
    assert f"t.clif:{line}:5: error: {message}" in out


def test_a_callees_unmatched_declaration_is_located_in_the_callee(clifkit_test):
    text = SHAPES.split("function %outer")[0].replace("gv0+0", "gv0+32") + """function %outer(i64 vmctx, i32) -> i32 {
    fn0 = %inner(i64 vmctx, i32) -> i32
block0(v0: i64, v1: i32):
    v2 = call fn0(v0, v1)
    return v2
}
; heap: static, size=0x10000, ptr=vmctx+0, bound=vmctx+8
; run: %outer(0) == 0
"""
    status, out, runs = clifkit_test("test interpret\n" + text)
    assert [r["status"] for r in runs] == ["error"]
    assert "t.clif:6:5: error: heap0 of %inner: its base gv1 loads from vmctx+32" in out


@pytest.mark.parametrize("directive, message", [
    ("; table: elements=4, element_size=8, ptr=vmctx+0, bound=vmctx+8\n",
     "table0 of %f: element_size 16 differs from the table directive's element_size=8"),
    ("; heap: dynamic, size=0x40, ptr=vmctx+0, bound=vmctx+8\n",
     "table0 of %f: its base gv1 is heap directive 0's, whose bound slot counts bytes; a table needs a `; table:` "
     "directive, whose bound slot counts elements (the run-test harness of 2022 read the heap's byte count as "
     "the table's element count: --cranelift 2022)"),
])
def test_a_table_needs_a_table_directive_of_its_element_size(directive, message, clifkit_test):
    text = _one_function(
        "    gv1 = load.i64 notrap aligned gv0+0\n    gv2 = load.i64 notrap aligned gv0+8\n"
        "    table0 = dynamic gv1, min 0, bound gv2, element_size 16, index_type i64\n",
        "    v4 = uextend.i64 v1\n    v2 = table_addr.i64 table0, v4, +0\n    v3 = load.i32 v2\n    return v3\n",
        directive)
    status, out, runs = clifkit_test(text)
    assert [r["message"] for r in runs] == [UNVERIFIED + message]
    assert f"t.clif:6:5: error: {message}" in out


# -- a bound loaded narrower than a pointer (index_type i32) ---------------------------------------

NARROW = """test interpret
target s390x

function %f(i64 vmctx, i32) -> i32, i32 {
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
    gv2 = load.i32 notrap aligned gv0+8
    heap0 = dynamic gv1, bound gv2, offset_guard 0, index_type i32
block0(v0: i64, v1: i32):
    v2 = heap_load.i32 heap0 v1
    v3 = global_value.i32 gv2
    return v2, v3
}
DIRECTIVE
; run: %f(0xfc) == [0, 0x100]
; run: %f(0xfd) == trap heap_oob
"""


@pytest.mark.parametrize("directive", ["; heap: dynamic, size=0x100, ptr=vmctx+0, bound=vmctx+8", ""])
def test_an_i32_bound_reads_the_size_in_big_endian_order(directive, clifkit_test):
    # The slot is pointer-wide; written as an 8-byte big-endian value, an i32 load of it reads its
    # high half (0), and every in-bounds access traps on s390x (and on the interpreter standing for it).
    text = NARROW.replace("DIRECTIVE", directive)
    if not directive:
        text = text.replace("0xfc) == [0, 0x100]", "0x3ffc) == [0, 0x4000]").replace("0xfd)", "0x3ffd)")
    status, out, runs = clifkit_test(text)
    assert status == 0 and [r["status"] for r in runs] == ["passed", "passed"], out


@pytest.mark.parametrize("preamble, max_size, message", [
    ("    gv3 = load.i64 notrap aligned gv0+8\n    heap1 = dynamic gv1, bound gv3, offset_guard 0\n", "0x1000",
     "heap1 of %f: its bound gv3 loads 8 bytes from vmctx+8, where heap0 of %f loads 4: one slot holds one width"),
    ("", "0x1_0000_0000", "heap0 of %f: its bound gv2 loads 4 bytes from vmctx+8, too narrow for the bound 0x100000000 of heap "
         "directive 0"),
])
def test_a_narrow_bound_must_be_the_only_width_and_hold_the_size(preamble, max_size, message, clifkit_test):
    text = NARROW.replace("DIRECTIVE", f"; heap: dynamic, size=0x100, ptr=vmctx+0, bound=vmctx+8, max={max_size}")
    text = text.replace("index_type i32\n", "index_type i32\n" + preamble)
    status, out, runs = clifkit_test(text)
    assert [r["message"] for r in runs] == [UNVERIFIED + message] * 2, out


# -- one slot writer -------------------------------------------------------------------------------


def test_slot_writer_takes_pointer_width_and_byte_order():
    heap = HeapRequest(0, "table", 0x40, 8, 24, 0x40, 0, None, 16)
    live = type("Live", (), {"base": 0x1122_3344_5566_7788, "size": 0x40, "ptr_offset": 8, "bound_offset": 24,
                             "element_size": 16})()
    assert slot_writes(live, 8, "little") == [(8, bytes.fromhex("8877665544332211")), (24, bytes.fromhex("0400000000000000"))]
    assert slot_writes(live, 8, "big") == [(8, bytes.fromhex("1122334455667788")), (24, bytes.fromhex("0000000000000004"))]
    assert slot_writes(live, 4, "big") == [(8, bytes.fromhex("55667788")), (24, bytes.fromhex("00000004"))]
    assert Environment((heap,)).vmctx_size == 32


# -- inferred environments -------------------------------------------------------------------------

SEED = open(__file__.replace("tests/test_environment.py", "examples/heaps/inferred.clif")).read()


def test_the_seed_example_is_laid_out_from_its_declarations():
    funcs = functions(SEED)
    env = infer_environment(funcs["%heap_load_store_test"], funcs)
    assert env.inferred and env.vmctx_size == 24
    assert [(h.style, h.size, h.ptr_offset, h.bound_offset, h.max_size) for h in env.heaps] == [
        ("static", 0x1000, 0, None, 0x1000), ("dynamic", 0x4000, 8, 16, 0x4000)]
    table = infer_environment(funcs["%table_slot"], funcs)
    assert [(h.style, h.bound_value, h.element_size) for h in table.heaps] == [("table", 1024, 16)]
    assert callee_environment(None, funcs["%heap_load_store_test"], funcs).heaps[0].reservation() == 0x1_0000_0000


@pytest.mark.parametrize("preamble, expected", [
    ("    heap0 = dynamic gv1, min 0x200, bound gv2, offset_guard 0\n", [("dynamic", 0x200, 0, 8)]),
    ("    gv3 = iadd_imm.i64 gv1, 0x100\n    heap0 = static gv3, min 0x1000, bound 0x1000, offset_guard 0\n",
     [("static", 0x1100, 0, None)]),
    ("    table0 = dynamic gv1, min 3, bound gv2, element_size 8, index_type i64\n", [("table", 24, 0, 8)]),
    ("    table0 = dynamic gv1, min 0, bound gv2, element_size 8, index_type i64\n", [("table", 0x4000, 0, 8)]),
    ("    heap0 = static gv1, min 0x10, bound 0x10, offset_guard 0\n    heap1 = dynamic gv1, min 0x20, bound gv2, offset_guard 0\n",
     [("static", 0x10, 0, None)]),
])
def test_inferred_sizes(preamble, expected):
    text = _one_function("    gv1 = load.i64 notrap aligned gv0+0\n    gv2 = load.i64 notrap aligned gv0+8\n" + preamble,
                         "    return v1\n", "")
    funcs = functions(text)
    env = infer_environment(funcs["%f"], funcs)
    assert [(h.style, h.size, h.ptr_offset, h.bound_offset) for h in env.heaps] == expected


def test_a_heap_over_vmctx_makes_the_inferred_struct_large_enough(clifkit_test):
    text = _one_function("    heap0 = static gv0, min 0x20, bound 0x20, offset_guard 0, index_type i32\n",
                         "    v2 = heap_load.i32 heap0 v1\n    return v2\n", "")
    text = text.replace("; run: %f(0) == 0\n", "; run: %f(0x1c) == 0\n; run: %f(0x1d) == trap heap_oob\n")
    env = infer_environment(functions(text)["%f"], functions(text))
    assert (env.heaps, env.vmctx_size) == ((), 0x20)
    status, out, runs = clifkit_test(text)
    assert status == 0 and len(runs) == 2, out


def test_inferred_heaps_run_on_every_engine_and_explicit_directives_win(clifkit_test):
    body = "    v2 = heap_load.i32 heap0 v1\n    return v2\n"
    decl = "    gv1 = load.i64 notrap aligned gv0+0\n    heap0 = static gv1, min 0x1000, bound 0x1_0000_0000, offset_guard 0x8000_0000, index_type i32\n"
    inferred = _one_function(decl, body, "").replace("; run: %f(0) == 0\n", "; run: %f(0xffc) == 0\n; run: %f(0xffd) == trap heap_oob\n")
    directed = _one_function(decl, body, "; heap: static, size=0x100, ptr=vmctx+0\n").replace(
        "; run: %f(0) == 0\n", "; run: %f(0xfc) == 0\n; run: %f(0xfd) == trap heap_oob\n")
    header = "test interpret\ntest run\ntarget x86_64\n" if HAVE_CRANELIFT and X86_64_LINUX else "test interpret\n"
    for text in (inferred, directed):
        status, out, runs = clifkit_test(text.replace("test interpret\n", header))
        assert status == 0 and all(r["status"] == "passed" for r in runs), out


def test_a_bound_that_is_not_a_vmctx_slot_cannot_be_inferred(clifkit_test):
    text = _one_function("    gv1 = load.i64 notrap aligned gv0+0\n    gv2 = iadd_imm.i64 gv1, 8\n"
                         "    heap0 = dynamic gv1, min 0, bound gv2, offset_guard 0\n", directives="")
    status, out, runs = clifkit_test(text)
    message = ("heap0 of %f: cannot lay out its memory without directives: its bound gv2 does not load from a fixed "
               "vmctx offset; write `; heap:` / `; table:` directives")
    assert [r["message"] for r in runs] == [message]
    assert f"t.clif:6:5: error: {message}" in out


def test_a_vmctx_function_with_nothing_to_infer_from_says_so(clifkit_test):
    status, out, runs = clifkit_test(_one_function("", "    return v1\n", ""))
    [r] = runs
    assert r["status"] == "error" and "are given" not in r["message"]  # not an arity error
    assert r["message"].startswith("%f takes a vmctx first, which the harness passes only when the test has")
    # Passing the vmctx argument explicitly still works, as in Cranelift's own run tests.
    status, out, runs = clifkit_test(_one_function("", "    return v1\n", "").replace("%f(0)", "%f(0, 0)"))
    assert status == 0, out


def test_heaps_without_a_vmctx_parameter_get_a_note_when_the_run_faults(clifkit_test):
    text = """test interpret
function %nov(i32) -> i32 {
    gv0 = symbol %nov
    heap0 = static gv0, min 0x1000, bound 0x1000, offset_guard 0, index_type i32
block0(v0: i32):
    v1 = heap_load.i32 heap0 v0
    return v1
}
; run: %nov(0x800) == 0
"""
    status, out, runs = clifkit_test(text)
    [r] = runs
    assert r["status"] == "failed"
    assert r["message"].endswith("(%nov declares heaps or tables but takes no vmctx parameter, so the harness "
                                 "allocated no memory for them)")


def test_the_api_infers_takes_directive_text_and_explains(capsys):
    with clifkit.load(SEED) as program:
        assert program.call("%heap_load_store_test", 1, 2) == 3
        assert program.call("%probe", 0x1000, 0) == clifkit.Trap("heap_oob")
        assert program.call("%probe", 0xfc, 0, env=["static, size=0x100, ptr=vmctx+0",
                                                    "dynamic, size=0x100, ptr=vmctx+8, bound=vmctx+16"]) == (0, 0x100)
        with pytest.raises(TypeError, match="env must be an Environment"):
            program.call("%probe", 0, 0, env=42)
    with clifkit.load("function %f(i64 vmctx, i32) -> i32 {\nblock0(v0: i64, v1: i32):\n    return v1\n}\n") as program:
        with pytest.raises(TypeError, match="takes a vmctx first, which the harness passes only"):
            program.call("%f", 7)
        assert program.call("%f", 0, 7) == 7
        assert program.call("%f", 7, env="static, size=16, ptr=vmctx+0") == 7


def test_a_run_line_that_passes_vmctx_itself_gets_nothing_inferred(clifkit_test):
    # The declaration cannot be laid out (its base is a symbol): only a line leaving vmctx out asks for that.
    text = _one_function("    gv1 = symbol %f\n    heap0 = static gv1, min 0, bound 0x1000, offset_guard 0\n",
                         "    return v1\n", "").replace("; run: %f(0) == 0\n", "; run: %f(0, 5) == 5\n")
    status, out, runs = clifkit_test(text)
    assert status == 0 and [r["status"] for r in runs] == ["passed"], out
    status, out, runs = clifkit_test(text.replace("%f(0, 5)", "%f(5)"))
    assert [r["status"] for r in runs] == ["error"]
    assert "t.clif:5:5: error: heap0 of %f: cannot lay out its memory without directives: its base gv1 is not" in out


def test_a_heap_over_vmctx_is_checked_against_the_reservation_limit(clifkit_test):
    text = "test interpret\n" + SHAPES[SHAPES.index("function %over_vmctx"):]
    status, out, runs = clifkit_test(text, "--max-reservation", "1G")
    message = ("heap0 reservation of 0x180000000 bytes (bound 0x100000000 + offset_guard 0x80000000) exceeds the "
               "limit of 0x40000000 bytes")
    assert {r["message"] for r in runs} == {message}
    assert f"t.clif:4:5: error: {message}" in out


CALLEE_DYNAMIC = """test interpret

function %callee(i64 vmctx, i64) -> i64 tail {
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
    gv2 = load.i64 notrap aligned gv0+8
    heap0 = dynamic gv1, bound gv2, offset_guard 0, index_type i64
block0(v0: i64, v1: i64):
    v2 = heap_load.i64 heap0 v1
    return v2
}

function %caller(i64 vmctx, i64) -> i64 tail {
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
    heap0 = static gv1, min 0x100, bound 0x1000, offset_guard 0, index_type i64
    fn0 = %callee(i64 vmctx, i64) -> i64 tail
block0(v0: i64, v1: i64):
    return_call fn0(v0, v1)
}
"""


@pytest.mark.parametrize("directive, message", [
    ("", "heap0 of %callee: its base gv1 is that of the static heap inferred first for vmctx+0, which has no bound "
         "slot for its bound gv2 to load; write `; heap:` directives with bound=vmctx+N"),
    ("; heap: static, size=0x100, ptr=vmctx+0\n",
     UNVERIFIED + "heap0 of %callee: its base gv1 is heap directive 0's, a static heap with no bound=, so no slot "
     "holds the size its bound gv2 loads; give the directive bound=vmctx+N"),
])
def test_a_dynamic_bound_over_a_static_heap_without_a_bound_slot_says_so(directive, message, clifkit_test):
    status, out, runs = clifkit_test(CALLEE_DYNAMIC + directive + "; run: %caller(0xf8) == 0\n")
    assert [r["message"] for r in runs] == [message], out
    with_bound = directive.replace("ptr=vmctx+0", "ptr=vmctx+0, bound=vmctx+8") or \
        "; heap: static, size=0x100, ptr=vmctx+0, bound=vmctx+8\n"
    status, out, runs = clifkit_test(CALLEE_DYNAMIC + with_bound + "; run: %caller(0xf8) == 0\n"
                            "; run: %caller(0xf9) == trap heap_oob\n")
    assert status == 0 and [r["status"] for r in runs] == ["passed", "passed"], out


# A static i32 heap whose bound + offset_guard covers every 32-bit index has its bounds check left
# out natively (the heap-era legalizer's choice), so bytes past its bound must not be accessible:
# if they were, heap_load there would read memory natively where the interpreter traps heap_oob.
ELIDED = "offset_guard 0xffff_ffff, index_type i32\n"


@pytest.mark.parametrize("preamble, directives, message", [
    ("    gv1 = load.i64 notrap aligned gv0+0\n    heap0 = static gv1, min 0x1000, bound 0x1000, " + ELIDED,
     "; heap: static, size=0x2000, ptr=vmctx+0, bound=vmctx+8\n",
     "heap directive 0 makes accessible 0x2000 bytes from its base, past bound 0x1000"),
    ("    gv1 = load.i64 notrap aligned gv0+0\n    heap0 = static gv1, min 0x1000, bound 0x1000, " + ELIDED,
     "; heap: static, size=0x1000, ptr=vmctx+0, bound=vmctx+8, max=0x3000\n",
     "heap directive 0 makes accessible 0x3000 bytes from its base, past bound 0x1000"),
    ("    gv1 = load.i64 notrap aligned gv0+0\n    gv2 = iadd_imm.i64 gv1, 0x10\n"
     "    heap0 = static gv2, min 0, bound 0xfe0, " + ELIDED,
     "; heap: static, size=0x1000, ptr=vmctx+0, bound=vmctx+8\n",
     "heap directive 0 makes accessible 0x1000 bytes from its base, past 0x10 + bound 0xfe0"),
    ("    heap0 = static gv0, min 8, bound 8, " + ELIDED,
     "; heap: static, size=0x1000, ptr=vmctx+0, bound=vmctx+8\n",
     "the vmctx struct holds 0x10 bytes from its base, past bound 0x8"),
    # The bound covers max=, but a static heap grows in place and native memory opens in whole
    # pages: grown to 0x1800, bytes up to 0x2000 are readable natively, past the bound.
    ("    gv1 = load.i64 notrap aligned gv0+0\n    heap0 = static gv1, min 0x1000, bound 0x1800, " + ELIDED,
     "; heap: static, size=0x1000, ptr=vmctx+0, bound=vmctx+8, max=0x1800\n",
     "heap directive 0 grows in place up to max=0x1800, and native memory is open in whole pages: grown, the "
     "rest of its last page is readable, 0x2000 bytes from its base, past bound 0x1800"),
])
def test_a_heap_whose_check_is_left_out_must_bound_all_it_can_reach(preamble, directives, message, clifkit_test):
    status, out, runs = clifkit_test(_one_function(preamble, directives=directives))
    assert [r["status"] for r in runs] == ["error"], out
    assert "heap0 of %f: native code leaves its bounds check out" in runs[0]["message"]
    assert message in runs[0]["message"]
    assert "t.clif:" in out and "error: heap0 of %f" in out


@pytest.mark.parametrize("preamble", [
    # The bound covers the heap: the check is left out and nothing past the bound is accessible.
    "    gv1 = load.i64 notrap aligned gv0+0\n    heap0 = static gv1, min 0x1000, bound 0x1000, " + ELIDED,
    # The check is kept (the guard leaves 32-bit indices past bound + guard), so any bound will do.
    "    gv1 = load.i64 notrap aligned gv0+0\n    heap0 = static gv1, min 0x800, bound 0x800, offset_guard 0, "
    "index_type i32\n",
    # It grows in place, and its max= ends a page: nothing past the bound is ever readable.
    "    gv1 = load.i64 notrap aligned gv0+0\n    heap0 = static gv1, min 0x1000, bound 0x2000, " + ELIDED,
    # i64 indices are always checked.
    "    gv1 = load.i64 notrap aligned gv0+0\n    heap0 = static gv1, min 0x800, bound 0x800, offset_guard "
    "0xffff_ffff, index_type i64\n",
    # bound + offset_guard is 4 GiB: only an access of at most one byte would be left unchecked, and
    # the function's access (heap_load.i32) reads four.
    "    gv1 = load.i64 notrap aligned gv0+0\n    heap0 = static gv1, min 0x800, bound 0x800, offset_guard "
    "0xffff_f800, index_type i32\n",
])
def test_a_bound_below_the_heap_is_fine_where_the_check_is_kept(preamble, clifkit_test):
    index = "i64" if "index_type i64" in preamble else "i32"
    text = _one_function(preamble).replace("i64 vmctx, i32)", f"i64 vmctx, {index})").replace(
        "v1: i32)", f"v1: {index})")
    text = text.replace("; run: %f(0) == 0\n", "; run: %f(0) == 0\n; run: %f(0x800) == trap heap_oob\n")
    if "bound 0x1000" in preamble:
        text = text.replace("%f(0x800) == trap", "%f(0x1000) == trap")
    if "bound 0x2000" in preamble:
        text = text.replace("%f(0x800) == trap", "%f(0x2000) == trap").replace(
            "bound=vmctx+8\n", "bound=vmctx+8, max=0x2000\n")
    status, out, runs = clifkit_test(text, "--interpret-all")
    assert status == 0 and [r["status"] for r in runs] == ["passed", "passed"], out


@needs_native
def test_a_bound_that_covers_the_heap_traps_natively_where_the_check_is_left_out(clifkit_test):
    text = _one_function("    gv1 = load.i64 notrap aligned gv0+0\n    heap0 = static gv1, min 0x2000, "
                         "bound 0x2000, " + ELIDED,
                         directives="; heap: static, size=0x2000, ptr=vmctx+0, bound=vmctx+8\n")
    text = text.replace("test interpret\n", "test run\ntarget x86_64\n") + "; run: %f(0x1ffd) == trap heap_oob\n"
    status, out, runs = clifkit_test(text, "--compare")
    assert status == 0 and [r["status"] for r in runs].count("passed") == len(runs) >= 2, out


def test_an_inferred_heap_names_itself_when_a_left_out_check_cannot_trust_the_bound(clifkit_test):
    text = ("test interpret\nfunction %f(i64 vmctx, i32) -> i32 {\n    gv0 = vmctx\n"
            "    gv1 = load.i64 notrap aligned gv0+0\n"
            "    heap0 = static gv1, min 0x2000, bound 0x2000, offset_guard 0, index_type i32\n"
            "    heap1 = static gv1, min 0, bound 0x1000, " + ELIDED +
            "block0(v0: i64, v1: i32):\n    v2 = heap_load.i32 heap1 v1\n    return v2\n}\n"
            "; run: %f(0x1000) == trap heap_oob\n")
    status, out, runs = clifkit_test(text)
    assert [r["status"] for r in runs] == ["error"], out
    assert "t.clif:6:5: error: heap1 of %f: native code leaves its bounds check out" in out
    assert "the heap inferred for vmctx+0 holds 0x2000 bytes from its base, past bound 0x1000" in out


def test_inferred_growth_numbers_heaps_before_tables_whatever_the_text_order(clifkit_test):
    # table0 is written first, yet the implied directives put heap0 first: %heap_grow's index 0
    # is the heap (a delta of 0 returns its size), index 1 the table (tables do not grow: -1).
    text = """test interpret
function %ig(i64 vmctx, i32) -> i64 {
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
    gv2 = load.i64 notrap aligned gv0+8
    table0 = dynamic gv1, min 4, bound gv2, element_size 8, index_type i64
    gv3 = load.i64 notrap aligned gv0+16
    gv4 = load.i64 notrap aligned gv0+24
    heap0 = dynamic gv3, min 0x100, bound gv4, offset_guard 0, index_type i64
    fn0 = %heap_grow(i64 vmctx, i32, i64) -> i64
block0(v0: i64, v1: i32):
    v2 = iconst.i64 0
    v3 = call fn0(v0, v1, v2)
    return v3
}
; run: %ig(0) == 0x100
; run: %ig(1) == -1
"""
    status, out, runs = clifkit_test(text)
    assert status == 0 and [r["status"] for r in runs] == ["passed", "passed"], out


@needs_native
def test_a_heap_whose_accesses_all_keep_their_check_runs_natively_whatever_its_bound(clifkit_test):
    """bound + offset_guard reaches 4 GiB, but the 4-byte access keeps its check (only one of at
    most a byte would lose it), so a heap larger than the bound is fine: it was refused."""
    text = _one_function("    gv1 = load.i64 notrap aligned gv0+0\n    heap0 = static gv1, min 0x1000, "
                         "bound 0x1000, offset_guard 0xffff_f000, index_type i32\n",
                         directives="; heap: static, size=0x2000, ptr=vmctx+0, bound=vmctx+8\n")
    text = text.replace("test interpret\n", "test run\ntarget x86_64\n") + (
        "; run: %f(0xffc) == 0\n; run: %f(0xffd) == trap heap_oob\n; run: %f(0x1000) == trap heap_oob\n")
    status, out, runs = clifkit_test(text, "--compare")
    assert status == 0 and [r["status"] for r in runs].count("passed") == len(runs) >= 4, out


def test_a_heap_whose_one_byte_access_loses_its_check_must_bound_the_heap(clifkit_test):
    status, out, runs = clifkit_test(_one_function(
        "    gv1 = load.i64 notrap aligned gv0+0\n    heap0 = static gv1, min 0x1000, bound 0x1000, "
        "offset_guard 0xffff_f000, index_type i32\n",
        body="    v2 = heap_load.i8 heap0 v1\n    v3 = uextend.i32 v2\n    return v3\n",
        directives="; heap: static, size=0x2000, ptr=vmctx+0, bound=vmctx+8\n"))
    assert [r["status"] for r in runs] == ["error"], out
    assert "heap directive 0 makes accessible 0x2000 bytes from its base, past bound 0x1000" in out
