"""Engines the fuzzer and the reducer can name.

The real engines are those of the one engine table, `clifkit.runtest.engines`.
This module adds *mutant* engines:
the interpreter running a deliberately altered copy of the program, so that
the fuzzer and the reducer can be tested end to end against a known bug::

    broken-iadd     every scalar iadd result has its lowest bit flipped
    broken-fneg     fneg is computed as fabs (scalar floats)

A mutant never changes the caller's IR: it copies the file first.
"""

from __future__ import annotations

import copy
from typing import Callable, Optional

from ..ir.function import Function, Inst, TestFile
from ..ir.opcodes import OPCODES
from ..interpreter.engine import InterpreterEngine
from ..engine import Engine, EngineOptions, EngineUnavailable, Session
from ..runtest.engines import ENGINES


def _copy_test_file(tf: TestFile) -> TestFile:
    # Opcode rows and types are shared, immutable table entries: keep them, copy the rest.
    memo = {id(op): op for op in OPCODES.values()}
    return copy.deepcopy(tf, memo)


def _flip_iadd(func: Function) -> None:
    """After each scalar integer iadd, flip bit 0 of its result (uses see the flipped value)."""
    next_value = max(func.value_types, default=-1) + 1
    for block in func.blocks.values():
        out: list[Inst] = []
        for inst in block.insts:
            out.append(inst)
            if inst.opcode.name != "iadd" or not inst.results:
                continue
            ty = func.value_types[inst.results[0]]
            if ty.is_vector or not ty.is_int:
                continue
            real = next_value
            next_value += 1
            func.value_types[real] = ty
            result = inst.results[0]
            inst.results[0] = real
            out.append(Inst(OPCODES["bxor_imm"], ty, [real], [result], imm=1))
        block.insts = out


def _fneg_as_fabs(func: Function) -> None:
    for inst in func.instructions():
        if inst.opcode.name == "fneg" and not func.value_types[inst.results[0]].is_vector:
            inst.opcode = OPCODES["fabs"]


MUTATIONS: dict[str, Callable[[Function], None]] = {
    "broken-iadd": _flip_iadd,
    "broken-fneg": _fneg_as_fabs,
}


class MutantEngine(Engine):
    """The interpreter on a mutated copy of the file: a known-broken engine for testing the fuzzer."""

    def __init__(self, name: str, mutate: Callable[[Function], None]):
        self.name = name
        self.mutate = mutate

    def open(self, test_file: TestFile, options: EngineOptions, target: Optional[str] = None,
             source: Optional[str] = None) -> Session:
        tf = _copy_test_file(test_file)
        for details in tf.functions:
            self.mutate(details.function)
        session = InterpreterEngine().open(tf, options, target)
        session.engine = self.name
        return session


EXTRA_ENGINES: dict[str, Engine] = {name: MutantEngine(name, fn) for name, fn in MUTATIONS.items()}


def engine_names() -> list[str]:
    return list(ENGINES) + [n for n in EXTRA_ENGINES if n not in ENGINES]


def native_available() -> bool:
    return "native" in ENGINES


def get_engine(name: str) -> Engine:
    found = ENGINES.get(name) or EXTRA_ENGINES.get(name)
    if found is None:
        raise EngineUnavailable(f"no engine named '{name}' (known: {', '.join(engine_names())})")
    return found
