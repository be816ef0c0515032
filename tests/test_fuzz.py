"""`clifkit fuzz` and `clifkit reduce`: generation, comparison, reproducers, reduction."""

import os
import re
import signal
import subprocess
import sys

import pytest

from clifkit import cli
from clifkit.dialect import CRANELIFT_2022
from clifkit.fuzz import rules
from clifkit.fuzz.compare import Harness, Observed, judge
from clifkit.fuzz.driver import FuzzOptions, fuzz, program_seed
from clifkit.fuzz.engines import native_available
from clifkit.fuzz.features import FEATURES, FeatureError, parse_features
from clifkit.fuzz.generator import GenConfig, Generator
from clifkit.fuzz.invariants import nan_leaks, uninit_stack_reads, wide_load_hazards
from clifkit.fuzz.reduce import ReduceError, reduce_file, reduce_text
from clifkit.fuzz.reduce_ir import count_instructions, parse_candidate
from clifkit.ir.types import F32, I32, I64, I128, parse_type
from clifkit.reader import parse_text
from clifkit.verifier import verify_test_file
from support import signal_then_wait

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- generation ------------------------------------------------------------------------------------


def test_generated_programs_verify_and_terminate():
    """A few hundred programs: each reads back, verifies, and runs to an end on the interpreter."""
    gen = Generator()
    harness = Harness(["interpreter"])
    outcomes = {}
    for i in range(250):
        program = gen.program(program_seed(7, i))
        text = program.text()
        tf = parse_text(text, f"<program {i}>")
        assert verify_test_file(tf, text) == [], text
        for r in harness.run_text(text, f"<program {i}>", verify=False):
            o = r.outcomes[0]
            assert o.kind in ("values", "trap"), (i, o, text)
            outcomes[o.klass] = outcomes.get(o.klass, 0) + 1
    # Most runs return; traps happen but do not dominate.
    assert outcomes["values"] > 0.6 * sum(outcomes.values())
    assert any(k.startswith("trap:") for k in outcomes)


@pytest.mark.parametrize("features", ["int", "float", "simd", "int,control,loops", "int,heap,table,traps",
                                      "float,conv,calls,stack", "all,-simd,-i128"])
def test_feature_subsets_generate_valid_programs(features):
    gen = Generator(GenConfig(features=parse_features(features)))
    harness = Harness(["interpreter"])
    for i in range(25):
        program = gen.program(program_seed(3, i))
        assert program.features <= parse_features(features)
        for r in harness.run_text(program.text()):
            assert r.outcomes[0].kind in ("values", "trap")


def _covering_store_pairs(func) -> int:
    """Constant stack stores followed (constants aside) by a constant store to the same slot over
    every byte of them."""
    found = 0
    for block in func.blocks.values():
        consts = {}
        last = None  # (slot, start, end) of the constant store just before, constants aside
        for inst in block.insts:
            name = inst.opcode.name
            if name == "iconst":
                consts[inst.results[0]] = inst.imm
                continue
            if name == "stack_store" and inst.args[0] in consts:
                width = func.value_types[inst.args[0]].bytes
                here = (inst.stack_slot, inst.offset or 0, (inst.offset or 0) + width)
                if last and last[0] == here[0] and here[1] <= last[1] and last[2] <= here[2] and here != last:
                    found += 1
                last = here
            else:
                last = None
    return found


def test_generated_programs_store_constants_over_narrower_ones():
    """The interpreter's short code writes constant stores in a row as one write of their bytes;
    a constant store over every byte of the one before it, ending the run, is a shape it once got
    wrong. The generator makes it, so that a regression there is a disagreement."""
    gen = Generator()
    pairs = sum(_covering_store_pairs(f) for i in range(200) for f in gen.program(program_seed(3, i)).functions)
    assert pairs >= 5


def _stranger_calls(func, functions) -> set:
    """(opcode, "params"/"returns") of the indirect calls in `func` whose signature's types are
    not those of the callee whose func_addr they call."""
    callee_sigs = {inst.results[0]: functions[func.func_refs[inst.func_ref].name.text].signature
                   for block in func.blocks.values() for inst in block.insts if inst.opcode.name == "func_addr"}
    found = set()
    for block in func.blocks.values():
        for inst in block.insts:
            if inst.opcode.name.endswith("call_indirect") and inst.args[0] in callee_sigs:
                sig, own = func.signatures[inst.sig_ref], callee_sigs[inst.args[0]]
                for part in ("params", "returns"):
                    if [p.type for p in getattr(sig, part)] != [p.type for p in getattr(own, part)]:
                        found.add((inst.opcode.name, part))
    return found


def test_generated_programs_call_through_signatures_of_other_vector_types():
    """An indirect call may name a signature whose vectors are other vectors of the same width
    (docs/architecture.md, "Indirect calls"): the generator makes the shape, for parameters and
    results, through call_indirect and return_call_indirect, so that a regression there is a
    disagreement; the programs verify."""
    gen = Generator()
    programs, shapes = 0, set()
    for i in range(200):
        program = gen.program(program_seed(3, i))
        functions = {f.name: f for f in program.functions}
        found = set().union(*(_stranger_calls(f, functions) for f in program.functions))
        if found:
            programs += 1
            shapes |= found
            text = program.text()
            assert verify_test_file(parse_text(text), text) == [], text
    assert programs >= 10
    assert shapes == {(op, part) for op in ("call_indirect", "return_call_indirect") for part in ("params", "returns")}


def test_generation_is_deterministic_per_seed():
    a = [Generator().program(program_seed(11, i)).text() for i in range(20)]
    b = [Generator().program(program_seed(11, i)).text() for i in range(20)]
    assert a == b
    assert len(set(a)) == 20


def test_generation_does_not_depend_on_hash_seeds():
    """Same text in another process with other hash seeds (no set-ordering dependence)."""
    code = ("import sys, hashlib\nfrom clifkit.fuzz.generator import Generator\n"
            "from clifkit.fuzz.driver import program_seed\n"
            "h = hashlib.sha256()\n"
            "for i in range(15): h.update(Generator().program(program_seed(5, i)).text().encode())\n"
            "print(h.hexdigest())\n")
    digests = set()
    for hash_seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1


def test_features_parse():
    assert parse_features(None) == frozenset(FEATURES)
    assert parse_features("int,float") == {"int", "float"}
    assert parse_features("-simd") == frozenset(FEATURES) - {"simd"}
    assert parse_features("all,-heap,-table") == frozenset(FEATURES) - {"heap", "table"}
    with pytest.raises(FeatureError):
        parse_features("int,bogus")
    with pytest.raises(FeatureError):
        parse_features("control")  # nothing to compute with


def test_heaps_and_directives_appear():
    gen = Generator(GenConfig(features=parse_features("int,heap,table,traps"), vary_features=False))
    texts = [gen.program(program_seed(1, i)).text() for i in range(80)]
    joined = "\n".join(texts)
    for word in ("; heap: static", "; heap: dynamic", "; table:", "heap_addr", "heap_load", "heap_store",
                 "table_addr", "%heap_grow", "trapnz", "uadd_overflow_trap"):
        assert word in joined, word


def test_generated_programs_keep_the_invariants():
    """The static checks agree with the generator: no NaN leaks (rule nan-bits), no scalar float
    load straight into fcmp/fcopysign (rule cranelift-bug), no stack byte read before the entry block
    writes it (rule uninit-stack)."""
    gen = Generator(GenConfig(features=parse_features("float,conv,simd,calls,control,stack,heap,table")))
    for i in range(80):
        text = gen.program(program_seed(2, i)).text()
        tf = parse_text(text)
        assert nan_leaks(tf) == [], text
        assert wide_load_hazards(tf) == [], text
        assert uninit_stack_reads(tf) == [], text


def test_nan_invariant_check():
    leaky = """test run
target x86_64

function %f(f64) -> i64 {
block0(v0: f64):
    v1 = fadd v0, v0
    v2 = bitcast.i64 v1
    return v2
}
"""
    canonical = leaky.replace("    v2 = bitcast.i64 v1\n", "    v3 = fcmp uno v1, v1\n    v4 = f64const +NaN\n"
                              "    v5 = select v3, v4, v1\n    v2 = bitcast.i64 v5\n")
    assert nan_leaks(parse_text(leaky))
    assert nan_leaks(parse_text(canonical)) == []


UNINIT_STACK = """test interpret
test run
target x86_64

function %main(i64) -> i64 {
    ss0 = explicit_slot 32, align = 16

block0(v0: i64):
    v1 = iconst.i64 0
    stack_store v1, ss0+8
    stack_store v1, ss0+16
    v2 = iadd v0, v0
    v3 = stack_addr.i64 ss0+2
    istore8 v2, v3+18
    v4 = stack_addr.i64 ss0+3
    v5 = load.i64 v4+11
    return v5
}
; run: %main(0x7f) == 0xfe000000000000
"""


def test_uninit_stack_invariant_check():
    """Bytes 14 to 21 of ss0 are read: the entry block writes 8 to 23 (a read of byte 7 is not)."""
    tf = parse_text(UNINIT_STACK)
    assert uninit_stack_reads(tf) == []
    assert uninit_stack_reads(parse_text(UNINIT_STACK.replace("ss0+16\n", "ss0+24\n"))) == [
        "%main: load reads ss0+16 before the entry block writes it"]
    assert uninit_stack_reads(parse_text(UNINIT_STACK.replace("v4+11", "v4+4")))
    # An address that escapes the accesses (to a call, say) may read the whole slot.
    escaped = UNINIT_STACK.replace("    v5 = load.i64 v4+11\n", "    v5 = iadd v4, v4\n")
    assert uninit_stack_reads(parse_text(escaped)) == ["%main: iadd reads ss0+0 before the entry block writes it"]


def test_reduction_never_reads_uninitialised_stack():
    """Reducing a disagreement whose program writes its stack slot before reading it must not delete
    those stores: the "reduced" program would then read native stack garbage, which a real engine
    pair disagrees on whatever the bug (rule uninit-stack). The reduced reproducer of a broken-iadd
    campaign once failed natively under `clifkit test` for exactly that reason."""
    r = reduce_text(UNINIT_STACK, "compare", ["interpreter", "broken-iadd"])
    assert uninit_stack_reads(parse_text(r.text)) == [], r.text
    assert "stack_store" in r.text


# -- comparison -------------------------------------------------------------------------------------


