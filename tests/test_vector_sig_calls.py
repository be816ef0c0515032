"""Indirect calls through a signature whose vector types are not the callee's (docs/architecture.md,
"Indirect calls"): the callee reads the caller's 16 bytes as its own lane type and the caller
reads the callee's result bytes as the signature's: a bitcast in the lane order of the callee's
registers (little-endian, except big-endian on s390x outside the ``tail`` convention).

Every shape (call_indirect, return_call_indirect, a function table, several values) runs on
the interpreter in both byte orders and, with `--compare`, natively on x86_64 and under QEMU on
aarch64 and s390x. The expected values come from the byte model below, not from an engine.
"""

from __future__ import annotations

import struct

import pytest

from clifkit.interpreter import Interpreter, Trap
from clifkit.ir.floats import format_float
from clifkit.ir.types import parse_type
from clifkit.reader import parse_text
from support import needs_emulation, needs_native

# A byte pattern whose every f32 and f64 reading, in either order, is an ordinary number.
BYTES = bytes([0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0x10, 0x32, 0x54, 0x76, 0x98, 0xBA, 0xDC, 0xFE])
# (signature's type, callee's type): every lane type on both sides.
PAIRS = [("i64x2", "i32x4"), ("i8x16", "i16x8"), ("i16x8", "f32x4"), ("i32x4", "f64x2"),
         ("f32x4", "i64x2"), ("f64x2", "i8x16"), ("f32x4", "f64x2")]
CODES = {8: "B", 16: "H", 32: "I", 64: "Q"}


def lanes(data: bytes, name: str, big: bool) -> list[int]:
    t = parse_type(name)
    return list(struct.unpack(("!" if big else "<") + CODES[t.lane_bits] * t.lanes, data))


def pack(values: list[int], name: str, big: bool) -> bytes:
    t = parse_type(name)
    return struct.pack(("!" if big else "<") + CODES[t.lane_bits] * t.lanes, *values)


def text(values: list[int], name: str) -> str:
    t = parse_type(name)
    if t.is_float:
        return "[" + " ".join(format_float(v, t.lane_bits) for v in values) + "]"
    return "[" + " ".join(hex(v) for v in values) + "]"


def callee_effect(sig: str, own: str, big: bool) -> list[int]:
    """The callee copies its lane 0 into lane 1: what the caller reads back, lanes of `sig`."""
    got = lanes(pack(lanes(BYTES, sig, big), sig, big), own, big)
    got[1] = got[0]
    return lanes(pack(got, own, big), sig, big)


