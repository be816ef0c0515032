"""The interpreter compiler's speed devices keep its semantics: deferred fuel checks of pure
blocks (compiler.PURE) and merged tail-call groups (tail_groups.py)."""

import pytest

from clifkit.interpreter import FuelExhausted, Interpreter, Trap
from clifkit.reader import parse_text

PURE_THEN_STORE = """
function %f(i64) -> i64 {
    ss0 = explicit_slot 8

block0(v0: i64):
    v1 = iadd_imm v0, 1
    v2 = icmp_imm ult v1, 10
    brif v2, block1, block2

block1:
    stack_store v1, ss0
    v3 = stack_load.i64 ss0
    return v3

block2:
    return v0
}

function %spin(i64) -> i64 {
block0(v0: i64):
    jump block1(v0)

block1(v1: i64):
    v2 = iadd_imm v1, 1
    jump block2(v2)

block2(v3: i64):
    jump block1(v3)
}
"""


def interp(text, **kw):
    return Interpreter([d.function for d in parse_text(text).functions], **kw)


def test_deferred_fuel_checks_stay_exact():
    it = interp(PURE_THEN_STORE, fuel=6)
    assert it.call("%f", [1]) == [2]
    assert it.executed == 6
    # The entry block defers its charge: block1 charges both (short code: one call, `short_fuel`).
    assert "= 3" not in it.sources[0] and "(_m, 6)" in it.sources[0]
    with pytest.raises(FuelExhausted):
        interp(PURE_THEN_STORE, fuel=5).call("%f", [1])
    assert interp(PURE_THEN_STORE, fuel=4).call("%f", [20]) == [20]
    with pytest.raises(FuelExhausted):
        interp(PURE_THEN_STORE, fuel=3).call("%f", [20])


def test_a_cycle_of_pure_blocks_still_runs_out_of_fuel():
    with pytest.raises(FuelExhausted):
        interp(PURE_THEN_STORE, fuel=10_000).call("%spin", [0])


TAIL_GROUP = """
function %even(i64, i64) -> i64 tail {
    fn0 = %odd(i64, i64) -> i64 tail

block0(v0: i64, v1: i64):
    brif v0, block2, block1

block1:
    return v1

block2:
    v2 = iadd_imm v0, -1
    v3 = iadd_imm v1, 2
    return_call fn0(v2, v3)
}

function %odd(i64, i64) -> i64 tail {
    fn0 = %even(i64, i64) -> i64 tail
    fn1 = %framed(i64) -> i64 tail

block0(v0: i64, v1: i64):
    v2 = icmp_imm eq v0, 7777
    brif v2, block3, block4

block3:
    return_call fn1(v1)

block4:
    v3 = udiv v1, v0
    v4 = iadd v1, v3
    v5 = iadd_imm v0, -1
    return_call fn0(v5, v4)
}

function %framed(i64) -> i64 tail {
    ss0 = explicit_slot 8

block0(v0: i64):
    stack_store v0, ss0
    v1 = stack_load.i64 ss0
    v2 = iadd_imm v1, 1
    return v2
}
"""


def test_tail_call_groups_run_as_separate_functions(monkeypatch):
    from clifkit.interpreter import tail_groups

    def tail_calls(source, n):  # (short code's tail call is one call: machine.tail_call)
        return f"_m.tail_fn = _F{n}" in source or f"_tail(_m, _F{n}," in source

    merged = interp(TAIL_GROUP, fuel=10**7)
    source = merged.compile("%even")
    assert not tail_calls(source, 1)  # %odd is merged: its tail calls are jumps
    assert tail_calls(source, 2)  # %framed has a stack frame: not merged
    monkeypatch.setattr(tail_groups, "merged", lambda interp, i: interp.functions[i])
    plain = interp(TAIL_GROUP, fuel=10**7)
    assert tail_calls(plain.compile("%even"), 1)
    for name, args in (("%even", [0, 5]), ("%even", [2, 5]), ("%even", [10, 3]), ("%even", [100_000, 1]),
                       ("%even", [7778, 0]), ("%even", [7780, 4]), ("%odd", [3, 3])):
        assert merged.call(name, args) == plain.call(name, args)
        assert merged.executed == plain.executed
    for it in (merged, plain):
        with pytest.raises(Trap) as e:  # udiv by zero in %odd
            it.call("%even", [1, 1])
        assert e.value.code == "int_divz"
    monkeypatch.undo()
    with pytest.raises(FuelExhausted):
        interp(TAIL_GROUP, fuel=1000).call("%even", [10**6, 0])


FOLDED_SWAP = """
function %swap(i32) -> i32 {
block0(v0: i32):
    v1 = iconst.i32 0
    jump block1(v1, v1, v1)

block1(v2: i32, v3: i32, v4: i32):
    v5 = iadd_imm v2, 1
    v6 = imul_imm v3, 3
    v7 = bxor v6, v4
    v8 = iadd_imm v4, 1
    v9 = icmp ult v8, v0
    brif v9, block1(v7, v5, v8), block2(v7)

block2(v10: i32):
    return v10
}
"""


