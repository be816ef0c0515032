"""The verifier (clifkit.verifier): one defect per case, with its exact message and line.

Most cases are small CLIF texts read by `clifkit.reader.parse_text`; defects
the reader itself refuses (undefined values, undeclared entities, forward
references) are built by hand from the IR model classes.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from clifkit.diagnostics import Location
from clifkit.ir.entities import GlobalValueData, HeapData, TableData
from clifkit.ir.function import AbiParam, Block, BlockCall, Function, Inst, Signature
from clifkit.ir.opcodes import OPCODES
from clifkit.ir.memflags import MemFlags
from clifkit.ir.types import parse_type
from clifkit.reader import parse_file, parse_text
from clifkit.verifier import TargetInfo, verify_function, verify_test_file

PATH = "hand.clif"


# -- building functions by hand -------------------------------------------------


def T(name):
    return parse_type(name)


def op(line, name, args=(), results=(), ctrl=None, **fields):
    """An instruction on `line`: ``op(3, "iadd", [0, 1], [2])``."""
    inst = Inst(OPCODES[name], T(ctrl) if ctrl else None, list(args), list(results), **fields)
    inst.loc = Location(PATH, line, 5)
    return inst


def function(params, returns, blocks, types, call_conv="fast", **entities):
    """`blocks`: [(number, [param values], [insts], header line)]; `types`: {value: "i32"}."""
    sig = Signature([AbiParam(T(p)) for p in params], [AbiParam(T(r)) for r in returns], call_conv)
    func = Function("%f", sig, loc=Location(PATH, 1, 1))
    func.value_types = {v: T(t) for v, t in types.items()}
    for number, bparams, insts, line in blocks:
        func.blocks[number] = Block(number, list(bparams), list(insts), loc=Location(PATH, line, 1))
    for name, value in entities.items():
        setattr(func, name, value)
    return func


def problems(func, target=None):
    return [(d.loc.line, d.message) for d in verify_function(func, target=target)]


def ret_i32_ok():
    """A correct function to mutate: (i32) -> i32 returning v0 + v0."""
    return function(
        ["i32"], ["i32"],
        [(0, [0], [op(3, "iadd", [0, 0], [1]), op(4, "return", [1])], 2)],
        {0: "i32", 1: "i32"},
    )  # fmt: skip


# -- hand-built cases ----------------------------------------------------------------


def test_hand_built_valid_function():
    assert problems(ret_i32_ok()) == []


def test_undefined_value():
    func = ret_i32_ok()
    func.blocks[0].insts[1].args = [9]
    assert problems(func) == [(4, "v9 is used but never defined")]


def test_a_type_accepted_once_is_still_checked_at_each_use():
    # The type an opcode wants of an operand at a controlling type is remembered; a later
    # instruction with the same opcode and controlling type is still checked against it.
    func = function(
        ["i32", "i64"], ["i32"],
        [(0, [0, 1], [op(3, "iadd", [0, 0], [2]), op(4, "iadd", [0, 1], [3]), op(5, "iadd", [1, 0], [4], ctrl="i32"),
                      op(6, "return", [2])], 2)],
        {0: "i32", 1: "i64", 2: "i32", 3: "i32", 4: "i64"},
    )  # fmt: skip
    assert problems(func) == [
        (4, "arg 1 (v1) has type i64, expected i32: iadd operand 1 (v1) has type i64, expected i32"),
        (5, "arg 0 (v1) has type i64, expected i32: iadd operand 0 (v1) has type i64, expected i32"),
        (5, "iadd result 0 (v4) has type i64, expected i32"),
    ]


def test_value_defined_twice():
    func = ret_i32_ok()
    func.blocks[0].insts.insert(1, op(4, "iconst", [], [1], ctrl="i32", imm=5))
    func.blocks[0].insts[2].loc = Location(PATH, 5, 5)
    assert problems(func) == [(4, "v1 is defined more than once (first defined at line 3)")]


def test_alias_cycle():
    func = ret_i32_ok()
    func.aliases = {5: 6, 6: 5}
    assert problems(func) == [(1, "alias cycle: v5 -> v6 -> v5")]


def test_alias_to_undefined_value_is_reported_at_use():
    func = ret_i32_ok()
    func.aliases = {5: 7}
    func.value_types[5] = T("i32")
    func.blocks[0].insts[1].args = [5]
    assert problems(func) == [
        (1, "alias v5 refers to v7, which is never defined"),
        (4, "v5 is an alias of v7, which is never defined"),
    ]


def test_branch_to_missing_block():
    func = ret_i32_ok()
    func.blocks[0].insts[1] = op(4, "jump", dests=[BlockCall(7)])
    assert problems(func) == [(4, "invalid block reference block7: jump names block7, which the function does not define")]


def test_result_type_mismatch():
    func = ret_i32_ok()
    func.value_types[1] = T("i64")
    func.blocks[0].insts[0].ctrl_type = T("i32")
    assert problems(func) == [
        (3, "iadd result 0 (v1) has type i64, expected i32"),
        (4, "result 0 has type i64, must match function signature of i32: return value 0 (v1) has type i64, but the function signature returns i32"),
    ]


def test_result_count():
    func = ret_i32_ok()
    func.blocks[0].insts[0].results = [1, 2]
    func.value_types[2] = T("i32")
    assert problems(func) == [(3, "iadd produces 1 result, but 2 are given")]


def test_operand_count():
    func = ret_i32_ok()
    func.blocks[0].insts[0].args = [0]
    assert problems(func) == [(3, "iadd takes 2 value operands, but 1 is given")]


def test_unknown_entities():
    func = ret_i32_ok()
    func.blocks[0].insts[1:1] = [
        op(4, "stack_load", [], [2], ctrl="i32", stack_slot=3, offset=0),
        op(5, "global_value", [], [3], ctrl="i64", global_value=2),
        op(6, "func_addr", [], [4], ctrl="i64", func_ref=1),
        op(7, "vconst", [], [5], ctrl="i32x4", imm=0),
    ]
    func.value_types.update({2: T("i32"), 3: T("i64"), 4: T("i64"), 5: T("i32x4")})
    assert problems(func) == [
        (4, "unknown stack slot ss3"),
        (5, "unknown global value gv2"),
        (6, "unknown function reference fn1"),
        (7, "unknown constant const0"),
    ]


def test_global_value_cycle():
    func = ret_i32_ok()
    func.global_values = {
        0: GlobalValueData("load", base=1, type=T("i64")),
        1: GlobalValueData("iadd_imm", base=0, offset=8, type=T("i64")),
    }
    assert problems(func) == [(1, "global value cycle: [gv0, gv1]: gv0 -> gv1 -> gv0")]


def test_global_value_with_missing_base():
    func = ret_i32_ok()
    func.global_values = {0: GlobalValueData("load", base=4, type=T("i64"))}
    assert problems(func) == [(1, "gv0: base global value gv4 is not declared")]


def test_unknown_heap_and_table():
    func = ret_i32_ok()
    func.blocks[0].insts[1:1] = [
        op(4, "heap_addr", [0], [2], ctrl="i64", heap=0, offset=0, size=4),
        op(5, "table_addr", [0], [3], ctrl="i64", table=1, offset=0),
    ]
    func.value_types.update({2: T("i64"), 3: T("i64")})
    assert problems(func) == [(4, "unknown heap heap0"), (5, "unknown table table1")]


def test_heap_declarations():
    func = ret_i32_ok()
    func.signature.params[0] = AbiParam(T("i64"), purpose="vmctx")
    func.global_values = {
        0: GlobalValueData("vmctx"),
        1: GlobalValueData("load", base=0, type=T("i64")),
        2: GlobalValueData("load", base=0, offset=8, type=T("i16")),
    }
    func.heaps = {
        0: HeapData("dynamic", base=1, bound=2, index_type=T("i32")),
        1: HeapData("static", base=2, min_size=0x2000, bound=0x1000, index_type=T("i16")),
        2: HeapData("dynamic", base=1, bound=9),
    }
    func.tables = {0: TableData(base=1, bound=1, element_size=8, index_type=T("i32"))}
    func.value_types[0] = T("i64")
    func.blocks[0].insts[0] = op(3, "ireduce", [0], [1], ctrl="i32")
    assert problems(func) == [
        (1, "heap0: bound gv2 has type i16; expected the pointer type i64 or the index type i32"),
        (1, "heap1: index_type must be i32 or i64, not i16"),
        (1, "heap1: base gv2 has type i16, which is not the pointer type i64"),
        (1, "heap1: min size 0x2000 exceeds the static bound 0x1000"),
        (1, "heap2: bound global value gv9 is not declared"),
        (1, "table0: bound gv1 has type i64, which differs from the index type i32"),
    ]


def test_address_width_follows_every_target():
    func = function(
        ["i64"], ["i32"],
        [(0, [0], [op(3, "load", [0], [1], ctrl="i32", offset=0), op(4, "return", [1])], 2)],
        {0: "i64", 1: "i32"},
    )  # fmt: skip
    func.blocks[0].insts[0].flags = MemFlags()
    target = TargetInfo(pointers=(("x86_64", T("i64")), ("pulley32", T("i32"))))
    assert problems(func, target) == [(3, "invalid pointer width (got 64, expected 32) encountered v0: address v0 has type i64, but pointers are i32 on target pulley32")]
    assert problems(func, TargetInfo(pointers=(("x86_64", T("i64")),))) == []


def test_controlling_type_not_in_set():
    func = function(
        ["f32"], ["f32"],
        [(0, [0], [op(3, "iadd", [0, 0], [1], ctrl="f32"), op(4, "return", [1])], 2)],
        {0: "f32", 1: "f32"},
    )  # fmt: skip
    assert problems(func) == [
        (3, "iadd.f32: controlling type f32 is not allowed; expected one of i8, i16, i32, i64, i128 "
            "or a vector of such lanes"),
    ]


def test_function_without_blocks():
    func = function([], [], [], {})
    assert problems(func) == [(1, "function %f has no blocks")]


# -- cases written as CLIF text ----------------------------------------------------


def check(text):
    """(line, message) of every diagnostic for a CLIF text."""
    text = textwrap.dedent(text)
    return [(d.loc.line, d.message) for d in verify_test_file(parse_text(text), text)]


ERROR_CASES = {
    "no_terminator": (
        """\
        function %f(i32) -> i32 {
        block0(v0: i32):
            v1 = iadd v0, v0
        }
        """,
        [(3, "block0 does not end with a terminator (iadd is last)")],
    ),
    "terminator_before_end": (
        """\
        function %f(i32) -> i32 {
        block0(v0: i32):
            return v0
            v1 = iadd v0, v0
            return v1
        }
        """,
        [(3, "a terminator instruction was encountered before the end of block0: terminator return before the end of block0")],
    ),
    "empty_block": (
        """\
        function %f(i32) -> i32 {
        block0(v0: i32):
            jump block1
        block1:
        block2:
            return v0
        }
        """,
        [(4, "block1 is empty")],
    ),
    "entry_param_count": (
        """\
        function %f(i32, i32) -> i32 {
        block0(v0: i32):
            return v0
        }
        """,
        [(2, "entry block parameters (1) must match function signature (2): entry block0 has 1 parameter, but the function signature has 2")],
    ),
    "entry_param_type": (
        """\
        function %f(i64) -> i64 {
        block0(v0: i32):
            v1 = uextend.i64 v0
            return v1
        }
        """,
        [(2, "entry block parameter 0 expected to have type i64, got i32: entry block parameter 0 (v0) has type i32, but the function signature says i64")],
    ),
    "cold_entry": (
        """\
        function %f(i32) -> i32 {
        block0(v0: i32) cold:
            return v0
        }
        """,
        [(2, "entry block cannot be marked as cold: entry block0 cannot be cold")],
    ),
    "not_dominated_across_blocks": (
        """\
        function %f(i32) -> i32 {
        block0(v0: i32):
            brif v0, block1, block2
        block1:
            v1 = iconst.i32 1
            jump block2
        block2:
            return v1
        }
        """,
        [(8, "uses value v1 from non-dominating definition: use of v1 is not dominated by its definition (line 5)")],
    ),
    "used_before_defined": (
        """\
        function %f(i32) -> i32 {
        block0(v0: i32):
            v1 = iadd v0, v2
            v2 = iconst.i32 1
            return v1
        }
        """,
        [(3, "uses value v2 from non-dominating definition: use of v2 is not dominated by its definition (line 4)")],
    ),
    "uses_own_result": (
        """\
        function %f(i32) -> i32 {
        block0(v0: i32):
            v1 = iadd v0, v1
            return v1
        }
        """,
        [(3, "uses value v1 from itself: iadd uses its own result v1")],
    ),
    "branch_to_entry": (
        """\
        function %f(i32) -> i32 {
        block0(v0: i32):
            brif v0, block0(v0), block1
        block1:
            return v0
        }
        """,
        [(3, "invalid reference to entry block block0: brif to the entry block block0")],
    ),
    "block_arg_count": (
        """\
        function %f(i32) -> i32 {
        block0(v0: i32):
            jump block1(v0, v0)
        block1(v1: i32):
            return v1
        }
        """,
        [(3, "mismatched argument count for `jump block1(v0, v0)`: got 2, expected 1: block1 takes 1 argument, but 2 are passed")],
    ),
    "block_arg_type": (
        """\
        function %f(i32) -> i64 {
        block0(v0: i32):
            jump block1(v0)
        block1(v1: i64):
            return v1
        }
        """,
        [(3, "arg v0 has type i32, expected i64: argument 0 (v0) to block1 has type i32, but its parameter v1 has type i64")],
    ),
    "br_table_arg_type": (
        """\
        function %f(i32) -> i32 {
        block0(v0: i32):
            br_table v0, block1, [block1, block2(v0)]
        block1:
            return v0
        block2(v1: i8):
            return v0
        }
        """,
        [(3, "arg v0 has type i32, expected i8: argument 0 (v0) to block2 has type i32, but its parameter v1 has type i8")],
    ),
    "operand_type": (
        """\
        function %f(i32, i64) -> i32 {
        block0(v0: i32, v1: i64):
            v2 = iadd v0, v1
            return v2
        }
        """,
        [(3, "arg 1 (v1) has type i64, expected i32: iadd operand 1 (v1) has type i64, expected i32")],
    ),
    "free_operand_type": (
        """\
        function %f(i32, f32) -> i32 {
        block0(v0: i32, v1: f32):
            v2 = ishl v0, v1
            return v2
        }
        """,
        [(3, "arg 1 (v1) has type f32, expected one of i8, i16, i32, i64, i128: ishl operand 1 (v1) has type f32, expected one of i8, i16, i32, i64, i128")],
    ),
    "fixed_operand_type": (
        """\
        function %f(i32, i32, i64) -> i32 {
        block0(v0: i32, v1: i32, v2: i64):
            v3, v4 = sadd_overflow_cin v0, v1, v2
            return v3
        }
        """,
        [(3, "arg 2 (v2) has type i64, expected i8: sadd_overflow_cin operand 2 (v2) has type i64, expected i8")],
    ),
    "extend_not_narrower": (
        """\
        function %f(i64) -> i32 {
        block0(v0: i64):
            v1 = uextend.i32 v0
            return v1
        }
        """,
        [(3, "arg 0 (v0) with type i64 failed to satisfy type set: uextend operand 0 (v0) has type i64, expected a scalar integer type narrower than i32")],
    ),
    "reduce_not_wider": (
        """\
        function %f(i32) -> i32 {
        block0(v0: i32):
            v1 = ireduce.i32 v0
            return v1
        }
        """,
        [(3, "arg 0 (v0) with type i32 failed to satisfy type set: ireduce operand 0 (v0) has type i32, expected a scalar integer type wider than i32")],
    ),
    "call_arg_type": (
        """\
        function %f(i32) -> i64 {
            fn0 = %g(i64) -> i64
        block0(v0: i32):
            v1 = call fn0(v0)
            return v1
        }
        """,
        [(4, "arg 0 (v0) has type i32, expected i64: call argument 0 (v0) has type i32, but the signature of fn0 says i64")],
    ),
    "call_arg_count": (
        """\
        function %f(i64) -> i64 {
            fn0 = %g(i64) -> i64
        block0(v0: i64):
            v1 = call fn0(v0, v0)
            return v1
        }
        """,
        [(4, "mismatched argument count for `v1 = call fn0(v0, v0)`: got 2, expected 1: call passes 2 arguments, but the signature of fn0 takes 1")],
    ),
    "call_indirect_arg_type": (
        """\
        function %f(i64, i32) -> i64 {
            sig0 = (i64) -> i64
        block0(v0: i64, v1: i32):
            v2 = call_indirect sig0, v0(v1)
            return v2
        }
        """,
        [(4, "arg 0 (v1) has type i32, expected i64: call_indirect argument 0 (v1) has type i32, but the signature of sig0 says i64")],
    ),
    "return_count": (
        """\
        function %f(i32) -> i32 {
        block0(v0: i32):
            return v0, v0
        }
        """,
        [(3, "arguments of return must match function signature: return gives 2 values, but the function signature returns 1")],
    ),
    "return_type": (
        """\
        function %f(i32) -> i64 {
        block0(v0: i32):
            return v0
        }
        """,
        [(3, "result 0 has type i32, must match function signature of i64: return value 0 (v0) has type i32, but the function signature returns i64")],
    ),
    "tail_call_needs_tail_convention": (
        """\
        function %f(i32) -> i32 {
            fn0 = %g(i32) -> i32
        block0(v0: i32):
            return_call fn0(v0)
        }
        """,
        [(4, "calling convention `fast` does not support tail calls: return_call: the calling convention fast of fn0 does not support tail calls (use tail)")],
    ),
    "tail_call_convention_mismatch": (
        """\
        function %f(i32) -> i32 fast {
            fn0 = %g(i32) -> i32 tail
        block0(v0: i32):
            return_call fn0(v0)
        }
        """,
        [(4, "callee's calling convention must match caller: return_call: the calling convention tail of fn0 differs from the caller's fast")],
    ),
    "tail_call_return_types": (
        """\
        function %f(i32) -> i32 tail {
            fn0 = %g(i32) -> i64 tail
        block0(v0: i32):
            return_call fn0(v0)
        }
        """,
        [(4, "result 0 has type i64, must match function signature of i32: return_call: fn0 returns (i64), but the caller returns (i32)")],
    ),
    "extractlane_out_of_range": (
        """\
        function %f(i32x4) -> i32 {
        block0(v0: i32x4):
            v1 = extractlane v0, 4
            return v1
        }
        """,
        [(3, "The lane 4 does not index into the type i32x4: extractlane lane 4 is out of range for i32x4, which has 4 lanes")],
    ),
    "insertlane_out_of_range": (
        """\
        function %f(i8x16, i8) -> i8x16 {
        block0(v0: i8x16, v1: i8):
            v2 = insertlane v0, v1, 16
            return v2
        }
        """,
        [(3, "The lane 16 does not index into the type i8x16: insertlane lane 16 is out of range for i8x16, which has 16 lanes")],
    ),
    "vmctx_without_parameter": (
        """\
        function %f(i64) -> i64 {
            gv0 = vmctx
        block0(v0: i64):
            v1 = global_value.i64 gv0
            return v1
        }
        """,
        [(2, "undeclared vmctx reference: gv0 = vmctx needs a parameter with the vmctx purpose in the function signature")],
    ),
    "global_value_type": (
        """\
        target x86_64
        function %f(i64 vmctx) -> i32 {
            gv0 = vmctx
        block0(v0: i64):
            v1 = global_value.i32 gv0
            return v1
        }
        """,
        [(5, "global_value instruction with type i32 references global value with type i64: global_value result v1 has type i32, but gv0 has type i64")],
    ),
    "load_global_value_base_not_pointer": (
        """\
        function %f(i64 vmctx) -> i64 {
            gv0 = vmctx
            gv1 = load.i32 notrap aligned gv0
            gv2 = load.i64 notrap aligned gv1
        block0(v0: i64):
            v1 = global_value.i64 gv2
            return v1
        }
        """,
        [(4, "gv2: load base gv1 has type i32, which is not the pointer type i64")],
    ),
    "address_width": (
        """\
        test run
        target x86_64

        function %f(i32) -> i32 {
        block0(v0: i32):
            v1 = load.i32 v0
            return v1
        }
        """,
        [(6, "invalid pointer width (got 32, expected 64) encountered v0: address v0 has type i32, but pointers are i64 on target x86_64")],
    ),
    "store_readonly": (
        """\
        function %f(i32, i64) {
        block0(v0: i32, v1: i64):
            store readonly v0, v1
            return
        }
        """,
        [(3, "A store instruction cannot have the `readonly` MemFlag: store cannot have the readonly flag")],
    ),
    "bitcast_width": (
        """\
        function %f(i32) -> f64 {
        block0(v0: i32):
            v1 = bitcast.f64 v0
            return v1
        }
        """,
        [(3, "The bitcast argument v0 has a type of 32 bits, which doesn't match an expected type of 64 bits: bitcast from i32 (32 bits) to f64 (64 bits) changes the width")],
    ),
    "bitcast_lanes_need_byte_order": (
        """\
        function %f(i32x4) -> i64x2 {
        block0(v0: i32x4):
            v1 = bitcast.i64x2 v0
            return v1
        }
        """,
        [(3, "Byte order specifier required for bitcast instruction changing lane count: bitcast from i32x4 to i64x2 changes the lane count, so it needs a byte order (big or little)")],
    ),
    "constant_size": (
        """\
        function %f() -> i32x4 {
            const0 = 0x0102
        block0:
            v0 = vconst.i32x4 const0
            return v0
        }
        """,
        [(4, "The instruction expects const0 to have a size of 16 bytes but it has 2: vconst needs a 16-byte constant, but const0 has 2 bytes")],
    ),
    "pinned_reg_needs_flag": (
        """\
        function %f() -> i64 {
        block0:
            v0 = get_pinned_reg.i64
            return v0
        }
        """,
        [(3, "get_pinned_reg needs `set enable_pinned_reg`")],
    ),
    "try_call_ret_out_of_range": (
        """\
        function %f(i64) -> i64 tail {
            sig0 = (i64) -> i64 tail
            fn0 = %g(i64) -> i64 tail
        block0(v0: i64):
            try_call fn0(v0), sig0, block1(ret1), []
        block1(v1: i64):
            return v1
        }
        """,
        [(5, "out-of-bounds `retN` block argument: ret1 is out of range: the callee returns 1 value")],
    ),
    "try_call_convention": (
        """\
        function %f(i64) -> i64 {
            sig0 = (i64) -> i64 fast
            fn0 = %g(i64) -> i64 fast
        block0(v0: i64):
            try_call fn0(v0), sig0, block1(ret0), []
        block1(v1: i64):
            return v1
        }
        """,
        [(5, "calling convention `fast` of callee does not support exceptions: try_call: the calling convention fast of sig0 does not support exceptions")],
    ),
    "signature_extension_on_float": (
        """\
        function %f(f32 uext) -> f32 {
        block0(v0: f32):
            return v0
        }
        """,
        [(1, "Parameter at position 0 has invalid extension Uext: function signature: parameter 0 has type f32, which cannot take the uext extension")],
    ),
    "heap_index_type": (
        """\
        function %f(i64 vmctx, i64) -> i64 {
            gv0 = vmctx
            gv1 = load.i64 notrap aligned gv0
            heap0 = static gv1, min 0x1000, bound 0x1_0000_0000, offset_guard 0, index_type i32
        block0(v0: i64, v1: i64):
            v2 = heap_addr.i64 heap0, v1, 0, 4
            return v2
        }
        """,
        [(6, "heap_addr index v1 has type i64, but heap0 has index type i32")],
    ),
    "heap_addr_result_not_pointer": (
        """\
        function %f(i64 vmctx, i32) -> i32 {
            gv0 = vmctx
            gv1 = load.i64 notrap aligned gv0
            heap0 = static gv1, min 0x1000, bound 0x1_0000_0000, offset_guard 0, index_type i32
        block0(v0: i64, v1: i32):
            v2 = heap_addr.i32 heap0, v1, 0, 4
            return v2
        }
        """,
        [(6, "heap_addr result v2 has type i32, which is not the pointer type i64")],
    ),
    "dynamic_heap_bound_type": (
        """\
        function %f(i64 vmctx, i32) -> i64 {
            gv0 = vmctx
            gv1 = load.i64 notrap aligned gv0
            gv2 = load.i16 notrap aligned gv0+8
            heap0 = dynamic gv1, bound gv2, offset_guard 0, index_type i32
        block0(v0: i64, v1: i32):
            v2 = heap_addr.i64 heap0, v1, 0, 4
            return v2
        }
        """,
        [(5, "heap0: bound gv2 has type i16; expected the pointer type i64 or the index type i32")],
    ),
    "table_index_type": (
        """\
        function %f(i64 vmctx, i32) -> i64 {
            gv0 = vmctx
            gv1 = load.i64 notrap aligned gv0
            gv2 = load.i64 notrap aligned gv0+8
            table0 = dynamic gv1, element_size 8, bound gv2, index_type i64
        block0(v0: i64, v1: i32):
            v2 = table_addr.i64 table0, v1, +0
            return v2
        }
        """,
        [(7, "table_addr index v1 has type i32, but table0 has index type i64")],
    ),
    "calls_another_function_with_other_signature": (
        """\
        test interpret

        function %g(i32) -> i32 {
        block0(v0: i32):
            return v0
        }

        function %f(i64) -> i64 {
            fn0 = %g(i64) -> i64
        block0(v0: i64):
            v1 = call fn0(v0)
            return v1
        }
        """,
        [(9, "fn0 declares %g as (i64) -> i64, but %g is defined with (i32) -> i32 at line 3")],
    ),
    "function_defined_twice": (
        """\
        test interpret

        function %g(i32) -> i32 {
        block0(v0: i32):
            return v0
        }

        function %g(i32) -> i32 {
        block0(v0: i32):
            return v0
        }
        """,
        [(8, "function %g is defined twice in this file (first at line 3)")],
    ),
    "ret_outside_try_call": (
        """\
        function %f(i32) -> i32 {
        block0(v0: i32):
            jump block1(ret0)
        block1(v1: i32):
            return v1
        }
        """,
        [(3, "`retN` block argument used outside normal-return target of `try_call`: ret0 can only be passed to the normal-return block of a try_call")],
    ),
    "exn_out_of_range": (
        """\
        test run
        target x86_64

        function %f(i64) -> i64 tail {
            sig0 = (i64) -> i64 tail
            fn0 = %g(i64) -> i64 tail
        block0(v0: i64):
            try_call fn0(v0), sig0, block1(ret0), [default: block2(exn2)]
        block1(v1: i64):
            return v1
        block2(v2: i64):
            return v2
        }
        """,
        [(8, "out-of-bounds `exnN` block argument: exn2 is out of range: the calling convention tail has 2 exception payloads")],
    ),
    "try_call_signature_differs_from_callee": (
        """\
        function %f(i64) -> i64 tail {
            sig0 = (i64) -> i64 tail
            fn0 = %g(i32) -> i64 tail
        block0(v0: i64):
            try_call fn0(v0), sig0, block1(ret0), []
        block1(v1: i64):
            return v1
        }
        """,
        [(5, "exception table signature sig0 did not match function fn0's signature sig1: try_call: sig0 (i64) -> i64 tail differs from the signature of fn0, (i32) -> i64 tail")],
    ),
    "shuffle_mask_out_of_range": (
        """\
        function %f(i8x16, i8x16) -> i8x16 {
        block0(v0: i8x16, v1: i8x16):
            v2 = shuffle v0, v1, [0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 32]
            return v2
        }
        """,
        [(3, "shuffle immediate index 32 is larger than the maximum 31 (Cranelift before March 2023 "
         "took 32-255 as a zero lane: --cranelift 2022)")],
    ),
    "iadd_imm_global_value_type": (
        """\
        function %f(i64 vmctx) -> i32 {
            gv0 = vmctx
            gv1 = iadd_imm.i32 gv0, 8
        block0(v0: i64):
            v1 = global_value.i32 gv1
            return v1
        }
        """,
        [(3, "gv1: iadd_imm type i32 differs from the type i64 of its base gv0")],
    ),
    "bitcast_flags": (
        """\
        function %f(i32) -> f32 {
        block0(v0: i32):
            v1 = bitcast.f32 notrap v0
            return v1
        }
        """,
        [(3, "The bitcast instruction only accepts the `big` or `little` memory flags: bitcast accepts no memory flags but big or little")],
    ),
    "frame_pointer_needs_flag": (
        """\
        function %f() -> i64 {
        block0:
            v0 = get_frame_pointer.i64
            return v0
        }
        """,
        [(3, "get_frame_pointer needs `set preserve_frame_pointers=true`")],
    ),
    "heap_base_not_pointer": (
        """\
        function %f(i64 vmctx, i32) -> i64 {
            gv0 = vmctx
            gv1 = load.i32 notrap aligned gv0
            gv2 = load.i64 notrap aligned gv0+8
            heap0 = dynamic gv1, bound gv2, offset_guard 0, index_type i32
        block0(v0: i64, v1: i32):
            v2 = heap_addr.i64 heap0, v1, 0, 4
            return v2
        }
        """,
        [(5, "heap0: base gv1 has type i32, which is not the pointer type i64")],
    ),
    "table_bound_type": (
        """\
        function %f(i64 vmctx, i64) -> i64 {
            gv0 = vmctx
            gv1 = load.i64 notrap aligned gv0
            gv2 = load.i32 notrap aligned gv0+8
            table0 = dynamic gv1, element_size 8, bound gv2, index_type i64
        block0(v0: i64, v1: i64):
            v2 = table_addr.i64 table0, v1, +0
            return v2
        }
        """,
        [(5, "table0: bound gv2 has type i32, which differs from the index type i64")],
    ),
    "stack_limit_uses_undeclared_vmctx": (
        """\
        function %f(i64) {
            gv0 = vmctx
            stack_limit = gv0
        block0(v0: i64):
            return
        }
        """,
        [(2, "undeclared vmctx reference: gv0 = vmctx needs a parameter with the vmctx purpose in the function signature")],
    ),
    "pointer_width_of_32_bit_target": (
        """\
        test run
        target pulley32

        function %f(i64) -> i32 {
        block0(v0: i64):
            v1 = load.i32 v0
            return v1
        }
        """,
        [(6, "invalid pointer width (got 64, expected 32) encountered v0: address v0 has type i64, but pointers are i32 on target pulley32")],
    ),
    "vector_parameter_extension": (
        """\
        function %f(i32x4 sext) -> i32x4 {
        block0(v0: i32x4):
            return v0
        }
        """,
        [(1, "Parameter at position 0 has invalid extension Sext: function signature: parameter 0 has type i32x4, which cannot take the sext extension")],
    ),
}


@pytest.mark.parametrize("name", sorted(ERROR_CASES))
def test_error_case(name):
    text, expected = ERROR_CASES[name]
    assert check(text) == expected


VALID_CASES = {
    # Cranelift checks a pointer-sized global value's type only when it verifies for a target.
    "global_value_type_without_a_target": """\
        function %f(i64 vmctx) -> i32 {
            gv0 = vmctx
        block0(v0: i64):
            v1 = global_value.i32 gv0
            return v1
        }
        """,
    "unreachable_block_may_use_anything_defined": """\
        function %f(i32) -> i32 {
        block0(v0: i32):
            return v0
        block1:
            v1 = iadd.i32 v2, v2
            jump block2
        block2:
            v2 = iconst.i32 1
            jump block1
        }
        """,
    "loop_with_block_params": """\
        function %f(i32) -> i32 {
        block0(v0: i32):
            jump block1(v0)
        block1(v1: i32):
            v2 = iadd_imm v1, -1
            brif v2, block1(v2), block2
        block2:
            return v1
        }
        """,
    "try_call_with_payloads": """\
        test run
        target x86_64

        function %f(i64) -> i64 tail {
            sig0 = (i64) -> i64 tail
            fn0 = %g(i64) -> i64 tail
        block0(v0: i64):
            try_call fn0(v0), sig0, block1(ret0), [default: block2(exn0)]
        block1(v1: i64):
            return v1
        block2(v2: i64):
            return v2
        }
        """,
    "aliases_resolve": """\
        function %f(i32) -> i32 {
        block0(v0: i32):
            v2 = iadd v0, v0
            v1 -> v2
            return v1
        }
        """,
    "tail_call": """\
        function %f(i32) -> i32 tail {
            fn0 = %g(i32) -> i32 tail
        block0(v0: i32):
            return_call fn0(v0)
        }
        """,
}


@pytest.mark.parametrize("name", sorted(VALID_CASES))
def test_valid_case(name):
    assert check(VALID_CASES[name]) == []


# -- targets, source lines, the reference corpus -----------------------------------------

INTERPRET_TWO_TARGETS = """\
test interpret
target pulley32
target pulley32be

