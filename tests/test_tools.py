"""The tools a backend engineer reaches for: `clifkit cfg` (and, below, `lower`, `trace`)."""

from __future__ import annotations

import importlib.util
import re
import shutil

import pytest

from clifkit import cli
from clifkit.cfg import function_dot
from clifkit.reader import parse_text
from clifkit.native.host import host_arch

BRANCHY = """
function %pick(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    brif v0, block1(v1), block2
block1(v2: i32):
    v3 = iadd_imm v2, 1
    jump block3(v3)
block2:
    br_table v1, block3(v1), [block3(v0), block4]
block3(v4: i32):
    return v4
block4:
    trap user1
}
"""


def _dot(text: str) -> str:
    return function_dot(parse_text(text, "t.clif").functions[0].function)


def test_cfg_edges_leave_from_the_branch_with_their_arguments():
    dot = _dot(BRANCHY)
    edges = re.findall(r"(block\d+):i(\d+) -> (block\d+)(?: \[label=\"([^\"]*)\"\])?;", dot)
    assert sorted(edges) == sorted([
        ("block0", "0", "block1", "v1"),
        ("block0", "0", "block2", ""),
        ("block1", "1", "block3", "v3"),
        ("block2", "0", "block3", "v1"),
        ("block2", "0", "block3", "v0"),
        ("block2", "0", "block4", ""),
    ])
    assert "{rank=min; block0}" in dot


def test_cfg_labels_hold_canonical_instructions_escaped_for_records():
    dot = _dot(BRANCHY)
    # The header and each instruction, as `clifkit cat` prints them; `[` is fine in a record, `{` would not be.
    assert 'block3 [label="{block3(v4: i32): | <i0>return v4\\l}"];' in dot
    assert "<i0>br_table v1, block3(v1), [block3(v0), block4]\\l" in dot
    braces = _dot("""
function %t(i64) -> i64 {
    sig0 = (i64) -> i64
block0(v0: i64):
    v1 = call_indirect sig0, v0(v0)
    return v1
}
""")
    assert "block0(v0: i64):" in braces


def test_cfg_command_chooses_a_function_and_reports_bad_input(tmp_path, capsys):
    f = tmp_path / "t.clif"
    f.write_text(BRANCHY + "\nfunction %other() {\nblock0:\n    return\n}\n")
    assert cli.main(["cfg", str(f), "--function", "%other"]) == 0
    out = capsys.readouterr().out
    assert out.count("digraph") == 1 and '"%other"' in out
    assert cli.main(["cfg", str(f), "--function", "%missing"]) == 1
    assert "no function named %missing" in capsys.readouterr().err
    empty = tmp_path / "empty.clif"
    empty.write_text("test run\n")
    assert cli.main(["cfg", str(empty)]) == 1
    assert capsys.readouterr().err == f"{empty}: error: no function\n"  # (it said "no function named None")
    bad = tmp_path / "bad.clif"
    bad.write_text("function %f() {\nblock0:\n    nope\n}\n")
    assert cli.main(["cfg", str(bad)]) == 1
    assert "bad.clif:3:5: error:" in capsys.readouterr().err
    assert cli.main(["cfg", str(f), "-o", str(tmp_path)]) == 1  # a directory: an error, not a traceback
    assert f"clifkit cfg: error: cannot write {tmp_path}: Is a directory" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_cfg_renders_svg_with_graphviz(tmp_path):
    f = tmp_path / "t.clif"
    f.write_text(BRANCHY)
    out = tmp_path / "g.svg"
    assert cli.main(["cfg", str(f), "-o", str(out)]) == 0
    svg = out.read_text()
    assert svg.lstrip().startswith("<?xml") and "block4" in svg


# -- clifkit lower and clifkit compile on every backend ----------------------------------------------

from clifkit import commands  # noqa: E402
from clifkit.native import emulation  # noqa: E402

HEAPS = """
function %elided(i64 vmctx, i32) -> i32 {
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
    heap0 = static gv1, min 0x1_0000, bound 0x1_0000_0000, offset_guard 0x8000_0000, index_type i32

block0(v0: i64, v1: i32):
    v2 = heap_addr.i64 heap0, v1, 0, 4
    v3 = load.i32 v2
    return v3
}

function %checked(i64 vmctx, i64) -> i32 {
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
    heap0 = static gv1, min 0x1_0000, bound 0x1_0000, offset_guard 0, index_type i64

block0(v0: i64, v1: i64):
    v2 = heap_load.i32 heap0 v1+8
    return v2
}
; heap: static, size=0x10000, ptr=vmctx+0
"""