def test_folded_expressions_keep_parallel_block_arguments(monkeypatch):
    # v5 (folded into the edge) reads v2, which the same edge assigns: the assignment must be parallel.
    # (As a counted loop, see counted_loops.py, the edge is written twice and v5 once before both.)
    from clifkit.interpreter import counted_loops

    def python(n):
        a = b = i = 0
        while True:
            x = ((b * 3) & 0xFFFFFFFF) ^ i
            i += 1
            if not i < n:
                return x
            a, b = x, (a + 1) & 0xFFFFFFFF

    counted = interp(FOLDED_SWAP)
    assert "_ll" in counted.compile("%swap")
    monkeypatch.setattr(counted_loops, "counted", lambda fc, h: None)
    it = interp(FOLDED_SWAP)
    source = it.compile("%swap")
    assert "v5 =" not in source  # folded into its use
    for n in (1, 2, 3, 10, 77):
        assert it.call("%swap", [n]) == [python(n)] == counted.call("%swap", [n])


@pytest.mark.parametrize("t,imm", [("i8", -1), ("i32", -2), ("i64", -1), ("i128", -5), ("i32", 0x7FFFFFFF)])
def test_iadd_imm_with_a_negative_immediate_wraps(t, imm):
    text = f"function %f({t}) -> {t} {{\nblock0(v0: {t}):\n    v1 = iadd_imm v0, {imm}\n    return v1\n}}\n"
    bits = int(t[1:])
    it = interp(text)
    for x in (0, 1, 5, (1 << bits) - 1, 1 << (bits - 1)):
        assert it.call("%f", [x]) == [(x + imm) % (1 << bits)]


COALESCE = """
function %read_late(i32) -> i32 {
block0(v0: i32):
    v1 = iconst.i32 1
    jump block1(v1, v1)

block1(v2: i32, v3: i32):
    v4 = iadd_imm v2, 1
    v5 = imul v3, v2
    v6 = iadd v5, v4
    v7 = icmp ult v4, v0
    brif v7, block1(v4, v6), block2(v2)

block2(v8: i32):
    v9 = iadd v8, v3
    return v9
}

function %folded_read(i32) -> i32 {
block0(v0: i32):
    v1 = iconst.i32 3
    jump block1(v1, v1, v1)

block1(v2: i32, v3: i32, v4: i32):
    v5 = iadd_imm v2, 1
    v6 = imul_imm v2, 5
    v7 = bxor v6, v3
    v8 = icmp ult v5, v0
    brif v8, block1(v5, v7, v5), block2(v7)

block2(v9: i32):
    return v9
}
"""


def test_loop_values_written_into_their_parameters_only_when_safe(monkeypatch):
    from clifkit.interpreter import compiler

    M = 0xFFFFFFFF

    def read_late(n):
        a = b = 1
        while True:
            a1 = a + 1 & M
            b1 = (b * a + a1) & M
            if not a1 < n:
                return (a + b) & M  # block2 reads the old v2 and (from another block) v3
            a, b = a1, b1

    def folded_read(n):
        a = b = 3
        while True:
            a1 = a + 1 & M
            b1 = ((a * 5) & M) ^ b  # v6 reads v2 and is folded into v7, after v5's definition
            if not a1 < n:
                return b1
            a, b = a1, b1

    it = interp(COALESCE)
    # (v2 + 1 needs no mask: the loop runs while it is below n, see ranges.py)
    assert "v4 = v2 + 0x1" in it.compile("%read_late")  # not into v2: read after v4's definition
    # v7 goes into v3 (read only by v7 itself); v6 is folded into v7, so v2 is still read after
    # v5's definition: v5 goes into v4 (never read), not into v2.
    source = it.compile("%folded_read")
    assert "v3 = ((v2 * 0x5)" in source and "v7 =" not in source
    assert "v2 = v2" not in source and "v4 = v2 + 0x1" in source
    for name, python in (("%read_late", read_late), ("%folded_read", folded_read)):
        for n in (0, 1, 2, 5, 100):
            assert it.call(name, [n]) == [python(n)], (name, n)
    executed = {name: (it.call(name, [50]), it.executed) for name in ("%read_late", "%folded_read")}
    monkeypatch.setattr(compiler.FunctionCompiler, "coalesce", lambda self, number: None)
    plain = interp(COALESCE)
    assert "v7 = " in plain.compile("%folded_read")
    for name, want in executed.items():
        assert (plain.call(name, [50]), plain.executed) == want


