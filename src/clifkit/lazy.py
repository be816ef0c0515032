"""Modules imported on first need, for code that runs thousands of times a second.

A function-level ``from .x import y`` keeps a module out of the start-up of the commands that
never need it, but it runs the import machinery each time the function does: some 8,000 to
12,000 instructions in CPython 3.11 (a relative import also calls ``__spec__.parent``), the
module being loaded or not. On the fuzzer's per-program and per-instruction paths (a float run
line argument, a memory instruction read back) `module` asks ``sys.modules`` instead, and
imports only when the module is not there yet.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from types import ModuleType


def module(name: str) -> ModuleType:
    """The module `name` (absolute, such as ``clifkit.ir.floats``), imported on the first call."""
    found = sys.modules.get(name)
    if found is None:
        from importlib import import_module  # (once per module asked for)

        found = import_module(name)
    return found