def shapes(sig: str, own: str, conv: str, big_target: bool) -> str:
    """The callee, and callers through call_indirect, a table and (``tail``) return_call_indirect."""
    cc = f" {conv}" if conv else ""
    big = big_target and conv != "tail"
    n = f"{sig}_{own}_{conv or 'default'}"
    k = f"%k_{n}"
    arg = text(lanes(BYTES, sig, big), sig)
    want = text(callee_effect(sig, own, big), sig)
    out = f"""
function {k}({own}) -> {own}{cc} {{
block0(v0: {own}):
    v1 = extractlane v0, 0
    v2 = insertlane v0, v1, 1
    return v2
}}

function %ind_{n}({sig}) -> {sig}{cc} {{
    fn0 = {k}({own}) -> {own}{cc}
    sig0 = ({sig}) -> {sig}{cc}
block0(v0: {sig}):
    v1 = func_addr.i64 fn0
    v2 = call_indirect sig0, v1(v0)
    return v2
}}
; run: %ind_{n}({arg}) == {want}

function %pair_{n}(i32, {sig}) -> {sig}, i32{cc} {{
    sig0 = (i32, {sig}) -> {sig}, i32{cc}
    fn0 = %two_{n}(i32, {own}) -> {own}, i32{cc}
block0(v0: i32, v1: {sig}):
    v2 = func_addr.i64 fn0
    v3, v4 = call_indirect sig0, v2(v0, v1)
    return v3, v4
}}
; run: %pair_{n}(7, {arg}) == [{want}, 8]

function %two_{n}(i32, {own}) -> {own}, i32{cc} {{
    fn0 = {k}({own}) -> {own}{cc}
block0(v0: i32, v1: {own}):
    v2 = call fn0(v1)
    v3 = iadd_imm v0, 1
    return v2, v3
}}

function %table_{n}(i64 vmctx, i64, {sig}) -> {sig}{cc} {{
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
    gv2 = load.i64 notrap aligned gv0+8
    table0 = dynamic gv1, min 0, bound gv2, element_size 8, index_type i64
    fn0 = {k}({own}) -> {own}{cc}
    sig0 = ({sig}) -> {sig}{cc}
block0(v0: i64, v1: i64, v2: {sig}):
    v3 = table_addr.i64 table0, v1, +0
    v4 = func_addr.i64 fn0
    store v4, v3
    v5 = load.i64 v3
    v6 = call_indirect sig0, v5(v2)
    return v6
}}
; table: elements=4, element_size=8, ptr=vmctx+0, bound=vmctx+8
; run: %table_{n}(3, {arg}) == {want}
"""
    if conv == "tail":
        out += f"""
function %tail_{n}({sig}) -> {sig} tail {{
    fn0 = {k}({own}) -> {own} tail
    sig0 = ({sig}) -> {sig} tail
block0(v0: {sig}):
    v1 = func_addr.i64 fn0
    return_call_indirect sig0, v1(v0)
}}
; run: %tail_{n}({arg}) == {want}
"""
    return out


def source(header: str, big_target: bool) -> str:
    return header + "\n" + "".join(shapes(s, o, conv, big_target) for s, o in PAIRS for conv in ("", "tail"))


RUN_LINES = len(PAIRS) * 7  # three shapes in either convention, and the tail call


@pytest.mark.parametrize("header,big", [("test interpret\ntarget x86_64", False), ("test interpret\ntarget s390x", True)])
def test_the_interpreter_reinterprets_vectors_across_indirect_calls(header, big, clifkit_test, both_code_shapes):
    _, out, runs = clifkit_test(source(header, big), "--engine", "interpreter")
    assert len(runs) == RUN_LINES and all(r["status"] == "passed" for r in runs), out


ARCHES = [pytest.param("x86_64", False, marks=needs_native),
          pytest.param("aarch64", False, marks=needs_emulation("aarch64")),
          pytest.param("s390x", True, marks=needs_emulation("s390x"))]


@pytest.mark.parametrize("arch,big", ARCHES)
def test_native_agrees_with_the_interpreter(arch, big, clifkit_test):
    """The model's values natively, and `--compare` finds the interpreter (in the target's byte
    order) agreeing on each line."""
    _, out, runs = clifkit_test(source(f"test run\ntarget {arch}", big), "--compare")
    assert len(runs) == RUN_LINES and all(r["status"] == "passed" and r["target"] == arch for r in runs), out


def identity(name: str, ty: str) -> str:
    return f"function {name}({ty}) -> {ty} {{\nblock0(v0: {ty}):\n    return v0\n}}\n"


def indirect_caller(name: str, sig: str, callee: str, own: str) -> str:
    """A function of `sig` calling `callee` (of `own`) through call_indirect with signature `sig`."""
    return f"""
function {name}({sig}) -> {sig} {{
    fn0 = {callee}({own}) -> {own}
    sig0 = ({sig}) -> {sig}
block0(v0: {sig}):
    v1 = func_addr.i64 fn0
    v2 = call_indirect sig0, v1(v0)
    return v2
}}
"""


MISMATCHES = (identity("%narrow", "i32x2") + identity("%scalar", "i32")
              + indirect_caller("%call_narrow", "i32x4", "%narrow", "i32x2")
              + indirect_caller("%call_scalar", "i64", "%scalar", "i32")
              + indirect_caller("%vector_for_scalar", "i32x4", "%scalar", "i32"))