RECURSE_INDIRECT = """
function %down(i32) -> i32 {
    fn0 = %down(i32) -> i32
    sig0 = (i32) -> i32

block0(v0: i32):
    brif v0, block2, block1

block1:
    return v0

block2:
    v1 = iadd_imm v0, -1
    v2 = func_addr.i64 fn0
    v3 = call_indirect sig0, v2(v1)
    v4 = iadd_imm v3, 1
    return v4
}

function %leaf() -> i32 {
block0:
    v0 = iconst.i32 7
    return v0
}

function %twice(i32) -> i32 {
    fn0 = %leaf() -> i32
    fn1 = %twice(i32) -> i32

block0(v0: i32):
    v1 = call fn0()
    v2 = call fn0()
    v3 = iadd v1, v2
    brif v0, block1, block2(v3)

block1:
    v4 = iadd_imm v0, -1
    v5 = call fn1(v4)
    jump block2(v5)

block2(v6: i32):
    return v6
}
"""


def test_call_depth_checked_by_callers_stays_exact():
    # The caller checks the callee's depth (once per path): the limit is the same for direct and
    # indirect calls, a call nothing else calls runs at the limit, and a limit below 1 traps at once.
    for limit in (1, 2, 7):
        it = interp(RECURSE_INDIRECT, max_call_depth=limit)
        assert it.call("%down", [limit - 1]) == [limit - 1]  # depth `limit`
        with pytest.raises(Trap) as e:
            it.call("%down", [limit])
        assert e.value.code == "stk_ovf" and f"depth {limit + 1}" in str(e.value)
        assert it.call("%leaf") == [7]
        # %twice(n) is n + 1 nested %twice calls, each calling %leaf one level deeper.
        if limit >= 2:
            assert it.call("%twice", [limit - 2]) == [14]
        with pytest.raises(Trap):
            it.call("%twice", [limit - 1])
    assert "_d >=" not in interp(RECURSE_INDIRECT).compile("%leaf")
    assert interp(RECURSE_INDIRECT).compile("%twice").count("_d >=") == 1  # both %leaf calls: one check
    with pytest.raises(Trap) as e:
        interp(RECURSE_INDIRECT, max_call_depth=0).call("%leaf")
    assert e.value.code == "stk_ovf"


FUEL_AFTER_CALLS = """
function %leaf() -> i32 {
block0:
    v0 = iconst.i32 7
    return v0
}

function %divide() -> i32 {
    fn0 = %leaf() -> i32

block0:
    v0 = call fn0()
    v1 = iconst.i32 0
    v2 = udiv v0, v1
    return v2
}

function %bad_indirect() -> i32 {
    fn0 = %leaf() -> i32
    sig0 = () -> i32

block0:
    v0 = call fn0()
    v1 = iconst.i64 8
    v2 = call_indirect sig0, v1()
    return v2
}

function %deep(i32) -> i32 {
    fn0 = %deep(i32) -> i32

block0(v0: i32):
    v1 = iadd_imm v0, 1
    v2 = call fn0(v1)
    return v2
}
"""


def test_a_charge_left_to_the_caller_still_runs_out_before_anything_is_observed():
    # A block of pure instructions ending in a return leaves its charge unchecked: the caller
    # checks before the next thing that could trap, and the outermost call after it returns.
    assert "_nofuel" not in interp(FUEL_AFTER_CALLS).compile("%leaf")
    assert interp(FUEL_AFTER_CALLS, fuel=2).call("%leaf") == [7]
    with pytest.raises(FuelExhausted):
        interp(FUEL_AFTER_CALLS, fuel=1).call("%leaf")
    # Each caller: 4 instructions of its own, then %leaf's 2, then a trap.
    for name, code in (("%divide", "int_divz"), ("%bad_indirect", None)):
        with pytest.raises(Trap) as e:
            interp(FUEL_AFTER_CALLS, fuel=6).call(name)
        assert code is None or e.value.code == code
        with pytest.raises(FuelExhausted) as out:
            interp(FUEL_AFTER_CALLS, fuel=5).call(name)
        assert out.value.function == name


def test_the_fuel_and_depth_checks_before_a_call_are_one_test_fuel_first():
    it = interp(FUEL_AFTER_CALLS, max_call_depth=3)
    assert "_nofuel_or_deep" in it.compile("%deep")
    with pytest.raises(Trap) as e:  # three levels of 3 instructions, then a fourth call
        interp(FUEL_AFTER_CALLS, max_call_depth=3, fuel=9).call("%deep", [0])
    assert e.value.code == "stk_ovf"
    with pytest.raises(FuelExhausted):
        interp(FUEL_AFTER_CALLS, max_call_depth=3, fuel=8).call("%deep", [0])


