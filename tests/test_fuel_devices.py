"""The compiler's fuel devices (a pure block's check left to the next, a return's to the caller,
counted loops' chunked checks) against compiling with none of them, on generated programs: for
every budget tried, the same outcome (results, trap code or running out) and the same count."""

import pytest

from clifkit.fuzz.campaign import program_seed
from clifkit.fuzz.features import DEFAULT
from clifkit.fuzz.generator import GenConfig, Generator
from clifkit.interpreter import FuelExhausted, Interpreter, Trap, Unsupported, compiler, counted_loops

PROGRAMS = 60
# No heaps or tables (the programs run without an environment); and a mix of only integers,
# calls and traps, whose callees mostly end in a pure block (`returns_unobserved`).
FEATURE_SETS = [DEFAULT - {"heap", "table"}, frozenset({"int", "calls", "traps"})]


def outcome(interp, args):
    try:
        return ("returned", tuple(interp.call("%main", args)), interp.executed)
    except Trap as e:
        return ("trapped", e.code)
    except FuelExhausted:
        return ("out of fuel",)


def least_budget(interp, args):
    """The least budget with which `interp` gets further than running out of fuel."""
    low, high = 0, 1
    while True:
        interp.fuel = high
        if outcome(interp, args)[0] != "out of fuel":
            break
        low, high = high, high * 2
    while high - low > 1:
        interp.fuel = mid = (low + high) // 2
        if outcome(interp, args)[0] == "out of fuel":
            low = mid
        else:
            high = mid
    return high


def budgets(count):
    """Every budget up to `count` + 1 for a short run; else 200 spread over it and the last 12."""
    step = max(1, count // 200)
    return sorted({*range(1, count + 2, step), *range(max(1, count - 12), count + 2)})


@pytest.mark.parametrize("features", FEATURE_SETS, ids=["default", "int-calls-traps"])
@pytest.mark.parametrize("chunk", range(2))
@pytest.mark.parametrize("compact", [False, True], ids=["fast", "compact"])
def test_fuel_devices_change_no_outcome_at_any_budget(monkeypatch, features, chunk, compact):
    # `compact`: every function compiled short (the fuzzer's), its fuel charged and checked in
    # _m.fuel by one call (`short_fuel`); the reference keeps it in the local _f everywhere.
    gen = Generator(GenConfig(features=features))
    programs = [gen.program(program_seed(11, k)) for k in range(chunk, PROGRAMS, 2)]
    checked = 0
    for program in programs:
        fast = Interpreter(program.functions, compact=compact)
        with monkeypatch.context() as m:
            m.setattr(compiler, "COMPACT_ONCE", False)
            m.setattr(compiler.FunctionCompiler, "deferrable", lambda self, block: False)
            m.setattr(compiler.FunctionCompiler, "returns_unobserved", lambda self, block: False)
            m.setattr(counted_loops, "counted", lambda fc, h: None)
            plain = Interpreter(program.functions)
            try:
                for i in range(len(program.functions)):
                    plain._compile(i)
            except Unsupported:
                continue
        for args in program.runs:
            fast.fuel = plain.fuel = None
            want = outcome(plain, args)
            assert outcome(fast, args) == want, (program.seed, args)
            if want[0] == "returned":
                enough = want[2]
            elif want[0] == "trapped":
                enough = least_budget(plain, args)  # (a trap's count is not exact: search)
            else:
                continue
            for budget in budgets(enough):
                fast.fuel = plain.fuel = budget
                assert outcome(fast, args) == outcome(plain, args), (program.seed, args, budget)
                checked += 1
    assert checked > 100


def test_a_closed_interpreter_leaves_no_cyclic_garbage():
    # Its code and it refer to each other: closing breaks that, so reference counting frees both
    # (a campaign makes an interpreter a program).
    import gc

    gen = Generator(GenConfig(features=FEATURE_SETS[0]))
    programs = [gen.program(program_seed(3, k)) for k in range(20)]
    for close in (False, True):
        gc.collect()
        gc.disable()
        try:
            for program in programs:
                interp = Interpreter(program.functions, compact=True)
                for args in program.runs:
                    outcome(interp, args)
                if close:
                    interp.close()
                del interp
            garbage = gc.collect()
        finally:
            gc.enable()
        assert (garbage == 0) == close, (close, garbage)
