"""Checks of what a file's directives ask of the run-test harness: the comments after a function.

A ``; run:``, ``; print:``, ``; heap:`` or ``; table:`` line belongs to the function whose closing
brace it follows (Cranelift's rule). `check_directives` reports, located:

- a directive before the first function, inside a function's body, or a heap or table directive
  (or a bare ``; run``) directly above a function (no blank line between), which would otherwise be
  attached to a function the writer did not mean (or to none);
- a near miss that the harness would silently take for a plain comment (``; HEAP:``,
  ``; heaps:``, ``; Run:``): the hint names the directive meant; so is a directive written after
  code on its line (``} ; heap: ...``);
- every ``; heap:`` / ``; table:`` problem the harness would find when it runs the function
  (unknown keys, overlapping or misaligned vmctx slots, ``max < size``, no vmctx parameter), as
  the reader read them (`reader.fields`) and the harness lays them out
  (`environment.layout.build_environment`), and every heap or table declaration reachable from
  the function that does not match them (`environment.reservations.reserve`),
  without the resource caps, which are options of a run rather than properties of the file;
- a ``%heap_grow`` that the file declares but does not define, with a signature other than the
  harness's ``(i64 vmctx, i32, i64) -> i64``: the call would trap ``bad_sig`` on the
  interpreter and call the host function with garbage natively.

Where each directive stands, and what the reader attached it to, is the reader's record
(`TestFile.directives`): nothing here scans the text.
"""

from __future__ import annotations

from .. import lazy
from ..diagnostics import ClifError, Diagnostic, Location
from ..dialect import CURRENT, Dialect
from ..environment import GROW_FUNCTION
from ..ir.function import FunctionDetails, TestFile
from .common import TargetInfo, sig_text
from .core import FunctionVerifier

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional

DIRECTIVE_NAMES = ("run", "print", "heap", "table")
_NO_LIMIT = 1 << 70


def _meant(word: str) -> Optional[str]:
    """The directive a near-miss `word` was meant to be, or None."""
    lower = word.lower()
    for name in DIRECTIVE_NAMES:
        if lower in (name, name + "s") and word != name:
            return name
    return None


def check_directives(tf: TestFile, source: Optional[dict[int, str]], dialect: Dialect = CURRENT) -> list[Diagnostic]:
    diags: list[Diagnostic] = _placement(tf, source)
    by_name = {d.function.name: d.function for d in tf.functions}
    for details in tf.functions:
        diags.extend(_environment(details, by_name, dialect))
    diags.extend(_grow_signatures(tf, source))
    # A callee's declaration reached from several functions' directives is reported once.
    unique = {(d.loc.line, d.loc.col, d.message): d for d in diags}
    return sorted(unique.values(), key=lambda d: (d.loc.line, d.loc.col))


def _diag(at: Location, message: str, source: Optional[dict[int, str]]) -> Diagnostic:
    return Diagnostic(at, message, source_line=source.get(at.line) if source else None)


def _placement(tf: TestFile, source: Optional[dict[int, str]]) -> list[Diagnostic]:
    """Directives the harness would not take as the writer meant: from the reader's record of every
    directive-shaped comment (`TestFile.directives`), where it stands and what it is attached to."""
    attached = {d.line for details in tf.functions for d in details.directives}
    starts = sorted((d.function.loc.line, d.function.name) for d in tf.functions if d.function.loc is not None)
    out = []
    for d in tf.directives:
        kind, n, at = d.kind, d.line, d.word_loc or d.loc
        if d.after_code:
            if kind in DIRECTIVE_NAMES and d.has_colon:
                out.append(_diag(at, f"'; {kind}' after code on the same line would be ignored as a comment: "
                                     "a directive is a line of its own after the closing brace of its function", source))
            continue
        if kind not in DIRECTIVE_NAMES:
            meant = _meant(kind) if d.has_colon and kind.isalpha() else None
            if meant is not None:
                out.append(_diag(at, f"'{kind}:' is not a directive and would be ignored as a comment; "
                                     f"did you mean '; {meant}:'?", source))
            continue
        if n in attached:
            # A run or print line that names its function means the same wherever it stands
            # (Cranelift's own files put some right above the next function); a heap or table
            # directive, or a bare `; run`, means the function it is attached to.
            names_its_function = kind in ("run", "print") and d.text != ""
            if not names_its_function and d.above is not None:
                out.append(_diag(at, f"'; {kind}' directive directly above function {d.above}: it belongs to the "
                                     "function whose closing brace it follows, not to the one below; leave a blank line "
                                     f"after it, or move it after the closing brace of {d.above}", source))
            continue
        before = [name for line, name in starts if line < n]
        where = f"inside the body of {before[-1]}" if before else "before the first function"
        out.append(_diag(at, f"'; {kind}' directive {where}: a directive belongs to the function whose "
                             "closing brace it follows, so write it after that brace", source))
    return out


def _environment(details: FunctionDetails, by_name: dict, dialect: Dialect) -> list[Diagnostic]:
    if not any(d.kind in ("heap", "table") for d in details.directives):
        return []
    try:  # (the environment's modules on first need: a file with heap or table directives)
        env = lazy.module("clifkit.environment.layout").build_environment(details, max_heap_bytes=_NO_LIMIT)
        lazy.module("clifkit.environment.reservations").reserve(env, details.function, by_name, _NO_LIMIT, dialect)
    except ClifError as e:
        return list(e.diagnostics)
    return []


def _grow_signatures(tf: TestFile, source: Optional[dict[int, str]]) -> list[Diagnostic]:
    if any(d.function.name == GROW_FUNCTION for d in tf.functions):
        return []  # the file's own %heap_grow is called, at its own signature (the verifier checks calls)
    out: list[Diagnostic] = []
    want = (["i64", "i32", "i64"], ["i64"])
    for details in tf.functions:
        func = details.function
        for fn, data in func.func_refs.items():
            sig = func.signatures.get(data.signature)
            if str(data.name) != GROW_FUNCTION or sig is None:
                continue
            got = ([str(p.type) for p in sig.params], [str(r.type) for r in sig.returns])
            if got != want:
                v = FunctionVerifier(func, source, TargetInfo())
                v.report(v.decl_loc(f"fn{fn}"), f"fn{fn} declares {GROW_FUNCTION} as {sig_text(sig.params, sig.returns)}, "
                                                f"but the harness's {GROW_FUNCTION} is (i64 vmctx, i32, i64) -> i64")
                out.extend(v.diags)
    return out