COUNTED = """
function %count(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    v10 = band_imm v1, 0xff
    jump block1(v10, v1)

block1(v2: i32, v3: i32):
    v4 = imul_imm v3, 31
    v5 = bxor v4, v2
    v6 = iadd_imm v5, 7
    v7 = iadd_imm v2, 1
    v8 = icmp ult v7, v0
    brif v8, block1(v7, v6), block2(v6)

block2(v9: i32):
    return v9
}

function %to_ten(i64) -> i64 {
block0(v0: i64):
    v10 = ushr_imm v0, 1
    jump block1(v10, v0)

block1(v1: i64, v2: i64):
    v3 = iadd_imm v1, 1
    v4 = iadd v2, v1
    v5 = icmp_imm ult v3, 10
    brif v5, block1(v3, v4), block2(v4)

block2(v6: i64):
    v7 = iadd v6, v3
    return v7
}

function %wraps(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    jump block1(v1)

block1(v2: i32):
    v3 = iadd_imm v2, 1
    v4 = icmp ult v3, v0
    brif v4, block1(v3), block2(v3)

block2(v5: i32):
    return v5
}
"""


@pytest.mark.parametrize("slice_size", [1, 5, 6, 7, 13, 2**18])
def test_counted_loops_run_out_of_fuel_exactly_where_checked_loops_do(monkeypatch, slice_size):
    from clifkit.interpreter import counted_loops, machine

    monkeypatch.setattr(machine, "FUEL_SLICE", slice_size)
    fast = interp(COUNTED)
    assert "_ll = v2 + 1 + _f // 6" in fast.compile("%count") and "_ll" in fast.compile("%to_ten")
    assert "_ll" not in fast.compile("%wraps")  # i + 1 may wrap: the loop checks fuel every time
    with monkeypatch.context() as m:
        m.setattr(counted_loops, "counted", lambda fc, h: None)
        plain = interp(COUNTED)
        assert "_ll" not in plain.compile("%count") + plain.compile("%to_ten")
    cases = [("%count", [n, s]) for n in (0, 1, 2, 3, 9, 40) for s in (0, 5, 38)]
    cases += [("%to_ten", [s]) for s in (0, 3, 9, 18, 19, 20, 23, 0xFFFFFFFFFFFFFFF0)]
    for name, args in cases:
        want = plain.call(name, args)
        count = plain.executed
        assert (fast.call(name, args), fast.executed) == (want, count), (name, args)
        for budget in range(max(1, count - 14), count + 1):  # the budget rule: exactly `count` suffices
            plain.fuel = fast.fuel = budget
            try:
                expected = plain.call(name, args)
            except FuelExhausted as e:
                with pytest.raises(FuelExhausted) as got:
                    fast.call(name, args)
                assert budget < count and got.value.function == e.function == name
            else:
                assert budget == count and fast.call(name, args) == expected
        plain.fuel = fast.fuel = None


CALL_ORDER = """
function %a(i32) -> i32 {
block0(v0: i32):
    brif v0, block1, block2

block1:
    trap user1

block2:
    v1 = iconst.i32 10
    return v1
}

function %b(i32) -> i32 {
block0(v0: i32):
    brif v0, block1, block2

block1:
    trap user2

block2:
    v1 = iconst.i32 3
    return v1
}

function %in_order(i32, i32) -> i32 {
    fn0 = %a(i32) -> i32
    fn1 = %b(i32) -> i32

block0(v0: i32, v1: i32):
    v2 = call fn0(v0)
    v3 = iadd_imm v1, 0
    v4 = call fn1(v3)
    v5 = isub v2, v4
    return v5
}

function %reversed(i32, i32) -> i32 {
    fn0 = %a(i32) -> i32
    fn1 = %b(i32) -> i32

block0(v0: i32, v1: i32):
    v2 = call fn0(v0)
    v4 = call fn1(v1)
    v5 = isub v4, v2
    return v5
}
"""


def test_call_results_written_into_their_use_only_in_call_order():
    it = interp(CALL_ORDER)
    assert "v2 =" not in it.compile("%in_order")  # both calls inside the isub, %a's first
    assert "v2 = _F" in it.compile("%reversed") and "v4 = _F" in it.compile("%reversed")
    assert it.call("%in_order", [0, 0]) == [7] and it.call("%reversed", [0, 0]) == [(3 - 10) & 0xFFFFFFFF]
    for name in ("%in_order", "%reversed"):
        with pytest.raises(Trap) as e:
            it.call(name, [1, 1])
        assert e.value.code == "user1", name  # %a runs (and traps) first either way
        with pytest.raises(Trap) as e:
            it.call(name, [0, 1])
        assert e.value.code == "user2"


SHAPES = """
function %a(i32, i8) -> i32, i8, i8, i32 {
block0(v0: i32, v1: i8):
    v2 = iconst.i32 5
    v3 = iadd v0, v2
    v4 = iadd v1, v1
    v5 = icmp eq v1, v1
    v6 = udiv v3, v0
    return v3, v4, v5, v6
}

function %b(i32, i8) -> i32, i8, i8, i32 {
block0(v0: i32, v1: i8):
    v2 = iconst.i32 7
    v3 = iadd v0, v2
    v4 = iadd v1, v1
    v5 = icmp ne v1, v1
    v6 = udiv v3, v0
    return v3, v4, v5, v6
}

function %c(i8x16, i16x8) -> i8x16, i16x8, i8x16 {
block0(v0: i8x16, v1: i16x8):
    v2 = bxor v0, v0
    v3 = usub_sat v1, v1
    v4 = icmp ult v0, v2
    return v2, v3, v4
}

function %d(i8x16, i16x8) -> i8x16, i16x8, i8x16 {
block0(v0: i8x16, v1: i16x8):
    v2 = bor v0, v0
    v3 = uadd_sat v1, v1
    v4 = icmp ugt v0, v2
    return v2, v3, v4
}
"""


