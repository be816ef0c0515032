"""The verifier: checks that a function is well-formed CLIF and reports every problem, located.

`verify_function` checks one function; `verify_test_file` checks every
function of a file, with the pointer width and flags of the file's targets,
plus the few checks that span functions. Both return a list of
`Diagnostic`s (empty when all is well) and never raise on bad input.
`verify_test_file` also checks the run-test directives after the functions
(`directives.py`: their placement, near misses, ``; heap:`` / ``; table:``,
the ``%heap_grow`` signature), which `clifkit test` would otherwise find only
when it runs them.

The checks follow Cranelift's verifier (0.120, and the heap era for heaps and
tables); their wording is clifkit's own. Type checks are driven by the opcode
table (`ir/opcodes.py`): the controlling type must be in the opcode's
controlling type variable, every fixed operand and result must have the type
its table entry resolves to (or lie in its free type variable), and entity
references are checked by the immediate fields the format declares.
"""

from __future__ import annotations

from .. import lazy
from ..diagnostics import Diagnostic, Location, read_source
from ..dialect import CURRENT, Dialect
from ..ir.function import Function, TestFile
from .common import KNOWN_ARCHES, TargetInfo, sig_text, target_info
from .core import FunctionVerifier

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional

__all__ = ["TargetInfo", "target_info", "verify_function", "verify_test_file"]

# -- public API ----------------------------------------------------------------


def verify_function(
    func: Function,
    source: Optional[dict[int, str]] = None,
    *,
    target: Optional[TargetInfo] = None,
    dialect: Dialect = CURRENT,
) -> list[Diagnostic]:
    """Every problem with `func`, located. `source` maps line numbers to the text of its file."""
    return FunctionVerifier(func, source, target or TargetInfo(), dialect).run()


def verify_test_file(tf: TestFile, text: Optional[str] = None, *, dialect: Dialect = CURRENT) -> list[Diagnostic]:
    """Every problem in the functions of `tf`, in file order, and in how they refer to each other,
    by the rules of `dialect` (`clifkit.dialect`; today's Cranelift by default).

    `text` is the file's source, when it was not read from ``tf.path``; it fills
    in the source lines that diagnostics display.
    """
    if text is not None:
        source = {i: line for i, line in enumerate(text.splitlines(), 1)}
    elif tf.source is not None:  # as the reader read it: numbered from its first line, split at newlines
        source = {i: line.rstrip("\r") for i, line in enumerate(tf.source.split("\n"), tf.first_line)}
    else:
        source = read_source(tf.path)
    target = target_info(tf)
    diags: list[Diagnostic] = []
    for spec in tf.isa_specs:
        arch = spec.words[0].split("-")[0] if spec.kind == "target" and spec.words else None
        if arch is not None and arch not in KNOWN_ARCHES:
            word = spec.words[0]
            named = f"unknown target architecture {arch!r}" + (f" (in {word!r})" if word != arch else "")
            diags.append(_file_diag(spec.loc, source, f"{named}: Cranelift's are {', '.join(KNOWN_ARCHES)}"))
    defined: dict[str, Function] = {}
    # Run tests find functions by name (for `; run:` lines and calls), so there a name must be unique.
    by_name = any(c.name in ("run", "interpret") for c in tf.commands)
    for details in tf.functions:
        func = details.function
        diags.extend(FunctionVerifier(func, source, target, dialect).run())
        first = defined.get(func.name)
        if first is None:
            defined[func.name] = func
        elif by_name:
            where = f" (first at line {first.loc.line})" if first.loc else ""
            diags.append(_file_diag(func.loc, source, f"function {func.name} is defined twice in this file{where}"))
    # In a run test, a function that calls another one of the file by name must agree with its signature.
    for details in tf.functions if by_name else ():
        func = details.function
        for fn, data in func.func_refs.items():
            callee = defined.get(str(data.name))
            sig = func.signatures.get(data.signature)
            if callee is None or sig is None:
                continue
            want = callee.signature
            if [p.type for p in sig.params] != [p.type for p in want.params] or [r.type for r in sig.returns] != [
                r.type for r in want.returns
            ]:
                v = FunctionVerifier(func, source, target)
                v.report(v.decl_loc(f"fn{fn}"), f"fn{fn} declares {data.name} as {sig_text(sig.params, sig.returns)}, "
                                                f"but {data.name} is defined with {sig_text(want.params, want.returns)}"
                                                + (f" at line {callee.loc.line}" if callee.loc else ""))
                diags.extend(v.diags)
    diags.extend(lazy.module("clifkit.verifier.directives").check_directives(tf, source, dialect))
    return diags


def _file_diag(loc: Optional[Location], source, message: str) -> Diagnostic:
    loc = loc or Location("<input>", 1, 1)
    return Diagnostic(loc, message, source_line=source.get(loc.line) if source else None)

