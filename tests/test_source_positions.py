"""Positions come from the reader: entity locations recorded as it reads, and the text it read,
never from reading the file again (which may have changed, or be no file at all)."""

from __future__ import annotations

from clifkit.limits import stack_frame_error
from clifkit.reader import parse_file, parse_text
from clifkit.verifier import verify_test_file

TEXT = """test interpret

function %f(i64 vmctx) -> i32 {
    ss0 = explicit_slot 4
      ss1 = explicit_slot 64

block0(v0: i64):
    v1 = iconst.i32 1
    v9 -> v1
    return v9
}
"""


def test_entities_and_aliases_are_located_by_the_reader():
    func = parse_text(TEXT, "t.clif").functions[0].function
    locs = {k: (loc.line, loc.col) for k, loc in func.entity_locs.items()}
    assert locs == {"ss0": (4, 5), "ss1": (5, 7), "v9": (9, 5)}


def test_a_preamble_diagnostic_needs_no_file(tmp_path):
    path = tmp_path / "t.clif"
    # The heap's base is an i32: the verifier reports it at heap0's declaration.
    path.write_text(TEXT.replace("      ss1 = explicit_slot 64\n", "      ss1 = explicit_slot 64\n    gv0 = vmctx\n"
                                 "    gv1 = load.i32 notrap aligned gv0\n"
                                 "  heap0 = static gv1, min 0x1000, bound 0x10000, offset_guard 0, index_type i32\n"))
    tf = parse_file(path)
    path.write_text("something else entirely\n" * 20)  # the file changes after it was read
    diags = [d for d in verify_test_file(tf) if "heap0" in d.message]
    assert diags and (diags[0].loc.line, diags[0].loc.col) == (8, 3)
    assert diags[0].source_line == "  heap0 = static gv1, min 0x1000, bound 0x10000, offset_guard 0, index_type i32"


def test_a_stack_frame_error_points_at_the_largest_slot_of_text_read_from_no_file():
    tf = parse_text(TEXT, "<string>")
    err = stack_frame_error(tf.functions[0].function, limit=16)
    d = err.first
    assert (d.loc.path, d.loc.line, d.loc.col) == ("<string>", 5, 7)
    assert d.source_line == "      ss1 = explicit_slot 64"