def test_remembered_scalar_templates_are_those_lowered_afresh(monkeypatch):
    # An integer instruction (scalar, or lane by lane on vectors) of a shape met before takes the
    # remembered template, without its lowering being called: it must be the one a fresh lowering
    # gives, per opcode, immediate, condition and type, whichever function met the shape first.
    import re

    from clifkit.interpreter import compiler

    def sources(order):
        interp = Interpreter([d.function for d in parse_text(SHAPES).functions])
        # (helpers bound to the namespace are numbered in the order bound)
        return {name: re.sub(r"\b(_[a-z]+)\d+\b", r"\1", interp.compile(name)) for name in order}, interp

    monkeypatch.setattr(compiler, "_SHAPES", {})
    fresh = {}
    for name in ("%a", "%b", "%c", "%d"):
        compiler._SHAPES.clear()
        fresh[name] = sources([name])[0][name]
    for order in (["%a", "%b", "%c", "%d"], ["%d", "%c", "%b", "%a"]):
        compiler._SHAPES.clear()
        got, interp = sources(order)
        assert got == fresh
        assert interp.call("%a", [0xFFFFFFFF, 0x80]) == [4, 0, 1, 0]
        assert interp.call("%b", [1, 3]) == [8, 6, 0, 8]
        x, y = tuple(range(16)), (0xFFFF, 1, 2, 3, 4, 5, 6, 0x8000)
        assert interp.call("%c", [x, y]) == [(0,) * 16, (0,) * 8, (0,) * 16]
        assert interp.call("%d", [x, y]) == [x, (0xFFFF, 2, 4, 6, 8, 10, 12, 0xFFFF), (0,) * 16]


LANES_AND_FLOATS = """
function %e(i32x4, i64, f64) -> i32, i64x2, f64, i8x16 {
block0(v0: i32x4, v1: i64, v2: f64):
    v3 = extractlane v0, 2
    v4 = splat.i64x2 v1
    v5 = bitcast.i64x2 little v0
    v6 = bxor v4, v5
    v7 = fadd v2, v2
    v8 = fcmp lt v7, v2
    v9 = select v8, v7, v2
    v10 = bitcast.i8x16 little v6
    v11 = bitcast.i64 v9
    v12 = bitcast.f64 v11
    trapnz v8, user3
    return v3, v6, v12, v10
}
"""


@pytest.mark.parametrize("compact", [False, True])
def test_remembered_plans_of_lanes_floats_and_traps_are_those_lowered_afresh(monkeypatch, compact):
    # The lane, bitcast, select, float and trap lowerings are remembered per shape too (BY_SHAPE):
    # a function met second takes the plans of the first, which must be those lowered afresh.
    import re

    from clifkit.interpreter import compiler

    def source():
        it = Interpreter([d.function for d in parse_text(LANES_AND_FLOATS).functions], compact=compact)
        return re.sub(r"\b(_[a-z]+)\d+\b", r"\1", it.compile("%e")), it

    monkeypatch.setattr(compiler, "_SHAPES", {})
    fresh, _ = source()
    remembered, it = source()
    assert remembered == fresh
    x = (1, 2, 0xFFFFFFFF, 4)
    one = 0x3FF0000000000000  # 1.0: 2.0 < 1.0 is false, so 1.0 is selected
    v6 = (5 ^ 0x200000001, 5 ^ 0x4FFFFFFFF)
    as_bytes = tuple(b"".join(lane.to_bytes(8, "little") for lane in v6))
    assert it.call("%e", [x, 5, one]) == [0xFFFFFFFF, v6, one, as_bytes]
    with pytest.raises(Trap) as e:
        it.call("%e", [x, 5, 0xBFF0000000000000])  # -1.0: -2.0 < -1.0
    assert e.value.code == "user3"


def test_compact_code_folds_vectors_and_floats_and_binds_each_callable_once():
    # Pure float and vector results read once later in their block are written into that use; a
    # no-op bitcast of a folded value adds no parentheses; a remembered callable is one global.
    import re

    text = """
function %g(f64, i32x4) -> f64, i32 {
block0(v0: f64, v1: i32x4):
    v2 = fadd v0, v0
    v3 = fadd v2, v0
    v4 = bitcast.i64 v3
    v5 = bitcast.f64 v4
    v6 = bitcast.i64x2 little v1
    v7 = extractlane v6, 1
    v8 = ireduce.i32 v7
    return v5, v8
}
"""
    it = Interpreter([d.function for d in parse_text(text).functions], compact=True)
    src = it.compile("%g")
    assert not re.search(r"v[2-8] = ", src), src  # every value folded into the return
    assert len(set(re.findall(r"_fadd\d+", src))) == 1 and "((_fadd" not in src, src
    three = 0x4008000000000000  # 1.0 + 1.0 + 1.0
    assert it.call("%g", [0x3FF0000000000000, (1, 2, 3, 4)]) == [three, 3]