@pytest.mark.parametrize("name,args", [("%call_narrow", [(1, 2, 3, 4)]), ("%call_scalar", [5]),
                                       ("%vector_for_scalar", [(1, 2, 3, 4)])])
def test_other_mismatches_still_trap_bad_sig(name, args, both_code_shapes):
    """Scalars of different types, a vector for a scalar, and vectors of different widths (whose
    missing bits no register defines) trap as before."""
    interp = Interpreter([d.function for d in parse_text(MISMATCHES).functions])
    with pytest.raises(Trap) as e:
        interp.call(name, args)
    assert e.value.code == "bad_sig"


DIRECT = """
function %vec(i32x4) -> i32x4 {
block0(v0: i32x4):
    v1 = extractlane v0, 0
    v2 = insertlane v0, v1, 1
    return v2
}

function %call(i64x2) -> i64x2 {
    fn0 = %vec(i64x2) -> i64x2
block0(v0: i64x2):
    v1 = call fn0(v0)
    return v1
}

function %host(i64x2) -> i64x2 {
    fn0 = %h(i64x2) -> i64x2
block0(v0: i64x2):
    v1 = call fn0(v0)
    return v1
}

function %tail(i64x2) -> i64x2 {
    fn0 = %vec(i64x2) -> i64x2
block0(v0: i64x2):
    return_call fn0(v0)
}

function %self(i64x2, i32) -> i64x2 {
    fn0 = %self(i32x4, i32) -> i32x4
block0(v0: i64x2, v1: i32):
    brif v1, block1, block2
block1:
    return v0
block2:
    v2 = iconst.i32 1
    v3 = bitcast.i32x4 little v0
    return_call fn0(v3, v2)
}
"""


def _copy_lane0(machine, v):
    return (v[0], v[0]) + tuple(v[2:])


@pytest.mark.parametrize("name", ["%call", "%tail", "%self", "%host"])
@pytest.mark.parametrize("order", ["little", "big"])
def test_direct_calls_through_a_declaration_of_other_vector_types(name, order, both_code_shapes):
    """The verifier rejects such a declaration; given one (the API runs unverified functions, and
    a host function has the types its embedder gives), the interpreter reinterprets as through
    call_indirect rather than failing in Python."""
    big = order == "big"
    i32x4 = parse_type("i32x4")
    interp = Interpreter([d.function for d in parse_text(DIRECT).functions], byteorder=order,
                         host_functions={"%h": (_copy_lane0, [i32x4], [i32x4])})
    arg = lanes(BYTES, "i64x2", big)
    if name == "%self":
        # (not a jump to its own entry: the i32x4 argument is read as its i64x2 parameter)
        passed = lanes(pack(arg, "i64x2", False), "i32x4", False)
        assert interp.call(name, [arg, 0]) == [tuple(lanes(pack(passed, "i32x4", big), "i64x2", big))]
    else:
        assert interp.call(name, [arg]) == [tuple(callee_effect("i64x2", "i32x4", big))]


# Two tail-convention functions calling each other in a loop, each through a signature naming the
# other's vectors as different lane types, and a caller reading the final bytes as a third type.
PINGPONG = """
function %even(i32, i32x4) -> i64x2 tail {
    sig0 = (i32, i16x8) -> i64x2 tail
    fn0 = %odd(i32, i8x16) -> i8x16 tail
block0(v0: i32, v1: i32x4):
    brif v0, block1, block2
block1:
    v2 = iconst.i32 1
    v3 = splat.i32x4 v2
    v4 = iadd v1, v3
    v5 = bitcast.i16x8 little v4
    v6 = iadd_imm v0, -1
    v7 = func_addr.i64 fn0
    return_call_indirect sig0, v7(v6, v5)
block2:
    v8 = bitcast.i64x2 little v1
    return v8
}

function %odd(i32, i8x16) -> i8x16 tail {
    sig0 = (i32, i64x2) -> i8x16 tail
    fn0 = %even(i32, i32x4) -> i64x2 tail
block0(v0: i32, v1: i8x16):
    brif v0, block1, block2
block1:
    v2 = iconst.i8 2
    v3 = splat.i8x16 v2
    v4 = iadd v1, v3
    v5 = bitcast.i64x2 little v4
    v6 = iadd_imm v0, -1
    v7 = func_addr.i64 fn0
    return_call_indirect sig0, v7(v6, v5)
block2:
    return v1
}

function %start(i32, i16x8) -> i16x8 {
    sig0 = (i32, i16x8) -> i16x8 tail
    fn0 = %even(i32, i32x4) -> i64x2 tail
block0(v0: i32, v1: i16x8):
    v2 = func_addr.i64 fn0
    v3 = call_indirect sig0, v2(v0, v1)
    return v3
}
"""


