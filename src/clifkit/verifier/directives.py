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
  (unknown keys, overlapping or misaligned vmctx slots, ``max < size``, no vmctx parameter), read
  by the harness's own parser (`runtest.environment.build_environment`), and every heap or table
  declaration reachable from the function that does not match them (`runtest.reservations.reserve`),
  without the resource caps, which are options of a run rather than properties of the file;
- a ``%heap_grow`` that the file declares but does not define, with a signature other than the
  harness's ``(i64 vmctx, i32, i64) -> i64``: the call would trap ``bad_sig`` on the
  interpreter and call the host function with garbage natively.
"""

from __future__ import annotations

import re
from typing import Optional

from ..diagnostics import ClifError, Diagnostic, Location
from ..ir.function import FunctionDetails, TestFile

DIRECTIVE_NAMES = ("run", "print", "heap", "table")
# A comment line that is a directive, as the reader attaches them (`reader.parser`).
_DIRECTIVE_LINE = re.compile(r"[ \t]*;+[ \t]*(run|print|heap|table)[ \t]*(?::|\Z)")
# A directive written after code on its line (``} ; heap: ...``), which the reader takes for a comment.
_TRAILING = re.compile(r"[ \t]*[^ \t;][^;]*;+[ \t]*(run|print|heap|table)[ \t]*:")
# A comment line that looks like one but is not: another case, a plural, a doubled word.
_NEAR_MISS = re.compile(r"[ \t]*;+[ \t]*([A-Za-z]+)[ \t]*:")
_NO_LIMIT = 1 << 70


def _meant(word: str) -> Optional[str]:
    """The directive a near-miss `word` was meant to be, or None."""
    lower = word.lower()
    for name in DIRECTIVE_NAMES:
        if lower in (name, name + "s") and word != name:
            return name
    return None


def check_directives(tf: TestFile, source: Optional[dict[int, str]]) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    if source:
        diags.extend(_placement(tf, source))
    by_name = {d.function.name: d.function for d in tf.functions}
    for details in tf.functions:
        diags.extend(_environment(details, by_name))
    diags.extend(_grow_signatures(tf, source))
    # A callee's declaration reached from several functions' directives is reported once.
    unique = {(d.loc.line, d.loc.col, d.message): d for d in diags}
    return sorted(unique.values(), key=lambda d: (d.loc.line, d.loc.col))


def _diag(path: str, line: int, col: int, message: str, source: Optional[dict[int, str]]) -> Diagnostic:
    return Diagnostic(Location(path, line, col), message, source_line=source.get(line) if source else None)


def _placement(tf: TestFile, source: dict[int, str]) -> list[Diagnostic]:
    attached = {d.loc.line for details in tf.functions for d in details.directives if d.loc is not None}
    starts = sorted((d.function.loc.line, d.function.name) for d in tf.functions if d.function.loc is not None)
    out = []
    for n in sorted(source):
        text = source[n]
        if ";" not in text:
            continue
        m = _DIRECTIVE_LINE.match(text)
        trailing = _TRAILING.match(text) if m is None else None
        if trailing is not None:
            out.append(_diag(tf.path, n, trailing.start(1) + 1,
                             f"'; {trailing.group(1)}' after code on the same line would be ignored as a comment: "
                             "a directive is a line of its own after the closing brace of its function", source))
            continue
        if m is None:
            near = _NEAR_MISS.match(text)
            meant = _meant(near.group(1)) if near else None
            if meant is not None:
                out.append(_diag(tf.path, n, near.start(1) + 1,
                                 f"'{near.group(1)}:' is not a directive and would be ignored as a comment; "
                                 f"did you mean '; {meant}:'?", source))
            continue
        if n in attached:
            # A run or print line that names its function means the same wherever it stands
            # (Cranelift's own files put some right above the next function); a heap or table
            # directive, or a bare `; run`, means the function it is attached to.
            names_its_function = m.group(1) in ("run", "print") and text[m.end():].strip() != ""
            following = None if names_its_function else _function_directly_below(source, n)
            if following is not None:
                out.append(_diag(tf.path, n, m.start(1) + 1,
                                 f"'; {m.group(1)}' directive directly above function {following}: it belongs to the "
                                 "function whose closing brace it follows, not to the one below; leave a blank line "
                                 f"after it, or move it after the closing brace of {following}", source))
            continue
        kind = m.group(1)
        before = [name for line, name in starts if line < n]
        if not before:
            where = "before the first function"
        else:
            where = f"inside the body of {before[-1]}"
        out.append(_diag(tf.path, n, m.start(1) + 1,
                         f"'; {kind}' directive {where}: a directive belongs to the function whose "
                         "closing brace it follows, so write it after that brace", source))
    return out


_FUNCTION_NAME = re.compile(r"function\s+(%?[A-Za-z0-9_:]+)")


def _function_directly_below(source: dict[int, str], n: int) -> Optional[str]:
    """The function whose header follows line `n` with only comment lines between, or None."""
    line = n + 1
    while line in source:
        text = source[line].strip()
        if not text.startswith(";"):
            m = _FUNCTION_NAME.match(text)
            return m.group(1) if m else None
        line += 1
    return None


def _environment(details: FunctionDetails, by_name: dict) -> list[Diagnostic]:
    from ..environment.layout import build_environment
    from ..environment.reservations import reserve

    if not any(d.kind in ("heap", "table") for d in details.directives):
        return []
    try:
        env = build_environment(details, max_heap_bytes=_NO_LIMIT)
        reserve(env, details.function, by_name, _NO_LIMIT)
    except ClifError as e:
        return list(e.diagnostics)
    return []


def _grow_signatures(tf: TestFile, source: Optional[dict[int, str]]) -> list[Diagnostic]:
    from ..environment.layout import GROW_FUNCTION
    from .common import TargetInfo, sig_text
    from .core import FunctionVerifier

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
