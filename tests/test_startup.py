"""Start-up stays lean: what `clifkit --version` and `clifkit test` on an interpreter-only file
import (module sets, not times: timed goals live in benchmarks/)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import clifkit

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "integers.clif"


def imported_after(argv: list[str]) -> set[str]:
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "from clifkit.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(' '.join(sorted(set(sys.modules) - before)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.strip().splitlines()[-1].split())


def test_version_imports_only_the_command_line_module():
    assert {m for m in imported_after(["--version"]) if m.startswith("clifkit")} == {"clifkit", "clifkit.cli"}
    assert "argparse" not in imported_after(["--version"])


def test_an_interpreter_only_file_leaves_the_native_engine_and_the_pool_alone(tmp_path):
    # The examples are run tests of every engine: keep only their `test interpret` line.
    text = "".join(line for line in EXAMPLE.read_text().splitlines(True)
                   if not line.startswith(("test run", "target ")))
    only = tmp_path / "integers.clif"
    only.write_text(text)
    mods = imported_after(["test", str(only)])
    assert "clifkit.interpreter" in mods
    assert not {"clifkit.native.engine", "clifkit.fuzz", "multiprocessing", "concurrent.futures"} & mods
    # Integer code needs neither the float, vector nor heap families (loaded on first need).
    assert not {"clifkit.interpreter.softfloat", "clifkit.interpreter.float_ops", "clifkit.interpreter.vector_ops",
                "clifkit.interpreter.heap_ops"} & mods



def test_a_small_integer_file_imports_only_what_it_uses(tmp_path):
    # No loop, memory, heap, proof-carrying code, `test cat`/`test verifier`, second file or
    # `clifkit run`: none of the modules that serve them.
    small = tmp_path / "small.clif"
    small.write_text("test interpret\nfunction %add(i32, i32) -> i32 {\nblock0(v0: i32, v1: i32):\n"
                     "    v2 = iadd v0, v1\n    return v2\n}\n; run: %add(1, 2) == 3\n")
    mods = imported_after(["test", str(small)])
    assert "clifkit.interpreter.compiler" in mods
    assert not {"clifkit.commands", "clifkit.runtest.parallel", "clifkit.runtest.static_tests",
                "clifkit.runtest.filecheck", "clifkit.runtest.inferred", "clifkit.environment.layout",
                "clifkit.environment.reservations", "clifkit.interpreter.heaps", "clifkit.interpreter.memory_ops",
                "clifkit.interpreter.counted_loops", "clifkit.interpreter.float_repr", "clifkit.interpreter.tail_groups",
                "clifkit.ir.pcc", "clifkit.reader.facts", "clifkit.ir.entities", "clifkit.ir.float_values",
                "clifkit.interpreter.ranges", "clifkit.interpreter.bit_ops", "clifkit.runtest.keyword_expr",
                "clifkit.runtest.rerun", "clifkit.runtest.unparsed", "clifkit.runtest.segments", "clifkit.file_commands",
                "clifkit.verifier.preamble",
                "shutil"} & mods
    # Annotations alone use `typing` (`TYPE_CHECKING = False` guards); calls, loops, preambles and
    # immediates bring their own parts of the compiler, the reader and the verifier.
    assert not {"typing", "clifkit.verifier.fields", "clifkit.reader.declarations", "clifkit.interpreter.compiler_calls",
                "clifkit.interpreter.compiler_loops", "clifkit.reader.rare_formats"} & mods


# Every clifkit module `clifkit test` imports for the start-up benchmark's file (one `test
# interpret` function, one run line: benchmarks/startup.py). Each costs every run the compile of
# its source (issue 16: the whole start-up is under 150 ms), so a module joins this path on
# purpose: make it lazy, or add it here with the reason in its commit.
STARTUP_PATH = {
    "clifkit", "clifkit.cli", "clifkit.arguments", "clifkit.limits", "clifkit.dialect", "clifkit.diagnostics",
    "clifkit.lazy",  # (one small function: what the reader and the values import on first need, without an
    # import statement run on every call)
    "clifkit.engine", "clifkit.environment", "clifkit.environment.byteorder",
    "clifkit.ir", "clifkit.ir.formats", "clifkit.ir.function", "clifkit.ir.immediates", "clifkit.ir.libcalls",
    "clifkit.ir.numbers", "clifkit.ir.settings", "clifkit.ir.arch",
    "clifkit.ir.opcodes", "clifkit.ir.types", "clifkit.ir.values",
    "clifkit.reader", "clifkit.reader.cursor", "clifkit.reader.directives", "clifkit.reader.instructions",
    "clifkit.reader.lexer", "clifkit.reader.parser",
    "clifkit.verifier", "clifkit.verifier.common", "clifkit.verifier.core", "clifkit.verifier.directives",
    "clifkit.verifier.insts",
    "clifkit.interpreter", "clifkit.interpreter.compiler", "clifkit.interpreter.control",
    "clifkit.interpreter.engine", "clifkit.interpreter.integer_ops", "clifkit.interpreter.machine",
    "clifkit.interpreter.memory", "clifkit.interpreter.registry",
    "clifkit.runtest", "clifkit.runtest.command", "clifkit.runtest.console", "clifkit.runtest.engines",
    "clifkit.runtest.execute", "clifkit.runtest.files", "clifkit.runtest.interrupts", "clifkit.runtest.plans",
    "clifkit.runtest.results", "clifkit.runtest.runner", "clifkit.runtest.select",
    "clifkit.runtest.summary",
}  # fmt: skip


def test_the_startup_file_imports_exactly_the_startup_path(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent))
    from benchmarks.startup import SMALL_FILE

    small = tmp_path / "small.clif"
    small.write_text(SMALL_FILE)
    mods = {m for m in imported_after(["test", "--color", "never", str(small)]) if m.startswith("clifkit")}
    assert sorted(mods - STARTUP_PATH) == []  # new on the path: lazy, or listed above on purpose
    assert sorted(STARTUP_PATH - mods) == []  # gone from the path: take it off the list


def test_the_integer_families_load_without_the_memory_and_float_ones(tmp_path):
    # Bitwise, division and overflow lowerings are found first for opcodes of integer type.
    ints = tmp_path / "ints.clif"
    ints.write_text("test interpret\nfunction %f(i32, i32) -> i32, i8 {\nblock0(v0: i32, v1: i32):\n"
                    "    v2 = band v0, v1\n    v3 = sdiv v2, v1\n    v4, v5 = uadd_overflow v3, v0\n"
                    "    return v4, v5\n}\n; run: %f(7, 3) == [8, 0]\n")
    mods = imported_after(["test", str(ints)])
    assert {"clifkit.interpreter.bit_ops", "clifkit.interpreter.division_ops",
            "clifkit.interpreter.overflow_ops"} <= mods
    assert not {"clifkit.interpreter.memory_ops", "clifkit.interpreter.float_ops",
                "clifkit.interpreter.softfloat"} & mods


def test_help_is_wrapped_to_the_terminal_width_without_shutil():
    # argparse asks shutil for the width; clifkit's formatter works it out the same way.
    def help_lines(columns: str) -> list[str]:
        env = dict(os.environ, COLUMNS=columns)
        done = subprocess.run([sys.executable, "-c", "import sys; from clifkit.cli import main; sys.exit(main())",
                               "test", "--help"], capture_output=True, text=True, env=env, check=True)
        return done.stdout.splitlines()

    assert max(map(len, help_lines("60"))) <= 58 < max(map(len, help_lines("200")))


MEMORY = """
function %f(i64) -> i64 {
    ss0 = explicit_slot 8
block0(v0: i64):
    v1 = stack_addr.i64 ss0
    store v0, v1
    v2 = load.i64 v1+0
    v3 = iadd_imm v2, 1
    return v3
}
"""


def test_the_memory_family_loads_on_first_need():
    code = (
        "import sys\n"
        "from clifkit.interpreter import Interpreter\n"
        "from clifkit.reader import parse_text\n"
        "assert 'clifkit.interpreter.memory_ops' not in sys.modules\n"
        f"it = Interpreter([d.function for d in parse_text({MEMORY!r}).functions])\n"
        "print(it.call('%f', [41]), 'clifkit.interpreter.float_ops' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["[42]", "False"]  # found in the memory family, before the float one was tried

LAZY = """
function %f(f64, i32x4) -> f64, i32 {
block0(v0: f64, v1: i32x4):
    v2 = fadd v0, v0
    v3 = iadd v1, v1
    v4 = extractlane v3, 1
    return v2, v4
}
"""


def test_families_load_on_first_need():
    # In a fresh process: the float and vector lowerings are found although the package
    # did not import their families (the vector iadd must not take the scalar lowering).
    code = (
        "import sys\n"
        "from clifkit.interpreter import Interpreter\n"
        "from clifkit.reader import parse_text\n"
        "assert 'clifkit.interpreter.vector_ops' not in sys.modules\n"
        f"it = Interpreter([d.function for d in parse_text({LAZY!r}).functions])\n"
        "print(it.call('%f', [0x3ff8000000000000, (1, 0x80000001, 3, 4)]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["[4613937818241073152,", "2]"]  # 1.5 + 1.5 = 3.0; lane 1 wraps


def test_the_startup_benchmark_reads_pythons_bytecode_and_compiles_clifkit_from_source(monkeypatch, tmp_path):
    # As on a machine that sets it for every process: the fill run must write bytecode all the same.
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent))
    from benchmarks.startup import Startup

    package = str(Path(clifkit.__file__).resolve().parent)
    bench = Startup(str(tmp_path))
    bench.fill()
    for _ in range(2):  # the second timed run finds no bytecode of clifkit's that the first wrote
        verbose = bench.run(("-v",)).stderr
        # `python -v` says where each module's code object came from: its bytecode (a quoted .pyc
        # path) or its source.
        origins = re.findall(r"^# code object from '?(.*?)(\.pyc|\.py)'?$", verbose, re.M)
        source = [path for path, kind in origins if kind == ".py"]
        bytecode = [path for path, kind in origins if kind == ".pyc"]
        assert source and all(path.startswith(package) for path in source)
        assert any("argparse" in path for path in bytecode)
        assert all(path.startswith(bench.prefix) and package not in path for path in bytecode)
        assert not list(Path(bench.ours).rglob("*.pyc"))
