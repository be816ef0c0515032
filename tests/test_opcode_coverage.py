"""Every opcode of the one table (`ir/opcodes.py`) is handled by every engine, or listed as
unsupported there with its reason: a new opcode cannot be half-added.

Each side is asked the way it decides for itself: the interpreter's registry (`supported`,
what `compiler.lookup` finds), the native lowering (`translate.lowers`, what
`FunctionLowering.lower` dispatches to) and the fuzzer's tables (`specs.SPECS`, `EMITTED`,
`NOT_GENERATED`).
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
    """Opcodes the fuzzer's tables place nowhere, or in more than one table."""
    tables = (set(specs.SPECS), specs.names(specs.EMITTED), specs.names(specs.NOT_GENERATED))
    return [n for n in names if sum(n in t for t in tables) != 1]


def native_gaps(names) -> list[str]:
    translate = pytest.importorskip("clifkit.native.translate", exc_type=ImportError)
    return [n for n in names if translate.lowers(n) == (n in translate.UNSUPPORTED)]


@pytest.mark.parametrize("gaps", [interpreter_gaps, native_gaps, fuzz_gaps], ids=["interpreter", "native", "fuzz"])
def test_every_opcode_is_handled_or_listed_with_a_reason(gaps):
    assert gaps(OPCODES) == []


@pytest.mark.parametrize("gaps", [interpreter_gaps, native_gaps, fuzz_gaps], ids=["interpreter", "native", "fuzz"])
def test_an_opcode_added_only_to_the_table_is_caught(gaps):
    assert gaps(["frobnicate"]) == ["frobnicate"]


def test_unsupported_lists_name_table_opcodes_with_reasons():
    translate = pytest.importorskip("clifkit.native.translate", exc_type=ImportError)
    lists = {"interpreter": registry.UNSUPPORTED, "native": translate.UNSUPPORTED,
             "fuzz emitted": {n: k for k in specs.EMITTED for n in specs.names({k: 0})},
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