def _native_targets():
    if commands.native_unavailable() is not None:
        return []
    host = host_arch()
    out = [host]
    for arch in ("x86_64", "aarch64", "s390x"):
        if arch != host and emulation.status(arch).ready:
            out.append(arch)
    return out


@pytest.mark.parametrize("arch", _native_targets() or [pytest.param("none", marks=pytest.mark.skip("no native engine"))])
def test_lower_shows_the_legalized_code_and_its_decisions(arch, tmp_path, cli_run):
    f = tmp_path / "h.clif"
    f.write_text(HEAPS)
    status, out, err = cli_run("lower", "--target", arch, f)
    assert status == 0, err
    assert out.startswith(f"; {f}: target {arch}\n")
    elided, checked = out.split("function %checked")
    # The i32 index cannot reach past bound + guard: no comparison, and the decision says why.
    assert "function %elided(i64 vmctx, i32) -> i32 {" in elided
    assert "icmp" not in elided
    assert "line 8: v2 = heap_addr.i64 heap0, v1, 0, 4: bounds check elided" in elided
    # An i64 index is compared against bound - (offset + size) = 0xfff4, and the trap is heap_oob.
    assert "icmp_imm ugt, v" in checked and "0xfff4" in checked
    assert "line 19: v2 = heap_load.i32 heap0 v1+8: bounds check kept: heap0: index > 0xfff4 (traps heap_oob)" in checked


@pytest.mark.parametrize("arch", _native_targets() or [pytest.param("none", marks=pytest.mark.skip("no native engine"))])
def test_compile_for_every_backend_clifkit_runs(arch, tmp_path, cli_run):
    f = tmp_path / "h.clif"
    f.write_text(HEAPS)
    status, out, err = cli_run("compile", "--target", arch, f)
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0] == f"{f}: target {arch}"
    sizes = [line for line in lines if "bytes of machine code" in line]
    assert [line.split(":")[0].strip() for line in sizes] == ["%elided", "%checked"]
    assert all(int(line.split(": ")[1].split()[0]) > 0 for line in sizes)
    if importlib.util.find_spec("capstone") is not None:
        last = {"x86_64": "ret", "aarch64": "ret", "s390x": "br %r14"}[arch]
        assert any(line.rstrip().endswith(last) for line in lines)


def test_lower_reports_bad_input_and_unknown_targets(tmp_path, cli_run):
    bad = tmp_path / "bad.clif"
    bad.write_text("function %f() {\nblock0:\n    nope\n}\n")
    status, out, err = cli_run("lower", bad)
    assert status == 1 and "bad.clif:3:5: error:" in err
    if commands.native_unavailable() is None:
        f = tmp_path / "h.clif"
        f.write_text(HEAPS)
        status, out, err = cli_run("lower", "--target", "mips64", f)
        assert status == 1
        assert err.startswith(f"clifkit lower: error: {f}: ") and "mips64" in err


# -- --set NAME=VALUE ---------------------------------------------------------------------------------

FOLD = """
function %fold(i64) -> i64 {
block0(v0: i64):
    v1 = iconst.i64 3
    v2 = imul v1, v1
    v3 = iadd v2, v1
    v4 = imul v3, v2
    v5 = iadd v0, v4
    v6 = iadd v5, v4
    return v6
}
; run: %fold(1) == 217
"""


@pytest.mark.skipif(commands.native_unavailable() is not None, reason="no native engine")
def test_set_reaches_cranelift(tmp_path, cli_run):
    f = tmp_path / "fold.clif"
    f.write_text("test run\n" + FOLD)

    def size(level):
        status, out, err = cli_run("compile", "--no-disasm", "--set", f"opt_level={level}", f)
        assert status == 0, err
        return int(out.splitlines()[1].split(": ")[1].split()[0])

    # Constant folding happens only when optimizing: the same function is smaller at opt_level=speed.
    assert size("speed") < size("none")
    status, out, err = cli_run("test", "--engine", "native", "--set", "opt_level=speed", f)
    assert status == 0 and out.splitlines()[-1].startswith("1 passed"), out + err


@pytest.mark.skipif(commands.native_unavailable() is not None, reason="no native engine")
@pytest.mark.parametrize("setting, reason", [
    ("opt_level=fastest", "Unexpected value for a setting, expected any among none, speed, speed_and_size"),
    ("no_such_setting=1", "No existing setting named 'no_such_setting'"),
    ("probestack_strategy=outline", "clifkit always compiles with probestack_strategy=inline"),
])
def test_set_refuses_what_cranelift_cannot_take_with_the_reason(setting, reason, tmp_path, cli_run):
    f = tmp_path / "fold.clif"
    f.write_text("test run\n" + FOLD)
    for command in ("test", "run", "compile", "lower"):
        status, out, err = cli_run(command, "--set", setting, f)
        assert status == 2 and out == ""
        assert err.startswith(f"clifkit {command}: error: --set {setting}: ") and reason in err