def test_compact_vector_constants_are_globals_with_the_same_lanes(monkeypatch):
    from clifkit.interpreter import compiler

    text = """
function %c() -> i8x16, i64x2 {
block0:
    v0 = vconst.i8x16 [1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 255]
    v1 = vconst.i64x2 [-1 7]
    return v0, v1
}
"""
    want = [tuple(range(1, 16)) + (255,), (0xFFFFFFFFFFFFFFFF, 7)]
    for compact in (False, True):  # (straight-line code is compiled short unless COMPACT_ONCE is off)
        monkeypatch.setattr(compiler, "COMPACT_ONCE", compact)
        it = Interpreter([d.function for d in parse_text(text).functions])
        src = it.compile("%c")
        assert ("255" in src) != compact, src  # compact: the lanes are a global's, not in the source
        assert it.call("%c", []) == want


@pytest.mark.parametrize("big", [False, True])
def test_compact_checked_accesses_with_bound_constants_agree_with_the_fast_path(monkeypatch, big):
    # `_ld8l(_m, a)` and friends (memory.checked_name) are the checked path with its constants
    # bound: the same values, byte order and alignment traps as the inline fast path of loops.
    from clifkit.interpreter import compiler, memory

    order = "big" if big else "little"
    text = f"""
function %m(i64) -> i64, i32, i16 {{
    ss0 = explicit_slot 32
block0(v0: i64):
    v1 = stack_addr.i64 ss0
    store.i64 {order} v0, v1
    v2 = load.i64 {order} v1
    v3 = load.i32 aligned {order} v1+4
    v4 = load.i16 {order} v1+1
    v5 = load.i32 aligned {order} v1+2
    return v2, v3, v4
}}
"""
    results = []
    for compact in (False, True):
        monkeypatch.setattr(compiler, "COMPACT_ONCE", compact)
        it = Interpreter([d.function for d in parse_text(text).functions])
        src = it.compile("%m")
        e = "b" if big else "l"
        assert (f"_st8{e}(_m, " in src and f"_ld4{e}a(_m, " in src) == compact, src
        with pytest.raises(Trap) as trap:  # v5: 4 bytes, aligned, at an address 2 mod 4
            it.call("%m", [0x1122334455667788])
        # (not `executed`: exact only for a call that returns; short code counts the block
        # that trapped, which the fast path's local fuel counter does not hand back)
        results.append(trap.value.code)
    assert results[0] == results[1] == "heap_misaligned"
    assert memory.checked_name("_ld", 8, big, "heap_oob", 0) == f"_ld8{'b' if big else 'l'}"
    assert memory.checked_name("_ld", 8, big, "user1", 0) is None


def test_compact_shuffle_is_one_closure_with_the_lanes_of_the_template(monkeypatch):
    from clifkit.interpreter import compiler

    text = """
function %s(i8x16, i8x16) -> i8x16 {
block0(v0: i8x16, v1: i8x16):
    v2 = shuffle v0, v1, [31 0 32 255 4 16 128 7 33 9 17 64 2 200 30 1]
    return v2
}
"""
    a, b = tuple(range(16)), tuple(range(100, 116))
    got = []
    for compact in (False, True):
        monkeypatch.setattr(compiler, "COMPACT_ONCE", compact)
        it = Interpreter([d.function for d in parse_text(text).functions])
        assert ("v0[4]" in it.compile("%s")) != compact
        got.append(it.call("%s", [a, b]))
    assert got[0] == got[1] == [(115, 0, 0, 0, 4, 100, 0, 7, 0, 9, 101, 0, 2, 0, 114, 1)]


