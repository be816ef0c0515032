"""The engine table: one list of engines by module path, and an interface module that imports no
engine, so that engines and the harness do not import each other."""

from __future__ import annotations

import subprocess
import sys

from clifkit.runtest import engines as registry
from clifkit.engine import Engine


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_the_interface_and_the_table_import_no_engine():
    mods = _modules_after("import clifkit.engine, clifkit.runtest.engines")
    assert not {"clifkit.interpreter", "clifkit.interpreter.engine", "clifkit.native.engine"} & mods


def test_the_native_engine_does_not_import_the_harness_engines():
    mods = _modules_after("import clifkit.native.engine")
    assert not {m for m in mods if m.startswith("clifkit.runtest")}


def test_each_listed_engine_loads_under_its_name():
    for name in registry.ENGINE_PATHS:
        if name in registry.ENGINES:  # absent only when its module cannot be imported here
            engine = registry.ENGINES[name]
            assert isinstance(engine, Engine) and engine.name == name


def test_an_engine_whose_module_is_missing_is_absent_and_a_deleted_one_stays_deleted():
    table = registry._Engines({"interpreter": "clifkit.interpreter.engine:InterpreterEngine",
                               "ghost": "clifkit.no_such_module:Ghost"})
    assert "ghost" not in table and list(table) == ["interpreter"]
    del table["interpreter"]
    assert "interpreter" not in table and len(table) == 0


def test_the_fuzzer_names_the_table_engines_and_its_mutants():
    from clifkit.fuzz.engines import EXTRA_ENGINES, engine_names

    assert engine_names() == list(registry.ENGINES) + list(EXTRA_ENGINES)