def test_set_needs_name_equals_value(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["test", "--set", "opt_level=", "x.clif"])
    assert e.value.code == 2
    assert "expected NAME=VALUE" in capsys.readouterr().err


# -- clifkit interpret --trace ------------------------------------------------------------------------

TRACED = """test interpret

function %walk(i64 vmctx, i32) -> i32 {
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
    heap0 = static gv1, min 0x1000, bound 0x1000, offset_guard 0, index_type i32

block0(v0: i64, v1: i32):
    v2 = iconst.i32 7
    heap_store heap0 v1+4, v2
    v3 = heap_load.i32 heap0 v1+4
    v4 = imul_imm v3, 6
    return v4
}
; heap: static, size=0x1000, ptr=vmctx+0
; run: %walk(8) == 42
; run: %walk(0xffc) == trap heap_oob

function %count(i32) -> i32 {
    ss0 = explicit_slot 8
block0(v0: i32):
    v1 = stack_addr.i64 ss0
    store v0, v1+4
    v2 = load.i32 v1+4
    brif v2, block1(v2), block2
block1(v3: i32):
    v4 = iadd_imm v3, -1
    brif v4, block1(v4), block2
block2:
    return v2
}
; run: %count(1000) == 1000
"""


def test_trace_shows_each_instruction_with_values_and_the_outcome(tmp_path, cli_run):
    f = tmp_path / "t.clif"
    f.write_text(TRACED)
    status, out, err = cli_run("interpret", "--trace", f, "-k", "walk")
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0] == f"trace of {f}:16: %walk(8)"
    rows = [" ".join(line.split()) for line in lines[1:6]]
    assert rows == [
        "%walk block0 v2 = iconst.i32 7 -> v2=0x7",
        "%walk block0 heap_store heap0 v1+4, v2 v1=0x8 v2=0x7",
        "%walk block0 v3 = heap_load.i32 heap0 v1+4 v1=0x8 -> v3=0x7",
        "%walk block0 v4 = imul_imm v3, 6 v3=0x7 -> v4=0x2a",
        "%walk block0 return v4 v4=0x2a",
    ]
    assert lines[6] == "%walk(8) -> returned 0x2a"
    # A trap ends the trace at the instruction that trapped, and says so.
    second = lines.index(f"trace of {f}:17: %walk(0xffc)")
    assert " ".join(lines[second + 2].split()) == (
        "%walk block0 heap_store heap0 v1+4, v2 v1=0xffc v2=0x7 <- trapped here")
    assert lines[second + 3] == "%walk(0xffc) -> trap heap_oob"
    assert lines[-1] == "2 passed, 0 failed, 0 skipped"


def test_trace_shows_addresses_and_stops_at_its_limit(tmp_path, cli_run):
    f = tmp_path / "t.clif"
    f.write_text(TRACED)
    status, out, err = cli_run("interpret", "--trace", "--trace-limit", "6", f, "-k", "count")
    assert status == 0, err
    lines = out.splitlines()
    store = next(line for line in lines if "store v0, v1+4" in line)
    address = int(store.split("[addr ")[1].rstrip("]"), 16)
    slot = int(next(line for line in lines if "stack_addr" in line).split("v1=")[1], 16)
    assert address == slot + 4
    assert sum(1 for line in lines if line.startswith("%count ")) == 6
    # 4 in block0, then 2 per iteration and the return: 4 + 2 * 1000 + 1.
    assert f"... and {4 + 2 * 1000 + 1 - 6} more instructions (--trace-limit 6)" in lines
    assert "%count(1000) -> returned 0x3e8" in lines


CALLS_TRACED = """test interpret

function %div(i64, i64) -> i64 {
block0(v0: i64, v1: i64):
    v2 = udiv v0, v1
    return v2
}

function %main(i64, i64) -> i64 {
    fn0 = %div(i64, i64) -> i64
block0(v0: i64, v1: i64):
    v2 = call fn0(v0, v1)
    v3 = iadd_imm v2, 1
    return v3
}
; run: %main(8, 2) == 5
; run: %main(8, 0) == trap int_divz

function %even(i64) -> i64 tail {
    fn0 = %odd(i64) -> i64 tail
block0(v0: i64):
    brif v0, block1, block2
block1:
    v1 = iadd_imm v0, -1
    return_call fn0(v1)
block2:
    trap user9
}

function %odd(i64) -> i64 tail {
    fn0 = %even(i64) -> i64 tail
block0(v0: i64):
    v1 = iadd_imm v0, -1
    return_call fn0(v1)
}
; run: %even(2) == trap user9
"""