def test_written_out_constants_are_those_lowered(monkeypatch):
    # iconst, f32const, f64const and (in code that runs once) vconst are written out as their
    # text (registry.CONSTANT_TEXTS), without their lowering: the code must be the lowering's.
    from clifkit.interpreter import compiler

    text = """
function %k(f64) -> f32, f64, f64, f32, i8, i64, i16, i32x4, i8x16 {
    const0 = 0x000102030405060708090a0b0c0d0e0f

block0(v0: f64):
    v1 = f32const 0x1.8p1
    v2 = f64const -0x1.0p-2
    v3 = f64const 0x1.8p1
    v4 = f32const -NaN
    v5 = fadd v0, v2
    v6 = iconst.i8 -1
    v7 = iconst.i64 -2
    v8 = iconst.i16 -3
    v9 = vconst.i32x4 [1 -2 3 0x7fffffff]
    v10 = vconst.i8x16 const0
    v11 = vconst.i32x4 [5 6 7 8]
    return v1, v5, v3, v4, v6, v7, v8, v9, v10
}
"""
    lowered: list[str] = []
    spy = compiler.FunctionCompiler.lower

    def lower(self, ctx, key, arity, once):
        lowered.append(ctx.inst.opcode.name)
        return spy(self, ctx, key, arity, once)

    monkeypatch.setattr(compiler.FunctionCompiler, "lower", lower)

    def run():
        it = Interpreter([d.function for d in parse_text(text).functions], compact=True)
        source = it.compile("%k")
        return source, it.call("%k", [0x3FF0000000000000])

    run()  # (the families register their constants' texts as they are imported)
    lowered.clear()
    written = run()
    assert not {"iconst", "f32const", "f64const", "vconst"} & set(lowered)
    monkeypatch.setattr(compiler, "CONSTANT_TEXTS", {})
    assert run() == written
    assert written[1][:7] == [0x40400000, 0x3FE8000000000000, 0x4008000000000000, 0xFFC00000, 0xFF,
                              (1 << 64) - 2, 0xFFFD]


# The accesses of %a, again in %c, whose frame is larger than a page.
_FRAME_BODY = """
block0(v0: i64):
    stack_store v0, ss1+4
    v1 = stack_load.i64 ss1+4
    v2 = stack_addr.i64 ss1
    store v1, v2+8
    v3 = load.i64 v2+8
    v4 = sload16.i64 v2+8
    istore8 v4, v2
    v5 = uload8.i64 v2
    v6 = iadd v3, v5
    return v6
}
"""
FRAMES = f"""
function %a(i64) -> i64 {{
    ss0 = explicit_slot 8
    ss1 = explicit_slot 16
{_FRAME_BODY}
function %b(i64) -> i64 {{
    ss0 = explicit_slot 4
    ss1 = explicit_slot 16

block0(v0: i64):
    stack_store v0, ss1
    v1 = stack_load.i64 ss1
    v2 = stack_addr.i64 ss1
    store v1, v2+4
    v3 = load.i64 v2+4
    v4 = sload16.i64 v2+2
    istore8 v4, v2+1
    v5 = uload8.i64 v2+1
    v6 = iadd v3, v5
    return v6
}}

function %c(i64) -> i64 {{
    ss0 = explicit_slot 8
    ss1 = explicit_slot 16
    ss2 = explicit_slot 8192
{_FRAME_BODY}"""


def test_remembered_memory_plans_are_those_lowered_afresh(monkeypatch):
    # Stack slot accesses are remembered per shape, the slot's place in the frame included, and
    # loads and stores per shape in code that runs once (registry.BY_SHAPE, BY_SHAPE_ONCE): a
    # shape met again takes the remembered plan, which must be the one lowered afresh, in frames
    # that place the slot elsewhere (%b) or are larger than a page (%c).
    from clifkit.interpreter import compiler

    def compile_all(fresh):
        it = Interpreter([d.function for d in parse_text(FRAMES).functions], compact=True)
        out = []
        for name in ("%a", "%b", "%c", "%a"):
            if fresh:
                monkeypatch.setattr(compiler, "_SHAPES", {})
            out.append((it.compile(name), it.call(name, [0x1122334455667788])))
        return out

    lowered: list[str] = []
    spy = compiler.FunctionCompiler.lower

    def lower(self, ctx, key, arity, once):
        lowered.append(ctx.inst.opcode.name)
        return spy(self, ctx, key, arity, once)

    afresh = compile_all(True)
    monkeypatch.setattr(compiler, "_SHAPES", {})
    monkeypatch.setattr(compiler.FunctionCompiler, "lower", lower)
    it = Interpreter([d.function for d in parse_text(FRAMES).functions], compact=True)
    it.compile("%a")
    assert {"stack_store", "stack_load", "stack_addr", "load", "store", "sload16", "istore8"} <= set(lowered)
    lowered.clear()
    it2 = Interpreter([d.function for d in parse_text(FRAMES).functions], compact=True)
    it2.compile("%a")
    assert lowered == []  # every plan remembered
    monkeypatch.setattr(compiler, "_SHAPES", {})
    assert compile_all(False) == afresh
    assert [r for _, r in afresh[:3]] == [[0x1122334455667788 + k] for k in (0x88, 0x66, 0x88)]


@pytest.mark.parametrize("bound", ["v1 = iconst.i32 10", "v1 = bitcast.i32 v9"])
def test_a_counted_loops_bound_may_be_a_constant_or_a_copy(bound):
    # `icmp ult v3, v1` with v1 a constant (read as its literal, `FunctionCompiler.constant`) or a
    # copy of v9 (read from v9, `alias`): the chunk's bound reads it as every other use does.
    it = interp(f"""
function %f(i32, i32) -> i32 {{
block0(v0: i32, v9: i32):
    {bound}
    v8 = iconst.i32 0
    jump block1(v8)
block1(v2: i32):
    v3 = iadd_imm v2, 1
    v4 = icmp ult v3, v1
    brif v4, block1(v3), block2
block2:
    return v2
}}
""")
    assert "_ll" in it.compile("%f")  # (a counted loop)
    assert it.call("%f", [0, 10]) == [9] and it.executed == 3 + 3 * 10 + 1


