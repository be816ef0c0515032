"""Constructs of wasmtime v48's CLIF that Cranelift 0.120 lacks: debug tags, sequence_point,
try_call `context` entries, get_exception_handler_address, and block references the verifier
(not the reader) rejects."""

from __future__ import annotations

import pytest

from clifkit.api import call, parse, to_text, verify
from clifkit.interpreter import Interpreter, Unsupported
from clifkit.interpreter import registry

TAGS = """function %f(i32, i32) -> i32 {
    ss0 = explicit_slot 8
    fn0 = %g(i32) -> i32
block0(v0: i32, v1: i32):
<ss0, 1, 0>      sequence_point
<7> @0010 v2 = call fn0(v0)
    v3 = iadd v2, v1
    return v3
}

function %g(i32) -> i32 {
block0(v0: i32):
    sequence_point
    return v0
}
"""


def _messages(text: str) -> list[tuple[int, str]]:
    return [(d.loc.line, d.message) for d in verify(parse(text, "t.clif"), text)]


def test_debug_tags_read_print_and_run():
    tf = parse(TAGS, "t.clif")
    text = to_text(tf)
    assert "    <ss0, 1, 0> sequence_point" in text
    assert "    <7> @0010 v2 = call fn0(v0)" in text  # tags first, then the source location
    assert to_text(parse(text, "t.clif")) == text
    assert _messages(TAGS) == []
    assert call(tf, "%f", 3, 4) == 7  # sequence_point does nothing to values


@pytest.mark.parametrize("tags, error", [
    ("<>", None),
    ("<4294967295>", None),
    ("<4294967296>", "debug tag (a u32)"),
    ("<v1>", "an integer user value or stack slot in debug tags"),
    ("<1 2>", "',' or '>' in the debug tags"),
])  # fmt: skip
def test_debug_tag_syntax(tags, error):
    text = TAGS.replace("<7>", tags)
    if error is None:
        assert to_text(parse(text, "t.clif")).count(tags) == 1
        return
    with pytest.raises(Exception) as e:
        parse(text, "t.clif")
    assert error in str(e.value) and "t.clif:6:" in str(e.value)


def test_debug_tags_only_on_calls_and_sequence_points():
    text = TAGS.replace("    v3 = iadd v2, v1", "<0, 1> v3 = iadd v2, v1")
    assert _messages(text) == [(7, "debug tags present on non-call, non-sequence point instruction")]


EXN = """function %f(i64) -> i64 {
    sig0 = (i64) -> i64 tail
    fn0 = %g(i64) -> i64 tail
block0(v0: i64):
    v1 = get_exception_handler_address.i64 block1, 1
    jump block1
block1:
    try_call fn0(v0), sig0, block2(ret0), [ context v0, tag0: block3(exn0), context v1, default: block3(exn0) ]
block2(v2: i64):
    return v2
block3(v3: i64):
    return v3
}

function %g(i64) -> i64 tail {
block0(v0: i64):
    return v0
}
"""


def test_context_entries_and_handler_addresses_read_and_print():
    tf = parse(EXN, "e.clif")
    text = to_text(tf)
    assert "[ context v0, tag0: block3(exn0), context v1, default: block3(exn0) ]" in text
    assert "v1 = get_exception_handler_address.i64 block1, 1" in text
    assert to_text(parse(text, "e.clif")) == text
    assert _messages(EXN) == []


@pytest.mark.parametrize("change, line, message", [
    ("block1, 1", 5, "exception handler index 2 is out-of-range"),
    ("block1, -1", 5, "exception handler index -1 cannot be negative"),
    ("block2, 0", 5, "referenced block block2 does not end in a try_call"),
    ("block9, 0", 5, "invalid block reference block9"),
    ("block0, 0", 5, "invalid reference to entry block block0"),
])  # fmt: skip
def test_handler_address_checks(change, line, message):
    old = "block1, 1"
    new = "block1, 2" if change == old else change
    [(got_line, got)] = _messages(EXN.replace(old, new))
    assert got_line == line and got.startswith(message)


def test_context_values_must_be_defined_and_dominate():
    text = EXN.replace("context v1", "context v3")
    assert any("v3" in m and "dominat" in m for _, m in _messages(text))
    with pytest.raises(Exception, match="undefined value v9"):
        parse(EXN.replace("context v1", "context v9"), "e.clif")


def test_handler_address_and_sequence_point_on_the_interpreter():
    tf = parse(EXN, "e.clif")
    with pytest.raises(Unsupported) as e:
        Interpreter([d.function for d in tf.functions]).call("%f", [5])
    assert registry.UNSUPPORTED["get_exception_handler_address"] in e.value.reason
    # Without the handler address, the context entries change nothing: the call returns normally.
    plain = EXN.replace("    v1 = get_exception_handler_address.i64 block1, 1\n", "").replace("context v1", "context v0")
    assert call(parse(plain, "e.clif"), "%f", 5) == 5


def test_undefined_block_is_the_verifiers_to_report():
    text = """function %br(i32) {
block0(v0: i32):
    br_table v0, block1, [block1, block3]
block1:
    return
}
"""
    tf = parse(text, "b.clif")  # Cranelift's reader accepts it too
    assert "[block1, block3]" in to_text(tf)
    [(line, message)] = _messages(text)
    assert line == 3 and message.startswith("invalid block reference block3")


def test_jump_to_the_entry_block_in_cranelifts_words():
    text = """function %f() {
block0:
    jump block0
}
"""
    [(_, message)] = _messages(text)
    assert message.startswith("invalid reference to entry block block0")


NATIVE = """test run
target x86_64
function %f(i32, i32) -> i32 {
    fn0 = %g(i32) -> i32
block0(v0: i32, v1: i32):
<1, 2> sequence_point
<7> v2 = call fn0(v0)
    v3 = iadd v2, v1
    return v3
}
; run: %f(3, 4) == 7

function %g(i32) -> i32 {
block0(v0: i32):
    return v0
}
"""


def _native_ready() -> bool:
    import platform

    try:
        import cranelift  # noqa: F401
    except ImportError:
        return False
    return platform.machine() in ("x86_64", "AMD64") and platform.system() == "Linux"


@pytest.mark.skipif(not _native_ready(), reason="needs cranelift-py on x86_64 Linux")
def test_native_runs_sequence_points_and_names_what_it_cannot_run(tmp_path):
    from clifkit.api import run_tests
    from clifkit.native.translate import UNSUPPORTED

    ok = tmp_path / "sp.clif"
    ok.write_text(NATIVE)
    result = run_tests(ok, engine="native")
    assert (result.passed, result.failed, result.skipped) == (1, 0, 0)
    bad = tmp_path / "gea.clif"
    bad.write_text("test run\ntarget x86_64\n" + EXN + "; run: %f(5) == 5\n")
    [line] = [r for f in run_tests(bad, engine="native").results for r in f.runs]
    assert line.status == "skipped" and UNSUPPORTED["get_exception_handler_address"] in line.message


def test_a_declared_jump_tables_missing_block_is_reported_where_it_is_declared():
    text = """function %br(i32) {
    jt0 = jump_table [block1, block2]

block0(v0: i32):
    br_table v0, block1, jt0
block1:
    return
}
"""
    [(line, message)] = _messages(text)
    assert line == 2 and message.startswith("invalid block reference block2")