def test_trace_shows_a_call_before_its_callee_and_the_functions_a_tail_call_reaches(tmp_path, cli_run):
    f = tmp_path / "t.clif"
    f.write_text(CALLS_TRACED)
    status, out, err = cli_run("interpret", "--trace", f)
    assert status == 0, err
    rows = [" ".join(line.split()) for line in out.splitlines()]
    first = rows.index(f"trace of {f}:16: %main(8, 2)")
    assert rows[first + 1 : first + 7] == [
        "%main block0 v2 = call fn0(v0, v1) v0=0x8 v1=0x2",  # (when it starts)
        "%div block0 v2 = udiv v0, v1 v0=0x8 v1=0x2 -> v2=0x4",
        "%div block0 return v2 v2=0x4",
        "%main block0 v2 = call fn0(v0, v1) -> v2=0x4",  # (when it returns)
        "%main block0 v3 = iadd_imm v2, 1 v2=0x4 -> v3=0x5",
        "%main block0 return v3 v3=0x5",
    ]
    # A trap in a callee: the trace shows the call that led there.
    second = rows.index(f"trace of {f}:17: %main(8, 0)")
    assert rows[second + 1 : second + 4] == [
        "%main block0 v2 = call fn0(v0, v1) v0=0x8 v1=0x0",
        "%div block0 v2 = udiv v0, v1 v0=0x8 v1=0x0 <- trapped here",
        "%main(8, 0) -> trap int_divz",
    ]
    # Tail calls between functions: each function's own blocks, its return_call, and a trap
    # terminator marked as where the run trapped.
    third = rows.index(f"trace of {f}:36: %even(2)")
    assert rows[third + 1 : third + 10] == [
        "%even block0 brif v0, block1, block2 v0=0x2",
        "%even block1 v1 = iadd_imm.i64 v0, -1 v0=0x2 -> v1=0x1",  # (as the printer writes it)
        "%even block1 return_call fn0(v1) v1=0x1",
        "%odd block0 v1 = iadd_imm v0, -1 v0=0x1 -> v1=0x0",
        "%odd block0 return_call fn0(v1) v1=0x0",
        "%even block0 brif v0, block1, block2 v0=0x0",
        "%even block2 trap user9 <- trapped here",
        "%even(2) -> trap user9",
        "3 passed, 0 failed, 0 skipped",
    ]


def test_a_trace_that_runs_out_of_fuel_shows_no_block_whose_fuel_was_not_there(tmp_path, cli_run):
    # %even(2) charges 1 (block0), 2 (block1), 2 (%odd), then 1 (block0) and 1 (block2): with 5,
    # the second visit of %even's block0 is not paid for, so none of it runs (nor shows).
    f = tmp_path / "t.clif"
    f.write_text(CALLS_TRACED)
    status, out, err = cli_run("interpret", "--trace", "--fuel", "5", f, "-k", "even")
    rows = [" ".join(line.split()) for line in out.splitlines()]
    end = next(i for i, row in enumerate(rows) if row.startswith("%even(2) -> ran out of fuel after 5"))
    assert rows[end - 1] == "%odd block0 return_call fn0(v1) v1=0x0"


def test_untraced_code_has_no_probes():
    from clifkit.interpreter import Interpreter
    from clifkit.interpreter.trace import Tracer

    functions = [d.function for d in parse_text(TRACED, "t.clif").functions]
    plain = Interpreter(functions).compile("%count")
    traced = Interpreter(functions, tracer=Tracer(lambda line: None)).compile("%count")
    assert "_tr" not in plain and traced.count("_tr") >= 6


TABLE_TRACED = """test interpret
target x86_64

function %elem(i64 vmctx, i64) -> i64 {
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
    gv2 = load.i64 notrap aligned gv0+8
    table0 = dynamic gv1, element_size 8, bound gv2, index_type i64

block0(v0: i64, v1: i64):
    v2 = table_addr.i64 table0, v1, +4
    v3 = isub v2, v2
    return v3
}
; table: elements=4, element_size=8, ptr=vmctx+0, bound=vmctx+8
; run: %elem(3) == 0
"""


def test_trace_shows_no_address_for_a_table_index(tmp_path, cli_run):
    # table_addr's operand is an element index, not an address: the table's addr column says
    # which operand is one (the tracer once took any operand named p).
    f = tmp_path / "t.clif"
    f.write_text(TABLE_TRACED)
    status, out, err = cli_run("interpret", "--trace", f)
    assert status == 0, err
    row = next(line for line in out.splitlines() if "table_addr" in line)
    assert "v1=0x3" in row and "[addr" not in row