function %f(i64) -> i32 {
block0(v0: i64):
    v1 = load.i32 v0
    return v1
}
"""


def test_interpret_only_file_with_several_targets_skips_address_widths():
    # Cranelift verifies such a file once, without a particular target.
    assert check(INTERPRET_TWO_TARGETS) == []
    assert check(INTERPRET_TWO_TARGETS.replace("test interpret", "test run")) == [
        (7, "invalid pointer width (got 64, expected 32) encountered v0: address v0 has type i64, but pointers are i32 on target pulley32"),
    ]


def test_every_distinct_pointer_width_is_checked():
    text = INTERPRET_TWO_TARGETS.replace("test interpret", "test run").replace("pulley32be", "x86_64")
    assert check(text) == [(7, "invalid pointer width (got 64, expected 32) encountered v0: address v0 has type i64, but pointers are i32 on target pulley32")]
    assert check(text.replace("(i64)", "(i32)").replace("v0: i64", "v0: i32")) == [
        (7, "invalid pointer width (got 32, expected 64) encountered v0: address v0 has type i32, but pointers are i64 on target x86_64"),
    ]


def test_suffix_is_ignored_where_cranelift_infers_from_the_operand():
    # `store.i32` of an i64: Cranelift takes the controlling type from the stored value.
    assert check("""\
        function %f(i64, i64) {
        block0(v0: i64, v1: i64):
            store.i32 v1, v0
            return
        }
        """) == []


def test_diagnostics_carry_the_source_line(tmp_path):
    path = tmp_path / "bad.clif"
    path.write_text("function %f(i32) -> i64 {\nblock0(v0: i32):\n    return v0\n}\n")
    (diag,) = verify_test_file(parse_file(str(path)))
    assert diag.loc.path == str(path) and diag.loc.line == 3
    assert diag.source_line == "    return v0"
    assert diag.format().splitlines()[1:] == ["    return v0", " " * (diag.loc.col - 1) + "^"]


def test_entity_diagnostics_point_at_their_declaration():
    text = "function %f(i64) {\n    gv0 = vmctx\nblock0(v0: i64):\n    return\n}\n"
    (diag,) = verify_test_file(parse_text(text), text)
    assert (diag.loc.line, diag.loc.col, diag.source_line) == (2, 5, "    gv0 = vmctx")


CORPUS = Path("/work/shared/cranelift-0.120-runtests")


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the Cranelift 0.120 run-test corpus is not available")
def test_reference_corpus_verifies_cleanly():
    files = sorted(CORPUS.rglob("*.clif"))
    problems = [d.format() for f in files for d in verify_test_file(parse_file(str(f)))]
    assert problems == []


@pytest.mark.parametrize("word, message", [
    ("gv9", "2:1: unknown target architecture 'gv9': Cranelift's are x86_64, aarch64"),
    ("x86-64", "2:1: unknown target architecture 'x86' (in 'x86-64')"),
])  # fmt: skip
def test_a_misspelt_target_is_an_error_not_a_silently_skipped_file(word, message):
    text = f"test run\ntarget {word}\ntarget x86_64-unknown-linux\n\nfunction %f() {{\nblock0:\n    return\n}}\n"
    found = [f"{d.loc.line}:{d.loc.col}: {d.message}" for d in verify_test_file(parse_text(text, PATH), text)]
    assert len(found) == 1 and found[0].startswith(message), found


@pytest.mark.parametrize("word", ["arm", "arm64-apple-darwin", "aarch64_be", "riscv64imac"])
def test_every_architecture_cranelift_s_reader_takes_is_a_target(word):
    # arm: the 32-bit backend of 2021; the others: target-lexicon's other spellings of aarch64
    # and riscv64, which Cranelift 0.120 builds its backends for.
    text = f"test run\ntarget {word}\n\nfunction %f() {{\nblock0:\n    return\n}}\n"
    assert verify_test_file(parse_text(text, PATH), text) == []
