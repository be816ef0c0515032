"""The verifier's messages start with Cranelift's own words for the same error (so that the
`; error:` comments of Cranelift's `test verifier` files match), and the checks newer Cranelift
added: patchable calls, `preserve_all` signatures, exceptions through more conventions."""

from __future__ import annotations

import pytest

from clifkit.api import call, parse, verify
from clifkit.api import EngineError


def _messages(text: str) -> list[tuple[int, str]]:
    return [(d.loc.line, d.message) for d in verify(parse(text, "w.clif"), text)]


@pytest.mark.parametrize("body, words", [
    ("    call fn0()\n    return", "mismatched argument count for `call fn0()`: got 0, expected 1: "),
    ("    v1 = call fn1(v0, v0)\n    return", "mismatched argument count for `v1 = call fn1(v0, v0)`: got 2, expected 1: "),
    ("    jump block1(v0)\nblock1:\n    return", "mismatched argument count for `jump block1(v0)`: got 1, expected 0: "),
])  # fmt: skip
def test_argument_counts_quote_the_instruction_as_cranelift_displays_it(body, words):
    text = f"""function %f(i32) {{
    fn0 = %g(i32)
    fn1 = %h(i32) -> i32
block0(v0: i32):
{body}
}}
"""
    [(line, message)] = _messages(text)
    assert line == 5 and message.startswith(words)


def test_signature_checks_in_cranelifts_words_at_the_declaring_line():
    text = """function %f(f32 sext) -> i8x16 uext {
    sig0 = () -> i8 preserve_all
    fn0 = %g() -> i8, i8 preserve_all
block0(v0: f32):
    v1 = vconst.i8x16 0x00
    return v1
}
"""
    got = [(line, m.split(":")[0]) for line, m in _messages(text)]
    assert got == [
        (1, "Parameter at position 0 has invalid extension Sext"),
        (1, "Return value at position 0 has invalid extension Uext"),
        (2, "Signature with `preserve_all` ABI cannot have return values"),
        (3, "Signature with `preserve_all` ABI cannot have return values"),  # an inline signature: fn0's line
    ]


@pytest.mark.parametrize("decl, call_text, words", [
    ("patchable %g()", "call fn0()", ["patchable call to non-colocated function"]),
    ("colocated patchable %g() -> i32", "v1 = call fn0()",
     ["patchable call cannot occur to a function with return values"]),
    ("colocated patchable %g() tail", "return_call fn0()", ["patchable funcref cannot be used in a return_call"]),
    ("colocated patchable %g()", "call fn0()", []),
])  # fmt: skip
def test_patchable_calls(decl, call_text, words):
    cc = " tail" if "tail" in decl else ""
    tail = "" if "return_call" in call_text else "\n    return"
    text = f"function %f(){cc} {{\n    fn0 = {decl}\nblock0:\n    {call_text}{tail}\n}}\n"
    assert [m.split(":")[0] for _, m in _messages(text)] == words


@pytest.mark.parametrize("cc, payloads", [("preserve_all", 2), ("winch", 0), ("apple_aarch64", 2), ("fast", None)])
def test_exceptions_through_newer_conventions(cc, payloads):
    text = f"""function %f() tail {{
    sig0 = () {cc}
    fn0 = %g() {cc}
block0:
    try_call fn0(), sig0, block1, [ default: block2(exn0) ]
block1:
    return
block2(v0: i64):
    return
}}
"""
    messages = [m for _, m in _messages(text)]
    if payloads is None:
        assert messages[0].startswith(f"calling convention `{cc}` of callee does not support exceptions: ")
    elif payloads:
        assert messages == []
    else:
        assert [m.split(":")[0] for m in messages] == ["out-of-bounds `exnN` block argument"]


def test_narrow_global_value_of_a_pointer_without_a_target_is_not_run():
    text = """function %f(i64 vmctx) -> i32 {
    gv0 = vmctx
block0(v0: i64):
    v1 = global_value.i32 gv0
    return v1
}
"""
    assert _messages(text) == []  # as Cranelift's verifier, which checks it only for a target
    with pytest.raises(EngineError, match="the interpreter's addresses are 64-bit"):
        call(parse(text, "g.clif"), "%f", 5)
    assert [m.split(":")[0] for _, m in _messages("target x86_64\n" + text)] == [
        "global_value instruction with type i32 references global value with type i64"]


def test_quoted_instructions_carry_cranelifts_constant_annotations():
    text = """function %f() {
    fn0 = %g(i32)
block0:
    v0 = iconst.i32 7
    call fn0(v0, v0)
    return
}
"""
    [(_, message)] = _messages(text)
    assert message.startswith("mismatched argument count for `call fn0(v0, v0)  ; v0 = 7, v0 = 7`: got 2, expected 1")
