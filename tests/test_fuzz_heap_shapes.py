"""The heap, table and vmctx shapes docs/heaps.md allows are all generated (docs/fuzzing.md,
"Feature groups"): each shape below is recognised in a generated program's IR and directives,
and some seed of a short scan produces it. A shape the generator stopped producing would no
longer be fuzzed, and a regression in it would go unseen."""

from __future__ import annotations

import pytest

from clifkit.environment import GROW_FUNCTION
from clifkit.fuzz.features import parse_features
from clifkit.fuzz.generator import GenConfig, Generator
from clifkit.ir.types import I32

FOUR_GIB = 1 << 32
SEEDS = range(1500)  # every shape shows up well before the end (the rarest, a table index
# given to %heap_grow, in about one program in 300)


def _constants(func) -> dict:
    """value -> the immediate of the iconst defining it."""
    return {inst.results[0]: inst.imm for inst in func.instructions() if inst.opcode.name == "iconst"}


def shapes_of(program) -> set[str]:
    """The shapes of this module's list that `program` uses."""
    found: set[str] = set()
    plans = program.heaps
    heap_plans = [h for h in plans if h.style != "table"]
    tables = [h for h in plans if h.style == "table"]
    if any(h.size == 0 for h in heap_plans):
        found.add("zero-size heap")
    if any(t.elements == 0 for t in tables):
        found.add("zero-element table")
    if any(t.element_size not in (8, 16, 32) for t in tables):
        found.add("odd element size")
    contiguous = all((h.ptr, h.bound_slot) == (16 * h.index, 16 * h.index + 8) for h in plans)
    if plans and not contiguous:
        found.add("scattered vmctx slots")
    slot_style = {h.ptr: h.style for h in plans}
    for func in program.functions:
        gvs = func.global_values
        for gv in gvs.values():
            if gv.kind == "iadd_imm" and gvs[gv.base].kind == "iadd_imm":
                found.add("iadd_imm chain")
            if gv.kind == "iadd_imm" and gv.base == 0:
                found.add("derived from vmctx")
            if gv.kind == "load" and gv.flags.readonly:
                found.add("readonly global value")
        for heap in func.heaps.values():
            base = gvs[heap.base]
            if heap.style == "dynamic":
                if heap.min_size or heap.offset_guard:
                    found.add("dynamic min or guard")
                if gvs[heap.bound].type.bits < 64:
                    found.add("narrow dynamic bound")
            else:
                if base.kind == "load" and slot_style.get(base.offset) in ("dynamic", "table"):
                    found.add(f"static over {slot_style[base.offset]}")
                if heap.index_type == I32 and heap.bound < FOUR_GIB and heap.bound + heap.offset_guard >= FOUR_GIB:
                    found.add("elided below 4 GiB")
        consts = _constants(func)
        for inst in func.instructions():
            name = inst.opcode.name
            if name == "heap_addr" and inst.size == 0:
                found.add("zero-size heap_addr")
            if name in ("heap_load", "heap_store", "load", "store") and inst.flags.endianness and func.heaps:
                value = inst.results[0] if name in ("heap_load", "load") else inst.args[1 if name == "heap_store" else 0]
                if func.value_types[value].is_vector:
                    found.add("vector big/little heap access")
            if name == "table_addr" and inst.offset < 0:
                found.add("negative table_addr offset")
            if name == "call" and func.func_refs[inst.func_ref].name.text == GROW_FUNCTION:
                which, delta = consts.get(inst.args[1]), consts.get(inst.args[2])
                if delta is not None and delta < 0:
                    found.add("heap_grow negative delta")
                if which is not None:
                    which &= 0xFFFF_FFFF
                    if which >= len(plans):
                        found.add("heap_grow bad index")
                    elif plans[which].style == "table":
                        found.add("heap_grow table index")
    return found


SHAPES = ("zero-size heap", "zero-size heap_addr", "vector big/little heap access", "dynamic min or guard",
          "narrow dynamic bound", "scattered vmctx slots", "iadd_imm chain", "derived from vmctx",
          "readonly global value", "static over dynamic", "static over table", "odd element size",
          "negative table_addr offset", "zero-element table", "heap_grow negative delta",
          "heap_grow table index", "heap_grow bad index", "elided below 4 GiB")


@pytest.fixture(scope="module")
def first_seed_of() -> dict:
    """shape -> the first seed of `SEEDS` whose program (heap, table, int, simd) uses it."""
    gen = Generator(GenConfig(features=parse_features("int,simd,heap,table")))
    first: dict = {}
    for seed in SEEDS:
        for shape in shapes_of(gen.program(seed)):
            first.setdefault(shape, seed)
        if len(first) == len(SHAPES):
            break
    return first


@pytest.mark.parametrize("shape", SHAPES)
def test_generator_produces_shape(first_seed_of, shape):
    assert shape in first_seed_of, f"no program of seeds {SEEDS.start}..{SEEDS.stop - 1} has a {shape}"



def test_heaps_without_native_checks_bound_what_growth_makes_readable(tmp_path, capsys):
    """A static heap whose checks native code leaves out, and that grows in place, needs a bound
    to the end of the page its max= ends in (docs/heaps.md); the generator's bounds reached only
    max=, so seed 13 made four programs the harness refused in its first 300."""
    from clifkit import cli

    status = cli.main(["fuzz", "--seed", "13", "--count", "300", "-j", "1", "--engine-b", "interpreter",
                       "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0 and "invalid program" not in out, out[-2000:]