def test_judge_rules():
    f32 = [F32]
    nan_a = Observed("values", values=[0x7FC0_0000])
    nan_b = Observed("values", values=[0xFFC0_0001])
    v = judge(nan_a, nan_b, f32)
    assert v.status == "agree" and v.rules == ["nan-bits"]
    assert judge(Observed("values", values=[0]), Observed("values", values=[0x8000_0000]), f32).status == "disagree"
    i32 = [I32]
    assert judge(Observed("trap", code="heap_oob"), Observed("trap", code="heap_oob"), i32).status == "agree"
    assert judge(Observed("trap", code="heap_oob"), Observed("trap", code="int_divz"), i32).status == "disagree"
    assert judge(Observed("trap", code="heap_oob"), Observed("values", values=[1]), i32).status == "disagree"
    v = judge(Observed("values", values=[1]), Observed("skipped", message="cannot compile"), i32)
    assert v.status == "skipped" and v.rules == ["engine-skip"]
    slack = Observed("trap", code="heap_oob", native_open="heap0-0x8")
    for a, b in ((slack, Observed("values", values=[0])), (Observed("values", values=[0]), slack)):
        v = judge(a, b, i32)
        assert v.status == "outside-guarantee" and v.rules == ["native-page-slack"] and "heap0-0x8" in v.detail
    assert judge(slack, Observed("trap", code="heap_oob"), i32).status == "agree"
    vec = [parse_type("f64x2")]
    v = judge(Observed("values", values=[(1, 0x7FF8_0000_0000_0000)]),
              Observed("values", values=[(1, 0xFFF8_0000_0000_0000)]), vec)
    assert v.status == "agree"


def test_judge_writes_the_detail_only_for_a_verdict_that_keeps_it(monkeypatch):
    # Most run lines agree: formatting both outcomes for each of them was most of judging.
    written = []
    describe = Observed.describe
    monkeypatch.setattr(Observed, "describe", lambda self, types: written.append(self) or describe(self, types))
    i32 = [I32]
    v = judge(Observed("values", values=[1]), Observed("values", values=[1]), i32, ("interpreter", "x86_64"))
    assert (v.status, v.detail, written) == ("agree", "", [])
    v = judge(Observed("values", values=[1]), Observed("values", values=[2]), i32, ("interpreter", "x86_64"))
    assert v.status == "disagree" and v.detail == "interpreter: 1; x86_64: 2" and len(written) == 2
    v = judge(Observed("values", values=[0x7FC0_0000]), Observed("values", values=[0xFFC0_0001]), [F32])
    assert v.rules == ["nan-bits"] and v.detail.startswith("a: ") and "; b: " in v.detail


def test_fuzz_finds_a_planted_disagreement_and_writes_a_reproducer(tmp_path, capsys):
    out = tmp_path / "out"
    status = fuzz(FuzzOptions(seed=1, count=25, out=str(out), engine_b="broken-iadd"))
    lines = capsys.readouterr().out.splitlines()
    assert status == 1
    m = re.fullmatch(r"(\d+) programs, (\d+) disagreements, (\d+) buckets", lines[-1])
    assert m and m.group(1) == "25" and int(m.group(2)) > 0
    files = sorted(out.glob("*.clif"))
    assert len(files) == int(m.group(2))
    text = files[0].read_text()
    assert "test run" in text and "target x86_64" in text and "; run: %main(" in text
    # The reproducer is self-contained: clifkit test runs it (the interpreter gives the expected
    # results), and the broken engine still disagrees on it.
    assert cli.main(["test", str(files[0]), "--engine", "interpreter"]) == 0
    capsys.readouterr()
    results = Harness(["interpreter", "broken-iadd"]).run_text(text)
    assert any(r.verdict(["interpreter", "broken-iadd"]).disagrees for r in results)


def test_fuzz_cli_smoke(tmp_path, capsys):
    status = cli.main(["fuzz", "--seed", "1", "--count", "40", "--engine-b", "interpreter", "--out", str(tmp_path)])
    lines = capsys.readouterr().out.splitlines()
    assert status == 0, lines
    assert lines[-1] == "40 programs, 0 disagreements, 0 buckets"
    assert not list(tmp_path.glob("*.clif"))


def test_fuzz_program_option_reruns_one_program(tmp_path, capsys):
    first = tmp_path / "first"
    fuzz(FuzzOptions(seed=1, count=25, out=str(first), engine_b="broken-iadd"))
    capsys.readouterr()
    found = sorted(first.glob("*.clif"))[0]
    index = int(re.fullmatch(r"seed1-(\d+)\.clif", found.name).group(1))
    again = tmp_path / "again"
    argv = ["fuzz", "--seed", "1", "--program", str(index), "--engine-b", "broken-iadd", "--out", str(again)]
    assert cli.main(argv) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "1 programs, 1 disagreements, 1 buckets"
    assert (again / found.name).read_text() == found.read_text()


# -- reduction ---------------------------------------------------------------------------------------


def _planted_reproducer(tmp_path) -> str:
    fuzz(FuzzOptions(seed=1, count=25, out=str(tmp_path), engine_b="broken-iadd"), out=open(os.devnull, "w"))
    files = sorted(tmp_path.glob("*.clif"))
    assert files
    # The largest one: the hardest to shrink.
    return str(max(files, key=lambda p: p.stat().st_size))


def test_reducer_shrinks_a_planted_bug(tmp_path):
    path = _planted_reproducer(tmp_path)
    before = count_instructions(parse_candidate(open(path).read()))
    result = reduce_file(path, "compare", ["interpreter", "broken-iadd"])
    assert result.instructions <= 8, result.text  # i128 needs uextend chains: a few more than the bug
    assert before > result.instructions
    assert "iadd" in result.text
    # The same kind of disagreement as the reproducer's (its header says what broken-iadd gave:
    # a wrong value, or a trap where the wrong address left the heap).
    got = re.search(r"broken-iadd: (trap (\w+)|.*)$", open(path).read(), re.M)
    assert result.klass == ("disagree", "values", f"trap:{got.group(2)}" if got.group(2) else "values")
    # Still a valid, self-contained run test expecting the interpreter's result ...
    tf = parse_text(result.text, "<reduced>")
    assert verify_test_file(tf, result.text) == []
    assert Harness(["interpreter"]).run_text(result.text)[0].outcomes[0].kind == "values"
    # ... on which the planted bug still shows.
    r = Harness(["interpreter", "broken-iadd"]).run_text(result.text)
    assert r[0].verdict(["interpreter", "broken-iadd"]).disagrees


_LOOP_BODY_BUG = """test interpret
test run
target x86_64

function %main(i64 vmctx, i32) -> i16 {
block0(v0: i64, v3: i32):
    jump block2(v3)

block1:
    v4 = iconst.i32 0
    v25 = iconst.i64 0
    v26 = load.i64 notrap aligned v0
    v30 = iadd v26, v25
    v31 = load.i8 v30
    jump block2(v4)

block2(v6: i32):
    brif v6, block1, block3

block3:
    v82 = iconst.i16 0
    return v82
}
; heap: static, size=0x1, ptr=vmctx+0, bound=vmctx+24
; run: %main(1) == 0
"""


def test_reducer_straightens_a_loop_whose_body_the_bug_needs():
    """The iadd is in a loop body laid out before its header (a backward branch enters it): the
    body's jump back is threaded past the header to the exit, after which the header's branch
    into the body closes no loop and may become a jump, and the blocks merge into one."""
    result = reduce_text(_LOOP_BODY_BUG, "compare", ["interpreter", "broken-iadd"])
    assert "brif" not in result.text and "block1" not in result.text, result.text
    assert result.instructions <= 6, result.text
    assert result.klass == ("disagree", "values", "trap:heap_oob")