def pingpong(n: int, start: bytes) -> list[int]:
    """The byte model of %start(n, start): lanes of i16x8 (the tail convention's lanes are
    little-endian on every target)."""
    data, even = start, True
    for _ in range(n):
        if even:
            data = pack([(x + 1) & 0xFFFF_FFFF for x in lanes(data, "i32x4", False)], "i32x4", False)
        else:
            data = bytes((b + 2) & 0xFF for b in data)
        even = not even
    return lanes(data, "i16x8", False)


@pytest.mark.parametrize("n", [0, 1, 2, 7, 10_001])
def test_a_tail_call_loop_through_other_vector_types_keeps_its_depth(n, both_code_shapes):
    """Each adapted tail call of the loop is followed by the adapter that started it, not nested
    inside the previous one: 10,001 iterations trapped stk_ovf (one Python frame per iteration)
    where native code loops; the results are converted once, from the last callee's types."""
    interp = Interpreter([d.function for d in parse_text(PINGPONG).functions])
    start = lanes(BYTES, "i16x8", False)
    assert list(interp.call("%start", [n, tuple(start)])[0]) == pingpong(n, BYTES)


@pytest.mark.parametrize("arch,big", ARCHES)
def test_native_runs_the_tail_call_loop_as_the_model_says(arch, big, clifkit_test):
    """The loop natively, the model's values, and the interpreter agreeing (`--compare`)."""
    arg = text(lanes(BYTES, "i16x8", False), "i16x8")
    runs_text = "".join(f"; run: %start({n}, {arg}) == {text(pingpong(n, BYTES), 'i16x8')}\n"
                        for n in (1, 2, 7, 10_001))
    _, out, runs = clifkit_test(f"test run\ntarget {arch}\n" + PINGPONG + runs_text, "--compare")
    assert len(runs) == 4 and all(r["status"] == "passed" and r["target"] == arch for r in runs), out


def pshufb(a: bytes, idx: bytes) -> bytes:
    return bytes(0 if i & 0x80 else a[i & 15] for i in idx)


PSHUFB_INDEX = bytes([3, 2, 1, 0, 0x80, 0x80, 0x80, 0x80, 15, 15, 15, 15, 12, 13, 14, 15])


def pshufb_file(arch: str, ty: str, big: bool) -> str:
    arg, index = text(lanes(BYTES, ty, big), ty), text(lanes(PSHUFB_INDEX, ty, big), ty)
    want = text(lanes(pshufb(BYTES, PSHUFB_INDEX), ty, big), ty)
    return f"""test run
target {arch}

function %p({ty}, {ty}) -> {ty} {{
    fn0 = %X86Pshufb({ty}, {ty}) -> {ty}
block0(v0: {ty}, v1: {ty}):
    v2 = call fn0(v0, v1)
    return v2
}}
; run: %p({arg}, {index}) == {want}

function %ceil(f32x4) -> f32x4 {{
    fn0 = %CeilF32(f32x4) -> f32x4
block0(v0: f32x4):
    v1 = call fn0(v0)
    return v1
}}
; run: %ceil([0x1.8p0 0x1.8p0 0x1.8p0 0x1.8p0]) == trap bad_sig
"""


