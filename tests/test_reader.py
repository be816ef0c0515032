"""The reader: what each construct of CLIF text becomes in the IR, comments included.

Error messages are covered by test_reader_errors.py; printing and round trips by
test_printer.py.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clifkit.ir.function import BlockCall, Directive
from clifkit.ir.try_call import TryCallExn, TryCallRet
from clifkit.ir.memflags import MemFlags
from clifkit.ir.opcodes import OPCODES
from clifkit.ir.types import F32, I8, I16, I32, I64, I128, parse_type
from clifkit.reader import parse_text
from clifkit.reader.instructions import InstructionParser
from clifkit.reader.lexer import tokenize
from clifkit.ir.floats import format_float, parse_float
from clifkit.ir.numbers import HexBytes, NumberError, parse_hex_bytes, parse_imm64, parse_int, write_hex

FAST = settings(max_examples=300, deadline=None)


def func_of(text: str):
    (details,) = parse_text(text, "t.clif").functions
    return details.function


def insts_of(*lines: str, params: str = "v0: i32, v1: i64, v2: f32, v3: i32x4", preamble: str = ""):
    """The instructions of a one-block function with the given parameters and body lines."""
    sig = ", ".join(p.split(": ")[1] for p in params.split(", ")) if params else ""
    text = f"function %t({sig}) {{\n{preamble}block0({params}):\n" + "".join(f"    {x}\n" for x in lines) + "}\n"
    f = func_of(text)
    return f, f.entry.insts


# -- lexer and numbers ------------------------------------------------------------------


def test_lexer_number_tokens_and_entities():
    toks = tokenize("v1 = f64const -0x1.8p-3 ss0+16 NaN:0x1 -> gv2-8 i32x4 i8x16xN block3 v01 %name @00a4")
    pairs = list(zip(toks.kinds, toks.values))
    assert pairs == [
        ("value", 1), ("=", "="), ("word", "f64const"), ("num", "-0x1.8p-3"), ("ss", 0), ("num", "+16"),
        ("num", "NaN:0x1"), ("->", "->"), ("gv", 2), ("num", "-8"), ("type", parse_type("i32x4")),
        ("type", parse_type("i8x16xN")), ("block", 3), ("word", "v01"), ("name", "%name"), ("srcloc", "@00a4"),
        ("eof", None),
    ]  # fmt: skip


def test_lexer_columns_after_blanks_and_characters_that_may_start_a_longer_token():
    # Blanks are matched with the token after them, and -, + and @ are tried after the numbers and
    # source locations they may start: what each token is, and its column, must not depend on that.
    toks = tokenize("\t a  ->- > @ @1f + +5 -.5 Inf Info _NaN sNaNx NaNa . ,\x0b\xa0 ; c  \t\nx \t ")
    assert list(zip(toks.kinds, toks.values, toks.lines, toks.cols)) == [
        ("word", "a", 1, 3), ("->", "->", 1, 6), ("-", "-", 1, 8), (">", ">", 1, 10), ("@", "@", 1, 12),
        ("srcloc", "@1f", 1, 14), ("+", "+", 1, 18), ("num", "+5", 1, 20), ("num", "-.5", 1, 23),
        ("num", "Inf", 1, 27), ("num", "Info", 1, 31), ("word", "_NaN", 1, 36), ("num", "sNaNx", 1, 41),
        ("num", "NaNa", 1, 47), (".", ".", 1, 52), (",", ",", 1, 54), ("error", "invalid character '\\xa0'", 1, 56),
        ("word", "x", 2, 1), ("eof", None, 2, 5),
    ]  # fmt: skip
    (c,) = toks.comments
    assert (c.text, c.line, c.col, c.anchor, c.trailing) == ("; c", 1, 58, 17, True)


def test_lexer_comments_know_their_anchor_and_line_position():
    toks = tokenize("; head\nv1 = iadd v2, v3 ; tail\n")
    head, tail = toks.comments
    assert (head.text, head.anchor, head.trailing, head.line, head.col) == ("; head", 0, False, 1, 1)
    assert (tail.text, tail.anchor, tail.trailing, tail.line, tail.col) == ("; tail", 6, True, 2, 18)


@pytest.mark.parametrize(
    "text, bits, raw",
    [
        ("0x1.8p3", 32, 0x41400000), ("-0x0.0p0", 32, 0x80000000), ("0.0", 64, 0), ("-0.0", 16, 0x8000),
        ("Inf", 32, 0x7F800000), ("+Inf", 64, 0x7FF0000000000000), ("-Inf", 16, 0xFC00),
        ("NaN", 32, 0x7FC00000), ("+NaN", 64, 0x7FF8000000000000), ("-NaN:0x1", 32, 0xFFC00001),
        ("sNaN:0x1", 32, 0x7F800001), ("+sNaN:0x1", 16, 0x7C01), ("0x0.000002p-126", 32, 1),
        ("0x1.0p-14", 16, 0x0400), ("0x4.2", 32, 0x40840000), ("0x1.0p0", 128, 0x3FFF << 112),
    ],
)  # fmt: skip
def test_parse_float(text, bits, raw):
    assert parse_float(text, bits) == raw


@pytest.mark.parametrize("bits", [16, 32, 64, 128])
@FAST
@given(data=st.data())
def test_float_text_round_trips_every_bit_pattern(bits, data):
    raw = data.draw(st.integers(0, (1 << bits) - 1))
    assert parse_float(format_float(raw, bits), bits) == raw


def test_integer_literals():
    assert parse_int("255", 8) == 255 and parse_int("-128", 8) == -128
    assert parse_int("0xffff", 16) == 0xFFFF and parse_int("1_000", 16) == 1000
    assert parse_imm64("0xffff_ffff_ffff_ffff") == -1
    assert parse_imm64("-9223372036854775808") == -(1 << 63)
    for bad in ("0x", "1.5", "0x0x1", "-0x81"):
        with pytest.raises(NumberError):
            parse_int(bad, 8)
    assert write_hex(0x1_0000_0000) == "0x0001_0000_0000"
    assert parse_hex_bytes("0x0102") == b"\x02\x01" and isinstance(parse_hex_bytes("0x01"), HexBytes)


# -- header, signature, preamble ---------------------------------------------------------------


def test_header_lines_and_their_comments():
    tf = parse_text(
        "; about\ntest compile precise-output ; why\nset opt_level=speed\n; next\ntarget x86_64 sse41 has_avx\n"
        'feature !"x"\n; loose\n; run: %f() (not a directive before any function)\n\nfunction %f() {\nblock0:\n    return\n}\n'
    )
    (cmd,) = tf.commands
    assert (cmd.name, cmd.options, cmd.comments_before, cmd.comment) == ("compile", ["precise-output"], ["; about"], "; why")
    assert [(s.kind, s.words, s.comments_before) for s in tf.isa_specs] == [
        ("set", ["opt_level=speed"], []),
        ("target", ["x86_64", "sse41", "has_avx"], ["; next"]),
        ("feature", ['!"x"'], []),
    ]
    assert tf.preamble_comments == ["; loose", "; run: %f() (not a directive before any function)"]
    assert tf.isa_specs[1].loc.line == 5


def test_signature_and_names():
    f = func_of("function u1:7(i64 vmctx, i32 uext, i8 sext, i64 sret, i64 sarg(16)) -> i32, f64 tail {\n}\n")
    assert f.name == "u1:7"
    params = [(p.type, p.extension, p.purpose) for p in f.signature.params]
    assert params == [(I64, None, "vmctx"), (I32, "uext", None), (I8, "sext", None), (I64, None, "sret"), (I64, None, "sarg(16)")]
    assert [p.type for p in f.signature.returns] == [I32, parse_type("f64")]
    assert (f.signature.call_conv, f.signature.call_conv_written) == ("tail", True)
    g = func_of("function %g() {\n}\n")
    assert (g.name, g.signature.call_conv_written) == ("%g", False)


PREAMBLE = """function %p(i64 vmctx) {
    ss0 = explicit_slot 16, align = 8 ; the slot
    ss3 = explicit_slot 4
    gv0 = vmctx
    gv1 = load.i64 notrap aligned readonly gv0+8
    gv2 = iadd_imm.i64 gv1, -16
    gv3 = symbol colocated tls %sym+8
    gv4 = dyn_scale_target_const.i32x4
    dt0 = i32x4*gv4
    dss1 = explicit_dynamic_slot dt0
    ; call targets
    fn0 = colocated %a(i32) -> i32 tail
    sig2 = (i64) -> i64 system_v
    fn1 = patchable u0:3 sig2
    fn2 = %b()
    const0 = 0x0102
    const1 = i16x8 [1 2 3 4 5 6 7 8]
    stack_limit = gv1
    heap0 = static gv1, min 0x1000, bound 0x1_0000_0000, offset_guard 0, index_type i64
    heap1 = dynamic gv1, bound gv2, offset_guard 0x8000_0000
    table0 = dynamic gv1, element_size 8, bound gv2, index_type i32

block0(v0: i64):
    return
}
"""


def test_preamble_entities():
    f = func_of(PREAMBLE)
    assert (f.stack_slots[0].size, f.stack_slots[0].align, f.stack_slots[3].align) == (16, 8, None)
    gv = f.global_values
    assert gv[0].kind == "vmctx"
    assert (gv[1].kind, gv[1].base, gv[1].offset, gv[1].type) == ("load", 0, 8, I64)
    assert gv[1].flags == MemFlags(trap_code=None, aligned=True, readonly=True)
    assert (gv[2].kind, gv[2].base, gv[2].offset) == ("iadd_imm", 1, -16)
    assert (str(gv[3].name), gv[3].offset, gv[3].colocated, gv[3].tls) == ("%sym", 8, True, True)
    assert gv[4].vector_type == parse_type("i32x4")
    assert (f.dynamic_types[0].base_vector, f.dynamic_types[0].scale) == (parse_type("i32x4"), 4)
    assert f.dynamic_stack_slots[1].dynamic_type == 0
    # The inline signature of fn0 and fn2 get numbers after the declared sig2.
    assert (f.func_refs[0].signature, f.func_refs[0].inline_signature, f.func_refs[0].colocated) == (3, True, True)
    assert (f.func_refs[2].signature, f.func_refs[1].signature, f.func_refs[1].patchable) == (4, 2, True)
    assert [p.type for p in f.signatures[3].returns] == [I32] and f.signatures[3].call_conv == "tail"
    assert str(f.func_refs[1].name) == "u0:3"
    assert f.constants == {0: b"\x02\x01", 1: bytes([1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8, 0])}
    assert f.stack_limit == 1
    h0, h1 = f.heaps[0], f.heaps[1]
    assert (h0.style, h0.base, h0.min_size, h0.bound, h0.offset_guard, h0.index_type) == ("static", 1, 0x1000, 1 << 32, 0, I64)
    assert h0.written == ("min", "bound", "offset_guard", "index_type")
    assert (h1.style, h1.bound, h1.offset_guard, h1.index_type, h1.written) == ("dynamic", 2, 1 << 31, None, ("bound", "offset_guard"))
    t = f.tables[0]
    assert (t.base, t.bound, t.element_size, t.index_type, t.written) == (1, 2, 8, I32, ("element_size", "bound", "index_type"))
    assert f.entity_comments == {"ss0": "; the slot"}
    assert f.entity_comments_before == {"fn0": ["; call targets"]}


# -- instructions -------------------------------------------------------------------------------


def test_every_format_has_an_operand_parser():
    formats = {op.format.name for op in OPCODES.values()}
    from clifkit.reader.rare_formats import RARE_FORMATS  # the rarer formats, loaded on first need

    assert all(hasattr(InstructionParser, "_fmt_" + name) or name in RARE_FORMATS for name in formats)
    assert not {name for name in RARE_FORMATS if hasattr(InstructionParser, "_fmt_" + name)}


def test_immediates_are_stored_as_documented():
    f, insts = insts_of(
        "v10 = iconst.i8 255", "v11 = iconst.i16 -1", "v12 = iadd_imm v1, 0xffff_ffff_ffff_ffff",
        "v13 = icmp_imm ult v0, 10", "v14 = f32const 0x1.8p1", "v15 = f16const -Inf", "v16 = extractlane v3, 2",
        "v17 = vconst.i32x4 [1 -2 3 0xffff_ffff]", "v18 = vconst.i8x16 0x01", "v19 = f128const 0x1.0p0",
        "v20 = shuffle v3, v3, [0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 31]", "v21 = insertlane v3, v0, 1",
    )  # fmt: skip
    imms = [i.imm for i in insts]
    assert imms[:7] == [255, -1, -1, 10, 0x40400000, 0xFC00, 2]
    assert insts[3].cond == "ult"
    assert imms[7] == bytes.fromhex("01000000feffffff03000000ffffffff")
    assert imms[8] == b"\x01" + bytes(15) and isinstance(imms[8], HexBytes)
    assert imms[9] == (0x3FFF << 112).to_bytes(16, "little")
    assert insts[10].mask == bytes(range(15)) + b"\x1f" and not isinstance(insts[10].mask, HexBytes)
    assert (insts[11].imm, insts[11].args) == (1, [3, 0])


def test_memory_and_entity_operands():
    f, insts = insts_of(
        "v10 = load.i32 notrap aligned v1+8", "store little v0, v1-4", "v11 = stack_load.i64 ss0+16",
        "stack_store v0, ss0", "v12 = atomic_rmw.i32 big xchg v1, v0", "v13 = atomic_cas.i32 v1, v0, v0",
        "v14 = global_value.i64 gv0", "v15 = uload8.i64 user3 v1", "v16 = bitcast.i32 little v2",
        preamble="    ss0 = explicit_slot 32\n    gv0 = vmctx\n",
    )  # fmt: skip
    load, store, sl, ss, rmw, cas, gv, ul, bc = insts
    assert (load.flags, load.args, load.offset) == (MemFlags(trap_code=None, aligned=True), [1], 8)
    assert (store.flags.endianness, store.args, store.offset, store.ctrl_type) == ("little", [0, 1], -4, I32)
    assert (sl.stack_slot, sl.offset, ss.stack_slot, ss.offset, ss.ctrl_type) == (0, 16, 0, 0, I32)
    assert (rmw.rmw_op, rmw.flags.endianness, rmw.ctrl_type, cas.ctrl_type, cas.args) == ("xchg", "big", I32, I32, [1, 0, 0])
    assert gv.global_value == 0 and ul.flags.trap_code == "user3" and bc.ctrl_type == I32
    assert [f.value_types[v] for v in (10, 11, 12, 13, 14, 15, 16)] == [I32, I64, I32, I32, I64, I64, I32]


def test_types_inferred_from_the_typevar_operand_and_results_from_the_table():
    f, insts = insts_of(
        "v10 = iadd v0, v0", "v11 = icmp eq v3, v3", "v12 = icmp sgt v1, v1", "v13, v14 = isplit v1",
        "v15 = uextend.i128 v1", "v16 = select v0, v1, v1", "v17 = iconcat v1, v1", "v18 = fcmp lt v2, v2",
        "v19 = vhigh_bits.i16 v3", "v20 = extractlane v3, 0", "v21 = fma v2, v2, v2",
    )  # fmt: skip
    assert [i.ctrl_type for i in insts[:3]] == [I32, parse_type("i32x4"), I64]
    types = [f.value_types[v] for v in range(10, 22)]
    assert types == [I32, parse_type("i32x4"), I8, I32, I32, I128, I64, I128, I8, I16, I32, F32]


def test_call_results_come_from_the_signature():
    f, insts = insts_of(
        "v10, v11 = call fn0(v0)", "v12 = call_indirect sig0, v1(v1)", "v13 = func_addr.i64 fn0",
        preamble="    sig0 = (i64) -> f32\n    fn0 = %g(i32) -> i64, i8\n",
    )  # fmt: skip
    assert [f.value_types[v] for v in (10, 11, 12, 13)] == [I64, I8, F32, I64]
    assert (insts[0].func_ref, insts[0].args, insts[1].sig_ref, insts[1].args) == (0, [0], 0, [1, 1])


def test_branches():
    f = func_of(
        "function %b(i32) {\n    sig0 = (i32) -> i64\n    fn0 = %g sig0\n"
        "block0(v0: i32):\n    brif v0, block1(v0), block2\n"
        "block1(v1: i32):\n    br_table v1, block2, [block1(v1), block2]\n"
        "block2 cold:\n    try_call fn0(v0), sig0, block3(ret0), [ tag7: block4(exn0, exn1), default: block5 ]\n"
        "block3(v3: i64):\n    return\nblock4(v4: i64, v5: i64):\n    return\nblock5:\n    jump block1(v0)\n}\n"
    )
    b = f.blocks
    assert b[0].insts[0].dests == [BlockCall(1, [0]), BlockCall(2, [])]
    jt = b[1].insts[0].jump_table
    assert (jt.default, jt.targets) == (BlockCall(2), [BlockCall(1, [1]), BlockCall(2)])
    assert b[2].cold and not b[1].cold
    et = b[2].insts[0].exception
    assert (et.sig_ref, et.normal) == (0, BlockCall(3, [TryCallRet(0)]))
    assert et.handlers == [("tag7", BlockCall(4, [TryCallExn(0), TryCallExn(1)])), (None, BlockCall(5))]
    assert list(f.blocks) == [0, 1, 2, 3, 4, 5]


def test_forward_references_and_dynamic_types():
    f = func_of(
        "function %d(i32) {\n    gv0 = dyn_scale_target_const.i32x4\n    dt0 = i32x4*gv0\n"
        "block0(v0: i32):\n    jump block1(v5)\nblock1(v1: i32):\n    v2 = splat.dt0 v1\n    v3 = iadd v2, v2\n"
        "    v4 = extract_vector v3, 0\n    v5 = iconst.i32 0\n    return\n}\n"
    )
    dyn = parse_type("i32x4xN")
    assert [f.value_types[v] for v in (2, 3, 4)] == [dyn, dyn, parse_type("i32x4")]


def test_aliases_srclocs_and_heap_era_operands():
    f, insts = insts_of(
        "v10 -> v0", "v11 -> v10", "@00a4 v12 = iadd v11, v0",
        "v13 = heap_addr.i64 heap0, v1, 8, 4", "v14 = heap_addr.i64 heap0, v1, 4",
        "v15 = heap_load.i32 heap0 notrap little v1+16", "heap_store heap0 v1, v15",
        "v16 = table_addr.i64 table0, v0, +8",
        preamble="    gv0 = vmctx\n    heap0 = static gv0\n    table0 = dynamic gv0, bound gv0\n",
    )  # fmt: skip
    assert f.aliases == {10: 0, 11: 10} and f.value_types[11] == I32
    assert (insts[0].srcloc, insts[0].ctrl_type, insts[0].loc.line, insts[0].loc.col) == (0xA4, I32, 8, 17)
    ha4, ha3, hl, hs, ta = insts[1:]
    assert (ha4.heap, ha4.args, ha4.offset, ha4.size) == (0, [1], 8, 4)
    assert (ha3.offset, ha3.size) == (None, 4)
    assert (hl.flags, hl.offset, hl.ctrl_type) == (MemFlags(trap_code=None, endianness="little"), 16, I32)
    assert (hs.args, hs.offset, hs.ctrl_type) == ([1, 15], 0, I64)
    assert (ta.table, ta.offset) == (0, 8)


# -- comments and directives ------------------------------------------------------------------------

COMMENTED = """test run

