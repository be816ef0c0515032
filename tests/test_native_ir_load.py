"""The native worker compiles clifkit IR sent pickled (``"functions"`` in its load message), as
the fuzzer sends its generated programs, on the host and in the emulated workers (another
Python, the same clifkit source); `clifkit test` still sends text."""

from __future__ import annotations

import pickle
import platform

import pytest

from clifkit.ir.opcodes import OPCODES
from clifkit.native import emulation
from clifkit.native import engine as native_engine
from clifkit.printer import format_function
from clifkit.reader import parse_text
from clifkit.reader.directives import bind, parse_directive_line
from clifkit.engine import EngineOptions
from support import HAVE_CRANELIFT, LINUX


HOST = platform.machine().lower() in ("x86_64", "amd64")

SOURCE = """test run

function %f0(i64, i64) -> i64 {
block0(v0: i64, v1: i64):
    v2 = imul v0, v1
    v3 = iadd_imm v2, 7
    return v3
}

function %main(i64) -> i64 {
    fn0 = %f0(i64, i64) -> i64
block0(v0: i64):
    v1 = iconst.i64 3
    v2 = call fn0(v0, v1)
    return v2
}
"""


def test_ir_pickles_with_opcodes_by_name():
    """Opcodes come back as the table's own objects (identity, and a small pickle), and a
    function prints the same after a round trip."""
    assert pickle.loads(pickle.dumps(OPCODES["iadd"], protocol=4)) is OPCODES["iadd"]
    functions = [d.function for d in parse_text(SOURCE).functions]
    again = pickle.loads(pickle.dumps(functions, protocol=4))
    assert [format_function(f) for f in again] == [format_function(f) for f in functions]
    assert again[1].blocks[0].insts[1].opcode is OPCODES["call"]
    assert len(pickle.dumps(OPCODES["iadd"], protocol=4)) < 100


def _target_param(arch: str):
    if arch == "x86_64":
        ok, why = HAVE_CRANELIFT and LINUX and HOST, "needs the cranelift binding on an x86-64 Linux host"
    else:
        st = emulation.status(arch)
        ok, why = HAVE_CRANELIFT and LINUX and st.ready, st.reason or "needs emulation set up"
    return pytest.param(arch, marks=pytest.mark.skipif(not ok, reason=why))


@pytest.mark.parametrize("arch", [_target_param(a) for a in ("x86_64", "aarch64", "s390x")])
def test_worker_compiles_ir_not_text(arch):
    """The worker compiles the IR it is sent and does not read the text (here unreadable)."""
    tf = parse_text(SOURCE)
    functions = [d.function for d in tf.functions]
    session = native_engine.NativeEngine().open(tf, EngineOptions(), arch, source="not CLIF at all",
                                                functions=functions)
    assert session.load_error is None
    run = parse_directive_line("; run: %main(5) == 22", "<test>", 1)
    outcomes = session.call_batch([(bind(run, functions[1]), None), (bind(run, functions[1]), None)])
    assert [o.values for o in outcomes] == [[22], [22]]
    # The same file sent as text still loads from its text.
    text_session = native_engine.NativeEngine().open(tf, EngineOptions(), arch, source=SOURCE)
    assert text_session.load_error is None
    assert text_session.call_batch([(bind(run, functions[1]), None)])[0].values == [22]


def test_every_instruction_field_survives_pickling():
    from clifkit.ir.function import Inst

    inst = Inst(OPCODES["iadd"], None, [1, 2], [3])
    for n, name in enumerate(Inst.__slots__[2:]):
        setattr(inst, name, ("field", n))
    again = pickle.loads(pickle.dumps(inst, protocol=4))
    assert [getattr(again, name) for name in Inst.__slots__] == [getattr(inst, name) for name in Inst.__slots__]


def test_a_block_pickles_its_instructions_field_for_field():
    """A block sends its instructions as one list of field tuples, rebuilt without a call of
    `Inst.__setstate__`: every field of every instruction and of the block comes back, in its
    place, whichever are set."""
    import copy
    import dataclasses

    from clifkit.ir.function import Block, Inst

    insts = [Inst(OPCODES["iadd"], None, [1, 2], [3])]
    for n, name in enumerate(Inst.__slots__[2:]):
        inst = Inst(OPCODES["iadd"], None, [1, 2], [4 + n])
        setattr(inst, name, ("field", n))
        insts.append(inst)
    full = Inst(OPCODES["iadd"], None, [1, 2], [99])
    for n, name in enumerate(Inst.__slots__[2:]):
        setattr(full, name, ("field", n))
    insts.append(full)
    short = Inst(OPCODES["load"], None, [1], [98], imm=5, flags=("flags",), offset=8)  # sent as seven fields
    insts.append(short)
    block = Block(7, [1, 2], insts, cold=True, loc=("loc",), comments=["; c"], comment="; h")
    # Through pickle (the native worker) and through copy.deepcopy (the reducer, the printer),
    # which rebuilds the block from the same reduction.
    for again in (pickle.loads(pickle.dumps(block, protocol=4)), copy.deepcopy(block)):
        for f in dataclasses.fields(Block):
            if f.name != "insts":
                assert getattr(again, f.name) == getattr(block, f.name), f.name
        assert len(again.insts) == len(insts)
        for a, b in zip(again.insts, insts):
            assert [getattr(a, name) for name in Inst.__slots__] == [getattr(b, name) for name in Inst.__slots__]
            assert not isinstance(b.results, list) or a.results is not b.results  # (the copy's own lists)


FRAMED = """test interpret

function %framed(i64) -> i64 {
    ss0 = explicit_slot 24, align = 8
block0(v0: i64):
    stack_store v0, ss0+8
    v1 = stack_load.i64 ss0+8
    return v1
}
"""


def test_a_function_pickles_and_copies_without_the_interpreters_frame_layout(tmp_path):
    """The interpreter caches a function's frame layout on the function; a pickle (the native
    worker's IR) or a copy (the reducer's, which may then change the slots) goes without it and
    works it out again, so the worker never imports the interpreter to rebuild it."""
    import copy
    import subprocess
    import sys

    from clifkit.interpreter.machine import frame_layout
    from clifkit.ir.function import FRAME_LAYOUT_CACHE

    func = parse_text(FRAMED).functions[0].function
    layout = frame_layout(func)
    assert FRAME_LAYOUT_CACHE in vars(func)
    for again in (pickle.loads(pickle.dumps(func, protocol=4)), copy.deepcopy(func)):
        assert FRAME_LAYOUT_CACHE not in vars(again) and format_function(again) == format_function(func)
        assert vars(frame_layout(again)) == vars(layout)
    assert FRAME_LAYOUT_CACHE in vars(func)  # (the function itself keeps its cache)
    path = tmp_path / "framed.pickle"
    path.write_bytes(pickle.dumps(func, protocol=4))
    code = ("import pickle, sys; f = pickle.load(open(sys.argv[1], 'rb')); "
            "print(f.name, sorted(m for m in sys.modules if m.startswith('clifkit.interpreter')))")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["%framed", "[]"], out