def test_reduce_cli(tmp_path, capsys):
    path = _planted_reproducer(tmp_path)
    out = tmp_path / "reduced.clif"
    assert cli.main(["reduce", path, "--engine-b", "broken-iadd", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "instructions" in err
    assert "; run: %main(" in out.read_text()
    assert cli.main(["test", str(out), "--engine", "interpreter"]) == 0


def test_reduce_interrupted_keeps_the_smallest_file_found(tmp_path, capsys, monkeypatch):
    """Ctrl-C in the middle of `clifkit reduce` writes the smallest candidate found so far, which
    still fails the same way, and says so (status 130). It used to lose minutes of reduction."""
    from clifkit.fuzz import reduce as reduce_mod

    path = _planted_reproducer(tmp_path)
    passes = []

    def stop_at_second(self):
        passes.append(1)
        if len(passes) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(reduce_mod.Reducer, "pass_block_params", stop_at_second)
    out = tmp_path / "partly.clif"
    assert cli.main(["reduce", path, "--engine-b", "broken-iadd", "-o", str(out)]) == 130
    err = capsys.readouterr().err
    m = re.search(r"interrupted \(Ctrl-C\): the smallest file found so far, (\d+) -> (\d+) instructions", err)
    assert m, err
    assert int(m.group(2)) < int(m.group(1))
    text = out.read_text()
    assert "; print: %main(" in text  # (the candidate's line: the engines' answers were not asked again)
    # It still fails the same way: `clifkit reduce` takes it up again.
    again = reduce_mod.reduce_text(text, "compare", ("interpreter", "broken-iadd"))
    assert again.instructions <= int(m.group(2))


_TAIL_CALLER = """test interpret

function %f1(i32) -> i32, i128 tail {
block0(v0: i32):
    v1 = imul v0, v0
    v2 = isub v1, v0
    v3 = sextend.i64 v2
    v4 = iconcat v3, v3
    return v2, v4
}

function %main(i32) -> i32, i128 tail {
    sig0 = (i32) -> i32, i128 tail
    fn0 = %f1 sig0

block0(v0: i32):
    v1 = iadd v0, v0
    v2 = icmp_imm eq v1, 2
    trapnz v2, user1
    TAIL_CALL
}
; run: %main(1) == trap user1
"""


@pytest.mark.parametrize("tail_call", ["return_call fn0(v1)",
                                       "v3 = func_addr.i64 fn0\n    return_call_indirect sig0, v3(v1)"])
def test_reduce_removes_a_function_called_in_tail_position(tail_call):
    """A callee the disagreement does not need goes, its tail call becoming a return of zeros,
    as an ordinary call becomes zero constants."""
    result = reduce_text(_TAIL_CALLER.replace("TAIL_CALL", tail_call), "compare", ["interpreter", "broken-iadd"])
    assert result.klass == ("disagree", "trap:user1", "values")
    assert "%f1" not in result.text and "return_call" not in result.text, result.text
    assert "uextend.i128" in result.text  # the i128 result's zero
    tf = parse_text(result.text, "<reduced>")
    assert verify_test_file(tf, result.text) == []


@pytest.mark.parametrize("conv, call", [("", "v1 = call fn0(v0)\n    return v1"), (" tail", "return_call fn0(v0)")])
def test_reduce_runs_the_callee_where_the_difference_lies(conv, call):
    """The run line moves to a callee taking the same arguments, and the caller goes."""
    text = f"""test interpret

function %f1(i32) -> i32{conv} {{
block0(v0: i32):
    v1 = iadd v0, v0
    v2 = imul v1, v0
    return v2
}}

function %main(i32) -> i32{conv} {{
    sig0 = (i32) -> i32{conv}
    fn0 = %f1 sig0

block0(v0: i32):
    {call}
}}
; run: %main(3) == 18
"""
    result = reduce_text(text, "compare", ["interpreter", "broken-iadd"])
    assert result.klass == ("disagree", "values", "values")
    assert "%main" not in result.text and "call" not in result.text, result.text
    assert "; run: %f1(" in result.text and "iadd" in result.text
    assert result.instructions <= 3


def test_reduce_keeps_a_trap_mismatch_in_expect_mode():
    text = """test interpret

function %f(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    v2 = iadd v0, v1
    v3 = imul v2, v0
    v4 = iconst.i32 0
    v5 = udiv v3, v4
    v6 = iadd v5, v1
    return v6
}
; run: %f(1, 2) == 3
; run: %f(2, 2) == 8
"""
    result = reduce_text(text, "expect", ["interpreter"])
    assert result.klass == ("expect", "trap int_divz")
    assert result.instructions <= 3, result.text
    assert "udiv" in result.text


def test_reduce_removes_the_heap_directives_a_failure_does_not_need():
    text = """test interpret

function %f(i64 vmctx, i32) -> i32 {
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
    heap0 = static gv1, min 0x1000, bound 0x1000, offset_guard 0, index_type i32

block0(v0: i64, v1: i32):
    v2 = iconst.i32 40
    heap_store heap0 v1, v2
    v3 = heap_load.i32 heap0 v1
    v4 = iadd_imm v3, 2
    return v4
}
; heap: static, size=0x1000, ptr=vmctx+0, bound=vmctx+8
; heap: static, size=0x1000, ptr=vmctx+16, bound=vmctx+24
; table: elements=4, element_size=4, ptr=vmctx+32, bound=vmctx+40
; run: %f(0x10) == 41
"""
    result = reduce_text(text, "expect", ["interpreter"])
    heaps = [line for line in result.text.splitlines() if line.startswith(("; heap:", "; table:"))]
    assert heaps == ["; heap: static, size=0x1000, ptr=vmctx+0, bound=vmctx+8"], result.text


def test_reduce_refuses_a_passing_file():
    text = """test interpret

function %f(i32) -> i32 {
block0(v0: i32):
    return v0
}
; run: %f(1) == 1
"""
    with pytest.raises(ReduceError):
        reduce_text(text, "expect", ["interpreter"])
    with pytest.raises(ReduceError):
        reduce_text(text, "compare", ["interpreter", "broken-iadd"])


# A function whose run lines the reducer tests below choose from.
INCREMENT = """test interpret

function %f(i32) -> i32 {
block0(v0: i32):
    v1 = iadd_imm v0, 1
    return v1
}
"""


@pytest.mark.skipif(not native_available(), reason="needs the native engine")
def test_reduce_leaves_out_a_target_no_engine_here_runs():
    """riscv64 has no build of the binding: `clifkit test` skips its lines, and `clifkit reduce` must
    leave it out too (it raised EngineUnavailable, a traceback, whether riscv64 came first or after
    a target whose engines agreed), reducing on the targets that run."""
    body = INCREMENT.replace("test interpret\n", "test run\n") + "; run: %f(1) == 3\n"
    for targets in ("target riscv64\ntarget x86_64\n", "target x86_64\ntarget riscv64\n"):
        text = body.replace("test run\n", "test run\n" + targets)
        r = reduce_text(text, "expect", ["native"])
        assert r.klass is not None and "%f(1) == 3" in r.text
        with pytest.raises(ReduceError, match="no run line fails on interpreter.* and native.*: the engines agree"):
            reduce_text(text, "compare", ["interpreter", "native"])
    with pytest.raises(ReduceError, match="cannot run riscv64 code"):
        reduce_text(body.replace("test run\n", "test run\ntarget x86_64\n"), "expect", ["native@riscv64"])


def test_reduce_says_why_line_n_cannot_be_reduced():
    text = INCREMENT + "; run: %f(1) == 2\n; run: %f(2) == 4\n"

    def error(line, mode="expect", engines=("interpreter",)):
        with pytest.raises(ReduceError) as e:
            reduce_text(text, mode, list(engines), line=line)
        return str(e.value)

    lines = "(its run lines are at lines 8, 9)"
    assert error(99) == f"line 99 is outside the file, which has 9 lines {lines}"
    assert error(0) == f"line 0 is outside the file, which has 9 lines {lines}"
    assert error(4) == f"line 4 is not a run line {lines}"
    assert error(8) == "line 8 (%f(1)) does not fail on interpreter: it gives what the line expects"
    assert "line 8 (%f(1)) does not fail on interpreter and interpreter: the engines agree" in error(
        8, "compare", ("interpreter", "interpreter"))
    assert reduce_text(text, "expect", ["interpreter"], line=9).klass == ("expect", "3")


def test_reduce_is_not_stopped_by_another_run_line_that_does_not_bind():
    # As `clifkit test` reports such a line apart and runs the others, the reducer reduces the
    # line it is given; the line that does not bind is refused only when it is the one chosen.
    text = INCREMENT + "; run: %f(1, 2) == 3\n; run: %f(2) == 4\n"
    result = reduce_text(text, "expect", ["interpreter"])
    assert result.klass == ("expect", "3")
    assert "; run: %f(2) == 4" in result.text and "%f(1, 2)" not in result.text
    with pytest.raises(ReduceError, match=r"line 8 does not bind:\n<reduce>:8:8: error: %f takes 1 argument"):
        reduce_text(text, "expect", ["interpreter"], line=8)
    with pytest.raises(ReduceError, match="no run line binds"):
        reduce_text(text.replace("%f(2)", "%f()"), "expect", ["interpreter"])


def test_reduce_refuses_a_bad_fuel_and_an_unwritable_output_before_reducing(tmp_path, capsys):
    path = tmp_path / "t.clif"
    path.write_text(INCREMENT + "; run: %f(1) == 3\n")
    for extra, words in [(["--fuel", "0"], "--fuel must be positive, not 0"),
                         (["--fuel", "-1"], "--fuel must be positive, not -1"),
                         (["-o", str(tmp_path)], f"cannot write {tmp_path}: it is a directory"),
                         (["-o", str(tmp_path / "no" / "r.clif")], "cannot write")]:
        assert cli.main(["reduce", "--expect", str(path), *extra]) == 2
        captured = capsys.readouterr()
        assert words in captured.err and "instructions" not in captured.err and captured.out == ""
    assert cli.main(["reduce", "--expect", "--fuel", "100", str(path), "-o", str(tmp_path / "r.clif")]) == 0
    assert "; run: %f(1) == 3" in (tmp_path / "r.clif").read_text()


def test_reduce_expect_on_the_interpreter_calls_by_name_in_a_test_interpret_file_under_run_calls_followed():
    # `clifkit test --run-calls followed` runs a `test interpret` line by name on the interpreter:
    # %g(1) gives 10 there, against the expected 2. The reducer must see the same failure.
    text = INCREMENT.replace("test interpret\n", "test interpret\ntest run\n") + (
        "\nfunction %g(i32) -> i32 {\nblock0(v0: i32):\n    v1 = imul_imm v0, 10\n    return v1\n}\n")
    text = text.replace("    return v1\n}\n\nfunction %g", "    return v1\n}\n; run: %g(1) == 2\n\nfunction %g")
    result = reduce_text(text, "expect", ["interpreter"], calls_followed=True)
    assert result.klass == ("expect", "10") and "%g(1) == 2" in result.text
    with pytest.raises(ReduceError, match="no run line fails on interpreter"):  # only `test run`: followed
        reduce_text(text.replace("test interpret\n", ""), "expect", ["interpreter"], calls_followed=True)


# -- documentation ------------------------------------------------------------------------------------


def test_every_rule_is_documented():
    with open(os.path.join(ROOT, "docs", "fuzzing.md"), encoding="utf-8") as f:
        doc = f.read()
    for name in rules.RULES:
        assert f"`{name}`" in doc, name
    for name in FEATURES:
        assert f"`{name}`" in doc, name


def test_features_hit_are_read_off_the_program():
    from clifkit.fuzz.features import features_hit
    from clifkit.reader import parse_text

    tf = parse_text("""
function %f(i64 vmctx, i32) -> i32 {
    fn0 = %heap_grow(i64 vmctx, i32, i64) -> i64
block0(v0: i64, v1: i32):
    v2 = iconst.i64 0
    v3 = call fn0(v0, v1, v2)
    jump block1(v1)
block1(v4: i32):
    v5 = iadd_imm v4, -1
    brif v5, block1(v5), block2
block2:
    v6 = udiv v4, v1
    return v6
}
""")
    hit = features_hit([d.function for d in tf.functions], ["dynamic"])
    assert hit == {"int", "control", "loops", "traps", "heap"}


# -- heap shapes (every shape docs/heaps.md allows) ---------------------------------------------------


def _texts(count: int, features: str = "int,heap,calls,traps", target: str = "x86_64") -> list[str]:
    gen = Generator(GenConfig(features=parse_features(features), target=target))
    return [gen.program(i).text() for i in range(count)]


def test_generator_makes_every_heap_shape():
    texts = _texts(300)
    joined = "\n".join(texts)
    assert re.search(r"gv\d+ = iadd_imm\.i64 gv\d+, ", joined)  # derived bases
    assert re.search(r"heap\d+ = static gv\d+, .*\n(?:.*\n)*?.*heap\d+ = static gv\d+", joined)
    assert re.search(r"heap\d+ = static gv0, ", joined)  # heaps over vmctx
    assert "size=0x1," in joined and "size=0x1001," in joined and "size=0x11," in joined
    assert re.search(r"heap_load\.\w+ heap\d+ big ", joined) and re.search(r"heap_store heap\d+ big ", joined)
    assert re.search(r"= (load|[us]load\d+)\.\w+ big ", joined) and re.search(r"\bi?store\d* big ", joined)
    assert "bound 0x0001_0000_0000" in joined or "bound 0x1_0000_0000" in joined
    # A heap declared and accessed only in a callee: %main declares no heap, a callee does.
    def only_in_callee(text: str) -> bool:
        funcs = re.split(r"\n(?=function )", text)
        main = [f for f in funcs if f.startswith("function %main")][0]
        callees = [f for f in funcs if f.startswith("function %f")]
        return "heap_" not in main and " = static gv" not in main and any(
            re.search(r"heap_(load|store|addr)", f) for f in callees)
    assert any(only_in_callee(t) for t in texts)


def test_generated_heap_programs_verify_and_agree_with_themselves():
    # Every shape is valid CLIF the interpreter runs (no generator bug), on both byte orders.
    for target in ("x86_64", "s390x"):
        for text in _texts(40, target=target):
            for r in Harness(["interpreter", "interpreter"]).run_text(text):
                assert r.verdict(["a", "b"]).status == "agree", text


def test_table_bounds_are_read_at_their_slot_on_every_target():
    """The harness writes a bound slot in the width its declarations load (`slot_writes`), so a
    narrow bound is read at the slot itself, whatever the byte order."""
    for target in ("x86_64", "s390x"):
        gen = Generator(GenConfig(features=parse_features("int,table,heap"), target=target))
        narrow = 0
        for seed in range(200):
            program = gen.program(seed)
            bounds = {h.bound_slot for h in program.heaps}
            for func in program.functions:
                for gv in func.global_values.values():
                    if gv.kind == "load" and gv.type.bits < 64:
                        narrow += 1
                        assert gv.base == 0 and gv.offset in bounds, program.text()
        assert narrow


# -- campaigns: -j, --time, --cluster, triage ---------------------------------------------------------


def _campaign(tmp_path, name, capsys, **kw):
    out = tmp_path / name
    kw.setdefault("count", 30)
    status = fuzz(FuzzOptions(seed=3, out=str(out), engine_b="broken-iadd", **kw))
    lines = capsys.readouterr().out.splitlines()
    files = {p.name: p.read_text() for p in out.glob("*.clif")}
    return status, lines, files, out


def test_parallel_campaign_finds_the_same_programs_as_a_serial_one(tmp_path, capsys):
    s1, lines1, files1, _ = _campaign(tmp_path, "serial", capsys)
    s2, lines2, files2, _ = _campaign(tmp_path, "parallel", capsys, jobs=2, batch=4)
    assert s1 == s2 == 1
    assert files1 and files1 == files2
    assert lines1[-1] == lines2[-1]
    assert re.fullmatch(r"30 programs, \d+ disagreements, \d+ buckets", lines1[-1])


def test_sampled_verification_runs_the_generated_ir_with_the_same_results(tmp_path, capsys):
    _, lines1, files1, _ = _campaign(tmp_path, "all", capsys)
    _, lines2, files2, _ = _campaign(tmp_path, "sampled", capsys, verify_every=7)
    assert files1 == files2 and lines1[-1] == lines2[-1]


def test_campaign_report_buckets_disagreements(tmp_path, capsys):
    import json

    _, lines, files, out = _campaign(tmp_path, "r", capsys, reduce=True, count=12)
    report = json.loads((out / "report.json").read_text())
    assert report["schema"] == "clifkit-fuzz-report/1"
    assert report["engines"] == {"reference": "interpreter", "references": ["interpreter"],
                                 "backends": ["broken-iadd"]}
    assert report["opt_levels"] == ["none", "speed"]
    assert report["disagreements"] == sum(b["count"] for b in report["buckets"]) > 0
    for b in report["buckets"]:
        assert b["first"]["opt_level"] is None  # nothing was compiled
        assert b["signature"]["backend"] == "broken-iadd"
        assert b["signature"]["kind"] == "value" or b["signature"]["kind"].startswith("trap:")
        assert "iadd" in b["signature"]["opcodes"]
        assert b["first"]["program"] == min(b["programs"])
        assert os.path.exists(b["first"]["reduced"])
    m = re.fullmatch(r"12 programs, (\d+) disagreements, (\d+) buckets", lines[-1])
    assert m and int(m.group(2)) == len(report["buckets"])


def test_ctrl_c_ends_a_campaign_with_its_summary_and_report(tmp_path, capsys, monkeypatch):
    """Ctrl-C (as a `--time 2h` campaign is often stopped) reports the programs that finished: the
    summary, the --report (`"interrupted": true`), status 130. It printed "interrupted" alone,
    and the report was never written."""
    import json

    from clifkit.fuzz import driver

    merge = driver._merge

    def merge_then_interrupt(rec, stats, *args):
        if stats.programs == 3:
            raise KeyboardInterrupt
        merge(rec, stats, *args)

    monkeypatch.setattr(driver, "_merge", merge_then_interrupt)
    report = tmp_path / "r.json"
    status = cli.main(["fuzz", "--seed", "1", "--time", "60s", "-j", "1", "--engine-b", "broken-iadd",
                       "--features", "int", "--report", str(report), "--out", str(tmp_path / "out")])
    lines = capsys.readouterr().out.splitlines()
    assert status == 130
    assert "interrupted (Ctrl-C): the figures below are those of the 3 programs that finished" in lines
    assert re.fullmatch(r"3 programs, \d+ disagreements, \d+ buckets", lines[-1])
    doc = json.loads(report.read_text())
    assert doc["interrupted"] is True and doc["programs"] == 3


@pytest.mark.skipif(not hasattr(signal, "SIGTERM") or sys.platform == "win32", reason="needs POSIX signals")
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sigterm_ends_a_campaign_with_its_summary_and_report(tmp_path, jobs):
    """A real SIGTERM (a job scheduler's stop) to a running campaign: the summary and the report
    of the programs that finished, as after Ctrl-C, and status 143."""
    import json

    report = tmp_path / "r.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "clifkit", "fuzz", "--seed", "1", "--time", "120s", "-j", jobs, "--engine-b",
         "interpreter", "--features", "int", "--report", str(report), "--out", str(tmp_path / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    out, err = signal_then_wait(proc, 4.0, lambda p: p.send_signal(signal.SIGTERM))
    assert proc.returncode == 143, out + err
    assert "Traceback" not in err, err
    m = re.search(r"interrupted \(SIGTERM\): the figures below are those of the (\d+) programs that finished", out)
    assert m, out
    doc = json.loads(report.read_text())
    assert doc["interrupted"] is True and doc["programs"] == int(m.group(1))
    assert out.splitlines()[-1].startswith(f"{m.group(1)} programs, ")


def test_time_budget_stops_an_unbounded_campaign(tmp_path, capsys):
    status = cli.main(["fuzz", "--seed", "1", "--time", "1", "--engine-b", "interpreter", "-j", "1",
                       "--out", str(tmp_path)])
    last = capsys.readouterr().out.splitlines()[-1]
    m = re.fullmatch(r"(\d+) programs, 0 disagreements, 0 buckets", last)
    assert status == 0 and m and int(m.group(1)) > 0


def test_bad_campaign_options_are_located_errors(capsys):
    assert cli.main(["fuzz", "--time", "soon"]) == 2
    assert "not a duration" in capsys.readouterr().err
    assert cli.main(["fuzz", "--target", "mips"]) == 2
    assert "unknown target 'mips'" in capsys.readouterr().err
    # A program index, a batch size or a verification period below its least is refused, not
    # taken for another program (-1 is program 2**32-1 of the seed before) or for "every program".
    for option, value, least in (("--program", "-1", 0), ("--batch", "-2", 0), ("--verify-every", "0", 1)):
        assert cli.main(["fuzz", option, value]) == 2
        assert f"error: {option} must be >= {least}, not {value}" in capsys.readouterr().err
    # Program 2**32 of seed S is program 0 of seed S+1 (`campaign.program_seed`).
    for option in ("--program", "--count"):
        assert cli.main(["fuzz", option, str(2**32)]) == 2
        assert f"error: {option} must be below 2^32, not {2**32}" in capsys.readouterr().err


def test_a_feature_edit_list_may_follow_features_as_its_own_word(tmp_path, capsys):
    """`--features -simd` (as the docs write it): argparse alone takes `-simd` for an option."""
    argv = ["fuzz", "--seed", "1", "--count", "2", "-j", "1", "--engine-b", "interpreter", "--out", str(tmp_path)]
    assert cli.main(argv + ["--features", "-simd,-float,+float"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert "features int,i128,float,conv," in header and "simd" not in header
    assert cli.main(argv + ["--features", "-nosuch"]) == 2
    assert "unknown feature 'nosuch'" in capsys.readouterr().err


def test_the_fuzz_benchmark_refuses_bad_options_without_a_traceback(capsys, monkeypatch):
    monkeypatch.syspath_prepend(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from benchmarks.fuzz import main as bench_main

    for option in (["--opt-level", "fast"], ["--features", "-nosuch"], ["--target", "mips"]):
        with pytest.raises(SystemExit) as e:
            bench_main(option + ["--count", "1"])
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert "error: unknown" in err and "Traceback" not in err, err


@pytest.mark.parametrize("option", [["--count", "0"], ["--count", "-5"], ["--repeat", "0"], ["--repeat", "-1"],
                                    ["--batch", "0"], ["--verify-every", "0"], ["--long", "-3"]])
def test_the_fuzz_benchmark_refuses_counts_it_cannot_run(option, capsys, monkeypatch):
    """A count of no programs divided by zero (a traceback); no repeats ran once all the same."""
    monkeypatch.syspath_prepend(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from benchmarks.fuzz import main as bench_main

    with pytest.raises(SystemExit) as e:
        bench_main(["--count", "1"] + option)
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"error: {option[0]} must be at least" in err and "Traceback" not in err, err


def test_the_fuzz_benchmark_reads_back_a_run_and_refuses_a_tree_without_it(tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from benchmarks.fuzz import main as bench_main
    from benchmarks.fuzz_pairs import RunFailed, parse_output

    text = ("Python 3.11.7; seed 1; 300 programs per target\n\n"
            "x86_64: 88.1 programs/s per core (11.4 CPU ms per program; 88.4 programs/s wall; 0 programs disagree)\n"
            "  run interpreter                                       4.43 ms\n"
            "  native worker (unpickle, lower or replay, compile, fork, run)    3.30 ms\n"
            "  (of which the cyclic collector, in whichever stage)    0.00 ms\n"
            "  floor: Cranelift alone compiling the same programs    1.21 ms (at most 825 programs/s per core)\n"
            "\naarch64: 20.0 programs/s per core (50.0 CPU ms per program; 20.0 programs/s wall; 0 programs disagree)\n"
            "  run interpreter                                       9.99 ms\n")
    run = parse_output(text)
    assert (run["rate"], run["ms"], run["floor"]) == (88.1, 11.4, 1.21)
    assert run["stages"] == {"run interpreter": 4.43,
                             "native worker (unpickle, lower or replay, compile, fork, run)": 3.30}
    with pytest.raises(RunFailed):
        parse_output("Traceback (most recent call last):\n")
    with pytest.raises(SystemExit) as e:
        bench_main(["--repeat", "3", "--against", str(tmp_path), "--count", "1"])
    assert e.value.code == 2 and "no benchmarks/fuzz.py there" in capsys.readouterr().err


def test_cluster_campaign_finds_the_same_programs_as_a_local_one(tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    _, lines1, files1, _ = _campaign(tmp_path, "local", capsys, jobs=2, batch=4)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as lc:
        _, lines2, files2, _ = _campaign(tmp_path, "cluster", capsys, cluster=lc.scheduler_address, batch=4)
    assert files1 and files1 == files2
    assert lines1[-1] == lines2[-1]


def test_a_cluster_that_cannot_be_reached_is_one_error_line(tmp_path, capsys):
    """A malformed --cluster address, or one where no scheduler answers, ends the campaign with
    one error line and status 2 (it was a ValueError or OSError traceback)."""
    import importlib.util

    if importlib.util.find_spec("distributed") is None:
        pytest.skip("no Dask distributed")
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        for address, why in (("bogus", "missing port number"), ("tcp://127.0.0.1:1", "Timed out")):
            assert cli.main(["fuzz", "--cluster", address, "--count", "2", "--engine-b", "broken-iadd",
                             "--out", str(tmp_path / "out")]) == 2
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and err[0].startswith(f"clifkit fuzz: error: --cluster {address}: "
                                                       "cannot reach a Dask scheduler: ")
            assert why in err[0]


def test_a_scheduler_lost_mid_campaign_ends_it_with_the_figures_so_far(tmp_path, capsys, monkeypatch):
    """When the Dask scheduler goes away, every pending future is cancelled: the campaign ends with
    the summary and report of the batches merged (status 2, one error line). It was a
    FutureCancelledError traceback, and the figures were lost."""
    import json
    from concurrent.futures import CancelledError

    from clifkit.fuzz import cluster, driver

    class Future:
        def __init__(self, result=None):
            self.value = result

        def result(self):
            if self.value is None:
                raise CancelledError("run_batch-1 cancelled for reason: scheduler-connection-lost.\nmore")
            return self.value

    real = driver._batches

    def batches(cfg, opts, indices, total, deadline):
        first = next(real(cfg, opts, indices, total, deadline))
        yield cluster._result(Future(first), "tcp://h:1")
        yield cluster._result(Future(), "tcp://h:1")

    monkeypatch.setattr(driver, "_batches", batches)
    report = tmp_path / "r.json"
    status = cli.main(["fuzz", "--seed", "1", "--count", "20", "--batch", "4", "-j", "1", "--engine-b", "broken-iadd",
                       "--features", "int", "--report", str(report), "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert status == 2
    assert "stopped: the Dask scheduler was lost: the figures below are those of the 4 programs that finished" in lines
    assert re.fullmatch(r"4 programs, \d+ disagreements, \d+ buckets", lines[-1])
    assert captured.err.splitlines() == ["clifkit fuzz: error: --cluster tcp://h:1: the Dask scheduler was lost "
                                         "mid-campaign: run_batch-1 cancelled for reason: scheduler-connection-lost."]
    doc = json.loads(report.read_text())
    assert doc["interrupted"] is True and doc["programs"] == 4


def test_native_workers_are_recycled(monkeypatch):
    from clifkit.fuzz import campaign
    from clifkit.fuzz.engines import native_available

    if not native_available():
        pytest.skip("no native engine")
    from clifkit.native import engine
    from clifkit.native.host import host_arch

    monkeypatch.setattr(campaign, "RECYCLE_EVERY", 3)
    cfg = campaign.CampaignConfig(1, parse_features("int"), "interpreter", "native", (host_arch(),), 10**6)
    runner = campaign.BatchRunner(cfg)
    pids = []
    for i in range(7):
        runner.run([i], {})
        pids.append(tuple(c.proc.pid for c in engine._CLIENTS.values() if c.alive))
    assert len(set(pids)) >= 3  # a fresh worker after every third program


def test_reads_of_vmctx_base_slots_break_the_address_leak_invariant():
    from clifkit.fuzz.invariants import vmctx_address_reads

    text = """test interpret
function %main(i64 vmctx) -> i16 {
    gv0 = vmctx
    heap0 = static gv0, min 16, bound 16, offset_guard 0, index_type i64
block0(v0: i64):
    v1 = iconst.i64 INDEX
    v2 = heap_load.i16 heap0 big v1
    return v2
}
; heap: static, size=0x100, ptr=vmctx+0, bound=vmctx+8
; run: %main() == 0
"""
    assert vmctx_address_reads(parse_text(text.replace("INDEX", "8"))) == []
    assert vmctx_address_reads(parse_text(text.replace("INDEX", "7")))  # its first byte is the base's last
    assert vmctx_address_reads(parse_text(text.replace("INDEX", "0")))


def test_a_long_campaign_keeps_no_program_alive():
    # Leak test: nothing (interpreter caches included) keeps the programs of earlier batches alive,
    # so memory stays flat however long a campaign runs.
    import gc

    from clifkit.fuzz import campaign
    from clifkit.ir.function import Function

    cfg = campaign.CampaignConfig(4, parse_features("all"), "interpreter", "broken-iadd", (), 10**6)
    runner = campaign.BatchRunner(cfg)

    def live() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, Function))

    runner.run(range(0, 10), {})
    before = live()
    for first in range(10, 70, 10):
        runner.run(range(first, first + 10), {})
    assert live() <= before + 5


@pytest.mark.skipif(not native_available(), reason="needs the native engine")
def test_a_batch_of_programs_sets_off_no_young_collection():
    # The campaign's collector threshold is above what a default batch (25 programs, all features)
    # holds at once, so its live programs are not scanned by the cyclic collector; the batch's
    # objects, freed when it is judged, give their count back.
    import gc

    from clifkit.fuzz import campaign
    from clifkit.native.host import host_arch

    cfg = campaign.CampaignConfig(1, parse_features("all"), "interpreter", "native", (host_arch(),), 10**6, 10)
    runner = campaign.BatchRunner(cfg)
    assert gc.get_threshold()[0] >= campaign.GC_THRESHOLD
    runner.run([0], {})  # imports, worker, caches
    young = []

    def collected(phase: str, info: dict) -> None:
        if phase == "start" and info["generation"] == 0:
            young.append(1)

    gc.collect()
    gc.callbacks.append(collected)
    try:
        for first in (1, 26):
            runner.run(range(first, first + 25), {})
    finally:
        gc.callbacks.remove(collected)
    assert not young


def test_programs_run_from_ir_are_printed_only_when_needed(monkeypatch):
    """A program that is neither sampled for verification nor disagrees runs from its IR and its
    directives alone: it is never printed. Its directives read as the end of its text, and a
    printed text is kept (printed once)."""
    from clifkit.fuzz import campaign, gen_program

    printed = []
    real = gen_program.Program._print

    def spy(self, *args):
        printed.append(self.seed)
        return real(self, *args)

    monkeypatch.setattr(gen_program.Program, "_print", spy)
    cfg = campaign.CampaignConfig(5, parse_features("all"), "interpreter", "interpreter", (), 10**6, verify_every=4)
    runner = campaign.BatchRunner(cfg)
    records = runner.run(range(1, 9), {})
    assert sorted(printed) == [program_seed(5, i) for i in (4, 8)]  # the sampled ones
    assert all(r["lines"] == 3 and not r["disagreements"] for r in records)
    program = Generator().program(program_seed(5, 1))
    text = program.text()
    assert text.endswith(program.directives_text()) and program.directives_text().startswith("; ")
    assert program.text() is text and program.text(header="x") != text


def test_verbose_prints_a_line_per_program_and_hits_count_only_chosen_groups(tmp_path, capsys):
    from clifkit.cli import main

    status = main(["fuzz", "--seed", "3", "--count", "5", "-j", "1", "--features", "int,control",
                   "--engine-b", "interpreter", "-v", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0
    assert sum(line.startswith("program ") and "run lines (" in line for line in out.splitlines()) == 5
    hit = next(line for line in out.splitlines() if line.startswith("features hit"))
    assert "traps" not in hit and "int 5" in hit  # guarded divisions are int, not the traps group


def test_the_campaigns_cranelift_bugs_are_kept_out_by_rules():
    from clifkit.fuzz.invariants import wide_load_hazards
    from clifkit.fuzz.specs import F32X4, F64X2, lowering_gap, widens_load
    from clifkit.ir.types import F64, I8, I16
    from clifkit.reader import parse_text

    # x86_64: an f64 load feeding splat.f64x2 is read as 16 bytes (seed 2031, programs 93748 and 95368)
    assert widens_load("splat", F64X2) and not widens_load("splat", F32X4)
    text = ("function %m(i64 vmctx) -> f64x2 {\nblock0(v0: i64):\n    v1 = load.i64 notrap aligned v0\n"
            "    v2 = load.f64 v1\n    v3 = splat.f64x2 v2\n    return v3\n}\n")
    assert wide_load_hazards(parse_text(text, "m.clif")) == ["%m: v2 is loaded straight into splat"]
    # s390x: fcvt_to_uint_sat.i8 of 256.0 gives 0 (seed 2033, programs 1859, 2594, 4600)
    assert lowering_gap("fcvt_to_uint_sat", I8, [F64], ("s390x",))
    assert not lowering_gap("fcvt_to_uint_sat", I16, [F64], ("s390x",))
    assert not lowering_gap("fcvt_to_uint_sat", I8, [F64], ("aarch64",))


def test_s390x_programs_leave_out_the_signed_saturating_i64x2_adds():
    """Cranelift 0.120's s390x backend panics on sadd_sat/ssub_sat.i64x2 ("no rule matched for term
    vec_widen_type"): 3 programs of 40 (seed 2105, simd) lost their s390x column to it."""
    from clifkit.fuzz.specs import I32X4, I64X2, lowering_gap

    assert lowering_gap("sadd_sat", I64X2, [I64X2, I64X2], ("s390x",))
    assert lowering_gap("ssub_sat", I64X2, [I64X2, I64X2], ("aarch64", "s390x"))
    assert not lowering_gap("ssub_sat", I32X4, [I32X4, I32X4], ("s390x",))
    assert not lowering_gap("uadd_sat", I64X2, [I64X2, I64X2], ("s390x",))
    gen = Generator(GenConfig(features=parse_features("int,simd"), target="s390x", targets=("s390x",)))
    made = {}  # (opcode, type) -> how often
    for i in range(120):
        for f in gen.program(program_seed(2105, i)).functions:
            for inst in f.instructions():
                if inst.opcode.name in ("sadd_sat", "ssub_sat"):
                    key = (inst.opcode.name, f.value_types[inst.results[0]].name)
                    made[key] = made.get(key, 0) + 1
    assert made and not any(ty == "i64x2" for _, ty in made), made


def test_aarch64_programs_leave_out_vector_shifts_by_an_i128_amount():
    """Cranelift 0.120's aarch64 backend panics on ishl/ushr/sshr of a vector by an i128 amount
    ("called `Option::unwrap()` on a `None` value"; seed 2103, program 20 lost its aarch64 column)."""
    from clifkit.fuzz.specs import I32X4, lowering_gap

    assert lowering_gap("ushr", I32X4, [I32X4, I128], ("aarch64",))
    assert not lowering_gap("ushr", I32X4, [I32X4, I64], ("aarch64",))
    assert not lowering_gap("ushr", I128, [I128, I128], ("aarch64",))
    assert not lowering_gap("ushr", I32X4, [I32X4, I128], ("s390x",))
    gen = Generator(GenConfig(features=parse_features("int,i128,simd"), target="aarch64", targets=("aarch64",)))
    amounts = set()  # (vector?, amount type) of the shifts made
    for i in range(120):
        for f in gen.program(program_seed(2103, i)).functions:
            for inst in f.instructions():
                if inst.opcode.name in ("ishl", "ushr", "sshr"):
                    amounts.add((f.value_types[inst.args[0]].is_vector, f.value_types[inst.args[1]].name))
    assert (False, "i128") in amounts and (True, "i128") not in amounts, amounts


def test_aarch64_programs_leave_out_i128_min_and_max():
    """Cranelift 0.120's aarch64 backend panics on umin/umax/smin/smax of i128 (the same
    `Option::unwrap()`; seed 2106, program 8 lost its aarch64 column)."""
    from clifkit.fuzz.specs import lowering_gap

    assert lowering_gap("smax", I128, [I128, I128], ("aarch64",))
    assert not lowering_gap("smax", I64, [I64, I64], ("aarch64",))
    assert not lowering_gap("umin", I128, [I128, I128], ("s390x",))
    gen = Generator(GenConfig(features=parse_features("int,i128"), target="aarch64", targets=("aarch64",)))
    made = set()
    for i in range(150):
        for f in gen.program(program_seed(2106, i)).functions:
            made |= {f.value_types[inst.results[0]].name for inst in f.instructions()
                     if inst.opcode.name in ("umin", "umax", "smin", "smax")}
    assert made and "i128" not in made, made


def test_the_sweep_of_vector_and_i128_opcodes_found_two_more_gaps():
    """Compiling each integer opcode at i128 and every vector type under QEMU: aarch64 cannot
    compile popcnt of i16x8/i32x4/i64x2, s390x umulhi/smulhi of i128 ("should be implemented in ISLE")."""
    from clifkit.fuzz.specs import I8X16, I32X4, lowering_gap

    assert lowering_gap("popcnt", I32X4, [I32X4], ("aarch64",))
    assert not lowering_gap("popcnt", I8X16, [I8X16], ("aarch64",))
    assert not lowering_gap("popcnt", I32X4, [I32X4], ("s390x",))
    assert lowering_gap("smulhi", I128, [I128, I128], ("s390x",))
    assert not lowering_gap("smulhi", I64, [I64, I64], ("s390x",))


# -- the 2022 rules (`clifkit fuzz --cranelift 2022`) ------------------------------------------------


def _era_shapes(program) -> dict:
    """How often `program` uses the shapes only the 2022 rules allow: shuffle masks with some or
    all lanes from 32 to 255, and tables whose base and bound load a heap directive's slots."""
    heap_slots = {(h.ptr, h.bound_slot) for h in program.heaps if h.style != "table"}
    found = {"some-zero-lanes": 0, "all-zero-lanes": 0, "table-over-heap": 0}
    for func in program.functions:
        for inst in func.instructions():
            if inst.opcode.name == "shuffle" and any(lane >= 32 for lane in inst.mask):
                found["all-zero-lanes" if all(lane >= 32 for lane in inst.mask) else "some-zero-lanes"] += 1
        gvs = func.global_values
        for table in func.tables.values():
            if (gvs[table.base].offset, gvs[table.bound].offset) in heap_slots:
                found["table-over-heap"] += 1
    return found


def test_2022_campaign_generates_the_eras_shapes_and_agrees(tmp_path, capsys):
    gen = Generator(GenConfig(features=parse_features("all"), cranelift="2022"))
    programs = [gen.program(program_seed(5, i)) for i in range(80)]
    totals = {k: sum(_era_shapes(p)[k] for p in programs) for k in ("some-zero-lanes", "all-zero-lanes",
                                                                      "table-over-heap")}
    assert all(totals.values()), totals
    # They are the era's shapes: today's verifier refuses the lanes and the tables, 2022's accepts them.
    text = next(p.text() for p in programs if _era_shapes(p)["some-zero-lanes"])
    assert verify_test_file(parse_text(text), text, dialect=CRANELIFT_2022) == []
    assert any("shuffle" in d.message for d in verify_test_file(parse_text(text), text))
    # Both engines (the native one, when present) agree on every run, traps included.
    status = fuzz(FuzzOptions(seed=5, count=60, out=str(tmp_path), cranelift="2022"))
    lines = capsys.readouterr().out.splitlines()
    assert status == 0, lines
    assert lines[-1] == "60 programs, 0 disagreements, 0 buckets"
    assert "trap:table_oob" in "\n".join(lines) and "trap:heap_oob" in "\n".join(lines)


def test_default_campaigns_never_generate_the_2022_shapes():
    gen = Generator(GenConfig(features=parse_features("all")))
    for i in range(300):
        program = gen.program(program_seed(5, i))
        assert not any(_era_shapes(program).values()), program.text()


def test_a_2022_reproducer_says_how_to_rerun_it(tmp_path, capsys):
    fuzz(FuzzOptions(seed=1, count=20, out=str(tmp_path), engine_b="broken-iadd", cranelift="2022", reduce=True))
    capsys.readouterr()
    text = sorted(tmp_path.glob("seed1-?????.clif"))[0].read_text()
    assert "clifkit fuzz --seed 1 --program " in text and " --cranelift 2022 " in text
    assert "clifkit test --cranelift 2022" in text
    assert "clifkit test --cranelift 2022" in sorted(tmp_path.glob("*-reduced.clif"))[0].read_text()


def test_fuzz_refuses_an_unknown_era(capsys):
    assert cli.main(["fuzz", "--cranelift", "2021", "--count", "1"]) == 2
    assert "--cranelift: unknown Cranelift dialect '2021': choose current or 2022" in capsys.readouterr().err


# -- opt levels ------------------------------------------------------------------------------------


def test_opt_levels_parse():
    from clifkit.fuzz.features import DEFAULT_OPT_LEVELS, OPT_LEVELS, parse_opt_levels

    assert parse_opt_levels(None) == DEFAULT_OPT_LEVELS == ("none", "speed")
    assert parse_opt_levels("all") == OPT_LEVELS
    assert parse_opt_levels("speed, none,speed") == ("speed", "none")
    assert parse_opt_levels("speed,all") == ("speed", "none", "speed_and_size")
    with pytest.raises(FeatureError, match="unknown opt level 'fast'"):
        parse_opt_levels("fast")


def test_fuzz_refuses_an_unknown_opt_level(capsys):
    assert cli.main(["fuzz", "--opt-level", "o2"]) == 2
    assert "unknown opt level 'o2' (known: none, speed, speed_and_size, all)" in capsys.readouterr().err


def test_a_programs_opt_level_comes_from_its_seed_alone_and_leaves_its_text_as_it_was():
    levels = {}
    for i in range(40):
        seed = program_seed(9, i)
        plain = Generator(GenConfig(opt_levels=("none",))).program(seed)
        drawn = Generator(GenConfig(opt_levels=("none", "speed"))).program(seed)
        assert plain.opt_level == "none"
        assert drawn.opt_level == Generator().program(seed).opt_level  # the same in every process
        setting = "set opt_level=speed\n" if drawn.opt_level == "speed" else ""
        assert drawn.text() == plain.text().replace("test run\n", "test run\n" + setting, 1)
        levels[drawn.opt_level] = levels.get(drawn.opt_level, 0) + 1
    assert levels.get("none", 0) > 10 and levels.get("speed", 0) > 10


@pytest.mark.skipif(not native_available(), reason="needs the native engine")
def test_each_program_is_compiled_at_its_own_opt_level(monkeypatch):
    """A batch mixing opt levels goes to the backend as one module per level (and per verify
    sample: the sampled programs alone are compiled with Cranelift's verifier), compiled with that
    level; the summary counts the programs of each."""
    from clifkit.fuzz import campaign
    from clifkit.native import engine

    loaded = []  # (opt_level flag, Cranelift's verifier on, program numbers in the module)
    real = engine.NativeSession._load_message

    def spy(self):
        msg = real(self)
        names = {f.name.split("_")[0] for f in self.ir or []}
        loaded.append((msg["flags"].get("opt_level", "none"), msg["flags"].get("enable_verifier", "true"), names))
        return msg

    monkeypatch.setattr(engine.NativeSession, "_load_message", spy)
    cfg = campaign.CampaignConfig(4, parse_features("int,control"), "interpreter", "native", ("x86_64",), 10**6,
                                  verify_every=5)
    records = campaign.BatchRunner(cfg).run(range(1, 13), {})
    levels = {r["index"]: r["opt_level"] for r in records}
    drawn = {level: sum(v == level for v in levels.values()) for level in ("none", "speed")}
    assert drawn["none"] and drawn["speed"] and sum(drawn.values()) == 12
    expected: dict = {}
    for index in levels:
        key = (levels[index], "true" if index % 5 == 0 else "false")
        expected.setdefault(key, set()).add(index)
    assert sorted((lv, v, len(n)) for lv, v, n in loaded) == sorted((lv, v, len(i)) for (lv, v), i in expected.items())
    assert {v for _, v, _ in loaded} == {"true", "false"}
    assert all(r["lines"] == 3 and not r["disagreements"] for r in records)


def test_the_verify_sample_alone_compiles_with_cranelifts_verifier():
    from clifkit.fuzz.features import compile_settings, in_verify_sample

    assert [i for i in range(25) if in_verify_sample(i, 10)] == [0, 10, 20]
    assert all(in_verify_sample(i, 1) for i in range(5))
    assert compile_settings("speed", True) == (("opt_level", "speed"),)
    assert compile_settings("none", False) == (("enable_verifier", "false"),)
    assert compile_settings("speed", False) == (("opt_level", "speed"), ("enable_verifier", "false"))


# -- tail calls ------------------------------------------------------------------------------------


def _tail_programs(seed: int, count: int, features: str = "all") -> list:
    gen = Generator(GenConfig(features=parse_features(features)))
    found = []
    for i in range(count):
        program = gen.program(program_seed(seed, i))
        if program.functions[0].signature.call_conv == "tail":
            found.append((i, program))
    return found


def test_some_programs_use_the_tail_convention_and_return_call():
    found = _tail_programs(1, 200)
    assert 20 < len(found) < 100
    ops = {"return_call": 0, "return_call_indirect": 0}
    for _, program in found:
        assert {f.signature.call_conv for f in program.functions} == {"tail"}
        for f in program.functions:
            for inst in f.instructions():
                if inst.opcode.name in ops:
                    ops[inst.opcode.name] += 1
                    sig = f.signatures[f.func_refs[inst.func_ref].signature if inst.func_ref is not None
                                       else inst.sig_ref]
                    assert [r.type for r in sig.returns] == [r.type for r in f.signature.returns]
        tf = parse_text(program.text())
        assert not verify_test_file(tf), program.text()
    assert ops["return_call"] > 10 and ops["return_call_indirect"] > 3


@pytest.mark.skipif(not native_available(), reason="needs the native engine")
def test_tail_programs_agree_natively():
    from clifkit.fuzz import campaign

    indices = [i for i, _ in _tail_programs(6, 120, "int,calls,control")][:12]
    cfg = campaign.CampaignConfig(6, parse_features("int,calls,control"), "interpreter", "native", ("x86_64",),
                                  10**6, verify_every=1)
    records = campaign.BatchRunner(cfg).run(indices, {})
    assert len(records) == 12
    for r in records:
        assert r["lines"] == 3 and not r["skipped"] and not r["disagreements"] and r["error"] is None, r


def test_kept_programs_are_run_tests_expecting_the_reference_results(tmp_path, capsys):
    engine_b = "native" if native_available() else "interpreter"
    status = cli.main(["fuzz", "--seed", "11", "--count", "12", "-j", "1", "--keep", "--engine-b", engine_b,
                       "--out", str(tmp_path)])
    assert status == 0
    kept = sorted(tmp_path.glob("seed11-*-all.clif"))
    assert len(kept) == 12
    text = "".join(p.read_text() for p in kept)
    assert "; print:" not in text and text.count("; run:") == 36 and "== trap " in text
    capsys.readouterr()
    assert cli.main(["test", str(tmp_path)]) == 0
    assert re.fullmatch(r"\d+ passed, 0 failed, 0 skipped", capsys.readouterr().out.splitlines()[-1])


@pytest.mark.skipif(not native_available(), reason="needs the native engine")
def test_a_buckets_first_reproducer_says_its_opt_level(tmp_path, capsys):
    import json

    # A broken reference against the real backend: disagreements at both opt levels.
    status = cli.main(["fuzz", "--seed", "4", "--count", "10", "-j", "1", "--features", "int,control",
                       "--engine-a", "broken-iadd", "--out", str(tmp_path)])
    capsys.readouterr()
    assert status == 1
    report = json.loads((tmp_path / "report.json").read_text())
    firsts = [b["first"] for b in report["buckets"]]
    assert firsts and {f["opt_level"] for f in firsts} <= {"none", "speed"}
    for first in firsts:
        text = open(first["reproducer"]).read()
        assert ("set opt_level=speed\n" in text) == (first["opt_level"] == "speed")


@pytest.mark.skipif(not native_available(), reason="needs the native engine")
@pytest.mark.parametrize("indices", [[3], [3, 4]])
def test_a_module_that_does_not_compile_is_a_compile_error_even_alone(monkeypatch, indices):
    """A batch of one program (`--program I`, `--batch 1`, a last batch of one) whose module
    Cranelift refuses is a compile-error disagreement, as in a larger batch; it was counted as
    skipped, "not run: the interpreter ran out of fuel"."""
    from clifkit.fuzz import campaign
    from clifkit.native import engine

    def refused(self):
        self.generation = self.client.generation
        self.client.loaded = self
        self.load_error = engine.Failed("native compilation failed: thread panicked", internal=True)

    monkeypatch.setattr(engine.NativeSession, "load", refused)
    cfg = campaign.CampaignConfig(4, parse_features("int,control"), "interpreter", "native", ("x86_64",), 10**6,
                                  verify_every=10)
    records = campaign.BatchRunner(cfg).run(indices, {})
    assert [r["index"] for r in records] == indices
    for r in records:
        assert r["skipped"] == 0 and [d["kind"] for d in r["disagreements"]] == ["compile-error"], r


def test_fuzz_refuses_an_output_it_cannot_write_and_an_unknown_engine_before_it_runs(tmp_path, capsys):
    """A --out that is a file, a --report that is a directory, an unknown engine: one error line
    and status 2 before any program runs (they were tracebacks after the campaign, or an error
    after its header line)."""
    afile = tmp_path / "afile"
    afile.write_text("")
    base = ["fuzz", "--seed", "1", "--count", "3", "-j", "1", "--features", "int", "--engine-b", "broken-iadd"]
    for extra, message in ((["--out", str(afile)], f"--out {afile}: it is not a directory"),
                           (["--out", str(afile / "sub")], f"--out {afile / 'sub'}: {afile} is not a directory"),
                           (["--report", str(tmp_path)], f"--report {tmp_path}: it is a directory"),
                           (["--out", str(tmp_path), "--engine-b", "nope"], "no engine named 'nope'"),
                           (["--out", str(tmp_path), "--engine-a", "nope"], "no engine named 'nope'")):
        assert cli.main(base + extra) == 2, extra
        captured = capsys.readouterr()
        assert captured.out == "" and "Traceback" not in captured.err, captured
        assert captured.err.startswith("clifkit fuzz: error: ") and message in captured.err, captured.err
        assert len(captured.err.splitlines()) == 1, captured.err
    assert list(tmp_path.iterdir()) == [afile]


def test_fuzz_says_which_file_it_could_not_write(tmp_path, capsys, monkeypatch):
    """A write that fails only when it happens (a full disk, a read-only mount) ends the campaign
    with one error line and status 2, not a traceback."""
    import builtins

    real = builtins.open

    def failing(path, *args, **kwargs):
        if str(path).endswith(".clif"):
            raise OSError(28, "No space left on device", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", failing)
    status = cli.main(["fuzz", "--seed", "1", "--count", "3", "-j", "1", "--features", "int",
                       "--engine-b", "broken-iadd", "--out", str(tmp_path)])
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err, err
    assert f"clifkit fuzz: error: cannot write {tmp_path}/seed1-00001.clif: No space left on device" in err, err


@pytest.mark.skipif(not native_available(), reason="needs the native engine")
def test_kept_programs_name_every_target_their_expectations_hold_on(tmp_path, capsys):
    """`--keep --target x86_64,s390x`: a kept file names s390x too unless its results depend on
    the byte order, so `clifkit test` checks every backend the campaign ran (it named the first
    target alone)."""
    from support import needs_emulation

    if needs_emulation("s390x").args[0]:
        pytest.skip("needs s390x emulation")
    status = cli.main(["fuzz", "--seed", "4", "--count", "8", "-j", "1", "--keep", "--features", "int,stack",
                       "--target", "x86_64,s390x", "--out", str(tmp_path)])
    assert status == 0
    kept = sorted(tmp_path.glob("seed4-*-all.clif"))
    targets = [re.findall(r"^target (\S+)$", p.read_text(), re.M) for p in kept]
    assert len(kept) == 8 and all(t[0] == "x86_64" and set(t) <= {"x86_64", "s390x"} for t in targets)
    both = sum(t == ["x86_64", "s390x"] for t in targets)
    assert both >= 4, targets
    capsys.readouterr()
    assert cli.main(["test", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"native s390x: +{3 * both} passed", out), out


def test_the_report_names_both_byte_orders_references_apart_from_the_backends():
    """With targets of both byte orders the big-endian reference is a reference, not a backend
    (the report listed it among the backends, and named the little-endian one alone)."""
    import json

    from clifkit.fuzz.campaign import CampaignConfig
    from clifkit.fuzz.driver import Stats
    from clifkit.fuzz.triage import Triage

    cfg = CampaignConfig(1, parse_features("int"), "interpreter", "native", ("x86_64", "aarch64", "s390x"), 10**6)
    cols, refs = cfg.columns()
    report = json.loads(Triage(1, cfg.labels(), refs).json(Stats(), cfg, None))
    assert report["engines"] == {"reference": "interpreter",
                                 "references": ["interpreter (little-endian)", "interpreter (big-endian)"],
                                 "backends": ["x86_64", "aarch64", "s390x"]}


def test_reduce_says_a_file_has_no_run_line_cannot_be_read_or_names_no_engine(tmp_path, capsys):
    """A file with no run line is said to have none (it was "the engines agree"); an unreadable
    file gets one plain line; an unknown engine is a usage error (status 2, as in clifkit fuzz)."""
    with pytest.raises(ReduceError, match="^the file has no run line to reduce$"):
        reduce_text(INCREMENT, "compare", ["interpreter", "broken-iadd"])
    with pytest.raises(ReduceError, match="^the file has no run line to reduce$"):
        reduce_text("", "expect", ["interpreter"])
    missing = tmp_path / "missing.clif"
    assert cli.main(["reduce", "--expect", str(missing)]) == 1
    assert capsys.readouterr().err == f"clifkit reduce: {missing}: cannot read the file: No such file or directory\n"
    binary = tmp_path / "binary.clif"
    binary.write_bytes(b"test run\n\xff\xfe\n")
    assert cli.main(["reduce", "--expect", str(binary)]) == 1
    assert capsys.readouterr().err.startswith(
        f"clifkit reduce: {binary}: {binary}:2:1: error: the file is not UTF-8: byte 0xff cannot be decoded\n")
    path = tmp_path / "t.clif"
    path.write_text(INCREMENT + "; run: %f(1) == 3\n")
    for option in ("--engine-a", "--engine-b"):
        assert cli.main(["reduce", str(path), option, "nope"]) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.startswith("clifkit reduce: error: no engine named 'nope' (known: ")


def test_a_kept_2022_program_says_how_to_run_it(tmp_path, capsys):
    """A program kept by a --cranelift 2022 campaign verifies only by those rules: it says so, as
    a reproducer does (it said nothing, and `clifkit test` refused its tables over heaps)."""
    fuzz(FuzzOptions(seed=9, count=6, out=str(tmp_path), engine_b="interpreter", cranelift="2022", keep=True,
                     features=parse_features("int,heap,table")))
    capsys.readouterr()
    kept = sorted(tmp_path.glob("seed9-*-all.clif"))
    assert len(kept) == 6
    for path in kept:
        assert path.read_text().startswith("; run it with: clifkit test --cranelift 2022 ")
    assert cli.main(["test", "--cranelift", "2022", str(tmp_path)]) == 0
    default = tmp_path / "default"
    fuzz(FuzzOptions(seed=9, count=2, out=str(default), engine_b="interpreter", keep=True))
    assert all(p.read_text().startswith("test interpret\n") for p in default.glob("*.clif"))


def test_an_empty_target_or_opt_level_list_is_refused(capsys):
    """`--target ""` (an unset shell variable) fuzzed the host alone, silently, and `--target ,`
    the same; `--opt-level ""` took the default, where `--opt-level ,` was refused."""
    for option, value, words in (("--target", "", "--target: the list names no target"),
                                 ("--target", ",", "--target: the list names no target"),
                                 ("--opt-level", "", "--opt-level names no opt level")):
        assert cli.main(["fuzz", "--count", "1", option, value]) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err == f"clifkit fuzz: error: {words}\n", captured


def test_reduce_finds_a_failure_on_a_files_later_target(tmp_path, capsys):
    """A file naming several targets: a disagreement on the second one alone was "the engines
    agree" (the engines ran the first); it is reduced there, on that target's engines."""
    text = """test interpret
test run
target s390x
target x86_64

function %f(i64) -> i8 {
    ss0 = explicit_slot 8
block0(v0: i64):
    v1 = iadd_imm v0, 2
    v2 = iadd v1, v0
    stack_store v2, ss0
    v3 = stack_load.i8 ss0
    return v3
}
; run: %f(2) == 6
"""
    # broken-iadd flips bit 0 of the sum: in the low byte, which big-endian s390x does not load.
    result = reduce_text(text, "compare", ["interpreter", "broken-iadd"])
    assert result.text.startswith("; reduced by clifkit reduce: interpreter@x86_64 and broken-iadd@x86_64 disagree")
    assert "; run: %f(" in result.text and "target s390x\ntarget x86_64\n" in result.text
    with pytest.raises(ReduceError, match="the engines agree"):
        reduce_text(text, "compare", ["interpreter@s390x", "broken-iadd@s390x"])
    # --expect on an interpreter keeps to the first target's byte order, as `clifkit test` runs it.
    from clifkit.fuzz.reduce import _columns_to_try

    assert _columns_to_try(text, "<t>", "expect", ["interpreter", "native"]) == [["interpreter", "native"]]
    assert _columns_to_try(text, "<t>", "expect", ["native", "interpreter"])[1] == ["native@x86_64",
                                                                                    "interpreter@x86_64"]
    path = tmp_path / "t.clif"
    path.write_text(text)
    assert cli.main(["reduce", str(path), "--engine-a", "interpreter@x86_64", "--engine-b", "broken-iadd@x86_64"]) == 0
    assert "interpreter@x86_64 and broken-iadd@x86_64 disagree" in capsys.readouterr().out


def test_the_progress_line_is_cleared_before_a_disagreement_is_printed(tmp_path):
    """On a terminal, a disagreement's line was written after the live progress line, on the same
    line ("1/20 programs, ... programs/s tt/seed1-00001.clif: ...")."""
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    tty = Terminal()
    fuzz(FuzzOptions(seed=1, count=6, out=str(tmp_path), engine_b="broken-iadd", features=parse_features("int"),
                     jobs=1), out=tty, err=tty)
    shown = [line.rsplit("\r", 1)[-1].replace("\x1b[K", "") for line in tty.getvalue().split("\n")]
    found = [line for line in shown if "disagreement:" in line]
    assert found and all(line.startswith(str(tmp_path)) for line in found), found


def test_a_target_for_an_engine_that_compiles_nothing_is_ignored_with_a_notice(tmp_path, capsys):
    """--target names the native engine's backends: with a broken interpreter under test it was
    dropped without a word (a campaign the user believed big-endian ran little-endian)."""
    argv = ["fuzz", "--seed", "1", "--count", "1", "-j", "1", "--features", "int", "--out", str(tmp_path)]
    assert cli.main(argv + ["--engine-b", "interpreter", "--target", "s390x"]) == 0
    err = capsys.readouterr().err
    assert err == ("clifkit fuzz: --target s390x ignored: it names the native engine's backends, and "
                   "interpreter compiles nothing\n"), err
    cli.main(argv + ["--engine-b", "interpreter"])
    assert capsys.readouterr().err == ""


def test_a_reproducer_of_other_engines_says_how_to_reduce_it(tmp_path, capsys):
    """`clifkit reduce` of a broken-iadd reproducer compares the interpreter with native, which
    agree ("the engines agree"): the reproducer names the engines to reduce it with."""
    fuzz(FuzzOptions(seed=1, count=15, out=str(tmp_path), engine_b="broken-iadd", features=parse_features("int")))
    capsys.readouterr()
    path = sorted(tmp_path.glob("seed1-?????.clif"))[0]
    advice = "; reduce it with: clifkit reduce --engine-a interpreter --engine-b broken-iadd\n"
    assert advice in path.read_text()
    assert cli.main(["reduce", *advice.split(": ", 1)[1].split()[2:], str(path), "-o", str(tmp_path / "r.clif")]) == 0
    default = tmp_path / "default"
    fuzz(FuzzOptions(seed=4, count=3, out=str(default), engine_a="broken-iadd", features=parse_features("int")))
    files = list(default.glob("*.clif"))
    assert files and all("--engine-a broken-iadd --engine-b native\n" in p.read_text() for p in files)


@pytest.mark.skipif(not native_available(), reason="needs the native engine")
def test_a_program_rerun_compiles_with_cranelifts_verifier_as_its_reproducer(tmp_path, capsys, monkeypatch):
    """`--program I` reruns what a reproducer names, whether or not I was in the campaign's verify
    sample (its command does not say --verify-every): it is verified and compiled with Cranelift's
    verifier, as the reproducer is, so a compile error the sample found is found again."""
    from clifkit.native import engine

    flags = []
    real = engine.NativeSession._load_message

    def spy(self):
        msg = real(self)
        flags.append(msg["flags"].get("enable_verifier", "true"))
        return msg

    monkeypatch.setattr(engine.NativeSession, "_load_message", spy)
    argv = ["fuzz", "--seed", "4", "--features", "int", "-j", "1", "--out", str(tmp_path)]
    assert cli.main(argv + ["--program", "3", "--verify-every", "5"]) == 0
    assert flags == ["true"]
    flags.clear()
    assert cli.main(argv + ["--count", "3", "--verify-every", "5", "--opt-level", "none"]) == 0
    assert flags.count("true") == 1 and "false" in flags  # programs 1, 2 apart from the sampled 0


def test_run_commands_are_the_run_lines_the_reader_reads():
    """A program that runs from its IR gives the engines its run lines as the generator made them
    (`Program.run_commands`): the same commands, columns and all, as reading `directives_text`
    gives, and arguments that bind to the same values (vectors, floats, i128, heaps' vmctx); its
    heap and table directives likewise (`Program.heap_directives`)."""
    from clifkit.fuzz.compare import _bound
    from clifkit.reader.directives import RUN_KINDS, bind, directives_in, read

    for features in ("all", "int,i128,simd,float", "int,heap,table"):
        gen = Generator(GenConfig(features=parse_features(features)))
        for i in range(40):
            program = gen.program(program_seed(11, i))
            read_back = [read(d) for d in directives_in(program.directives_text(), "<p>") if d.kind in RUN_KINDS]
            made = program.run_commands("<p>")
            assert [cmd for cmd, _ in made] == read_back
            implicit = bool(program.heaps)  # (the harness passes the vmctx when there are directives)
            for cmd, values in made:
                expected, got = bind(cmd, program.main, implicit), _bound(cmd, program.main, values, implicit)
                assert (got.command, got.args, got.arg_types, got.return_types, got.implicit_vmctx) == \
                    (expected.command, expected.args, expected.arg_types, expected.return_types, expected.implicit_vmctx)
            assert [line for line in program.directives_text().splitlines() if line.startswith("; print: ")] == [
                cmd.source_line for cmd, _ in made] == [program.run_line(args) for args in program.runs]
            others = [d for d in directives_in(program.directives_text(), "<p>") if d.kind not in RUN_KINDS]
            assert [(d, d.parsed, d.read, d.error, d.word_loc) for d in program.heap_directives("<p>")] == \
                [(d, d.parsed, d.read, d.error, d.word_loc) for d in others]


@pytest.mark.parametrize("engine_b", ["native", "broken-iadd"])
def test_a_reference_out_of_fuel_is_the_programs_fault_not_a_skip(tmp_path, capsys, engine_b):
    """A run line on which the reference runs out of fuel is not given to the backend; the
    program is then one the fuzzer got wrong (its programs are bounded: the fuel is a safety
    net), with status 1 and an -error.clif, as docs/fuzzing.md says. It was counted as
    skipped by an engine (rule engine-skip), and the campaign passed."""
    if engine_b == "native" and not native_available():
        pytest.skip("needs the native engine")
    status = cli.main(["fuzz", "--seed", "30", "--count", "3", "-j", "1", "--fuel", "1", "--features", "int",
                       "--engine-b", engine_b, "--out", str(tmp_path), "-v"])
    out = capsys.readouterr().out
    assert status == 1, out
    assert out.count("ran out of fuel") >= 3 and "programs the fuzzer got wrong: 3" in out, out
    assert sorted(p.name for p in tmp_path.glob("*-error.clif")) == [f"seed30-0000{i}-error.clif" for i in range(3)]


def test_a_batch_renames_copies_of_its_programs_functions():
    """The native column's module renames each program's functions apart (``%p3_main``) on
    copies: every other field is the original's, the calls name the renamed callees, and the
    program keeps its own names; a run line calls a renamed copy of its function."""
    import dataclasses

    from clifkit.fuzz.campaign import _renamed_bound, _renamed_functions
    from clifkit.reader.directives import BoundRun, parse_directive_line

    program = Generator().program(program_seed(1, 4))
    functions = program.functions
    before = [(f.name, {n: d.name.text for n, d in f.func_refs.items()}) for f in functions]
    copies = _renamed_functions(functions, 3)
    for f, c in zip(functions, copies):
        assert c is not f and c.name == "%p3_" + f.name[1:]
        for fld in dataclasses.fields(f):
            if fld.name not in ("name", "func_refs"):
                assert getattr(c, fld.name) is getattr(f, fld.name), fld.name
        for n, d in f.func_refs.items():
            assert c.func_refs[n].name.text == "%p3_" + d.name.text[1:]
            assert c.func_refs[n].signature is d.signature
    assert [(f.name, {n: d.name.text for n, d in f.func_refs.items()}) for f in functions] == before
    bound = BoundRun(parse_directive_line("; print: %main()", "<test>", 1), functions[-1], [1, 2], [], [])
    renamed: dict = {}
    again = _renamed_bound(bound, 3, renamed)
    assert again.function.name == "%p3_" + functions[-1].name[1:] and bound.function is functions[-1]
    assert again.args == bound.args and again.command is bound.command
    assert _renamed_bound(bound, 3, renamed).function is again.function


def test_the_fuzz_benchmark_long_run_rates_a_short_last_step_by_its_own_programs(capsys, monkeypatch):
    """--long N with N not a multiple of the step: the last step's rate divides the programs it ran
    (once divided the whole step's count, which overstated it)."""
    pytest.importorskip("cranelift")
    monkeypatch.syspath_prepend(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from benchmarks.fuzz import long_run
    from clifkit.fuzz.features import DEFAULT
    from clifkit.native.host import host_arch

    rows = long_run(host_arch(), 3, 1, DEFAULT, step=2)
    assert [(r[0], r[4]) for r in rows] == [(2, 2), (3, 1)]
    for _, rate, _, cpu, programs in rows:
        assert rate == pytest.approx(programs / cpu)
    assert "first 2 programs" in capsys.readouterr().out
