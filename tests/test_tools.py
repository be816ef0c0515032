"""The tools a backend engineer reaches for: `clifkit cfg` (and, below, `lower`, `trace`)."""

from __future__ import annotations

import re
import shutil

import pytest

from clifkit import cli
from clifkit.cfg import function_dot
from clifkit.reader import parse_text

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
    bad = tmp_path / "bad.clif"
    bad.write_text("function %f() {\nblock0:\n    nope\n}\n")
    assert cli.main(["cfg", str(bad)]) == 1
    assert "bad.clif:3:5: error:" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_cfg_renders_svg_with_graphviz(tmp_path):
    f = tmp_path / "t.clif"
    f.write_text(BRANCHY)
    out = tmp_path / "g.svg"
    assert cli.main(["cfg", str(f), "-o", str(out)]) == 0
    svg = out.read_text()
    assert svg.lstrip().startswith("<?xml") and "block4" in svg
