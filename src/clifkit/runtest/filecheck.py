"""Text matching in the syntax of Cranelift's `filecheck` crate (used by ``test cat``).

Directives, in order: ``check:`` (after the previous match), ``sameln:`` (on
the line of the previous match, after it), ``nextln:`` (on the line after the
previous match's), ``unordered:`` (anywhere between the ordered matches
around it, in any order), ``not:`` (nowhere between the matches around it)
and ``regex: NAME=RE`` (a named regular expression). Patterns are plain text
with ``$`` escapes: ``$$`` (a dollar), ``$()`` (nothing), ``$(=RE)``,
``$VAR`` / ``$(VAR)`` (a regex variable's expression, or a text variable's
text), ``$(VAR=RE)`` and ``$(VAR=$RX)`` (match, then define VAR as the
text matched). A pattern starting or ending with a plain letter or digit
matches only at a word boundary; trailing whitespace is trimmed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KINDS = ("check", "sameln", "nextln", "unordered", "not", "regex")
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


class FileCheckError(Exception):
    """A malformed directive or a failed match; the message says which directive and why."""


@dataclass
class Directive:
    kind: str
    text: str
    line: int  # in the source file, for messages


def _compile(pattern: str, variables: dict) -> tuple[re.Pattern, list[str]]:
    """The regex of a pattern and the names of the variables it defines (in group order)."""
    out, defines, i, n = [], [], 0, len(pattern)
    plain_start = plain_end = False
    while i < n:
        c = pattern[i]
        if c != "$":
            j = i
            while j < n and pattern[j] != "$":
                j += 1
            out.append(re.escape(pattern[i:j]))
            plain_start = plain_start or (i == 0 and pattern[0].isalnum())
            plain_end = j == n and pattern[-1].isalnum()
            i = j
            continue
        if pattern.startswith("$$", i):
            out.append(re.escape("$"))
            i += 2
        elif pattern.startswith("$(", i):
            depth, k = 0, i + 1
            while k < n:  # the matching parenthesis: regexes may contain their own
                depth += {"(": 1, ")": -1}.get(pattern[k], 0)
                if depth == 0:
                    break
                k += 1
            close = k if k < n else -1
            if close < 0:
                raise FileCheckError(f"unclosed '$(' in {pattern!r}")
            body = pattern[i + 2 : close]
            name, eq, value = body.partition("=")
            if not eq:
                out.append(_use(name, variables) if name else "")
            else:
                if name and not re.fullmatch(_NAME, name):
                    raise FileCheckError(f"bad variable name {name!r} in {pattern!r}")
                rx = _use(value[1:], variables) if value.startswith("$") else f"(?:{value})"
                if name:
                    defines.append(name)
                    out.append(f"({rx})")
                else:
                    out.append(rx)
            i = close + 1
        else:
            m = re.compile(_NAME).match(pattern, i + 1)
            if m is None:
                raise FileCheckError(f"'$' must be followed by a name, '$' or '(' in {pattern!r}")
            out.append(_use(m.group(0), variables))
            i = m.end()
    text = "".join(out)
    if plain_start:
        text = r"\b" + text
    if plain_end:
        text += r"\b"
    try:
        return re.compile(text, re.MULTILINE), defines
    except re.error as e:
        raise FileCheckError(f"bad regular expression in {pattern!r}: {e}") from None


def _use(name: str, variables: dict) -> str:
    if name not in variables:
        raise FileCheckError(f"undefined variable ${name}")
    kind, value = variables[name]
    return f"(?:{value})" if kind == "regex" else re.escape(value)


def check(text: str, directives: list[Directive]) -> None:
    """Match `directives` against `text`; raise FileCheckError saying the first that fails."""
    variables: dict[str, tuple[str, str]] = {}
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    pos, last_line, barrier = 0, None, 0
    pending_not: list[tuple[Directive, re.Pattern]] = []

    def line_of(offset: int) -> int:
        lo, hi = 0, len(starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def line_end(index: int) -> int:
        return starts[index + 1] - 1 if index + 1 < len(starts) else len(text)

    def settle_nots(until: int) -> None:
        for d, rx in pending_not:
            m = rx.search(text, barrier, until)
            if m is not None:
                raise FileCheckError(f"line {d.line}: not: {d.text.strip()}: matched {m.group(0)!r} "
                                     f"on printed line {line_of(m.start()) + 1}")
        pending_not.clear()

    for d in directives:
        body = d.text.strip()
        if d.kind == "regex":
            name, eq, value = body.partition("=")
            if not eq or not re.fullmatch(_NAME, name.strip()):
                raise FileCheckError(f"line {d.line}: regex: expected NAME=REGEX, found {body!r}")
            variables[name.strip()] = ("regex", value)
            continue
        try:
            rx, defines = _compile(body, variables)
        except FileCheckError as e:
            raise FileCheckError(f"line {d.line}: {d.kind}: {e}") from None
        if d.kind == "not":
            if defines:
                raise FileCheckError(f"line {d.line}: not: a not: pattern cannot define variables")
            pending_not.append((d, rx))
            continue
        if d.kind == "sameln":
            index = last_line if last_line is not None else 0
            lo, hi = max(pos, starts[index]), line_end(index)
        elif d.kind == "nextln":
            index = last_line + 1 if last_line is not None else 1
            if index >= len(starts):
                raise FileCheckError(f"line {d.line}: nextln: {body}: no line after the previous match")
            lo, hi = starts[index], line_end(index)
        else:
            lo, hi = (barrier if d.kind == "unordered" else pos), len(text)
        m = rx.search(text, lo, hi)
        if m is None:
            if d.kind in ("sameln", "nextln"):
                where = f"on printed line {index + 1}: {text[starts[index]:line_end(index)].strip()!r}"
            elif last_line is not None:
                where = (f"after printed line {last_line + 1}: "
                         f"{text[starts[last_line]:line_end(last_line)].strip()!r}")
            else:
                where = "in the printed function"
            raise FileCheckError(f"line {d.line}: {d.kind}: {body}: no match {where}")
        for k, name in enumerate(defines, 1):
            variables[name] = ("text", m.group(k))
        if d.kind == "unordered":
            pos = max(pos, m.end())
            continue
        settle_nots(m.start())
        pos, barrier, last_line = m.end(), m.end(), line_of(max(m.end() - 1, m.start()))
    settle_nots(len(text))
