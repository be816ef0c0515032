"""Positions come from the reader: entity locations recorded as it reads, and the text it read,
never from reading the file again (which may have changed, or be no file at all)."""

from __future__ import annotations

from clifkit.diagnostics import Location, source_line
from clifkit.environment.layout import build_environment
from clifkit.limits import stack_frame_error
from clifkit.reader import parse_file, parse_text
from clifkit.runtest.plans import collect_directives
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


def test_a_file_the_reader_did_not_read_is_not_opened_for_a_source_line(tmp_path):
    path = tmp_path / "never-read.clif"
    path.write_text("function %f() {\n")
    assert source_line(Location(str(path), 1, 1)) is None


HEAPED = """test interpret
; heap: static, size=0x10, ptr=vmctx+0
function %f(i64 vmctx) -> i64 {
block0(v0: i64):
    ; run: %f() == 0
    v1 = load.i64 v0
    return v1
} ; run: %f() == 0
; heap: static, size=0x100, ptr=vmctx+0
; HEAP: static, size=0x100, ptr=vmctx+8
; run: %f() == 0
"""


def test_placement_comes_from_the_readers_record_not_the_text():
    tf = parse_text(HEAPED, "t.clif")
    tf.source = None  # nothing to scan: the reader's record of directives is enough
    got = [(d.loc.line, d.loc.col, d.message.split(":")[0]) for d in verify_test_file(tf)]
    assert got == [
        (2, 3, "'; heap' directive before the first function"),
        (5, 7, "'; run' directive inside the body of %f"),
        (8, 5, "'; run' after code on the same line would be ignored as a comment"),
        (10, 3, "'HEAP"),
    ]
    by_line = {d.line: d for d in tf.directives}
    assert sorted(by_line) == [2, 5, 8, 9, 10, 11]
    assert [d.line for d in tf.functions[0].directives] == [8, 9, 11]
    assert by_line[8].after_code and by_line[10].kind == "HEAP" and by_line[9].word_loc.col == 3


def test_directives_are_read_once_by_the_reader():
    tf = parse_text(HEAPED, "t.clif")
    details = tf.functions[0]
    after_code, heap, run = details.directives
    assert (heap.parsed.style, heap.parsed.values, heap.parsed.cols) == (
        "static", {"size": 0x100, "ptr": 0}, {"size": 13, "ptr": 24})
    heap.text = run.text = "changed after reading"  # what the harness uses is what the reader read
    group = collect_directives(tf)[0]
    assert group.commands == [run.parsed] and group.commands[0].call.name == "%f"
    env = build_environment(details)
    assert [(h.size, h.ptr_offset) for h in env.heaps] == [(0x100, 0)]


def test_directives_and_their_errors_survive_a_copy_and_a_pickle():
    import copy
    import pickle

    tf = parse_text(HEAPED.replace("size=0x100, ptr=vmctx+0", "size=lots, ptr=vmctx+0"), "t.clif")
    for twin in (copy.deepcopy(tf), pickle.loads(pickle.dumps(tf))):
        error = twin.functions[0].directives[1].error
        assert error.first.message == "heap attribute 'size' must be a non-negative integer, not 'lots'"
        assert (error.first.loc.line, error.first.loc.col) == (9, 22)

