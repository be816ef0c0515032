"""The reader fuzzer's oracle: how one text went through the reader, the verifier and the printer.

Input can only end two ways, *parsed* (it reads, verifies without raising, prints to text that
reads again and prints the same) or *error* (a located `ClifError`); `check` names anything else
by where it happened. Apart from the inputs and the campaign loop so that tests and Hypothesis
properties can put their own texts through the same judgement."""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..diagnostics import ClifError
from ..printer import format_test_file
from ..reader import parse_text
from ..verifier import verify_test_file

SLOW_SECONDS = 2.0  # one input taking longer than this through reader + verifier + printer is a finding
PARSED, ERROR = "parsed", "error"
FAILURES = ("reader-crash", "unlocated", "verifier-crash", "printer-crash", "reprint-error", "unstable", "slow")


@dataclass
class Outcome:
    kind: str  # PARSED, ERROR, or one of FAILURES
    detail: str = ""  # for failures: the exception (type and message) or the difference
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.kind in (PARSED, ERROR)

    @property
    def signature(self) -> str:
        """What identifies the failure when reducing: its kind and the exception type."""
        return f"{self.kind}:{self.detail.split(':', 1)[0]}"


def _describe(e: BaseException) -> str:
    tb = traceback.extract_tb(e.__traceback__)
    where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
    text = " ".join(str(e).split())
    if len(text) > 300:
        text = text[:300] + "..."
    return f"{type(e).__name__}{where}: {text}"


def check(text: str, path: str = "fuzz.clif") -> Outcome:
    """Run `text` through reader, verifier and printer; say how it ended (never raises, except
    KeyboardInterrupt)."""
    started = time.perf_counter()

    def done(kind: str, detail: str = "") -> Outcome:
        seconds = time.perf_counter() - started
        if kind in (PARSED, ERROR) and seconds > SLOW_SECONDS:
            return Outcome("slow", f"{seconds:.1f} s (outcome {kind})", seconds)
        return Outcome(kind, detail, seconds)

    try:
        tf = parse_text(text, path)
    except ClifError as e:
        problem = _unlocated(e, text)
        if problem is not None:
            return done("unlocated", problem)
        return done(ERROR)
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # RecursionError, MemoryError and bugs alike
        return done("reader-crash", _describe(e))
    try:
        verify_test_file(tf, text)
    except KeyboardInterrupt:
        raise
    except BaseException as e:
        return done("verifier-crash", _describe(e))
    try:
        printed = format_test_file(tf)
    except KeyboardInterrupt:
        raise
    except BaseException as e:
        return done("printer-crash", _describe(e))
    try:
        again = format_test_file(parse_text(printed, path))
    except KeyboardInterrupt:
        raise
    except BaseException as e:
        return done("reprint-error", _describe(e))
    if again != printed:
        return done("unstable", _first_difference(printed, again))
    return done(PARSED)


def _unlocated(e, text: str) -> Optional[str]:
    """Why the ClifError `e` is not properly located in `text` (None when it is)."""
    lines = text.count("\n") + 1
    try:
        e.format()
    except Exception as fe:  # noqa: BLE001 - any failure to format is the finding
        return f"the error cannot be formatted: {_describe(fe)}"
    if not e.diagnostics:
        return "a ClifError without diagnostics"
    for d in e.diagnostics:
        loc = d.loc
        if loc is None or not isinstance(loc.line, int) or not isinstance(loc.col, int):
            return f"diagnostic without a location: {d.message}"
        if not 1 <= loc.line <= lines or loc.col < 1:
            return f"diagnostic at {loc.line}:{loc.col}, outside the {lines}-line text: {d.message}"
    return None


def _first_difference(a: str, b: str) -> str:
    la, lb = a.splitlines(), b.splitlines()
    for n, (x, y) in enumerate(zip(la, lb), 1):
        if x != y:
            return f"line {n}: printed {x!r}, reprinted {y!r}"
    return f"printed {len(la)} lines, reprinted {len(lb)}"
