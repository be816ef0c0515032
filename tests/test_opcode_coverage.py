"""Every opcode of the one table (`ir/opcodes.py`) is handled by every engine, or listed as
unsupported there with its reason: a new opcode cannot be half-added.

Each side is asked the way it decides for itself: the interpreter's registry (`supported`,
what `compiler.lookup` finds, or the compiler's own branches, returns and calls), the native
lowering (`translate.lowers`, what `FunctionLowering.lower` dispatches to) and the fuzzer's
tables (`specs.SPECS`, drawn or placed by an emitter, or `NOT_GENERATED`).
"""

from __future__ import annotations

import pytest

from clifkit.ir.opcodes import OPCODES

import clifkit.interpreter  # noqa: F401  (registers every semantic family)
from clifkit.fuzz import specs
from clifkit.interpreter import registry


def interpreter_gaps(names) -> list[str]:
    """Opcodes with neither semantics nor a reason, or with both."""
    return [n for n in names if registry.supported(n) == (n in registry.UNSUPPORTED)]


def fuzz_gaps(names) -> list[str]:
    """Opcodes with neither a spec nor a reason for not being generated, or with both."""
    return [n for n in names if (n in specs.SPECS) == (n in specs.names(specs.NOT_GENERATED))]


def native_gaps(names) -> list[str]:
    translate = pytest.importorskip("clifkit.native.translate", exc_type=ImportError)
    return [n for n in names if translate.lowers(n) == (n in translate.UNSUPPORTED)]


@pytest.mark.parametrize("gaps", [interpreter_gaps, native_gaps, fuzz_gaps], ids=["interpreter", "native", "fuzz"])
def test_every_opcode_is_handled_or_listed_with_a_reason(gaps):
    missing = gaps(OPCODES)
    assert missing == [], (f"{gaps.__name__.removesuffix('_gaps')}: {missing} have no code and no reason "
                           "(or both): see docs/architecture.md, 'The one place to touch'")


@pytest.mark.parametrize("gaps", [interpreter_gaps, native_gaps, fuzz_gaps], ids=["interpreter", "native", "fuzz"])
def test_an_opcode_added_only_to_the_table_is_caught(gaps):
    assert gaps(["frobnicate"]) == ["frobnicate"]


def test_unsupported_lists_name_table_opcodes_with_reasons():
    translate = pytest.importorskip("clifkit.native.translate", exc_type=ImportError)
    lists = {"interpreter": registry.UNSUPPORTED, "native": translate.UNSUPPORTED,
             "fuzz emitted": {n: s.emitter for n, s in specs.SPECS.items() if s.emitter is not None},
             "fuzz not generated": {n: specs.NOT_GENERATED[k] for k in specs.NOT_GENERATED
                                    for n in specs.names({k: 0})}}
    for where, table in lists.items():
        for name, reason in table.items():
            assert name in OPCODES, f"{where}: {name} is not in the opcode table"
            assert isinstance(reason, str) and reason.strip(), f"{where}: {name} has no reason"


def test_the_interpreter_gives_the_listed_reason():
    from clifkit.interpreter import Interpreter, Unsupported
    from clifkit.reader import parse_text

    text = """function %s(i64, i64, i64) -> i64 {
block0(v0: i64, v1: i64, v2: i64):
    v3 = stack_switch v0, v1, v2
    return v3
}
"""
    interp = Interpreter([d.function for d in parse_text(text).functions])
    with pytest.raises(Unsupported) as e:
        interp.call("%s", [0, 0, 0])
    assert registry.UNSUPPORTED["stack_switch"] in e.value.reason


def test_every_opcode_has_a_doc_line():
    # (checked here rather than when the table is imported: the lines live apart, in
    # ir/opcode_docs.py, which no run imports)
    from clifkit.ir.opcode_docs import DOCS

    assert [n for n, op in OPCODES.items() if not op.doc.strip() or "\n" in op.doc] == []
    assert sorted(set(DOCS) - set(OPCODES)) == []  # a line for an opcode the table does not have


def test_registries_are_keyed_by_table_opcodes():
    from clifkit.fuzz.gen_ops import MAKERS
    from clifkit.interpreter.integer_ops import BUILDERS

    translate = pytest.importorskip("clifkit.native.translate", exc_type=ImportError)
    translate.load_handlers()
    registry.load_families()
    for reg in (registry.LOWERINGS, registry.VECTOR_LOWERINGS, BUILDERS, translate.HANDLERS, MAKERS):
        assert reg and all(OPCODES[op.name] is op for op in reg), reg.what


def test_registering_a_name_outside_the_table_fails():
    from clifkit.ir.opcodes import Registry, handles

    with pytest.raises(KeyError, match="frobnicate"):
        registry.impl("frobnicate")(lambda ctx: "0")
    with pytest.raises(KeyError, match="twice"):
        registry.impl("iadd")(lambda ctx: "0")
    with pytest.raises(KeyError, match="frobnicate"):
        handles("frobnicate")
    reg = Registry("test")
    reg.register("iadd")(1)
    assert reg["iadd"] == reg[OPCODES["iadd"]] == 1 and "isub" not in reg


def test_a_semantics_family_imported_again_registers_again():
    # pytest's in-process pytester drops the modules a run imported from sys.modules, and the
    # interpreter loads its families on first need: the next import executes the module again.
    import importlib
    import sys

    registry.load_families()
    name = "clifkit.interpreter.memory_ops"
    importlib.import_module(name)  # (an earlier pytester run in this process may have dropped it)
    first = sys.modules.pop(name)
    try:
        again = importlib.import_module(name)
        assert again is not first
        assert registry.LOWERINGS[OPCODES["load"]].__globals__ is again.__dict__
    finally:
        sys.modules[name] = first
    with pytest.raises(KeyError, match="twice"):  # another definition for the same opcode still fails
        registry.impl("load")(lambda ctx: "0")


def test_the_fuzzer_draws_only_specs_without_an_emitter():
    from clifkit.fuzz.gen_ops import MAKERS

    drawn = {n for n, s in specs.SPECS.items() if s.emitter is None}
    assert {op.name for op in MAKERS} <= drawn


def test_the_memory_columns_agree_with_the_flags_and_operands():
    from clifkit.ir.opcodes import TYPEVARS, Access
    from clifkit.ir.types import I64, parse_type

    for op in OPCODES.values():
        moves = bool(op.flags & {"load", "store"})
        if op.addr is not None:
            assert moves and op.ins[op.addr].typevar is TYPEVARS["iAddr"], op.name
        if op.access is not None:
            assert moves, op.name
        elif moves:  # touches memory without moving one value: a breakpoint, a stack switch
            assert op.name in ("debugtrap", "stack_switch"), op.name
    assert OPCODES["sload16"].access == Access(16, 1, True) and OPCODES["sload16"].access.size(I64) == 2
    assert OPCODES["uload8"].access.signed is False and OPCODES["istore32"].access.signed is None
    assert OPCODES["uload8x8"].access.size(parse_type("i16x8")) == 8
    assert OPCODES["load"].access.size(parse_type("i32x4")) == 16
    assert (OPCODES["store"].addr, OPCODES["atomic_cas"].addr) == (1, 0)
    # Heap and table indices are not addresses.
    assert OPCODES["table_addr"].addr is None and OPCODES["heap_load"].addr is None