; first function
function %f(i32) -> i32 { ; header
    ; the stack
    ss0 = explicit_slot 4 ; four bytes

; entry
block0(v0: i32): ; params
    ; add
    v1 = iadd v0, v0 ; twice
    v2 -> v1 ; same
    return v2
    ; done
} ; closing
; run: %f(1) == 2
;; run: %f(2) == 4

; print: %f(3)
; a note
; heap: static, size=0x10, ptr=vmctx+0, bound=vmctx+8
; run

; second function
; (two lines)
function %g() {
block0:
    return
}
; trailing
"""


def test_comments_are_attached_where_they_stand():
    tf = parse_text(COMMENTED, "c.clif")
    first, second = tf.functions
    f = first.function
    assert first.comments_before == ["; first function"]
    assert f.comment == "; header"
    assert (f.entity_comments_before, f.entity_comments) == (
        {"ss0": ["; the stack"]},
        {"ss0": "; four bytes", "v2": "; same"},
    )
    block = f.blocks[0]
    assert (block.comments, block.comment) == (["; entry"], "; params")
    add = block.insts[0]
    assert (add.comments_before, add.comment) == (["; add"], "; twice")
    assert block.insts[1].comments_before is None and block.insts[1].comment is None
    assert f.end_comments == ["; done"]
    assert second.comments_before == ["; second function", "; (two lines)"]
    assert [x if isinstance(x, str) else (x.kind, x.text) for x in second.trailer] == ["; trailing"]


def test_trailer_keeps_directives_comments_and_gaps_in_order():
    first = parse_text(COMMENTED, "c.clif").functions[0]
    assert first.trailer == [
        "; closing",
        Directive("run", "%f(1) == 2", first.trailer[1].loc),
        Directive("run", "%f(2) == 4", first.trailer[2].loc),
        "",
        Directive("print", "%f(3)", first.trailer[4].loc),
        "; a note",
        Directive("heap", "static, size=0x10, ptr=vmctx+0, bound=vmctx+8", first.trailer[6].loc),
        Directive("run", "", first.trailer[7].loc),
    ]
    assert [d.kind for d in first.directives] == ["run", "run", "print", "heap", "run"]
    assert first.comments_after == ["; closing", "; a note"]
    # Locations point at the directive's text.
    assert [(d.loc.line, d.loc.col) for d in first.directives] == [(16, 8), (17, 9), (19, 10), (21, 9), (22, 6)]


def test_memory_flag_words_give_the_same_answers_when_asked_again():
    from clifkit.ir import memflags

    for _ in range(2):  # (the second round is answered from what add_memflag remembers)
        big, problem = memflags.add_memflag(memflags.DEFAULT_FLAGS, "big")
        assert (big, problem) == (MemFlags(endianness="big"), None)
        assert memflags.add_memflag(big, "little") == (None, "cannot set both big and little endian bits")
        assert memflags.add_memflag(big, "v1") == (None, None)
    for i in range(memflags._ADDED_LIMIT + 5):  # any word is asked about: what is kept stays bounded
        memflags.add_memflag(memflags.DEFAULT_FLAGS, f"word{i}")
    assert len(memflags._added) <= memflags._ADDED_LIMIT