FRAME_STORES = """
function %fill(i64) -> i64, i64, i64, i32 {
    ss0 = explicit_slot 16
    ss1 = explicit_slot 16
block0(v0: i64):
    v1 = iconst.i64 0x1122334455667788
    v2 = iconst.i32 -1
    v3 = iconst.i16 0x0102
    v4 = iconst.i8 7
    stack_store v1, ss0
    stack_store v2, ss0+8
    stack_store v3, ss0+6
    stack_store v4, ss0+12
    stack_store v1, ss1+4
    stack_store v0, ss1
    stack_store v4, ss1+2
    v5 = stack_load.i64 ss0
    v6 = stack_load.i64 ss0+8
    v7 = stack_load.i64 ss1
    v8 = stack_load.i32 ss1+8
    return v5, v6, v7, v8
}
"""


@pytest.mark.parametrize("byteorder", ["little", "big"])
def test_stores_of_constants_to_the_frame_are_one_write_of_their_bytes(monkeypatch, byteorder):
    # ss0's four stores (overlapping, adjacent: bytes 0-12) become one write; ss1's first (at
    # frame offset 20) is apart from that range, its store of v0 (not a constant) ends the run,
    # and the one after starts another. The values are those of the stores made one by one.
    from clifkit.interpreter import compiler

    it = interp(FRAME_STORES, byteorder=byteorder)
    src = it.compile("%fill")
    assert src.count("_fpg[_fo:_fo + 13] = b'") == 1 and src.count("_fpg[") == 1, src
    got = it.call("%fill", [0xAABB])
    monkeypatch.setattr(compiler.FunctionCompiler, "merge_frame_store", lambda self, ind, out: None)
    one_by_one = interp(FRAME_STORES, byteorder=byteorder)
    assert "_fpg[" not in one_by_one.compile("%fill")
    assert got == one_by_one.call("%fill", [0xAABB])


LANE_JOIN = """
function %j(i32x4, i64x2) -> i64x2, i32x4 {
block0(v0: i32x4, v3: i64x2):
    v1 = bitcast.i64x2 little v0
    v2 = iadd v1, v3
    v4 = bitcast.i32x4 little v3
    return v2, v4
}
"""


def test_compact_code_calls_shorter_shared_templates():
    # In compact code a template from COMPACT_SHARED_TEMPLATE characters on (the lane join of a
    # bitcast, 46) is a call of the function shared for its text; else it is inline. The
    # plans of the two are apart (the compact flag is in `_SHAPES`' key).
    from clifkit.interpreter import compiler

    join = "(v0[0] | (v0[1] << 32)), (v0[2] | (v0[3] << 32)),"
    assert compiler.COMPACT_SHARED_TEMPLATE < len(join) < compiler.SHARED_TEMPLATE
    sources, results = [], []
    for compact in (False, True, False):
        it = interp(LANE_JOIN, compact=compact)
        sources.append(it.compile("%j"))
        results.append(it.call("%j", [(1, 2, 0xFFFFFFFF, 4), (5, 1 << 63)]))
    assert [join in src for src in sources] == [True, False, True], sources
    assert results[0] == results[1] == results[2] == [((2 << 32) | 6, (4 << 32) + (1 << 63) + 0xFFFFFFFF),
                                                      (5, 0, 0, 1 << 31)]


COVERING_STORE = """
function %cover(i64) -> i64, i64 {
    ss0 = explicit_slot 16
block0(v0: i64):
    v1 = iconst.i8 0
    stack_store v1, ss0
    v2 = iconst.i16 0
    stack_store v2, ss0+1
    v3 = iconst.i64 0x0102030405060708
    stack_store v3, ss0
    v6 = stack_load.i64 ss0
    v4 = iconst.i32 0
    stack_store v4, ss0+8
    v5 = iconst.i64 0x1122334455667788
    stack_store v5, ss0+8
    v7 = stack_load.i64 ss0+8
    return v6, v7
}
"""


@pytest.mark.parametrize("compact", [False, True])
@pytest.mark.parametrize("byteorder", ["little", "big"])
def test_a_constant_store_covering_the_run_before_it_is_kept(byteorder, compact):
    # Each i64 store covers the constant stores just before it (bytes 0-2, bytes 8-11) and ends
    # its run (a load follows): the merged run is that store alone, which was dropped (the run's
    # earlier write kept, so the loads gave 0).
    it = interp(COVERING_STORE, byteorder=byteorder, compact=compact)
    assert it.call("%cover", [0]) == [0x0102030405060708, 0x1122334455667788]
