"""The reducer's outcome check: which failure a run line shows (`Oracle.classify`), so that
a candidate is kept only when it still fails *the same way* (compare mode: the engines still
disagree with the same kinds of outcome; expect mode: the same wrong outcome).

Apart from the passes so that what counts as "the same failure" is defined in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from ..dialect import CURRENT, Dialect
from ..engine import EngineOptions
from ..ir.values import values_equal
from .compare import Harness, InvalidProgram, LineResult, Observed

DEFAULT_FUEL = 5_000_000


class ReduceError(Exception):
    """The file cannot be reduced: it does not read, does not fail, or no engine can run it."""


@dataclass
class Reduction:
    text: str
    klass: tuple
    instructions: int
    original_instructions: int
    checks: int


class ReduceInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) stopped a reduction; `partial` is a Reduction of the smallest candidate
    found failing the same way until then, as the engines ran it (its line not rewritten). Still a
    KeyboardInterrupt: a campaign reducing its findings stops as it would anywhere else."""

    def __init__(self, partial: Reduction):
        super().__init__()
        self.partial = partial


# -- the oracle ----------------------------------------------------------------------------------


class Oracle:
    """Runs candidates and says whether they fail the same way."""

    def __init__(self, mode: str, engines: Sequence[str], fuel: int = DEFAULT_FUEL, path: str = "<reduce>",
                 dialect: Dialect = CURRENT, calls_followed: bool = False):
        if mode not in ("compare", "expect"):
            raise ValueError(mode)
        self.mode = mode
        self.engines = list(engines[:2] if mode == "compare" else engines[:1])
        self.harness = Harness(self.engines, EngineOptions(fuel=fuel), dialect=dialect, calls_followed=calls_followed)
        # --expect on the interpreter keeps the failure `clifkit test` shows for a `test interpret`
        # file: its lines call the function they name, even under --run-calls followed.
        self.harness.interpret_by_name = mode == "expect" and self.engines[0].split("@")[0] == "interpreter"
        self.path = path
        self.checks = 0
        self.invalid: Optional[InvalidProgram] = None  # why the last candidate did not run

    def run(self, text: str) -> Optional[list[LineResult]]:
        self.checks += 1
        try:
            self.invalid = None
            return self.harness.run_text(text, self.path)
        except InvalidProgram as e:
            self.invalid = e
            return None

    def classify(self, r: LineResult) -> Optional[tuple]:
        """The failure class of one run line's results, or None when it does not fail."""
        if self.mode == "compare":
            a, b = r.outcomes
            if r.verdict(self.engines).status != "disagree":
                return None
            return ("disagree", a.klass, b.klass)
        o = r.outcomes[0]
        if not _fails_expectation(r, o):
            return None
        return ("expect", o.describe(r.return_types))


def _fails_expectation(r: LineResult, o: Observed) -> bool:
    cmd = r.bound.command
    if cmd.kind == "print" or o.kind == "skipped":
        return False
    if o.kind == "failed":
        return True
    if cmd.expected_trap is not None:
        return not (o.kind == "trap" and o.code == cmd.expected_trap)
    if o.kind == "trap":
        return True
    if r.bound.expected is None:
        values = o.values or []
        return not (values and values[0] != 0)
    equal = values_equal(o.values or [], r.bound.expected)
    return not equal if cmd.comparison == "==" else equal


# -- IR helpers ----------------------------------------------------------------------------------
