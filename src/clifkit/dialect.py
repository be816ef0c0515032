"""Which era of Cranelift's rules clifkit follows (`clifkit test --cranelift 2022`).

By default clifkit follows today's Cranelift (0.120): its verifier's rules and its run-test
harness's. Older run tests were written against older rules, some of which Cranelift has since
made stricter; a `Dialect` turns those back on without touching the default:

========================  ==================================================================
rule (`Dialect` field)    what ``2022`` allows (wasmtime before 2023)
========================  ==================================================================
``shuffle_zero_lanes``    a ``shuffle`` immediate lane from 32 to 255, which gives a zero lane
                          (Cranelift's verifier refuses it since March 2023)
``tables_over_heaps``     a table whose base and bound are a ``; heap:`` directive's slots:
                          the bound slot's byte count is read as the table's element count, as
                          the 2022 harness (which only knew heaps) had it
``calls_followed``        a ``test run`` line calls the function it follows, whatever it names
                          (`run_calls`; also available alone, ``--run-calls followed``)
========================  ==================================================================

Run lines that call the function they follow are not an era's rule (Cranelift's ``test run``
does so to this day), so that one is an option of its own, which the 2022 dialect implies.
"""

from __future__ import annotations

from dataclasses import dataclass

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional


@dataclass(frozen=True)
class Dialect:
    """How one Cranelift version reads and runs CLIF where versions differ."""

    name: str
    shuffle_zero_lanes: bool = False
    tables_over_heaps: bool = False
    calls_followed: bool = False


CURRENT = Dialect("current")
CRANELIFT_2022 = Dialect("2022", shuffle_zero_lanes=True, tables_over_heaps=True, calls_followed=True)
DIALECTS = {"current": CURRENT, "2022": CRANELIFT_2022}

RUN_CALLS = ("named", "followed")


class DialectError(ValueError):
    pass


def dialect(name: Optional[str]) -> Dialect:
    """The dialect called `name` (None: today's). Raises DialectError for any other name."""
    if name is None:
        return CURRENT
    if isinstance(name, Dialect):
        return name
    found = DIALECTS.get(str(name).strip().lower())
    if found is None:
        raise DialectError(f"unknown Cranelift dialect {name!r}: choose {' or '.join(DIALECTS)} "
                           "(`current` is Cranelift 0.120's rules, the default; `2022` those of wasmtime "
                           "before 2023)")
    return found


def calls_followed(d: Dialect, run_calls: Optional[str]) -> bool:
    """Whether a `test run` line calls the function it follows: `run_calls` ("named" or
    "followed") when given, else what dialect `d` implies. Raises DialectError."""
    if run_calls is None:
        return d.calls_followed
    if run_calls not in RUN_CALLS:
        raise DialectError(f"unknown --run-calls {run_calls!r}: choose named (the function a run line names, "
                           "the default) or followed (the function it follows, as Cranelift's `test run`)")
    return run_calls == "followed"
