"""clifkit: a toolkit for Cranelift IR (CLIF).

Read, print and verify CLIF; interpret it exactly; run its `; run:` tests with
heaps, tables and a vmctx environment. The Python API (`clifkit.api`, see
``docs/api.md``) is available from this package directly::

    import clifkit
    prog = clifkit.load("function %add(i32, i32) -> i32 { ... }")
    prog.call("%add", 1, 2)

Its names are loaded on first use, so that ``import clifkit`` (which the
pytest plugin and the command line do) stays cheap.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not imported from typing: `clifkit --version` should import next to nothing

__version__ = "0.1.0"

__all__ = [
    "ClifError",
    "Diagnostic",
    "EngineError",
    "Environment",
    "Function",
    "Program",
    "TestFile",
    "TestRun",
    "Trap",
    "call",
    "engines",
    "heap_environment",
    "load",
    "parse",
    "parse_file",
    "parse_function",
    "run_tests",
    "to_text",
    "verify",
]

if TYPE_CHECKING:  # for type checkers and IDEs: the names as `clifkit.api` defines them
    from .api import (  # noqa: F401
        ClifError,
        Diagnostic,
        EngineError,
        Environment,
        Function,
        Program,
        TestFile,
        TestRun,
        Trap,
        call,
        engines,
        heap_environment,
        load,
        parse,
        parse_file,
        parse_function,
        run_tests,
        to_text,
        verify,
    )


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import api

        value = getattr(api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'clifkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
