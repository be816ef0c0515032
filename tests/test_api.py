"""The Python API (`clifkit.api`, re-exported from `clifkit`), and the examples of docs/api.md."""

from __future__ import annotations

import doctest
import math
import os
import re
import struct

import pytest

import clifkit
from clifkit import api
from support import needs_native

DOCS = os.path.join(os.path.dirname(__file__), "..", "docs", "api.md")

FUNCS = """
function %id_f16(f16) -> f16 {
block0(v0: f16):
    return v0
}

function %id_f128(f128) -> f128 {
block0(v0: f128):
    return v0
}

function %id_i128(i128) -> i128 {
block0(v0: i128):
    return v0
}

function %id_f32x4(f32x4) -> f32x4 {
block0(v0: f32x4):
    return v0
}

function %nothing() {
block0:
    return
}

function %three() -> i8, i16, i64 {
block0:
    v0 = iconst.i8 -1
    v1 = iconst.i16 2
    v2 = iconst.i64 3
    return v0, v1, v2
}
"""


def test_docs_examples():
    """Every example in docs/api.md runs and shows what it says."""
    result = doctest.testfile(os.path.abspath(DOCS), module_relative=False, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 30
    assert result.failed == 0


def test_everything_is_exported_from_the_package():
    for name in clifkit.__all__:
        assert getattr(clifkit, name) is getattr(api, name)
    assert set(clifkit.__all__) == set(api.__all__)
    assert "load" in dir(clifkit)
    with pytest.raises(AttributeError):
        clifkit.no_such_thing  # noqa: B018


@pytest.fixture(scope="module")
def prog():
    with clifkit.load(FUNCS) as p:
        yield p


def test_float_conversions(prog):
    assert prog.call("%id_f16", 1.5) == 1.5
    assert prog.call("%id_f16", 0.1) == struct.unpack("<e", struct.pack("<e", 0.1))[0]  # rounded like a cast
    assert prog.call("%id_f16", "0x1.8p1") == 3.0
    assert prog.call("%id_f16", 65504) == 65504.0
    with pytest.raises(ValueError, match="too large for f16"):
        prog.call("%id_f16", 1e6)
    assert prog.call("%id_f128", 0.1) == 0.1  # f64 values fit f128 exactly
    assert prog.call("%id_f128", "0x1.0000000000000000000000000001p0", raw=False) == 1.0  # nearest float
    from clifkit.ir.types import F128

    bits = api.to_bits("0x1.0000000000000000000000000001p0", F128)
    assert bits == (0x3FFF << 112) | 1
    assert prog.call("%id_f128", bits, raw=True) == bits  # raw: lossless
    assert math.isinf(prog.call("%id_f128", float("-inf"))) and prog.call("%id_f128", -math.inf) < 0
    assert math.isnan(prog.call("%id_f128", math.nan))
    assert math.copysign(1.0, prog.call("%id_f128", -0.0)) == -1.0
    with pytest.raises(ValueError, match="not exactly representable"):
        prog.call("%id_f16", "0x1.0001p0")
    with pytest.raises(TypeError, match="expected a float"):
        prog.call("%id_f16", [1.0])


def test_int_and_vector_conversions(prog):
    assert prog.call("%id_i128", -1) == -1
    assert prog.call("%id_i128", (1 << 128) - 1) == -1
    assert prog.call("%id_i128", -1, raw=False) == prog.call("%id_i128", (1 << 128) - 1)
    assert prog.call("%id_i128", (1 << 127) - 1) == (1 << 127) - 1
    with pytest.raises(ValueError, match="does not fit in i128"):
        prog.call("%id_i128", 1 << 128)
    assert prog.call("%id_f32x4", (1.0, -2.5, "Inf", 0)) == (1.0, -2.5, math.inf, 0.0)
    whole = prog.call("%id_f32x4", (0x3F800000, 0, 0, 0), raw=True)
    assert whole == (0x3F800000, 0, 0, 0)
    assert prog.call("%id_f32x4", 0x3F800000) == (1.0, 0.0, 0.0, 0.0)  # one int: the whole vector
    with pytest.raises(ValueError, match="has 4 lanes, but 3 are given"):
        prog.call("%id_f32x4", (1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="lane 1 of argument 1 of %id_f32x4"):
        prog.call("%id_f32x4", (1.0, "1.1", 3.0, 4.0))
    with pytest.raises(ValueError, match="is not a 32-bit pattern"):
        prog.call("%id_f32x4", (-1, 0, 0, 0), raw=True)


def test_result_shapes(prog):
    assert prog.call("%nothing") is None
    assert prog.call("%three") == (-1, 2, 3)
    assert prog.call("%three", raw=True) == (0xFF, 2, 3)


def test_unknown_functions_and_closed_programs():
    p = clifkit.load(FUNCS)
    with pytest.raises(KeyError, match="no function named %nope"):
        p.call("nope")
    p.close()
    p.close()  # closing twice is fine
    with pytest.raises(ValueError, match="closed"):
        p.call("%nothing")


def test_unknown_engine():
    with pytest.raises(clifkit.EngineError, match="no engine named warp") as e:
        clifkit.load(FUNCS, engine="warp")
    assert e.value.kind == "unsupported"


def test_unsupported_is_an_engine_error(monkeypatch):
    from clifkit.runtest import engines
    from clifkit import engine as engine_interface

    class Refusing(engine_interface.Engine):
        def open(self, test_file, options, target=None, source=None):
            class S(engine_interface.Session):
                def call(self, bound, env=None):
                    return engine_interface.Skipped("opcode 'frobnicate' is not supported")

            return S()

    monkeypatch.setitem(engines.ENGINES, "refusing", Refusing())
    assert "refusing" in clifkit.engines()
    with clifkit.load(FUNCS, engine="refusing") as p:
        with pytest.raises(clifkit.EngineError, match="frobnicate") as e:
            p.call("%nothing")
    assert e.value.kind == "unsupported"


def test_sources(tmp_path):
    path = tmp_path / "f.clif"
    path.write_text(FUNCS)
    for source in (path, str(path), FUNCS, clifkit.parse(FUNCS)):
        assert clifkit.call(source, "%three") == (-1, 2, 3)
    with pytest.raises(TypeError):
        clifkit.load(42)  # type: ignore[arg-type]
    with pytest.raises(clifkit.ClifError, match="cannot read file"):
        clifkit.parse_file(tmp_path / "missing.clif")
    # One word that is neither a file nor CLIF: the error says it was read as text, and why.
    missing = str(tmp_path / "missing.txt")
    with pytest.raises(clifkit.ClifError, match=f"read as CLIF text, since no file '{re.escape(missing)}' exists"):
        clifkit.load(missing)
    with pytest.raises(clifkit.ClifError) as e:
        clifkit.load("function %f() {")
    assert "read as CLIF text" not in str(e.value)


def test_parse_function_wants_exactly_one():
    with pytest.raises(clifkit.ClifError, match="expected one function, found 6"):
        clifkit.parse_function(FUNCS)


def test_to_text_and_verify_take_functions_and_files():
    tf = clifkit.parse(FUNCS)
    text = clifkit.to_text(tf)
    assert clifkit.to_text(clifkit.parse(text)) == text
    assert clifkit.verify(tf) == []
    assert clifkit.verify(tf.functions[0].function) == []
    with pytest.raises(TypeError):
        clifkit.to_text("function")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        clifkit.verify(3)  # type: ignore[arg-type]


def test_heap_environment_tables_and_errors():
    f = clifkit.parse_function("""
function %t(i64 vmctx) -> i64 {
block0(v0: i64):
    return v0
}""")
    env = clifkit.heap_environment(f, "heap: dynamic, size=0x100, ptr=vmctx+0, bound=vmctx+8, max=0x1000",
                                   "table: elements=4, element_size=8, ptr=vmctx+16, bound=vmctx+24")
    assert [(h.style, h.size, h.bound_value) for h in env.heaps] == [("dynamic", 0x100, 0x100), ("table", 32, 4)]
    with pytest.raises(ValueError, match="at least one"):
        clifkit.heap_environment(f)
    g = clifkit.parse_function("function %g(i32) -> i32 {\nblock0(v0: i32):\n    return v0\n}")
    with pytest.raises(clifkit.ClifError, match="first parameter must be `i64 vmctx`"):
        clifkit.heap_environment(g, "static, size=0x100, ptr=vmctx+0")


def test_run_tests_with_options(tmp_path):
    (tmp_path / "a.clif").write_text("test interpret\n" + FUNCS + "; run: %three() == [-1, 2, 3]\n; run: %three() == [1, 2, 3]\n")
    run = clifkit.run_tests(tmp_path)
    assert (run.passed, run.failed, run.skipped) == (1, 1, 0)
    assert run.summary == "1 passed, 1 failed, 0 skipped"
    run = clifkit.run_tests(tmp_path, fail_fast=True, keyword="three")
    assert run.failed == 1 and run.stopped
    run = clifkit.run_tests(tmp_path, keyword="[-1")
    assert run.summary == "0 passed, 0 failed, 0 skipped" and run.deselected == 2
    with pytest.raises(ValueError):
        clifkit.run_tests(tmp_path, keyword="a and")


def test_trap_values():
    t = clifkit.Trap("heap_oob", "load of 4 bytes at 0x1000")
    assert t == clifkit.Trap("heap_oob") and hash(t) == hash(clifkit.Trap("heap_oob"))
    assert str(t) == "trap heap_oob" and repr(t) == "Trap('heap_oob')"
    assert t != clifkit.Trap("int_divz")


def test_run_tests_takes_engine_compare_and_timeout(tmp_path):
    from clifkit.commands import native_unavailable

    spin = tmp_path / "spin.clif"
    spin.write_text("test interpret\n\nfunction %spin() -> i32 {\nblock0:\n    jump block1\nblock1:\n    jump block1\n}\n; run: %spin() == 0\n")
    run = clifkit.run_tests(spin, timeout=0.3)
    assert run.failed == 1 and "timed out" in run.results[0].runs[0].message
    run = clifkit.run_tests(spin, engine="native")
    assert (run.passed, run.failed) == (0, 0)  # a `test interpret` file has nothing for the native engine
    with pytest.raises(ValueError, match="engine='jit'"):
        clifkit.run_tests(spin, engine="jit")
    with pytest.raises(ValueError, match="timeout=0"):
        clifkit.run_tests(spin, timeout=0)
    if native_unavailable() is None:
        deep = tmp_path / "deep.clif"
        deep.write_text("test run\n\nfunction %depth(i32) -> i32 {\n    fn0 = %depth(i32) -> i32\nblock0(v0: i32):\n"
                        "    brif v0, block1, block2\nblock1:\n    v1 = iadd_imm v0, -1\n    v2 = call fn0(v1)\n"
                        "    v3 = iadd_imm v2, 1\n    return v3\nblock2:\n    return v0\n}\n; run: %depth(20) == 20\n")
        assert clifkit.run_tests(deep, engine="native", max_call_depth=5).failed == 0
        compared = clifkit.run_tests(deep, engine="native", max_call_depth=5, compare=True)
        assert compared.failed == 1
        assert any("disagree" in (r.message or "") for f in compared.results for r in f.runs)


def test_a_call_without_env_takes_the_files_directives_as_its_run_lines_do():
    # The declarations alone imply a 16 KiB dynamic heap; the directive asks for 0x100 bytes, and
    # `clifkit test` runs the line with those: the API must not silently use a larger heap.
    text = """
function %f(i64 vmctx, i64) -> i32, i64 {
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
    gv2 = load.i64 notrap aligned gv0+8
    heap0 = dynamic gv1, bound gv2, offset_guard 0, index_type i64
block0(v0: i64, v1: i64):
    v2 = heap_load.i32 heap0 v1
    v3 = global_value.i64 gv2
    return v2, v3
}
; heap: dynamic, size=0x100, ptr=vmctx+0, bound=vmctx+8
; run: %f(0xfd) == trap heap_oob
"""
    with clifkit.load(text) as p:
        assert p.call("%f", 0xFC) == (0, 0x100)
        assert p.call("%f", 0xFD) == clifkit.Trap("heap_oob")
        assert p.call("%f", 0xFD, env="dynamic, size=0x4000, ptr=vmctx+0, bound=vmctx+8") == (0, 0x4000)
    with clifkit.load(text.split("; heap:")[0]) as p:
        assert p.call("%f", 0xFD) == (0, 0x4000)


def test_arguments_of_the_wrong_type_or_value_are_refused_up_front(tmp_path):
    # As `clifkit test` refuses --fuel 0 or -j 0: a clear error naming the argument, not an
    # "internal error" of the engine at the first call, nor every run line failing.
    for kwargs, error, words in [
        (dict(fuel=0), ValueError, "fuel=0: expected a positive number of instructions"),
        (dict(fuel="many"), TypeError, "fuel='many': expected a whole number of instructions"),
        (dict(max_call_depth=-1), ValueError, "max_call_depth=-1: expected a positive number of calls"),
        (dict(timeout="1"), TypeError, "timeout='1': expected a number of seconds"),
        (dict(target=64), TypeError, "target=64"),
        (dict(target="s390"), ValueError, "target='s390': unknown target architecture 's390': Cranelift's are x86_64"),
        (dict(target=""), ValueError, "unknown target architecture ''"),
    ]:
        with pytest.raises(error) as e:
            clifkit.load(FUNCS, **kwargs)
        assert words in str(e.value)
    assert clifkit.load(FUNCS, target="s390x has_mie2").call("%three") == (-1, 2, 3)
    with clifkit.load(FUNCS, fuel=10, timeout=2.5) as p:
        assert p.call("%three") == (-1, 2, 3)
        with pytest.raises(TypeError, match=r"a function is named by a str \("):
            p.call(None)
        with pytest.raises(TypeError, match="heap_environment takes a Function"):
            clifkit.heap_environment("%three", "static, size=0x100, ptr=vmctx+0")
    heap = clifkit.load("function %h(i64 vmctx) -> i64 {\nblock0(v0: i64):\n    v1 = load.i64 v0+8\n    return v1\n}\n")
    with pytest.raises(ValueError, match="needs at least one heap or table directive"):
        heap.call("%h", env=[])  # was "env must be an Environment ... not list"
    with pytest.raises(TypeError, match="a directive is text"):
        heap.call("%h", env=["static, size=0x10, ptr=vmctx+0", 16])
    assert heap.call("%h", env=("static, size=0x10, ptr=vmctx+0, bound=vmctx+8",)) == 16
    with pytest.raises(TypeError, match="parse takes CLIF text"):
        clifkit.parse(FUNCS.encode())
    (tmp_path / "a.clif").write_text("test interpret\n" + FUNCS + "; run: %three() == [-1, 2, 3]\n")
    for kwargs, error, words in [
        (dict(fuel=-5), ValueError, "fuel=-5"),
        (dict(jobs="2"), TypeError, "jobs='2': expected a whole number of processes"),
        (dict(jobs=0), ValueError, "jobs=0"),
        (dict(keyword=3), TypeError, "keyword=3: expected a -k expression"),
    ]:
        with pytest.raises(error, match=words):
            clifkit.run_tests(tmp_path, **kwargs)
    assert clifkit.run_tests(tmp_path, jobs=2, fuel=100).summary == "1 passed, 0 failed, 0 skipped"


@needs_native
def test_a_native_crash_of_a_call_names_no_run_line():
    text = """function %deref(i64) -> i64 {
block0(v0: i64):
    v1 = load.i64 v0
    return v1
}
"""
    with clifkit.load(text, engine="native") as program:
        with pytest.raises(clifkit.EngineError) as e:
            program.call("%deref", 0)
    message = str(e.value)
    assert message.startswith("crashed with SIGSEGV at address 0x0") and message.rstrip().endswith("in %deref")
    assert "run line" not in message
