"""``; heap:`` and ``; table:`` directives, read into their fields with the CLIF lexer::

    ; heap: static, size=0x1000, ptr=vmctx+0, bound=vmctx+8, max=0x4000, guard=0x1000
    ; table: elements=16, element_size=8, ptr=vmctx+32, bound=vmctx+40

The reader reads each one once (`reader.directives.read`): the text is split by the lexer
(`lexer.tokenize`), numbers are read by `ir.numbers.parse_uint`, and every problem is a
`ClifError` located at the directive's line and the column of the key or value at fault. What the
fields mean for memory (sizes against the caps, slot alignment and overlap, the vmctx parameter) is
the environment's to judge (`environment.layout`). A new key goes in `KEYS` (and is then read by
`environment.layout`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..diagnostics import ClifError, Diagnostic, Location
from ..ir.numbers import NumberError, parse_uint
from .lexer import tokenize

# Per directive: its keys in the order they are checked (a slot key holds ``vmctx+N``, the others a
# number), and the words it must start with (none: it starts with a key).
KEYS = {
    "heap": (("size", "ptr", "bound", "max", "guard"), ("static", "dynamic")),
    "table": (("elements", "element_size", "ptr", "bound"), ()),
}
SLOT_KEYS = frozenset({"ptr", "bound"})


@dataclass
class DirectiveFields:
    """A heap or table directive as read: its leading word and each key's value with its column."""

    kind: str  # "heap" or "table"
    loc: Location  # of the text after "heap:" / "table:"
    style: Optional[str] = None  # the leading word ("static", "dynamic"); None for a table
    values: dict[str, int] = field(default_factory=dict)  # key -> number (a slot key: the vmctx offset)
    cols: dict[str, int] = field(default_factory=dict)  # key -> offset of its value from `loc.col`
    source_line: Optional[str] = None  # the line it stands on, shown under its errors

    def error(self, col_offset: int, message: str) -> ClifError:
        """An error `col_offset` characters into the directive's text (0: at its start)."""
        return field_error(self.loc, col_offset, message, self.source_line)


def field_error(loc: Location, col_offset: int, message: str, source_line: Optional[str] = None) -> ClifError:
    """An error `col_offset` characters into the directive text that starts at `loc`."""
    return ClifError(Diagnostic(Location(loc.path, loc.line, loc.col + col_offset), message, source_line=source_line))


def read_fields(kind: str, text: str, loc: Location, source_line: Optional[str] = None) -> DirectiveFields:
    """Read the text after ``heap:`` or ``table:`` (`loc` is its first character). Raises `ClifError`."""
    keys, leading = KEYS[kind]
    what = kind

    def fail(col: int, message: str) -> ClifError:
        return field_error(loc, col, message, source_line)

    toks = tokenize(text)
    kinds, vals, cols = toks.kinds, toks.values, toks.cols
    out = DirectiveFields(kind, loc, source_line=source_line)
    raw: dict[str, tuple[str, int, list[int]]] = {}  # key -> (value text, column offset, token indices)
    i = 0
    while kinds[i] != "eof":
        start = cols[i] - 1
        nxt = kinds[i + 1]
        if kinds[i] != "word" or nxt not in ("=", ",", "eof"):
            raise fail(start, f"malformed {what} directive near {text[start:].strip()!r}")
        key: str = vals[i]  # type: ignore[assignment]
        i += 1
        value_toks: list[int] = []
        if kinds[i] == "=":
            i += 1
            while kinds[i] not in (",", "eof"):
                value_toks.append(i)
                i += 1
        stop = cols[i] - 1 if kinds[i] == "," else len(text)
        value_start = cols[value_toks[0]] - 1 if value_toks else stop
        value = text[value_start:stop].strip() if nxt == "=" else None
        if leading and out.style is None:
            if value is not None or key not in leading:
                raise fail(start, f"{what} directive must start with " + " or ".join(f"'{w}'" for w in leading))
            out.style = key
        elif key not in keys:
            raise fail(start, f"unknown {what} attribute '{key}' (expected {', '.join(keys[:-1])} or {keys[-1]})")
        elif not value:
            raise fail(start, f"{what} attribute '{key}' needs a value: {key}=...")
        elif key in raw:
            raise fail(start, f"{what} attribute '{key}' given twice")
        else:
            raw[key] = (value, start + len(key) + 1, value_toks)
        if kinds[i] == ",":
            i += 1
            if kinds[i] == "eof":
                break
    if leading and out.style is None:
        raise fail(0, f"{what} directive must start with " + " or ".join(f"'{w}'" for w in leading))
    for key in keys:
        if key not in raw:
            continue
        value, col, value_toks = raw[key]
        out.cols[key] = col
        if key in SLOT_KEYS:
            out.values[key] = _slot(kinds, vals, value_toks, value, lambda m: fail(col, f"{what} attribute '{key}' {m}"))
        else:
            number = vals[value_toks[0]] if len(value_toks) == 1 and kinds[value_toks[0]] == "num" else value
            out.values[key] = _uint(number, value, lambda m: fail(col, f"{what} attribute '{key}' {m}"))
    return out


def _uint(number: str, value: str, fail) -> int:
    try:
        return parse_uint(number, 64)
    except NumberError as e:
        if str(e).startswith("out of range"):
            raise fail(f"{value} is {e}") from None
        raise fail(f"must be a non-negative integer, not {value!r}") from None


def _slot(kinds: list, vals: list, toks: list[int], value: str, fail) -> int:
    """``vmctx+N`` (also ``vmctx + N``): the offset N."""
    parts = [(kinds[t], vals[t]) for t in toks]
    if parts[:1] == [("word", "vmctx")]:
        rest = parts[1:]
        if len(rest) == 2 and rest[0][0] == "+" and rest[1][0] == "num":
            number = rest[1][1]
        elif len(rest) == 1 and rest[0][0] == "num" and str(rest[0][1]).startswith("+"):
            number = rest[0][1][1:]
        else:
            number = None
        if number and number[0].isdigit():
            return _uint(number, value, fail)
    raise fail(f"must be a vmctx slot such as vmctx+8, not {value!r}")
