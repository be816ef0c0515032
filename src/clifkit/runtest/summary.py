"""What `clifkit test` prints: each file's lines, the summary of engines and the summary line.

Kept apart from running so that the console, the parallel runner and the API word results the
same way, and so that what is shown can change without touching how files are run."""

from __future__ import annotations

from .execute import NOTE_MARK
from .results import ERROR, FAILED, PASSED, SKIPPED, TIMEOUT, FileResult, RunResult, total_counts
from .select import engine_label

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Iterable, Optional


def file_result_lines(fr: FileResult, verbose: bool, shown: int = 0) -> list[tuple[str, Optional[str]]]:
    """What `clifkit test` prints for a file, as (text, status) pairs (status colours the text on a
    terminal; None for plain text). The text may span lines (a located error, its source line, a caret).
    `shown`: how many of its runs were printed already (`Options.on_runs`)."""
    lines: list[tuple[str, Optional[str]]] = []
    for r in fr.runs[shown:] if shown else fr.runs:
        if r.status in (FAILED, ERROR, TIMEOUT) or (verbose and r.status == PASSED) or (r.kind == "print" and r.status == PASSED):
            if r.report:
                colour = FAILED if r.status == TIMEOUT else r.status
                lines.append((tagged(r), None if r.kind == "print" and r.status == PASSED and not verbose else colour))
        elif verbose and r.status == SKIPPED and r.report:
            lines.append((tagged(r), SKIPPED))
    if fr.status == ERROR and not any(r.report for r in fr.runs):
        lines.append((fr.message, ERROR))
    for note in fr.notes:
        # With -v the skip notes would repeat the skipped lines just shown; an engine's notes would not.
        if not verbose or (fr.status == SKIPPED and not fr.runs) or NOTE_MARK in note:
            lines.append((note, SKIPPED))
    return lines


def tagged(r: RunResult) -> str:
    """`r.report` with the engine and target that ran it (``[native x86_64 has_avx]``) at the end of
    its first line: a file runs on several, and the same line may pass on one and fail on another."""
    if not r.engine_known:
        return r.report
    first, sep, rest = r.report.partition("\n")
    return f"{first} [{engine_label(r.engine, r.target)}]{sep}{rest}"


def engine_summary(results: Iterable[FileResult]) -> list[str]:
    """What ran on each engine and architecture (target variants with other ISA flags together),
    and why one ran nothing (`native aarch64: 56 skipped: aarch64 emulation is not set up ...`):
    said when more than one ran, or when one could not run."""
    def arch(label: str) -> str:  # "native x86_64 has_avx", "native x86_64-unknown-linux-gnu" -> "native x86_64"
        words = label.split()[:2]
        return " ".join(words[:1] + [w.split("-")[0] for w in words[1:]])

    counts: dict[str, dict[str, int]] = {}
    traps: dict[str, int] = {}  # passed run lines that expected a trap and got it
    why: dict[str, dict[str, None]] = {}  # the distinct reasons, in order
    for fr in results:
        for r in fr.runs:
            if not r.engine_known:
                continue
            name = arch(engine_label(r.engine, r.target))
            c = counts.setdefault(name, {PASSED: 0, FAILED: 0, SKIPPED: 0})
            c[r.status if r.status in (PASSED, SKIPPED) else FAILED] += 1
            if r.status == PASSED and (r.expected or "").startswith("trap "):
                traps[name] = traps.get(name, 0) + 1
        for label, reason in fr.engine_skips.items():
            why.setdefault(arch(label), {})[reason] = None
    if len(counts) < 2 and not any(name in why for name in counts):
        return []
    width = max(len(name) for name in counts) + 1
    lines = []
    for name, c in counts.items():
        shown = ", ".join(f"{n} {status}" + (f" ({traps[name]} of them trapping as expected)"
                                             if status == PASSED and traps.get(name) else "")
                          for status, n in c.items() if n)
        if c[SKIPPED] and name in why:
            # One file's reason is not every file's (`clifkit run` on files of several foreign targets).
            reason = with_other_reasons(list(why[name]))
            shown += f" ({reason})" if c[PASSED] or c[FAILED] else f": {reason}"
        lines.append(f"  {name + ':':<{width}} {shown}")
    return lines


def with_other_reasons(reasons: list[str]) -> str:
    """The first of several skip reasons, and how many others there are."""
    first, *others = reasons
    if not others:
        return first
    return f"{first} (and {len(others)} other reason{'s' if len(others) != 1 else ''}; -v shows each line)"


def summary_line(results: Iterable[FileResult]) -> tuple[str, dict[str, int]]:
    """``N passed, N failed, N skipped`` (failed counts errors and timeouts too) and the counts by
    status."""
    total = total_counts(results)
    failed = total[FAILED] + total[ERROR] + total[TIMEOUT]
    return f"{total[PASSED]} passed, {failed} failed, {total[SKIPPED]} skipped", total


def shown_counts(counts: dict[str, int]) -> dict[str, int]:
    """Counts for the console, which knows four statuses: timeouts are failures there."""
    shown = {k: v for k, v in counts.items() if k != TIMEOUT}
    shown[FAILED] = shown.get(FAILED, 0) + counts.get(TIMEOUT, 0)
    return shown