@pytest.mark.parametrize("ty", ["i32x4", "f64x2"])
@pytest.mark.parametrize("arch,big", ARCHES)
def test_native_libcalls_declared_with_other_vectors(arch, big, ty, clifkit_test):
    """A libcall declared with other vectors of the same width reinterprets their bytes natively in
    the C convention's lane order, as the interpreter does (Cranelift's verifier refused the
    function: the lowering called the libcall with the declared types); one declared with a vector
    for its scalar is unsupported natively, where it computed `ceil` on every lane, and traps
    bad_sig on the interpreter."""
    _, out, runs = clifkit_test(pshufb_file(arch, ty, big), "--interpret-all")
    by = {(r["engine"], r["function"]): r for r in runs}
    assert by[("native", "%p")]["status"] == "passed" and by[("interpreter", "%p")]["status"] == "passed", out
    assert by[("interpreter", "%ceil")]["status"] == "passed", out
    ceil = by[("native", "%ceil")]
    assert ceil["status"] == "skipped" and "%CeilF32 is declared as (f32x4) -> f32x4, but the libcall is (f32) -> f32" \
        in ceil["message"], out


RECURSION = """
function %r(i32, i32x4) -> i32x4 {
    sig0 = (i32, i8x16) -> i8x16
    fn0 = %r(i32, i32x4) -> i32x4
block0(v0: i32, v1: i32x4):
    brif v0, block1, block2
block1:
    v2 = iadd_imm v0, -1
    v3 = bitcast.i8x16 little v1
    v4 = func_addr.i64 fn0
    v5 = call_indirect sig0, v4(v2, v3)
    v6 = bitcast.i32x4 little v5
    v7 = iadd v6, v1
    return v7
block2:
    return v1
}
"""


@pytest.mark.parametrize("depth", [2000, 5000])
def test_a_recursion_through_other_vector_types_reaches_the_call_depth_limit(depth, both_code_shapes):
    """Each level nests the adapter's Python frame too: at the default limit of 2,000 the recursion
    trapped stk_ovf (the Python stack, sized for two frames a level) from 1,500 levels on."""
    import clifkit

    with clifkit.load(RECURSION, max_call_depth=depth) as prog:
        assert prog.call("%r", depth - 1, (1, 2, 3, 4)) == tuple(depth * k for k in (1, 2, 3, 4))
        assert prog.call("%r", depth, (1, 2, 3, 4)) == clifkit.Trap("stk_ovf")


def _chain(n: int, through: str) -> str:
    """%f0 .. %f{n-1}, each calling the next through call_indirect of signature `through`."""
    last = n - 1
    parts = [f"function %f{last}(i32x4) -> i32x4 {{\nblock0(v0: i32x4):\n    return v0\n}}\n"]
    for i in range(last):
        parts.append(f"""function %f{i}(i32x4) -> i32x4 {{
    sig0 = ({through}) -> {through}
    fn0 = %f{i + 1}(i32x4) -> i32x4
block0(v0: i32x4):
    v1 = bitcast.{through} little v0
    v2 = func_addr.i64 fn0
    v3 = call_indirect sig0, v2(v1)
    v4 = bitcast.i32x4 little v3
    return v4
}}
""")
    return "".join(parts)


@pytest.mark.parametrize("through", ["i32x4", "i8x16"])
def test_a_chain_of_first_calls_through_other_vector_types_reaches_the_call_depth_limit(through, both_code_shapes):
    """Each function of the chain is called once: through its stub, a fourth Python frame a level
    under the adapter (and short code's call_indirect helper): with the Python stack sized for
    three, such a chain trapped stk_ovf from some 1,050 levels on at a limit of 1,200 (1,700 of 2,000)."""
    import clifkit

    depth = 1200
    with clifkit.load(_chain(depth - 1, through), max_call_depth=depth) as prog:
        assert prog.call("%f0", (1, 2, 3, 4)) == (1, 2, 3, 4)
    with clifkit.load(_chain(depth + 1, through), max_call_depth=depth) as prog:
        assert prog.call("%f0", (1, 2, 3, 4)) == clifkit.Trap("stk_ovf")
