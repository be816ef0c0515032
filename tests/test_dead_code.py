"""Dead code in the interpreter compiler (`FunctionCompiler.find_dead`): a pure instruction whose
results nothing live reads emits no code, and changes no result, trap or fuel count."""

import re

import pytest

from clifkit.fuzz.campaign import program_seed
from clifkit.fuzz.features import DEFAULT
from clifkit.fuzz.generator import GenConfig, Generator
from clifkit.interpreter import Interpreter, Trap, Unsupported, compiler
from clifkit.interpreter.trace import Tracer
from clifkit.reader import parse_text
from test_fuel_devices import outcome


def interp(text, **kw):
    return Interpreter([d.function for d in parse_text(text).functions], **kw)


def defines(source: str, v: str) -> bool:
    return any(re.match(rf"\s*{v} = ", line) for line in source.splitlines())


DEAD = """
function %f(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    v2 = iconst.i32 7
    v3 = imul v0, v2
    v4 = iadd v3, v1
    v5 = bxor v0, v1
    v6 = iadd v5, v0
    v7 = iadd v5, v1
    v8 = icmp ugt v7, v0
    brif v8, block1, block2
block1:
    return v6
block2:
    return v1
}
"""


def test_a_dead_value_and_what_only_it_reads_emit_nothing():
    it = interp(DEAD)
    assert it.call("%f", [3, 5]) == [9]  # v5 = 6, v7 = 11 > 3: v6 = 6 + 3
    assert it.call("%f", [7, 1]) == [1]  # v5 = 6, v7 = 7
    source = it.sources[0]
    # v4 is dead; so are v3, read only by v4, and the constant v2, read only by v3.
    for v in ("v2", "v3", "v4"):
        assert not defines(source, v) and not re.search(rf"\b{v}\b", source), source
    assert "0x7" not in source and "* 7" not in source
    assert it.executed == 9  # block0's 8 instructions and the return: dead code is charged still


def test_a_traced_function_keeps_its_dead_code():
    lines = []
    it = interp(DEAD, tracer=Tracer(lines.append))
    assert it.call("%f", [3, 5]) == [9]
    assert defines(it.sources[0], "v4")
    assert any("v4 = iadd v3, v1" in line for line in lines)


def test_a_dead_instruction_without_semantics_is_unsupported_as_before(monkeypatch):
    """The lowering of dead code is still looked up: the function stays Unsupported."""
    real = compiler.lookup
    monkeypatch.setattr(compiler, "lookup", lambda ctx: None if ctx.inst.opcode.name == "bitrev" else real(ctx))
    monkeypatch.setattr(compiler, "_SHAPES", {})  # (a plan remembered for bitrev would skip the lookup)
    for returned in ("v1", "v0"):  # v1 read, or dead
        it = interp(f"""
function %f(i32) -> i32 {{
block0(v0: i32):
    v1 = bitrev v0
    return {returned}
}}
""")
        with pytest.raises(Unsupported, match="bitrev: no semantics registered"):
            it.call("%f", [1])


def test_a_call_read_by_dead_code_runs_where_it_is():
    """A call's result read by dead code and, in another block, by live code: the call runs at
    its place (it is not folded into the dead reader and then carried to the live one)."""
    it = interp("""
function %g(i32) -> i32 {
block0(v0: i32):
    trapz v0, user1
    return v0
}

function %f(i32) -> i32 {
    fn0 = %g(i32) -> i32
block0(v0: i32):
    v1 = call fn0(v0)
    v2 = iadd v1, v0
    brif v0, block1, block2
block1:
    return v1
block2:
    v3 = iconst.i32 5
    return v3
}
""")
    assert it.call("%f", [4]) == [4]
    with pytest.raises(Trap, match="user1"):
        it.call("%f", [0])


@pytest.mark.parametrize("compact", [True, False], ids=["compact", "fast"])
def test_generated_programs_run_the_same_without_dead_code(monkeypatch, compact):
    gen = Generator(GenConfig(features=DEFAULT - {"heap", "table"}))  # (run without an environment)
    removed = 0
    for k in range(40):
        program = gen.program(program_seed(23, k))
        with monkeypatch.context() as m:
            m.setattr(compiler, "_DEAD_CODE_NAMES", frozenset())  # nothing is dead code
            kept = Interpreter(program.functions, compact=compact)
            try:
                for i in range(len(program.functions)):
                    kept._compile(i)
            except Unsupported:
                continue
        pruned = Interpreter(program.functions, compact=compact)
        for i in range(len(program.functions)):
            pruned._compile(i)
        removed += sum(a.count("\n") - b.count("\n") for a, b in zip(kept.sources.values(), pruned.sources.values()))
        for args in program.runs:
            kept.fuel = pruned.fuel = None
            want = outcome(kept, args)
            assert outcome(pruned, args) == want, (program.seed, args)
            if want[0] == "returned":  # fuel runs out at the same instruction
                for budget in {1, want[2] // 3, want[2] // 2, want[2] - 1, want[2]}:
                    kept.fuel = pruned.fuel = max(budget, 1)
                    assert outcome(pruned, args) == outcome(kept, args), (program.seed, args, budget)
    assert removed > 40  # (dead code was there to remove: about 8 lines per program)
